"""VBT container layer: header/BDB sizes, child-device offsets and version gating, block walk rules
(bounds, block 53 v3, duplicates), findings for bad input, build round trips, and parity with
intel_vbt_decode (igt 1.27.1) on every real VBT, ROM and OpRegion in the shared corpus."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest

from igdscope.binary import DecodeError, to_plain
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import base as vbtbase, general
from tests.support.shared import CORPUS, need


def corpus_dir() -> Path:
    return need(CORPUS)


def corpus_names() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".vbt", ".rom"))


def field(child: dict, name: str):
    """A decoded field whether or not the BDB version defines it (gated values live aside)."""
    if name in child:
        return child[name]
    return (child.get("not_valid_for_bdb") or {}).get(name, 0)


def value(x):
    return x["value"] if isinstance(x, dict) else int(x)


# -- sizes and offsets ---------------------------------------------------------------------------


def test_header_sizes():
    assert V.VbtHeader.sizeof() == 48
    assert V.BdbHeader.sizeof() == 22
    assert general.GeneralFeatures.sizeof() == 7
    assert general.GeneralDefinitionsHeader.sizeof() == 5
    assert general.ChildDevice.sizeof(bdb_version=263) == 44
    assert general.ChildDevice.sizeof(bdb_version=129) == 44  # the unions keep their size


def test_vbt_header_offsets():
    raw = V.build_vbt(221, [], signature="$VBT TEST")
    h = V.VbtHeader.parse(raw[:48])
    assert raw[:20] == b"$VBT TEST".ljust(20, b" ")
    assert int.from_bytes(raw[0x14:0x16], "little") == h.version == 100
    assert int.from_bytes(raw[0x16:0x18], "little") == h.header_size == 48
    assert int.from_bytes(raw[0x18:0x1A], "little") == h.vbt_size == len(raw) == 70
    assert raw[0x1A] == h.vbt_checksum and sum(raw) % 256 == 0
    assert int.from_bytes(raw[0x1C:0x20], "little") == h.bdb_offset == 48
    assert raw[48:64] == b"BIOS_DATA_BLOCK "
    assert int.from_bytes(raw[64:66], "little") == 221
    assert int.from_bytes(raw[66:68], "little") == 22 and int.from_bytes(raw[68:70], "little") == 22


def test_child_device_offsets_and_bits():
    values = {
        "handle": 0x0040, "device_type": 0x68C6, "i2c_speed": 2, "dp_onboard_redriver_present": True,
        "dp_onboard_redriver_vswing": 2, "dp_onboard_redriver_preemph": 1, "hdmi_level_shifter_value": 0x0A,
        "hdmi_max_data_rate": 3, "dtd_buf_ptr": 0x1234, "ganged_edp": True, "compression_structure_index": 5,
        "hdmi_max_frl_rate": 4, "hdmi_max_frl_rate_valid": True, "addin_offset": 0x5678,
        "dvo_port": "dpc", "i2c_pin": 0x11, "target_addr": 0x72, "ddc_pin": 0x03, "edid_ptr": 0x9ABC,
        "dvo_cfg": 0x21, "lane_reversal": True, "hpd_invert": True, "dp_max_lane_count": 3,
        "hdmi_support": True, "tmds_support": True, "aux_channel": "aux_a", "dongle_detect": 1,
        "pipe_cap": 2, "integrated_encoder": True, "dvo_wiring": 0x0D, "mipi_bridge_type": 3,
        "extended_type": 0xBEEF, "dvo_function": 0x44, "dp_usb_type_c": True, "tbt": True,
        "dp_port_trace_length": 9, "dp_gpio_index": 0x55, "dp_gpio_pin_num": 0xA1B2,
        "dp_iboost_level": 1, "hdmi_iboost_level": 2, "dp_max_link_rate": 3, "efp_index": 7,
        "edp_data_rate_override": 0x801,
    }
    raw = V.build_block(2, {"devices": [values]}, 263)
    assert raw[4] == 44 and len(raw) == 5 + 44
    c = raw[5:]
    le = int.from_bytes
    assert le(c[0:2], "little") == 0x0040 and le(c[2:4], "little") == 0x68C6
    assert c[0x04] == 2
    assert c[0x05] == 1 << 6 | 2 << 3 | 1
    assert c[0x07] == 3 << 5 | 0x0A
    assert le(c[0x08:0x0A], "little") == 0x1234
    assert c[0x0A] == 1 << 3 and c[0x0B] == 5 and c[0x0C] == 1 << 4 | 4
    assert le(c[0x0E:0x10], "little") == 0x5678
    assert c[0x10] == 8 and c[0x11] == 0x11 and c[0x12] == 0x72 and c[0x13] == 0x03
    assert le(c[0x14:0x16], "little") == 0x9ABC and c[0x16] == 0x21
    assert c[0x17] == 3 << 6 | 1 << 4 | 1 << 1
    assert c[0x18] == 0b101
    assert c[0x19] == 0x40 and c[0x1A] == 1
    assert c[0x1B] == 1 << 5 | 2
    assert c[0x1C] == 0x0D and c[0x1D] == 3
    assert le(c[0x1E:0x20], "little") == 0xBEEF and c[0x20] == 0x44
    assert c[0x21] == 9 << 4 | 0b11
    assert c[0x22] == 0x55 and le(c[0x23:0x25], "little") == 0xA1B2  # unaligned u16
    assert c[0x25] == 2 << 4 | 1 and c[0x26] == 3 and c[0x27] == 7
    assert le(c[0x28:0x2C], "little") == 0x801
    decoded = V.decode_block(2, raw, 263)
    child = decoded["devices"][0]
    for name, expected in values.items():
        got = child[name]
        if isinstance(got, dict):
            assert got["name"] == expected, name
        else:
            assert got == expected, name
    assert decoded["findings"] == []
    assert V.build_block(2, decoded, 263) == raw


def test_child_device_layout_switches_with_bdb_version():
    entry = bytearray(33)
    entry[0:4] = bytes.fromhex("0200 0906".replace(" ", ""))
    entry[4:14] = b"SI-1362-A\0"
    entry[0x17:0x1B] = bytes([0x02, 0x05, 0x70, 0x04])
    entry[0x1D] = 0x09
    block = bytes([2, 0, 0, 0, 33]) + bytes(entry)
    old = V.decode_block(2, block, 150)["devices"][0]
    assert old["device_id"] == "SI-1362-A" and "i2c_speed" not in old
    assert (old["dvo2_port"], old["i2c2_pin"], old["target2_addr"], old["ddc2_pin"]) == (2, 5, 0x70, 4)
    assert old["dvo2_wiring"] == 9 and "mipi_bridge_type" not in old and "aux_channel" not in old
    mid = V.decode_block(2, block, 155)["devices"][0]
    assert mid["i2c_speed"] == ord("S") and "device_id" not in mid
    assert mid["aux_channel"] == {"value": 0x70, "name": "aux_g"} and mid["dongle_detect"] == 4
    assert mid["dvo2_wiring"] == 9
    new = V.decode_block(2, block, 171)["devices"][0]
    assert new["mipi_bridge_type"] == 9 and "dvo2_wiring" not in new
    for version in (150, 155, 171):
        assert V.build_block(2, V.decode_block(2, block, version), version) == block


def test_fields_newer_than_the_bdb_version_are_set_aside():
    values = {"handle": 8, "device_type": 0x78C6, "lane_reversal": True, "dp_max_lane_count": 3, "efp_index": 0}
    raw = V.build_block(2, {"devices": [values]}, 263)[5:]
    block = bytes([0, 0, 0, 0, 39]) + raw[:39]
    child = V.decode_block(2, block, 220)["devices"][0]
    assert child["lane_reversal"] is True  # 184+
    assert "dp_max_lane_count" not in child and child["not_valid_for_bdb"] == {"dp_max_lane_count": 3}  # 244+
    assert "efp_index" not in child and "edp_data_rate_override" not in child  # zero and too new: dropped
    assert V.build_block(2, V.decode_block(2, block, 220), 220) == block


def test_block1_gating_and_short_blocks():
    raw5 = V.build_block(1, {"panel_fitting": 2, "enable_ssc": True, "int_crt_support": True}, 150, size=5)
    assert raw5 == bytes([0x02, 0x02, 0x00, 0x00, 0x01])
    d = V.decode_block(1, raw5, 150)
    assert d["panel_fitting"] == 2 and d["enable_ssc"] and d["int_crt_support"]
    assert "rotate_180" not in d and "tc_hpd_retry_timeout" not in d and "afc_startup_config" not in d
    assert V.build_block(1, d, 150, size=5) == raw5
    raw7 = V.build_block(1, {"rotate_180": True, "tc_hpd_retry_timeout": 0x55, "afc_startup_config": 1}, 250)
    assert raw7 == bytes([0, 0, 1 << 2, 0, 0, 0x55, 0x01])
    d7 = V.decode_block(1, raw7, 250)
    assert d7["rotate_180"] and d7["tc_hpd_retry_timeout"] == 0x55 and d7["afc_startup_config"] == 1
    d_old = V.decode_block(1, raw7, 170)
    assert d_old["not_valid_for_bdb"] == {"rotate_180": True, "tc_hpd_retry_timeout": 0x55, "afc_startup_config": 1}
    assert V.build_block(1, d_old, 170) == raw7
    long = raw7 + b"\x01\x02\x03"
    d_long = V.decode_block(1, long, 256)
    assert d_long["unparsed"] == "010203"
    assert V.build_block(1, d_long, 256) == long
    with pytest.raises(DecodeError, match="entry has 5"):
        V.build_block(1, {"tc_hpd_retry_timeout": 1}, 250, size=5)


def test_block2_entry_size_findings_and_trailing_bytes():
    good = V.build_block(2, {"devices": [{"handle": 4, "device_type": 0x60D2}]}, 230)
    assert good[4] == 39
    d = V.decode_block(2, good + b"\x07\x07", 230)
    assert len(d["devices"]) == 1 and d["unparsed"] == "0707"
    assert any("2 bytes after the last whole child entry" in f for f in d["findings"])
    wrong = V.decode_block(2, good, 256)
    assert any("differs from the 40 i915 expects" in f for f in wrong["findings"])
    tiny = V.decode_block(2, bytes([0, 0, 0, 0, 20]) + bytes(40), 180)
    assert len(tiny["devices"]) == 2 and any("below 33" in f for f in tiny["findings"])
    zero = V.decode_block(2, bytes([0, 0, 0, 0, 0]) + bytes(10), 180)
    assert zero["devices"] == [] and zero["unparsed"] == "00" * 10
    assert V.build_block(2, zero, 180) == bytes([0, 0, 0, 0, 0]) + bytes(10)


@pytest.mark.parametrize(("version", "size"), [(100, 22), (106, 27), (155, 33), (195, 37), (196, 38), (215, 38),
                                               (216, 39), (255, 39), (256, 40), (262, 40), (263, 44), (300, 44)])
def test_child_device_expected_size(version, size):
    assert general.child_device_expected_size(version) == size


def test_decode_block_without_schema():
    assert V.decode_block(17, b"\0" * 10, 250) is None  # sv_test_functions: no schema (27 has one now)
    with pytest.raises(ValueError):
        V.build_block(17, {}, 250)


def test_handle_names():
    assert general.device_handle_names(0x0001, 200) == ["crt"]
    assert general.device_handle_names(0x0001, 217) == ["efp6"]
    assert general.device_handle_names(0x0002, 215) == ["efp5"]
    assert general.device_handle_names(0x0048, 240) == ["lfp1", "efp2"]
    assert general.device_handle_names(0x8000, 240) == ["unknown(0x8000)"]


def test_block_names():
    assert vbtbase.block_name(9, 164) == "dot_clock_override_alm" and vbtbase.block_name(9, 165) == "psr"
    assert vbtbase.BLOCK_NAMES[58] == "generic_dtd" and vbtbase.BLOCK_NAMES[44] == "lfp_power" and vbtbase.BLOCK_NAMES[54] == "rgb_palette"
    assert set(vbtbase.BLOCK_NAMES) == set(range(1, 33)) | {40, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 55, 56, 57, 58, 252, 253, 254}


# -- walking ------------------------------------------------------------------------------------


def test_build_vbt_walk_round_trip():
    f = V.build_block(1, {"panel_fitting": 3}, 240)
    g = V.build_block(2, {"devices": [{"handle": 8, "device_type": 0x78C6, "dvo_port": "dpa", "aux_channel": "aux_a"}]}, 240)
    raw = V.build_vbt(240, [(1, f), (2, g), (254, b"\xAA" * 7)], signature="$VBT TIGERLAKE")
    w = V.walk_blocks(raw)
    assert w["findings"] == [] and w["checksum"] == {"stored": raw[0x1A], "computed": raw[0x1A], "ok": True}
    assert w["vbt_header"]["signature"] == "$VBT TIGERLAKE      " and w["bdb_version"] == 240
    assert w["bdb_header"] == {"signature": "BIOS_DATA_BLOCK ", "version": 240, "header_size": 22, "bdb_size": len(raw) - 48}
    assert [(b["id"], b["name"], b["offset"], b["size"]) for b in w["blocks"]] == [
        (1, "general_features", 70, 7), (2, "general_definitions", 80, len(g)), (254, "skip", 83 + len(g), 7)]
    assert w["blocks"][2]["raw"] == b"\xAA" * 7
    assert V.VbtLayout.build(V.VbtLayout.parse(raw)) == raw
    # assembling the walked blocks again gives the same bytes
    assert V.build_vbt(240, [(b["id"], b["raw"]) for b in w["blocks"]], signature="$VBT TIGERLAKE") == raw
    bad = V.build_vbt(240, [(1, f)], checksum=0x12)
    assert V.walk_blocks(bad)["checksum"]["ok"] is False
    assert any("checksum byte is 0x12" in x for x in V.walk_blocks(bad)["findings"])


def test_compiled_schemas_agree():
    g = V.build_block(2, {"devices": [{"handle": 8, "device_type": 0x78C6, "dvo_port": "dpa", "lane_reversal": True}] * 3}, 240)
    for schema, raw in ((general.GeneralDefinitions, g), (general.Block1, V.build_block(1, {"flexaim": True}, 240))):
        compiled = schema.compile()
        ctx = {"bdb_version": 240, "block_size": len(raw)}
        assert to_plain(compiled.parse(raw, **ctx)) == to_plain(schema.parse(raw, **ctx))
    vbt = V.build_vbt(240, [(1, b"\x03" * 7)])
    assert to_plain(V.VbtLayout.compile().parse(vbt)) == to_plain(V.VbtLayout.parse(vbt))


def test_block_past_bdb_size_is_ignored_like_i915():
    raw = bytearray(V.build_vbt(256, [(1, bytes(7)), (58, bytes(10))]))
    bdb_size = int.from_bytes(raw[68:70], "little")
    raw[68:70] = (bdb_size - 1).to_bytes(2, "little")  # block 58 now ends 1 byte past bdb_size
    w = V.walk_blocks(bytes(raw))
    assert [b["id"] for b in w["blocks"]] == [1]
    assert [(b["id"], b["size"]) for b in w["ignored_blocks"]] == [(58, 10)]
    text = " | ".join(w["findings"])
    assert "block 58" in text and "1 byte(s) past bdb_size" in text
    assert "vbt_size 93 is 1 byte(s) more than bdb_offset + bdb_size (92)" in text


def test_mipi_sequence_v3_size():
    # v3: version byte, u32 size counting from the version byte (the reading that keeps the walk intact)
    seq = bytes([3]) + (12).to_bytes(4, "little") + bytes(7)
    raw = V.build_vbt(240, [(53, seq), (1, bytes(7))])
    raw = bytearray(raw)
    raw[70 + 1 : 70 + 3] = (0xFFFF).to_bytes(2, "little")  # the u16 size of a v3 block is ignored
    w = V.walk_blocks(bytes(raw))
    assert [(b["id"], b["size"]) for b in w["blocks"]] == [(53, 12), (1, 7)]
    # v1/v2 use the u16
    raw2 = V.build_vbt(240, [(53, bytes([2]) + bytes(9)), (1, bytes(7))])
    assert [(b["id"], b["size"]) for b in V.walk_blocks(raw2)["blocks"]] == [(53, 10), (1, 7)]
    # the u32 counting only the bytes after itself lands 5 bytes early and loses block 1
    short = bytes([3]) + (7).to_bytes(4, "little") + bytes(7)
    w3 = V.walk_blocks(V.build_vbt(240, [(53, short), (1, bytes(7))]))
    assert [b["id"] for b in w3["blocks"]][0] == 53 and 1 not in [b["id"] for b in w3["blocks"]]


def test_duplicates_reported():
    w = V.walk_blocks(V.build_vbt(200, [(254, b"a"), (1, bytes(7)), (254, b"b")]))
    assert [b["id"] for b in w["blocks"]] == [254, 1, 254]
    assert "block 254 appears 2 times: i915 and igt read only the first, at 0x46; the copy at 0x54 is not decoded (shown raw)" in w["findings"]


def test_duplicate_blocks_decode_the_first_only():
    """i915's find_raw_section and igt's find_section take the first block of an id: so do the
    hooks' context (block 27 takes its panel from the first block 40) and the decode (the later
    copies stay raw)."""
    from igdscope.decode.firmware import vbt_decode

    dec = vbt_decode(V.build_vbt(230, [(40, bytes([3]) + bytes(15)), (27, b""), (40, bytes([7]) + bytes(15))]))
    b40 = [b for b in dec["blocks"] if b["id"] == 40]
    assert b40[0]["fields"]["panel_type"] == 3 and "fields" not in b40[1]
    assert b40[1]["raw"] == (bytes([7]) + bytes(15)).hex()
    edp = next(b for b in dec["blocks"] if b["id"] == 27)["fields"]
    assert edp["selected_panel"] == 3
    assert [f for f in dec["findings"] if f.startswith("block 40 appears 2 times")]


def test_find_vbt():
    vbt = V.build_vbt(215, [(1, bytes(7))])
    assert V.find_vbt(vbt) == 0
    assert V.find_vbt(b"\xff" * 0x103 + vbt) == 0x103  # byte-granular, like igt
    assert V.find_vbt(b"\0" * 0x400 + vbt, start=0x10) == 0x400
    assert V.find_vbt(b"\0" * 100) is None
    assert V.find_vbt(b"\0" * 100 + b"$VBT" + bytes(10)) is None  # no room for a header
    assert V.find_vbt(b"$VBT" + bytes(10) + vbt) == 0  # the first '$VBT' wins, as in igt
    assert V.find_vbt(b"\0" * 0x400 + vbt, limit=0x100) is None


# -- bad input ------------------------------------------------------------------------------------


def test_too_short_raises_decode_error():
    with pytest.raises(DecodeError, match="truncated"):
        V.walk_blocks(b"$VBT" + bytes(40))
    with pytest.raises(DecodeError):
        V.walk_blocks(V.build_vbt(200, []), vbt_offset=30)


def test_truncated_vbt_gives_findings():
    vbt = V.build_vbt(221, [(1, bytes(7)), (2, V.build_block(2, {"devices": [{}] * 4}, 221)), (254, bytes(100))])
    cut = vbt[:120]
    w = V.walk_blocks(cut)
    text = " | ".join(w["findings"])
    assert "truncated: vbt_size" in text and "runs past the end of the data" in text
    assert [b["id"] for b in w["blocks"]] == [1]
    assert w["checksum"]["ok"] is False


def test_wrong_signatures_and_offsets():
    vbt = bytearray(V.build_vbt(221, [(1, bytes(7))]))
    vbt[0:4] = b"$VBX"
    vbt[48:52] = b"XIOS"
    w = V.walk_blocks(bytes(vbt))
    text = " | ".join(w["findings"])
    assert "not '$VBT'" in text and "expected 'BIOS_DATA_BLOCK '" in text
    assert [b["id"] for b in w["blocks"]] == [1]  # still walked, as igt does
    vbt[0x1C:0x20] = (5000).to_bytes(4, "little")
    w = V.walk_blocks(bytes(vbt))
    assert w["bdb_header"] is None and any("beyond the" in f for f in w["findings"])


def test_random_garbage_never_raises_beyond_decode_error():
    rng = random.Random(0x5EED)
    for i in range(400):
        n = rng.choice([0, 10, 47, 48, 60, 70, 100, 300, 2000])
        data = bytearray(rng.getrandbits(8) for _ in range(n))
        if i % 2 and n >= 70:  # plausible headers with garbage sizes and blocks
            data[0:4] = b"$VBT"
            data[0x1C:0x20] = (48).to_bytes(4, "little")
            data[48:64] = b"BIOS_DATA_BLOCK "
            data[66:68] = (22).to_bytes(2, "little")
        if n < 48:
            with pytest.raises(DecodeError):
                V.walk_blocks(bytes(data))
            continue
        w = V.walk_blocks(bytes(data))
        for block in w["blocks"]:
            if block["id"] in (1, 2) and w["bdb_version"] is not None:
                V.decode_block(block["id"], block["raw"], w["bdb_version"])
        assert isinstance(w["findings"], list)


def test_demo_vbt():
    raw = V.demo_vbt()
    w = V.walk_blocks(raw)
    assert w["findings"] == [] and w["checksum"]["ok"] and w["bdb_version"] == V.DEMO_BDB_VERSION
    defs = V.decode_block(2, w["blocks"][1]["raw"], w["bdb_version"])
    used = [d for d in defs["devices"] if d["device_type"]]
    assert [(d["handle"], d["dvo_port"]["name"]) for d in used] == [(0x0004, "hdmib"), (0x0040, "dpc"), (0x0020, "dpd")]
    assert defs["findings"] == []


# -- the real corpus: parity with intel_vbt_decode (igt 1.27.1) -------------------------------------

STDERR_NOISE = re.compile(r"Block \d+ min size \d+ less than block size \d+\n|Generating LVDS data table pointers\n|Warning: [^\n]*\n")


def igt_header(text: str) -> dict:
    def num(label: str, dec: bool = True) -> int:
        m = re.search(label + r":\s+(0x[0-9a-f]+)(?: \((\d+)\))?", text)
        return int(m.group(2)) if dec and m.group(2) else int(m.group(1), 16)

    return {
        "signature": re.search(r'VBT signature:\s+"(.*)"', text).group(1),
        "version": num("VBT version", dec=False),
        "header_size": num("VBT header size"),
        "vbt_size": num("VBT size"),
        "vbt_checksum": num("VBT checksum", dec=False),
        "bdb_offset": num("BDB offset"),
        "bdb_signature": re.search(r'BDB signature:\s+"(.*)"', text).group(1),
        "bdb_version": int(re.search(r"BDB version:\s+(\d+)", text).group(1)),
        "bdb_header_size": num("BDB header size"),
        "bdb_size": num("BDB size"),
    }


def igt_blocks(text: str) -> tuple[list[int], dict[int, int]]:
    """The 'BDB blocks present' list (stderr lines removed) and the 'BDB block N (S bytes)' sizes."""
    clean = STDERR_NOISE.sub("", text)
    listing = clean.split("BDB blocks present:", 1)[1].split("\n\n", 1)[0]
    present = [int(x) for x in listing.split()]
    sizes = {int(i): int(s) for i, s in re.findall(r"^BDB block (\d+) \((\d+) bytes", text, re.M)}
    return present, sizes


def igt_section(text: str, block_id: int) -> str:
    m = re.search(rf"^BDB block {block_id} \(.*?(?=^BDB block |\Z)", text, re.M | re.S)
    return m.group(0) if m else ""


def manifest() -> dict[str, dict]:
    with (corpus_dir() / "MANIFEST.tsv").open() as fh:
        return {row["local_file"]: row for row in csv.DictReader(fh, delimiter="\t")}


def walk_corpus(name: str) -> tuple[bytes, dict, str]:
    data = (corpus_dir() / name).read_bytes()
    off = V.find_vbt(data)
    assert off is not None
    return data, V.walk_blocks(data, off), (corpus_dir() / (name + ".igt.txt")).read_text(errors="replace")


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_corpus_headers_and_blocks_match_igt(name):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    data, w, text = walk_corpus(name)
    igt = igt_header(text)
    vh, bh = w["vbt_header"], w["bdb_header"]
    assert vh["signature"].replace("\0", "") == igt["signature"].split("\0")[0]
    assert (vh["version"], vh["header_size"], vh["vbt_size"], vh["vbt_checksum"], vh["bdb_offset"]) == (
        igt["version"], igt["header_size"], igt["vbt_size"], igt["vbt_checksum"], igt["bdb_offset"])
    assert (bh["signature"], bh["version"], bh["header_size"], bh["bdb_size"]) == (
        igt["bdb_signature"], igt["bdb_version"], igt["bdb_header_size"], igt["bdb_size"])
    assert w["bdb_version"] == int(manifest()[name]["bdb_version"])

    present, sizes = igt_blocks(text)
    first: dict[int, int] = {}
    for block in w["blocks"]:
        first.setdefault(block["id"], block["size"])
    if 41 not in first and "Generating LVDS data table pointers" in text:
        present = [i for i in present if i != 41]  # igt 1.27.1 lists the block 41 it synthesised
        sizes.pop(41, None)
    assert present == sorted(first)
    assert sizes == first


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_corpus_checksum_matches_manifest(name):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    data, w, _ = walk_corpus(name)
    notes = manifest()[name]["notes"]
    m = re.search(r"sum=0x([0-9a-f]{2})", notes)
    c = w["checksum"]
    byte_sum = (c["stored"] - c["computed"]) & 0xFF
    assert byte_sum == (int(m.group(1), 16) if m else 0)
    assert c["ok"] is (m is None)
    if m:
        assert any(f.startswith("checksum byte is") for f in w["findings"])


def test_corpus_rom_vbt_offsets():
    for name, row in manifest().items():
        m = re.search(r"embedded VBT at (0x[0-9a-f]+)", row["notes"])
        if row["kind"] == "rom" and m:
            data = (corpus_dir() / name).read_bytes()
            assert V.find_vbt(data) == int(m.group(1), 16), name


def test_corpus_twin_lake_block_58_past_bdb_size():
    name = "gen12-twl_longqt_tianbei-n1pro.vbt"
    if not (corpus_dir() / name).is_file():
        pytest.skip(f"{name} is absent")
    _, w, _ = walk_corpus(name)
    assert [(b["id"], b["size"]) for b in w["ignored_blocks"]] == [(58, 674)]
    assert any("block 58" in f and "1 byte(s) past bdb_size" in f for f in w["findings"])
    assert 58 not in [b["id"] for b in w["blocks"]]


CHILD_INT_FIELDS = {  # igt label -> field (hex or decimal ints; a "(0x..)" suffix wins)
    "Device handle": "handle",
    "Device type": "device_type",
    "AIM offset": "addin_offset",
    "DVO Port": "dvo_port",
    "AIM I2C pin": "i2c_pin",
    "AIM Slave address": "target_addr",
    "AIM Target address": "target_addr",
    "DDC pin": "ddc_pin",
    "EDID buffer ptr": "edid_ptr",
    "DVO config": "dvo_cfg",
    "I2C speed": "i2c_speed",
    "Aux channel": "aux_channel",
    "Dongle detect": "dongle_detect",
    "Hotplug connect status": "hpd_status",
    "Pipe capabilities": "pipe_cap",
    "DVO wiring": "dvo_wiring",
    "DVO2 wiring": "dvo2_wiring",
    "DVO2 Port": "dvo2_port",
    "I2C2 pin": "i2c2_pin",
    "DDC2 pin": "ddc2_pin",
    "Device class extension": "extended_type",
    "DVO function": "dvo_function",
    "HDMI level shifter value": "hdmi_level_shifter_value",
    "Offset to DTD buffer for edidless CHILD": "dtd_buf_ptr",
    "IBoost level for DP/eDP": "dp_iboost_level",
    "IBoost level for HDMI": "hdmi_iboost_level",
    "DP max link rate": "dp_max_link_rate",
    "2X DP GPIO index": "dp_gpio_index",
    "2X DP GPIO pin number": "dp_gpio_pin_num",
    "HDMI max data rate": "hdmi_max_data_rate",
    "Compression structure index": "compression_structure_index",
}
CHILD_BOOL_FIELDS = {
    "Integrated encoder instead of SDVO": "integrated_encoder",
    "SDVO stall signal available": "sdvo_stall",
    "Lane reversal": "lane_reversal",
    "EFP routed through dock": "efp_routed",
    "Onboard LSPCON": "lspcon",
    "Iboost enable": "iboost",
    "HPD sense invert": "hpd_invert",
    "Use VBT vswing/premph table": "use_vbt_vswing",
    "Thunderbolt port": "tbt",
    "DP USB type C support": "dp_usb_type_c",
    "Edidless EFP": "edidless_efp",
    "Compression enable": "compression_enable",
    "Compression method CPS": "compression_method_cps",
    "Dual pipe ganged eDP": "ganged_edp",
}


def igt_int(text: str) -> int:
    m = re.search(r"\((0x[0-9a-fA-F]+)\)\s*$", text)
    if m:
        return int(m.group(1), 16)
    tok = text.split()[0]
    return int(tok, 16) if tok.lower().startswith("0x") else int(tok)


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_corpus_general_definitions_match_igt(name):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    _, w, text = walk_corpus(name)
    version = w["bdb_version"]
    block = next(b for b in w["blocks"] if b["id"] == 2)
    defs = V.decode_block(2, block["raw"], version)
    section = igt_section(text, 2)
    assert int(re.search(r"CRT DDC GMBUS addr: 0x([0-9a-f]+)", section).group(1), 16) == defs["crt_ddc_gmbus_pin"]
    assert re.search(r"Use DPMS on AIM devices: (\w+)", section).group(1) == ("yes" if defs["dpms_aim"] else "no")
    assert int(re.search(r"Boot display type: 0x([0-9a-f]+)", section).group(1), 16) == defs["boot_display"][1] << 8 | defs["boot_display"][0]
    assert int(re.search(r"Child device size: (\d+)", section).group(1)) == defs["child_dev_size"]
    assert int(re.search(r"Child device count: (\d+)", section).group(1)) == len(defs["devices"])
    igt_children = section.split("\tChild device info:\n")[1:]
    ours = [d for d in defs["devices"] if d["device_type"]]
    assert len(igt_children) == len(ours)
    for child_text, child in zip(igt_children, ours):
        lines = dict(re.findall(r"^\t\t([^:\t\n?]+): ([^\n]*)$", child_text, re.M))
        compared = 0
        for label, name_ in CHILD_INT_FIELDS.items():
            if label in lines:
                assert igt_int(lines[label]) == value(field(child, name_)), (label, lines[label])
                compared += 1
        for label, name_ in CHILD_BOOL_FIELDS.items():
            if label in lines:
                assert lines[label] == ("yes" if field(child, name_) else "no"), label
                compared += 1
        for kind, yesno in re.findall(r"^\t\t(HDMI|DP|TMDS) compatible\? (yes|no)$", child_text, re.M):
            assert yesno == ("yes" if field(child, kind.lower() + "_support") else "no"), kind
        m = re.search(r"eDP/DP max lane count: X(\d)", child_text)
        if m:
            assert int(m.group(1)) == field(child, "dp_max_lane_count") + 1
        m = re.search(r"Signature: ([^\n]*)", child_text)
        if m:
            assert child["device_id"].split("\0")[0].strip() == m.group(1).strip()
        m = re.search(r"MIPI bridge type: ([0-9a-f]{2})", child_text)
        if m:
            assert int(m.group(1), 16) == child["mipi_bridge_type"]
        assert compared >= 15
    assert defs["findings"] == [] or all("differs from" in f for f in defs["findings"])


FEATURE_LABELS = {
    "Panel fitting": "panel_fitting",
    "Flexaim": "flexaim",
    "Message": "msg_enable",
    "Clear screen": "clear_screen",
    "DVO color flip required": "color_flip",
    "External VBT": "download_ext_vbt",
    "LVDS SSC Enable": "enable_ssc",
    "LVDS SSC frequency": "ssc_freq",
    "LFP on override": "enable_lfp_on_override",
    "Disable SSC on clone": "disable_ssc_ddt",
    "Underscan support for VGA timings": "underscan_vga_timings",
    "Dynamic CD clock": "display_clock_mode",
    "Hotplug support in VBIOS": "vbios_hotplug_support",
    "Disable smooth vision": "disable_smooth_vision",
    "Single DVI for CRT/DVI": "single_dvi",
    "Enable 180 degree rotation": "rotate_180",
    "Inverted FDI Rx polarity": "fdi_rx_polarity_inverted",
    "Extended VBIOS mode": "vbios_extended_mode",
    "Copy iLFP DTD to SDVO LVDS DTD": "copy_ilfp_dtd_to_sdvo_lvds_dtd",
    "Best fit panel timing algorithm": "panel_best_fit_timing",
    "Ignore strap state": "ignore_strap_state",
    "Legacy monitor detect": "legacy_monitor_detect",
    "Integrated CRT": "int_crt_support",
    "Integrated TV": "int_tv_support",
    "Integrated EFP": "int_efp_support",
    "DP SSC enable": "dp_ssc_enable",
    "DP SSC frequency": "dp_ssc_freq",
    "DP SSC dongle supported": "dp_ssc_dongle_supported",
}


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_corpus_general_features_match_igt(name):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    _, w, text = walk_corpus(name)
    block = next(b for b in w["blocks"] if b["id"] == 1)
    feats = V.decode_block(1, block["raw"], w["bdb_version"])
    lines = dict(re.findall(r"^\t([^:\t\n]+): ([^\n]*)$", igt_section(text, 1), re.M))
    compared = 0
    for label, name_ in FEATURE_LABELS.items():
        if label not in lines:
            continue
        got = field(feats, name_)
        shown = lines[label]
        if shown in ("yes", "no"):
            assert shown == ("yes" if got else "no"), label
        else:
            assert igt_int(shown) == int(got), (label, shown)
        compared += 1
    assert compared >= 18


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_corpus_blocks_1_and_2_build_back(name):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    _, w, _ = walk_corpus(name)
    for block in w["blocks"]:
        if block["id"] in (1, 2):
            decoded = V.decode_block(block["id"], block["raw"], w["bdb_version"])
            assert V.build_block(block["id"], decoded, w["bdb_version"], size=len(block["raw"])) == block["raw"]


def test_corpus_vbts_reassemble_byte_for_byte():
    rebuilt = 0
    for name in corpus_names():
        data, w, _ = walk_corpus(name)
        vh, bh = w["vbt_header"], w["bdb_header"]
        vbt = data[w["vbt_offset"] : w["vbt_offset"] + vh["vbt_size"]]
        tiles = 22 + sum(3 + b["size"] for b in w["blocks"]) == bh["bdb_size"]
        standard = (vh["header_size"], vh["bdb_offset"], bh["header_size"], vh["reserved0"], vh["aim_offset"]) == (48, 48, 22, 0, [0, 0, 0, 0])
        if not (tiles and standard and vh["vbt_size"] == 48 + bh["bdb_size"] and len(vh["signature"]) == 20):
            continue
        again = V.build_vbt(bh["version"], [(b["id"], b["raw"]) for b in w["blocks"]], signature=vh["signature"],
                            version=vh["version"], checksum=vh["vbt_checksum"])
        assert again == vbt, name
        rebuilt += 1
    if not corpus_names():
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    assert rebuilt >= 5


def test_build_block_goes_through_the_registry_for_every_block_with_a_builder():
    """A block built back from its decoded values decodes to the same values (blocks 1, 2, 9, 11,
    12, 27 and 56 register a builder; the others are built their own way)."""
    from igdscope.schemas.vbtblocks import BLOCKS

    with_builder = sorted(i for i, spec in BLOCKS.items() if spec.builder is not None)
    assert with_builder == [1, 2, 9, 11, 12, 27, 56]
    walked = V.walk_blocks(V.demo_vbt())
    version = walked["bdb_header"]["version"]
    raw = {b["id"]: bytes(b["raw"]) for b in walked["blocks"]}
    for i in with_builder:
        spec = BLOCKS[i]
        payload = raw.get(i) or bytes((k * 37 + 1) & 0xFF for k in range(spec.full_size or 40))  # the demo's block, or a patterned one
        fields = V.decode_block(i, payload, version)
        again = V.decode_block(i, V.build_block(i, fields, version), version)
        assert again == fields, i
    with pytest.raises(ValueError):
        V.build_block(42, {}, version)
