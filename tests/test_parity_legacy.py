"""Block 11 (the legacy child device table): the module igdscope/schemas/vbtblocks/legacy.py. Its
parity with intel_vbt_decode (igt 1.27.1) field by field on every VBT of the shared corpus that has
it, with every difference either absent or listed in KNOWN with its reason, and on VBTs built here
run through the installed igt (tests/support/igt_compare.py runs the comparison and compares the
child device entries block 2 shares); its layout, meanings, bounds and building back."""

from __future__ import annotations

import pytest

from igdscope.binary import DecodeError
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import legacy as L
from tests.support import igt_text
from tests.support.igt_compare import (IGT, Checker, Diff, Known, classify, compare_children, compare_file, compare_flat, corpus_dir,
                                       corpus_pairs, known_aux_low_nibble, known_handle_high_byte, known_handle_unknown,
                                       known_hdmi_rate_before_249, known_pre155_dvo_port, panel_type_checks, synthetic_checks)
from tests.support.shared import CORPUS

PARITY_BLOCKS = (11,)
CORPUS_COMPARED = (11,)  # compared with the reference decodes of the corpus (COMPARERS)


# -- what igt 1.27.1 would print, from igdscope's decode ---------------------------------------------


def compare_block11(ck: Checker, section: igt_text.Section, d: dict) -> None:
    expect = {"Child device size": str(d["child_dev_size"]), "Child device count": str(len(d["devices"]))}
    compare_flat(ck, 11, section, expect, depth=1, allow={"Child device info"})
    compare_children(ck, 11, section, d["devices"])



COMPARERS = {11: compare_block11}


def comparers() -> dict:
    """The comparers of CORPUS_COMPARED's blocks (a block listed there without one fails here)."""
    return {bid: COMPARERS[bid] for bid in CORPUS_COMPARED}


# -- the known, explained differences -----------------------------------------------------------------

KNOWN: list[Known] = [  # all seen in the corpus
    known_handle_unknown(11),
    known_pre155_dvo_port(11, "DVO Port"),
    known_pre155_dvo_port(11, "DVO2 Port"),
]
KNOWN_SYNTHETIC: list[Known] = [  # igt bugs the corpus lacks, seen on VBTs built here
    known_aux_low_nibble(11),
    known_handle_high_byte(11),
    known_hdmi_rate_before_249(11),  # block 11's 33-byte entries end before dp_max_link_rate
]


# -- the corpus against its reference decodes --------------------------------------------------------


def has_block11(txt: str) -> bool:
    return 11 in igt_text.load(CORPUS / txt).blocks


@pytest.mark.parametrize(("name", "txt"), corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_parity_with_igt(name, txt):
    """Every corpus file: block 11 compared where igt shows it, absent from igdscope's decode where not."""
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    ck = compare_file(name, txt, comparers())
    unexplained = [d for d in ck.diffs if classify(d, KNOWN + KNOWN_SYNTHETIC) is None]
    assert not unexplained, "\n".join(str(d) for d in unexplained[:60])
    assert ck.compared > 0 if has_block11(txt) else ck.compared == 0


def test_known_differences_all_occur():
    """Every listed difference is seen in the corpus (the list does not rot), and the totals."""
    pairs = corpus_pairs()
    if not pairs:
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    hits = {id(k): 0 for k in KNOWN}
    compared = files = 0
    for name, txt in pairs:
        ck = compare_file(name, txt, comparers())
        compared += ck.compared
        files += has_block11(txt)
        for d in ck.diffs:
            k = classify(d, KNOWN + KNOWN_SYNTHETIC)
            if k is not None and id(k) in hits:
                hits[id(k)] += 1
    assert [k.reason for k in KNOWN if not hits[id(k)]] == []
    assert files >= 15 and compared > 100


@pytest.mark.parametrize(("name", "txt"), corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_blocks_build_back(name, txt):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    data = (corpus_dir() / name).read_bytes()
    w = V.walk_blocks(data, V.find_vbt(data))
    ctx = {b["id"]: b["raw"] for b in w["blocks"]}
    done = 0
    for b in w["blocks"]:
        if b["id"] in PARITY_BLOCKS:
            fields = V.decode_block(b["id"], b["raw"], w["bdb_version"], ctx)
            assert L.build_legacy_child_devices(fields, w["bdb_version"], size=len(b["raw"])) == b["raw"], b["id"]
            done += 1
    assert done == (11 in ctx)


# -- igt 1.27.1 itself on VBTs built here (random field values exercise every bit) -----------------------


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (Debian intel-gpu-tools) is not installed")
def test_igt_on_synthetic_vbts():
    hits = {id(k): 0 for k in KNOWN_SYNTHETIC}
    unexplained: list[Diff] = []
    compared = 0
    for ck in synthetic_checks(comparers()):
        compared += ck.compared
        for d in ck.diffs:
            k = classify(d, KNOWN + KNOWN_SYNTHETIC)
            if k is None:
                unexplained.append(d)
            elif id(k) in hits:
                hits[id(k)] += 1
    assert not unexplained, "\n".join(str(d) for d in unexplained[:60])
    assert [k.reason for k in KNOWN_SYNTHETIC if not hits[id(k)]] == []
    assert compared > 5000


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (Debian intel-gpu-tools) is not installed")
@pytest.mark.parametrize("panel_type", [0xFF, 32])
def test_igt_panel_type_not_an_index(panel_type):
    """Block 40 panel_type 0xFF or over 15 changes nothing in block 11: no difference left unexplained."""
    for ck in panel_type_checks(comparers(), panel_type):
        unexplained = [d for d in ck.diffs if classify(d, KNOWN + KNOWN_SYNTHETIC) is None]
        assert not unexplained, "\n".join(str(d) for d in unexplained[:20])
        assert ck.compared > 100


# -- blocks built here ------------------------------------------------------------------------------------


def test_block11_legacy_child_devices():
    kids = [{"handle": 0x0004, "device_type": 0x68D2, "device_id": "SI-1362-A", "dvo_port": 1, "target_addr": 0x70,
             "ddc_pin": 0x05, "dvo2_port": 2, "dvo2_wiring": 3},
            {"handle": 0x0008, "device_type": 0x1022, "dvo_port": 4}]
    raw = L.build_legacy_child_devices({"devices": kids + [{}]}, 142)
    assert raw[0] == 33 and len(raw) == 1 + 3 * 33
    c = raw[1:34]
    assert c[0:2] == b"\x04\x00" and c[2:4] == b"\xd2\x68" and c[4:13] == b"SI-1362-A" and c[0x10] == 1 and c[0x12] == 0x70
    assert c[0x13] == 5 and c[0x17] == 2 and c[0x1D] == 3
    d = V.decode_block(11, raw + b"\x01\x02", 142)
    assert len(d["devices"]) == 3 and d["unparsed"] == "0102"
    m = d["devices"][0]["meaning"]
    assert m["dvo_port"]["name"] == "DVO-B (SDVO-B)" and m["dvo2_port"]["name"] == "DVO-C (SDVO-C)"
    assert m["device_type"]["supports"]["dvi"] and not m["device_type"]["supports"]["hdmi"]
    assert "meaning" not in d["devices"][2] and "aux_channel" not in d["devices"][0]
    assert any("i915 does not read block 11" in f for f in d["findings"])
    assert any("2 byte(s) after" in f for f in d["findings"])
    assert L.build_legacy_child_devices(d, 142) == raw + b"\x01\x02"
    assert V.decode_block(11, b"\x00\x05\x05", 142)["devices"] == []
    with pytest.raises(DecodeError):
        V.decode_block(11, b"", 142)
