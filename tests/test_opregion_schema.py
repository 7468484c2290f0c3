"""OpRegion schema: sizes and offsets, bit splits, version rules, extended-VBT location, findings for
bad input, round trips, and parity with intel_opregion_decode on the real corpus OpRegion."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from igdscope.binary import DecodeError, to_plain
from igdscope.schemas import opregion as op
from igdscope.schemas import vbt as V
from tests.support.igt_text import igt_sections
from tests.support.shared import CORPUS

OPREGION_FILE = "gen9.5-kbl_rikka0w0_opregion.opregion"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus file {path} is absent (the shared corpus is not checked out here)")
    return path


def small_vbt(bdb_version: int = 221) -> bytes:
    return V.build_vbt(bdb_version, [(1, V.build_block(1, {"panel_fitting": 3}, bdb_version))])


def opregion(version: str = "2.0.0", **kw) -> bytes:
    values = {"version": version, **kw}
    return op.build_opregion(values)


# -- sizes and offsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(("schema", "size"), [
    (op.OpRegionHeader, 0x100),
    (op.Mailbox1Acpi, 0x100),
    (op.Mailbox2Swsci, 0x100),
    (op.Mailbox2Backlight, 0x100),
    (op.Mailbox3Asle, 0x100),
    (op.Mailbox5AsleExt, 0x400),
    (op.OpRegion, 0x2000),
])
def test_struct_sizes(schema, size):
    assert schema.sizeof() == size


def test_header_offsets():
    data = op.build_opregion({
        "header": {
            "size": 0x11223344,
            "over": {"rsvd": 0xA0, "revision": 0xA1, "minor": 0xA2, "major": 0xA3},
            "bios_ver": "SVER", "vbios_ver": "VVER", "driver_ver": "GVER",
            "mboxes": 0x3F, "driver_model": 0x55667788, "pcon": 0x2000,
            "dver": "1.2".encode("utf-16-le"),
        },
    })
    assert data[:16] == b"IntelGraphicsMem"
    assert data[0x10:0x14] == bytes.fromhex("44332211")
    assert data[0x14:0x18] == bytes([0xA0, 0xA1, 0xA2, 0xA3])  # rsvd, revision, minor, major
    assert data[0x18:0x1C] == b"SVER" and data[0x38:0x3C] == b"VVER" and data[0x48:0x4C] == b"GVER"
    assert data[0x58:0x5C] == bytes.fromhex("3f000000")
    assert data[0x5C:0x60] == bytes.fromhex("88776655")
    assert data[0x60:0x64] == bytes.fromhex("00200000")
    assert data[0x64:0x6A] == b"1\0.\x002\0"
    parsed = op.parse_opregion(data)
    assert parsed["version"] == "163.162.161"
    assert parsed["dver_text"] == "1.2"
    assert parsed["header"]["pcon"] == {"headless_sku": True, "reserved_bits": 0}
    assert parsed["header"]["mboxes"]["backlight_3x"] is True


def test_mailbox_offsets():
    data = op.build_opregion({
        "version": "2.1.0",
        "mailboxes": {
            "acpi": {"drdy": 0xD1, "didl": [0x100, 0x200], "nrdy": 0xE1, "did2": [7] * 7, "cpd2": [0, 0, 0, 0, 0, 0, 9]},
            "swsci": {"scic": {"indicator": True, "main_function": 4, "sub_function": 5}, "parm": 0xAB, "dslp": 50},
            "asle": {
                "ardy": 1, "bclm": [{"valid": True, "percent": 10, "duty_cycle": 0x40}],
                "plut": {"header": 0x5A, "identifier": b"0123456789", "table": bytes(range(63))},
                "pfmb": {"pwm_valid": True, "pwm_frequency": 200, "brightness_valid": True, "min_brightness": 0x10},
                "cddv": 0xCDD0, "iuer": {"convertible": True}, "fdss": 0x1122334455667788, "fdsp": 0xF0, "stat": 0x57,
                "rvda": 0x2000, "rvds": 0x1234,
            },
            "asle_ext": {"phed": 1, "bddc": b"\x00\xff\xff\xff\xff\xff\xff\x00"},
        },
    })
    le = int.from_bytes
    assert le(data[0x100:0x104], "little") == 0xD1
    assert le(data[0x120:0x124], "little") == 0x100 and le(data[0x124:0x128], "little") == 0x200
    assert le(data[0x1C0:0x1C4], "little") == 0xE1  # nrdy
    assert le(data[0x1C4:0x1C8], "little") == 7  # did2[0]
    assert le(data[0x1F8:0x1FC], "little") == 9  # cpd2[6]
    assert le(data[0x200:0x204], "little") == 1 | 4 << 1 | 5 << 8  # scic: indicator, main 4, sub 5
    assert le(data[0x204:0x208], "little") == 0xAB and le(data[0x208:0x20C], "little") == 50
    assert le(data[0x31C:0x31E], "little") == 0x8A40  # bclm[0]: valid, 10 %, duty 0x40
    assert data[0x34C] == 0x5A and data[0x34D:0x357] == b"0123456789" and data[0x357:0x396] == bytes(range(63))
    assert le(data[0x396:0x39A], "little") == 1 << 31 | 200 << 9 | 1 << 8 | 0x10
    assert le(data[0x39A:0x39E], "little") == 0xCDD0
    assert le(data[0x3A6:0x3AA], "little") == 1 << 6
    assert le(data[0x3AA:0x3B2], "little") == 0x1122334455667788  # fdss, unaligned u64
    assert le(data[0x3B2:0x3B6], "little") == 0xF0 and le(data[0x3B6:0x3BA], "little") == 0x57
    assert le(data[0x3BA:0x3C2], "little") == 0x2000  # RVDA: unaligned u64 at 0x3BA
    assert le(data[0x3C2:0x3C6], "little") == 0x1234  # RVDS at 0x3C2
    assert le(data[0x1C00:0x1C04], "little") == 1 and data[0x1C04:0x1C0C] == b"\x00\xff\xff\xff\xff\xff\xff\x00"
    # the bitmap was derived from the mailboxes given
    assert op.parse_opregion(data)["mailboxes_present"] == ["acpi", "swsci", "asle", "asle_ext"]


def test_bit_splits_decode():
    data = bytearray(opregion(mailboxes={"asle": {}, "swsci": {}}))
    data[0x200:0x204] = (0x0000_0A21).to_bytes(4, "little")  # exit param 0x0A, status 1, pending
    data[0x31C:0x31E] = (0xE4FF).to_bytes(2, "little")
    data[0x396:0x39A] = (0x8000_0000 | (1000 << 9) | 0x100 | 0x20).to_bytes(4, "little")
    data[0x310:0x314] = (0x8000_00FF).to_bytes(4, "little")
    data[0x304:0x308] = ((1 << 1) | (1 << 12) | (1 << 30)).to_bytes(4, "little")
    mb = op.parse_opregion(bytes(data))["mailboxes"]
    assert mb["swsci"]["scic"] == {"reserved": 0, "sub_function": 0x0A, "exit_status": 1, "main_function": 0, "indicator": True}
    assert mb["asle"]["bclm"][0] == {"valid": True, "percent": 100, "duty_cycle": 0xFF}
    assert mb["asle"]["pfmb"] == {"pwm_valid": True, "pwm_frequency": 1000, "brightness_valid": True, "min_brightness": 0x20}
    assert mb["asle"]["bclp"] == {"valid": True, "level": 255}
    aslc = mb["asle"]["aslc"]
    assert aslc["set_backlight"] and aslc["backlight_failed"] and not aslc["set_pfit"]
    assert aslc["reserved_bits"] == 1 << 30  # an undefined bit is kept, not lost
    assert op.build_opregion({"header": op.parse_opregion(bytes(data))["header"], "mbox2": data[0x200:0x300],
                              "mailboxes": mb}) == bytes(data)


# -- versions and the extended VBT ---------------------------------------------------------------


@pytest.mark.parametrize(("version", "expected"), [
    ("2.0.0", {"kind": "absolute", "address": 0xCAFE0000, "size": 0x2221}),
    ("2.1.0", {"kind": "relative", "offset": 0xCAFE0000, "size": 0x2221}),
    ("2.3.0", {"kind": "relative", "offset": 0xCAFE0000, "size": 0x2221}),
    ("3.0.0", {"kind": "relative", "offset": 0xCAFE0000, "size": 0x2221}),
    ("1.0.0", None),
])
def test_extended_vbt_location_by_version(version, expected):
    data = opregion(version, mailboxes={"asle": {"rvda": 0xCAFE0000, "rvds": 0x2221}})
    assert op.extended_vbt_location(data) == expected
    assert op.parse_opregion(data)["version"] == version


def test_extended_vbt_needs_asle_mailbox_and_both_fields():
    no_asle = opregion("2.1.0", header={"mboxes": {"acpi": True}}, mailboxes={"asle": {"rvda": 0x2000, "rvds": 100}})
    assert op.extended_vbt_location(no_asle) is None
    assert any("does not advertise mailbox 3" in f for f in op.parse_opregion(no_asle)["findings"])
    only_rvda = opregion("2.1.0", mailboxes={"asle": {"rvda": 0x2000}})
    assert op.extended_vbt_location(only_rvda) is None
    assert any("only one is set" in f for f in op.parse_opregion(only_rvda)["findings"])
    assert op.extended_vbt_location(b"\0" * 100) is None


def test_contiguous_extended_vbt_is_preferred_and_found():
    ext = small_vbt()
    data = opregion("2.1.0", mailboxes={"acpi": {"drdy": 1}, "asle": {"ardy": 1}}, mbox4=small_vbt(200), extended_vbt=ext)
    assert len(data) == 0x2000 + len(ext)
    assert op.extended_vbt_location(data) == {"kind": "relative", "offset": 0x2000, "size": len(ext)}
    raw, where = op.vbt_bytes(data)
    assert raw == ext and where == "RVDA at +0x2000"
    parsed = op.parse_opregion(data)
    assert parsed["findings"] == []
    assert parsed["vbt_source"] == "RVDA at +0x2000"
    # the 8 KiB debugfs view of the same OpRegion: the extended VBT is not there, mailbox 4 is used
    raw8, where8 = op.vbt_bytes(data[:0x2000])
    assert raw8 == small_vbt(200)
    assert where8.startswith("mailbox 4") and "not in these 8192 bytes" in where8
    assert any("beyond the 8192 bytes given" in f for f in op.parse_opregion(data[:0x2000])["findings"])


def test_absolute_rvda_falls_back_to_mailbox_4_with_a_note():
    data = opregion("2.0.0", mailboxes={"asle": {"rvda": 0x7F000000, "rvds": 0x2221}}, mbox4=small_vbt())
    raw, where = op.vbt_bytes(data)
    assert raw == small_vbt()
    assert "physical address 0x7f000000" in where


def test_mailbox4_vbt_cut_to_vbt_size_and_7k_rule():
    vbt = small_vbt()
    raw, where = op.vbt_bytes(opregion(mbox4=vbt))
    assert raw == vbt and where == "mailbox 4"
    # a VBT spilling into an unadvertised mailbox 5 area is accepted (7 KiB buffer) ...
    big = V.build_vbt(221, [(254, bytes(6500))])
    data = bytearray(opregion(mailboxes={"acpi": {}}))
    data[0x400 : 0x400 + len(big)] = big
    raw, where = op.vbt_bytes(bytes(data))
    assert raw == big and where == "mailbox 4"
    # ... but not when mailbox 5 is advertised (6 KiB buffer)
    data[0x58] |= 1 << 4
    raw, where = op.vbt_bytes(bytes(data))
    assert len(raw) == 0x1800 and "does not fit" in where
    assert any("more than the 6144-byte buffer" in f for f in op.parse_opregion(bytes(data))["findings"])


def test_no_vbt_reasons():
    assert op.vbt_bytes(opregion())[0] is None
    assert "does not start with '$VBT'" in op.vbt_bytes(opregion())[1]
    assert "not an OpRegion" in op.vbt_bytes(b"X" * 0x2000)[1]
    assert op.vbt_bytes(b"")[0] is None


# -- round trips ----------------------------------------------------------------------------------


def test_build_parse_build_identical():
    values = {
        "version": "2.1.0",
        "header": {"bios_ver": "BIOS 1.0", "vbios_ver": "1046", "pcon": {"headless_sku": True}},
        "mailboxes": {"acpi": {"drdy": 1, "didl": [0x80000100, 0x80000301]}, "swsci": {"dslp": 10},
                      "asle": {"ardy": 1, "tche": {"blc_en": True}}, "asle_ext": {"phed": 1}},
        "mbox4": small_vbt(),
        "extended_vbt": small_vbt(250),
    }
    data = op.build_opregion(values)
    parsed = op.OpRegion.parse(data[:0x2000])
    assert op.OpRegion.build(parsed) == data[:0x2000]
    plain = op.parse_opregion(data)
    again = op.build_opregion({**plain, "mbox4": small_vbt(), "extended_vbt": small_vbt(250)})
    assert again == data
    assert plain["header"]["bios_ver"] == "BIOS 1.0" and plain["version"] == "2.1.0"
    assert plain["mailboxes"]["acpi"]["didl"][:3] == [0x80000100, 0x80000301, 0]
    assert plain["mailboxes"]["asle"]["rvda"] == 0x2000 and plain["mailboxes"]["asle"]["rvds"] == len(small_vbt(250))


def test_backlight_mailbox_3x():
    data = op.build_opregion({"version": "3.0.0", "mailboxes": {"backlight_3x": {"bcl1": 0x800000FF, "bcm1": [1, 2], "bcm2": [0] * 29 + [7]}}})
    assert int.from_bytes(data[0x200:0x204], "little") == 0x800000FF
    assert int.from_bytes(data[0x210:0x214], "little") == 1 and int.from_bytes(data[0x2FC:0x300], "little") == 7
    parsed = op.parse_opregion(data)
    assert parsed["mailboxes_present"] == ["backlight_3x"]
    assert parsed["mailboxes"]["backlight_3x"]["bcm2"][29] == 7
    assert "swsci" not in parsed["mailboxes"]


def test_text_fields_keep_every_byte():
    raw = bytearray(opregion())
    raw[0x18:0x20] = b"A\x00B\xffC\x00\x00\x00"  # embedded NUL and a non-ASCII byte
    parsed = op.OpRegion.parse(bytes(raw))
    assert parsed.header.bios_ver == "A\x00B\xffC"
    assert op.OpRegion.build(parsed) == bytes(raw)


def test_compiled_schema_agrees():
    data = op.build_opregion({"version": "2.0.0", "mailboxes": {"acpi": {"drdy": 1}, "asle": {"rvda": 5, "rvds": 6, "bclm": [{"valid": True, "percent": 3, "duty_cycle": 4}]}}})
    compiled = op.OpRegion.compile()
    assert to_plain(compiled.parse(data)) == to_plain(op.OpRegion.parse(data))
    assert compiled.build(op.OpRegion.parse(data)) == data


def test_demo_opregion_decodes_cleanly():
    data = op.demo_opregion(V.demo_vbt())
    parsed = op.parse_opregion(data)
    assert parsed["version"] == "2.0.0" and parsed["findings"] == []
    assert parsed["mailboxes"]["vbt"]["product_string"].startswith("$VBT")
    assert op.vbt_bytes(data)[0] == V.demo_vbt()
    assert op.demo_opregion(V.demo_vbt(), guest=True) == data


# -- bad input gives findings, not tracebacks -------------------------------------------------------


def test_too_short_for_a_header_raises_decode_error():
    with pytest.raises(DecodeError, match="truncated"):
        op.parse_opregion(b"IntelGraphicsMem" + bytes(84))  # 100 bytes


def test_header_only():
    data = opregion("2.1.0", mailboxes={"acpi": {}, "asle": {}})[:0x100]
    parsed = op.parse_opregion(data)
    assert parsed["truncated"] is True and parsed["version"] == "2.1.0"
    assert parsed["mailboxes"] == {}
    assert any(f.startswith("truncated: 256 of 8192") for f in parsed["findings"])
    assert any("mailbox 1 (public ACPI methods) is advertised but lies beyond" in f for f in parsed["findings"])


def test_partial_opregion_decodes_what_is_present():
    data = opregion("2.0.0", mailboxes={"acpi": {"drdy": 1}, "asle": {"ardy": 1}})[:0x380]
    parsed = op.parse_opregion(data)
    assert parsed["mailboxes"]["acpi"]["drdy"] == 1 and "asle" not in parsed["mailboxes"]
    assert op.extended_vbt_location(data) is None and op.vbt_bytes(data)[0] is None


def test_wrong_signature_and_sizes():
    data = bytearray(opregion(mailboxes={"acpi": {"drdy": 1}}))
    data[:16] = b"IntelGraphicsMEM"
    data[0x10:0x14] = bytes(4)
    findings = op.parse_opregion(bytes(data))["findings"]
    assert any("not an OpRegion" in f for f in findings)
    assert any("size field is 0" in f for f in findings)
    data[0x10] = 16
    assert any("says 16 KiB, expected 8" in f for f in op.parse_opregion(bytes(data))["findings"])


def test_rvds_huge_and_rvda_inside():
    data = opregion("2.1.0", mailboxes={"asle": {"rvda": 0x100, "rvds": 0xFFFFFFFF}})
    parsed = op.parse_opregion(data)
    assert parsed["extended_vbt"] == {"kind": "relative", "offset": 0x100, "size": 0xFFFFFFFF}
    text = " | ".join(parsed["findings"])
    assert "larger than any VBT" in text and "points inside the 8 KiB OpRegion" in text and "beyond the 8192 bytes" in text
    assert op.vbt_bytes(data)[0] is None


def test_mailbox_findings():
    data = opregion("3.0.0", header={"mboxes": {"swsci": True, "asle": True, "vbt": True, "asle_ext": True}},
                    mailboxes={"asle": {"ardy": 1}, "asle_ext": {"phed": 3}})
    text = " | ".join(op.parse_opregion(data)["findings"])
    assert "SWSCI (bit 1) on a 3.x OpRegion" in text
    assert "mailbox 2 (SWSCI) is advertised but all its bytes are zero" in text
    assert "mailbox 4 (VBT) is advertised but does not start with '$VBT'" in text
    assert "claims 3 EDID blocks" in text and "BDDC is all zero" in text
    backlight_on_2x = opregion("2.0.0", header={"mboxes": {"backlight_3x": True}})
    assert any("bit 5" in f for f in op.parse_opregion(backlight_on_2x)["findings"])
    headless = opregion("2.1.0", header={"pcon": {"headless_sku": True}})
    assert any("only from version 2.3" in f for f in op.parse_opregion(headless)["findings"])


def test_unreferenced_trailing_bytes():
    data = opregion() + b"\x01" * 16
    assert any("not referenced by RVDA/RVDS" in f for f in op.parse_opregion(data)["findings"])


def test_random_garbage_never_raises_beyond_decode_error():
    rng = random.Random(20261123)
    for i in range(300):
        n = rng.choice([0, 1, 100, 255, 256, 300, 0x3C5, 0x3C6, 0x400, 0x1C00, 0x1FFF, 0x2000, 0x2400])
        data = bytes(rng.getrandbits(8) for _ in range(n))
        if i % 3 == 0 and n >= 16:  # valid signature, garbage behind it
            data = op.OPREGION_SIGNATURE + data[16:]
        if n < 256:
            with pytest.raises(DecodeError):
                op.parse_opregion(data)
        else:
            parsed = op.parse_opregion(data)
            assert isinstance(parsed["findings"], list) and parsed["findings"]
        op.extended_vbt_location(data)
        raw, where = op.vbt_bytes(data)
        assert isinstance(where, str)


# -- the real corpus: parity with intel_opregion_decode (igt 1.27.1) ---------------------------------


def test_corpus_opregion_matches_intel_opregion_decode():
    path = corpus_file(OPREGION_FILE)
    data = path.read_bytes()
    igt = igt_sections(corpus_file(OPREGION_FILE + ".igt.txt").read_text())
    parsed = op.parse_opregion(data)
    hdr, mb = parsed["header"], parsed["mailboxes"]
    head = igt["OpRegion Header"]
    over = hdr["over"]
    assert head["sign"] == hdr["signature"] == "IntelGraphicsMem"
    assert int(head["size"], 16) == hdr["size"] == 8
    assert int(head["over"], 16) == over["major"] << 24 | over["minor"] << 16 | over["revision"] << 8 | over["rsvd"]
    assert parsed["version"] == "2.0.0"
    assert head["sver"] == hdr["bios_ver"] and head["vver"] == hdr["vbios_ver"] == "1046" and head["gver"] == hdr["driver_ver"]
    assert int(head["mbox"], 16) == int.from_bytes(data[0x58:0x5C], "little") == 0x1F
    assert parsed["mailboxes_present"] == ["acpi", "swsci", "asle", "vbt", "asle_ext"]
    assert int(head["dmod"], 16) == hdr["driver_model"]
    assert int(head["pcon"], 16) == hdr["pcon"]["reserved_bits"] | (hdr["pcon"]["headless_sku"] << 13)

    acpi = igt["OpRegion Mailbox 1: Public ACPI Methods"]
    for name in ("drdy", "csts", "cevt", "aslp", "tidx", "chpd", "clid", "cdck", "sxsw", "evts", "cnot", "nrdy"):
        assert int(acpi[name], 16) == mb["acpi"][name], name
    for name, count in (("didl", 8), ("cpdl", 8), ("cadl", 8), ("nadl", 8), ("did2", 7), ("cpd2", 7)):
        assert [int(acpi[f"{name}[{i}]"], 16) for i in range(count)] == mb["acpi"][name], name
    assert mb["acpi"]["didl"][:3] == [0x300, 0x301, 0x302]

    swsci = igt["OpRegion Mailbox 2: Software SCI Interface (SWSCI)"]
    scic = mb["swsci"]["scic"]
    assert int(swsci["scic"], 16) == scic["sub_function"] << 8 | scic["exit_status"] << 5 | scic["main_function"] << 1 | scic["indicator"]
    assert int(swsci["parm"], 16) == mb["swsci"]["parm"] and int(swsci["dslp"], 16) == mb["swsci"]["dslp"]

    asle = igt["OpRegion Mailbox 3: BIOS to Driver Notification (ASLE)"]
    a = mb["asle"]
    for name in ("ardy", "alsi", "cpfm", "epfm", "pcft", "srot", "fdsp", "stat", "rvds"):
        assert int(asle[name], 16) == a[name], name
    assert int(asle["ccdv"], 16) == a["cddv"]
    assert int(asle["rvda"], 16) == a["rvda"] == 0
    assert int(asle["bclp"], 16) == a["bclp"]["valid"] << 31 | a["bclp"]["level"] == 0xFF
    assert int(asle["cblv"], 16) == a["cblv"]["valid"] << 31 | a["cblv"]["level"] == 0x80000064
    assert int(asle["tche"], 16) == 2 and a["tche"]["blc_en"] and not a["tche"]["als_en"]
    assert int(asle["pfit"], 16) == 0x80000006 and a["pfit"]["valid"] and a["pfit"]["stretch_gfx"] and not a["pfit"]["center"]
    assert int(asle["iuer"], 16) == 0x40 and a["iuer"]["convertible"]
    for i in range(20):
        value = int(asle[f"bclm[{i}]"].split()[0], 16)
        entry = a["bclm"][i]
        assert value == entry["valid"] << 15 | entry["percent"] << 8 | entry["duty_cycle"], i
        m = re.search(r"\(\s*(\d+)% -> 0x([0-9a-f]+)\)", asle[f"bclm[{i}]"])
        if entry["valid"]:
            assert (int(m.group(1)), int(m.group(2), 16)) == (entry["percent"], entry["duty_cycle"])
        else:
            assert m is None
    assert a["bclm"][10] == {"valid": True, "percent": 100, "duty_cycle": 0xFF}
    assert int(asle["plut header"], 16) == a["plut"]["header"]
    assert bytes.fromhex(asle["plut identifier"].replace(" ", "")) == bytes.fromhex(a["plut"]["identifier"])
    assert bytes.fromhex(asle["fdss"].replace(" ", "")) == a["fdss"].to_bytes(8, "little")

    vbt_box = igt["OpRegion Mailbox 4: Video BIOS Table (VBT)"]
    assert vbt_box["product string"] == mb["vbt"]["product_string"].rstrip() == "$VBT SKYLAKE"
    assert int(igt["OpRegion Mailbox 5: BIOS to Driver Notification Extension"]["phed"], 16) == mb["asle_ext"]["phed"]

    assert parsed["extended_vbt"] is None and parsed["vbt_source"] == "mailbox 4"
    assert parsed["findings"] == ["mailbox 5 (ASLE extension) is advertised but all its bytes are zero"]


def test_corpus_opregion_round_trips():
    data = corpus_file(OPREGION_FILE).read_bytes()
    assert op.OpRegion.build(op.OpRegion.parse(data)) == data
    plain = op.parse_opregion(data)
    # every advertised mailbox is in the plain output; mailbox 4 is given back as raw bytes
    assert op.build_opregion({**plain, "mbox4": data[0x400:0x1C00]}) == data


def test_corpus_opregion_vbt_matches_intel_vbt_decode():
    data = corpus_file(OPREGION_FILE).read_bytes()
    text = corpus_file(OPREGION_FILE + ".igt-vbt.txt").read_text()
    raw, where = op.vbt_bytes(data)
    assert where == "mailbox 4"
    walked = V.walk_blocks(raw)
    assert walked["bdb_version"] == int(re.search(r"BDB version:\s+(\d+)", text).group(1)) == 206
    assert walked["vbt_header"]["vbt_size"] == len(raw) == int(re.search(r"VBT size:\s+0x\w+ \((\d+)\)", text).group(1))
    igt_blocks = {int(i): int(s) for i, s in re.findall(r"^BDB block (\d+) \((\d+) bytes", text, re.M)}
    first: dict[int, int] = {}
    for block in walked["blocks"]:
        first.setdefault(block["id"], block["size"])
    assert first == igt_blocks


# -- meanings: display IDs, mailbox values in words, the panel EDID --------------------------------


def test_display_id_bit_fields():
    ident = 1 << 31 | 2 << 18 | 1 << 17 | 1 << 16 | 0x5 << 12 | 4 << 8 | 3 << 4 | 7
    d = op.display_id(ident)
    assert d == {"id": ident, "display_type": {"value": 4, "name": "internal digital (LVDS, eDP, DSI)"},
                 "acpi_scheme": True, "reserved": 0, "pipe_id": 2, "depends_on_vga": True, "bios_can_detect": True,
                 "vendor_specific": 5, "port_attachment": 3, "display_index": 7}
    assert op.display_id_text(d) == "internal digital (LVDS, eDP, DSI), index 7, port 3, pipe 2, BIOS can detect, depends on VGA, vendor bits 0x5"
    legacy = op.display_id(0x300)  # what the corpus firmware wrote: bit 31 clear
    assert legacy["display_type"]["value"] == 3 and legacy["display_index"] == 0 and not legacy["acpi_scheme"]
    assert op.display_id_text(legacy).endswith("bit 31 clear (not the ACPI ID scheme)")
    assert op.display_id_text(op.display_id(0x80000F00)).startswith("type 15, index 0")  # a type no table names
    assert "reserved bits 0x200000" in op.display_id_text(op.display_id(0x80200100))


def test_display_ids_keep_slots_and_skip_zeros():
    data = opregion("2.0.0", mailboxes={"acpi": {"didl": [0x80000100, 0, 0x80000410], "did2": [0x80000301], "cadl": [0x80000410]}})
    dec = op.parse_opregion(data)
    ids = dec["display_ids"]
    assert [(d["slot"], d["id"]) for d in ids["didl"]] == [(0, 0x80000100), (2, 0x80000410)]
    assert [d["display_type"]["value"] for d in ids["didl"]] == [1, 4]
    assert [(d["slot"], d["port_attachment"]) for d in ids["did2"]] == [(0, 0)]
    assert ids["cpdl"] == [] and ids["nadl"] == [] and ids["cpd2"] == []
    m = dec["meanings"]["acpi"]
    assert m["didl"] == "2 display IDs" and m["cadl"] == "1 display ID" and m["cpdl"] == "empty"
    assert m["didl[0]"].startswith("VGA, index 0") and m["didl[2]"].startswith("internal digital (LVDS, eDP, DSI), index 0, port 1")
    assert "didl[1]" not in m
    # without mailbox 1 there is nothing to decode
    assert "display_ids" not in op.parse_opregion(opregion("2.0.0", mailboxes={"asle": {"ardy": 1}}))


def test_meanings_follow_the_values():
    asle = {"ardy": 0, "aslc": {"set_backlight": True, "pfit_failed": True}, "tche": {"blc_en": True, "pfit_en": True},
            "alsi": 0xFFFF, "bclp": {"valid": True, "level": 128}, "cblv": {"valid": False, "level": 40},
            "pfit": {"center": True, "valid": True}, "pfmb": {"pwm_valid": True, "pwm_frequency": 200, "min_brightness": 10},
            "iuer": {"power_btn": True, "docking": True},
            "bclm": [{"valid": True, "percent": 50, "duty_cycle": 0x80}, {"valid": False, "percent": 60, "duty_cycle": 1}]}
    data = op.build_opregion({
        "version": "2.0.0",
        "header": {"pcon": {"headless_sku": True}},
        "mailboxes": {"acpi": {"drdy": 0, "cevt": 0b101, "chpd": 0, "clid": 0},
                      "swsci": {"scic": {"main_function": 4, "sub_function": 5, "indicator": True}, "dslp": 2000},
                      "asle": asle},
    })
    m = op.parse_opregion(data)["meanings"]
    assert m["header"]["over"] == "version 2.0.0: RVDA is a physical address"
    assert m["header"]["pcon"] == "bit 13: headless SKU (i915 reads bit 13 only from 2.3)"
    assert m["header"]["mboxes"] == "mailboxes 1 ACPI, 2 SWSCI, 3 ASLE"
    assert m["acpi"]["drdy"].startswith("driver not ready") and m["acpi"]["cevt"] == "display switch, dock event"
    assert m["acpi"]["chpd"].startswith("clear") and m["acpi"]["clid"] == "lid closed (bit 0)"
    assert m["swsci"]["scic"] == "GBDA (get BIOS data), panel details; request pending (the BIOS has not answered)"
    assert m["swsci"]["dslp"] == "2000 ms (i915 caps it at 1500 ms)"
    a = m["asle"]
    assert a["ardy"].startswith("driver not ready")
    assert a["aslc"] == "requests: backlight; failed: pfit"
    assert a["tche"] == "enabled: backlight, panel fitting"
    assert a["alsi"] == "above range"
    assert a["bclp"] == "level 128 of 255 (50%)"
    assert a["cblv"] == "40%, not valid"
    assert a["pfit"] == "centre"
    assert a["pfmb"] == "PWM frequency 200, minimum brightness 10 (not valid)"
    assert a["iuer"] == "buttons: power; slate (bit 6); docked (bit 7)"
    assert a["bclm"] == "1 valid entry" and a["bclm[0]"] == "50% -> duty cycle 128/255 (50%)"
    assert a["bclm[1]"] == "not valid (bit 15 clear)" and "bclm[2]" not in a
    assert a["rvda"] == "no extended VBT"

    done = op.build_opregion({"version": "2.3.0", "header": {"pcon": {"headless_sku": True}},
                              "mailboxes": {"swsci": {"scic": {"main_function": 6, "sub_function": 8, "exit_status": 4}}}})
    m = op.parse_opregion(done)["meanings"]
    assert m["header"]["pcon"] == "bit 13: headless SKU"
    assert m["swsci"]["scic"] == "SBCB (system BIOS callbacks), display power state; exit status 4: error"
    assert m["swsci"]["dslp"] == "0: i915 waits 50 ms"


def test_meanings_say_where_the_extended_vbt_is():
    vbt = small_vbt()
    rel = op.parse_opregion(opregion("2.1.0", extended_vbt=vbt))["meanings"]
    assert rel["header"]["over"] == "version 2.1.0: RVDA is an offset from the OpRegion base"
    assert rel["asle"]["rvda"] == "extended VBT at OpRegion + 0x2000 (2.1 and later: relative)"
    assert rel["asle"]["rvds"] == f"extended VBT size: {len(vbt)} bytes"
    absolute = op.parse_opregion(opregion("2.0.0", mailboxes={"asle": {"rvda": 0x7A000000, "rvds": 0x2400}}))["meanings"]
    assert absolute["asle"]["rvda"] == "extended VBT at physical address 0x7a000000 (2.0: absolute)"
    ignored = op.parse_opregion(opregion("1.0.0", mailboxes={"asle": {"rvda": 0x2000, "rvds": 0x100}}))["meanings"]
    assert ignored["asle"]["rvda"].startswith("ignored by i915")


def _edid(name: bytes = b"Panel") -> bytes:
    e = bytearray(128)
    e[0:8] = op.EDID_HEADER
    e[8:10] = (2 << 10 | 15 << 5 | 5).to_bytes(2, "big")  # "BOE"
    e[10:12] = (0x0747).to_bytes(2, "little")
    e[18], e[19] = 1, 4
    dtd = bytearray(18)
    dtd[0:2] = (13850).to_bytes(2, "little")  # 138.50 MHz
    dtd[2], dtd[4] = 0x80, 0x70  # hactive 0x780 = 1920
    dtd[5], dtd[7] = 0x38, 0x40  # vactive 0x438 = 1080
    e[54:72] = dtd
    e[72:90] = bytes([0, 0, 0, 0xFC, 0]) + (name + b"\n").ljust(13, b" ")
    e[127] = -sum(e) % 256
    return bytes(e)


def test_panel_edid_in_mailbox_5():
    edid = _edid()
    dec = op.parse_opregion(opregion("2.0.0", mailboxes={"asle_ext": {"phed": 1, "bddc": edid}}))
    assert dec["edid"] == {"header_ok": True, "bytes": 128, "manufacturer": "BOE", "product": 0x0747, "version": "1.4",
                           "checksum_ok": True, "extensions": 0, "name": "Panel",
                           "preferred_mode": {"hactive": 1920, "vactive": 1080, "pixel_clock_khz": 138500}}
    m = dec["meanings"]["asle_ext"]
    assert m["phed"] == "1 EDID block valid"
    assert m["bddc"] == "EDID 1.4, BOE product 0x0747, 'Panel', preferred 1920x1080 at 138.5 MHz, checksum ok"
    bad = bytearray(edid)
    bad[20] ^= 1
    m = op.parse_opregion(opregion("2.0.0", mailboxes={"asle_ext": {"phed": 3, "bddc": bytes(bad)}}))["meanings"]["asle_ext"]
    assert m["bddc"].endswith("checksum mismatch") and m["phed"] == "3 EDID blocks valid (BDDC holds only 2)"
    m = op.parse_opregion(opregion("2.0.0", mailboxes={"asle_ext": {"phed": 1, "bddc": b"\x01" * 256}}))["meanings"]["asle_ext"]
    assert m["bddc"] == "no EDID header"


def test_corpus_opregion_meanings():
    dec = op.parse_opregion(corpus_file(OPREGION_FILE).read_bytes())
    m = dec["meanings"]
    assert [d["id"] for d in dec["display_ids"]["didl"]] == [0x300, 0x301, 0x302]
    assert all(d["display_type"]["value"] == 3 and not d["acpi_scheme"] for d in dec["display_ids"]["cadl"])
    assert m["header"]["pcon"].endswith("bits 0x181 are not interpreted by i915")
    assert m["asle"]["bclm"] == "11 valid entries" and m["asle"]["bclm[10]"] == "100% -> duty cycle 255/255 (100%)"
    assert m["asle"]["bclp"] == "level 255 of 255 (100%), not valid" and m["asle"]["cblv"] == "100%"
    assert m["swsci"]["scic"] == "exit status 1: success"
    assert m["asle_ext"] == {"phed": "0 EDID blocks valid", "bddc": "all zero"}
