"""Block 58 (generic DTD) and the 18-byte DTD other blocks embed: the module
igdscope/schemas/vbtblocks/dtd.py. No corpus VBT has a block 58 i915 or igt reads: the corpus
comparison checks that igdscope decodes none either (against the stored reference decodes and the
installed igt's --all-panels output), and the late ones, decoded anyway, against block 42's DTDs;
here too: the DTD's bit fields and derived mode, and block 58's entries, sizes and version gate."""

from __future__ import annotations

import pytest

from igdscope.binary import DecodeError, build, decode
from igdscope.schemas import vbt as V  # the registry first: it loads the vbtblocks modules
from igdscope.schemas.vbtblocks import dtd as D
from tests.support import igt_text
from tests.support.igt_compare import IGT, Ours, corpus_pairs, igt_all_panels, igt_version
from tests.support.shared import CORPUS, need
from tests.support.vbt_build import PANEL_1366

PARITY_BLOCKS = (58,)
CORPUS_COMPARED = (58,)  # compared with the reference decodes of the corpus (block_problems)


# -- the corpus -------------------------------------------------------------------------------------------


def block_problems(name: str, igt: igt_text.IgtDecode, ours: Ours) -> list[str]:
    """igt 1.27.1 and igdscope agree on which of CORPUS_COMPARED's blocks the file has; a block both
    show would need a field comparison this file does not have yet, so it is a problem too."""
    problems = []
    for bid in CORPUS_COMPARED:
        if (bid in igt.blocks) != (bid in ours.fields):
            problems.append(f"{name}: block {bid} present: igt {bid in igt.blocks}, igdscope {bid in ours.fields}")
        elif bid in igt.blocks:
            problems.append(f"{name}: block {bid} is decoded by both, and no comparison of its fields is written")
    return problems


@pytest.mark.parametrize("name,reference", corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_blocks_match_igt(name, reference):
    corpus = need(CORPUS)
    problems = block_problems(name, igt_text.load(corpus / reference), Ours((corpus / name).read_bytes()))
    assert not problems, "\n".join(problems)


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (intel-gpu-tools) is not installed")
@pytest.mark.parametrize("name,reference", corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_blocks_match_installed_igt(name, reference):
    corpus = need(CORPUS)
    if not igt_version().startswith("1.27"):
        pytest.skip("the installed intel_vbt_decode is not igt 1.27.x, whose output these comparisons read")
    problems = block_problems(name, igt_all_panels(corpus / name), Ours((corpus / name).read_bytes()))
    assert not problems, "\n".join(problems)


def test_block58_agrees_with_block42_where_both_exist():
    """No corpus VBT has a block 58 that i915 or igt sees (in all ten it ends past bdb_size), so there is
    no igt reference for it. Decoded anyway, its 16 LFP entries give the same modes as block 42's DTDs
    -- with pixel_clock in kHz against the DTD's 10 kHz units -- and its sync polarities match the
    EDID reading of the DTD flags byte, never i915's bits 5/6 (the question in vbt.md section 14)."""
    need(CORPUS)
    seen = edid = i915 = 0
    keys = ("hdisplay", "hsync_start", "hsync_end", "htotal", "vdisplay", "vsync_start", "vsync_end", "vtotal", "clock", "width_mm", "height_mm")
    for name, _ in corpus_pairs():
        ours = Ours((CORPUS / name).read_bytes())
        late = [b for b in ours.walk["ignored_blocks"] if b["id"] == 58]
        assert 58 not in ours.fields
        if not late:
            continue
        g = V.decode_block(58, late[0]["raw"], ours.version, ours.context)
        assert g["gdtd_size"] == 28 and len(g["dtd"]) == 24 and g["findings"] == []
        assert [e.get("panel") for e in g["dtd"][:16]] == list(range(16)) and g["dtd"][16]["efp"] == 1
        panels = ours.fields[42]["panels"]
        for e, p in zip(g["dtd"], panels):
            d = p["dvo_timing"]
            assert {k: e["mode"][k] for k in keys} == {k: d["mode"][k] for k in keys}, (name, e["index"])
            assert e["pixel_clock"] == d["clock"] * 10
            es = d["edid_sync"]
            edid += e["mode"]["flags"] == ["phsync" if es.get("hsync_positive") else "nhsync", "pvsync" if es.get("vsync_positive") else "nvsync"]
            i915 += e["mode"]["flags"] == d["mode"]["flags"]
            seen += 1
    assert seen == 160
    assert edid >= 130 and i915 == 0


# -- blocks built here ------------------------------------------------------------------------------------


def test_dtd_bit_fields_and_derived_mode():
    raw = D.build_dtd(**PANEL_1366, vsync_positive=False)
    # datasheet positions: 12-bit values split 8 + 4, sync offsets 8 + 2 / 4 + 2
    assert raw[0:2] == (7610).to_bytes(2, "little") and raw[2] == 1366 & 0xFF and raw[4] >> 4 == 1366 >> 8 and raw[4] & 15 == 0
    assert raw[10] == (3 << 4) | 5 and raw[11] == 0 and raw[12] == 277 & 0xFF and raw[14] == (277 >> 8) << 4
    assert raw[17] == 0x40 | 0x18
    d = D.parse_dtd(raw)
    assert (d["hactive"], d["hblank"], d["vsync_off"], d["himage"]) == (1366, 160, 3, 277)
    m = d["mode"]
    assert (m["hdisplay"], m["hsync_start"], m["hsync_end"], m["htotal"]) == (1366, 1414, 1446, 1526)
    assert (m["vdisplay"], m["vsync_start"], m["vsync_end"], m["vtotal"]) == (768, 771, 776, 790)
    assert m["clock"] == 76100 and m["vrefresh"] == 63 and m["flags"] == ["phsync", "nvsync"] and (m["width_mm"], m["height_mm"]) == (277, 156)
    assert d["edid_sync"]["sync_type"]["name"] == "digital_separate" and d["edid_sync"]["hsync_positive"] is False
    assert build(D.EdidDtd, decode(D.EdidDtd, raw, "DTD"), "DTD") == raw  # round trip
    assert D.dtd_findings(d) == []


def test_dtd_six_bit_vsync_and_igt_shift():
    raw = D.build_dtd(**{**PANEL_1366, "vsync_off": 35, "vsync_pulse_width": 18, "vblank": 80})
    assert raw[10] == (3 << 4) | 2 and raw[11] & 0x0F == (2 << 2) | 1
    d = D.parse_dtd(raw)
    assert (d["mode"]["vsync_start"], d["mode"]["vsync_end"]) == (803, 821)
    assert any("[803, 821]" in f and "[1283, 1541]" in f for f in D.dtd_findings(d))
    with pytest.raises(DecodeError):
        D.build_dtd(vsync_off=64)  # 6 bits


def test_dtd_bogus_sync_end():
    d = D.parse_dtd(D.build_dtd(**{**PANEL_1366, "hsync_off": 150, "hsync_pulse_width": 40}))
    assert any("hsync_end 1556 is past htotal 1526" in f for f in D.dtd_findings(d))


def test_block58_generic_dtd():
    def entry(i):
        return {"pixel_clock": 76100 + i, "hactive": 1366, "hblank": 160, "hfront_porch": 48, "hsync": 32, "vactive": 768, "vblank": 22,
                "vfront_porch": 3, "vsync": 5, "width_mm": 277, "height_mm": 156, "hsync_positive_polarity": True,
                "vsync_positive_polarity": False, "rsvd_flags": 0, "rsvd": [0, 0, 0]}
    data = (28).to_bytes(2, "little") + b"".join(build(D.GenericDtdEntry, entry(i), "e") for i in range(18))
    g = V.decode_block(58, data, 240, {40: b"\x01"})
    assert len(g["dtd"]) == 18 and g["dtd"][1]["selected"] and g["dtd"][16]["efp"] == 1 and g["findings"] == []
    m = g["dtd"][1]["mode"]
    assert m["clock"] == 76101 and (m["hsync_start"], m["hsync_end"], m["htotal"], m["vtotal"]) == (1414, 1446, 1526, 790)
    assert m["flags"] == ["phsync", "nvsync"] and m["vrefresh"] == 63
    old = V.decode_block(58, data, 228, {40: b"\x01"})
    assert any("only from BDB 229" in f for f in old["findings"])
    small = V.decode_block(58, (20).to_bytes(2, "little") + bytes(65000), 240, {})
    assert small["dtd"] == [] and any("too small" in f for f in small["findings"])
    zero = V.decode_block(58, bytes(2), 240, {})
    assert zero["dtd"] == []
    big = V.decode_block(58, (40).to_bytes(2, "little") + bytes(40 * 3 + 5), 240, {40: b"\x09"})
    assert len(big["dtd"]) == 3 and any("Unexpected GDTD size" in f for f in big["findings"]) and any("no entry" in f for f in big["findings"])
    assert big["dtd"][0]["unparsed"] == "00" * 12
    with pytest.raises(DecodeError):
        V.decode_block(58, b"\x1c", 240, {})
