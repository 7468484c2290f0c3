"""PCI option ROMs: the image chain (legacy header, EFI header, PCIR 2.2 vs 3.0 with the device list,
last-image flag, legacy checksums, GOP), the VBT inside, ``match_device``; parity with the corpus
ROMs' ``intel_vbt_decode`` output; multi-image ROMs built with construct's build side; hostile
chains that must end in findings, quickly."""

from __future__ import annotations

import csv
import random
import re
import time
import tracemalloc

import pytest

from igdscope.decode.firmware import rom_summary, vbt_decode
from igdscope.cli import render
from igdscope.schemas import rom as R
from igdscope.sources import demo
from tests.support import igt_text
from tests.support.shared import CORPUS


# What the corpus ROMs are (MANIFEST.tsv, README, and the bytes): PCIR device ID, PCIR layout,
# device-list length, checksum state of the legacy image.
CORPUS_ROMS = {
    "gen4-gm965_hellisabove_x61-vgabios.rom": (0x2A02, "2.2", None, "bad"),
    "gen6-snb_atbd_vbios-dump.rom": (0x0106, "3.0", 3, "bad"),
    "gen6-snb_atbd_vgabios-32k-truncated.rom": (0x0106, "3.0", 3, "truncated"),
    "gen7-ivb_seijinshu_x230t-vbios.rom": (0x0106, "3.0", 7, "ok"),
    "gen9.5-kbl_rikka0w0_vbios-dump.rom": (0x0406, "3.0", 40, "ok"),
    "gen9.5-kblr_harrykipper_51nb-x210-vgabios.rom": (0x0406, "3.0", 50, "ok"),
}


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus file {path} is absent")
    return path.read_bytes()


def manifest() -> dict[str, dict]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open() as fh:
        return {row["local_file"]: row for row in csv.DictReader(fh, delimiter="\t")}


# -- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CORPUS_ROMS))
def test_corpus_image_chain(name):
    data = corpus(name)
    device_id, layout, list_len, checksum = CORPUS_ROMS[name]
    info = R.walk_images(data)
    assert len(info["images"]) == 1
    img = info["images"][0]
    assert img["kind"] == "legacy" and img["last"] and img["offset"] == 0 and img["pcir_offset"] == 0x40
    assert img["pcir"]["vendor_id"] == 0x8086 and img["pcir"]["device_id"] == device_id
    assert img["pcir"]["class_code"] == 0x030000 and img["length"] == 65536
    assert img["pcir_layout"] == layout
    if layout == "3.0":
        assert img["pcir"]["revision"] == 3 and img["pcir"]["length"] == 0x1C
        assert img["pcir"]["config_utility_code_header_offset"] == 0 and img["pcir"]["dmtf_clp_entry_point_offset"] == 0
    assert len(img.get("device_list") or []) == (list_len or 0)
    assert img["checksum"]["state"] == checksum and img["checksum_ok"] is (checksum == "ok")
    assert img["legacy"]["size_512"] == 128 and img["legacy"]["init_entry"].startswith("e9")  # a jmp
    notes = manifest()[name]["notes"]
    assert ("byte sum non-zero" in notes) is (checksum == "bad")
    assert ("truncated" in notes) is (checksum == "truncated")
    assert not info["has_efi"] and info["gop"]["present"] is False
    expected = [f for f in info["findings"]]
    if checksum == "ok":
        assert expected == []
    assert info["rom_size"] == min(65536, len(data))


def test_corpus_device_lists():
    snb = R.walk_images(corpus("gen6-snb_atbd_vbios-dump.rom"))["images"][0]["device_list"]
    assert snb == [0x0106, 0x0116, 0x0126]
    kbl = R.walk_images(corpus("gen9.5-kbl_rikka0w0_vbios-dump.rom"))["images"][0]["device_list"]
    assert 0x5916 in kbl and kbl[:3] == [0x1912, 0x1902, 0x1932] and 0 not in kbl


@pytest.mark.parametrize("name", sorted(CORPUS_ROMS))
def test_corpus_vbt_parity_with_intel_vbt_decode(name):
    """The VBT is found where igt found it (the MANIFEST offset; igt scans byte by byte for '$VBT')
    and its headers and blocks are the ones igt printed."""
    data = corpus(name)
    text = (CORPUS / (name + ".igt.txt")).read_text(errors="replace")
    igt = igt_text.parse(text)
    summary = rom_summary(data)
    off = int(re.search(r"embedded VBT at (0x[0-9a-f]+)", manifest()[name]["notes"]).group(1), 16)
    assert summary["vbt_offset"] == off == data.find(b"$VBT") == summary["vbt"]["offset"]
    assert summary["vbt"]["image"] == 0 and summary["vbt"]["complete"]
    head = igt.section("VBT header")
    bdb = igt.section("BDB header")
    dec = vbt_decode(data)
    vh, bh = dec["vbt_header"], dec["bdb_header"]
    assert head.get("VBT signature").strip('"') == vh["signature"].replace("\0", "")
    assert igt_text.int_of(head.get("VBT version")) == vh["version"]
    assert igt_text.int_of(head.get("VBT header size")) == vh["header_size"]
    assert igt_text.int_of(head.get("VBT size")) == vh["vbt_size"] == summary["vbt"]["vbt_size"]
    assert igt_text.int_of(head.get("VBT checksum")) == vh["vbt_checksum"]
    assert igt_text.int_of(head.get("BDB offset")) == vh["bdb_offset"]
    assert bdb.get("BDB signature").strip('"') == bh["signature"]
    assert igt_text.int_of(bdb.get("BDB version")) == bh["version"] == summary["vbt"]["bdb_version"]
    assert igt_text.int_of(bdb.get("BDB header size")) == bh["header_size"]
    assert igt_text.int_of(bdb.get("BDB size")) == bh["bdb_size"]
    first: dict[int, int] = {}
    for b in dec["blocks"]:
        first.setdefault(b["id"], b["size"])
    assert igt.blocks_present == sorted(first)
    assert {i: s.size for i, s in igt.blocks.items()} == first


# -- match_device ---------------------------------------------------------------------------------


def test_match_device_on_the_corpus():
    x61 = R.walk_images(corpus("gen4-gm965_hellisabove_x61-vgabios.rom"))
    m = R.match_device(x61, 0x2A02)
    assert m["match"] == "pcir" and m["legacy_exact"] and m["image"] == 0
    assert R.match_device(x61, 0x2A12)["match"] == "other"
    snb = R.walk_images(corpus("gen6-snb_atbd_vbios-dump.rom"))
    assert R.match_device(snb, 0x0106)["match"] == "pcir"
    m = R.match_device(snb, 0x0126)
    assert m["match"] == "device_list" and not m["legacy_exact"] and "SeaBIOS" in m["detail"]
    kbl = corpus("gen9.5-kbl_rikka0w0_vbios-dump.rom")
    m = R.match_device(kbl, 0x5916)  # raw bytes work too
    assert m["match"] == "device_list" and m["images"][0]["pcir_device_id"] == 0x0406
    m = R.match_device(kbl, 0x3E92)  # Coffee Lake: not in this Kaby Lake list
    assert m["match"] == "generic" and "0406" in m["detail"]
    assert R.match_device(kbl, 0x5916, vendor_id=0x1002)["match"] == "other_vendor"
    assert R.match_device(b"", 0x5916)["match"] == "no_images"


# -- built ROMs -----------------------------------------------------------------------------------


def gop_driver(machine: str = "x64") -> bytes:
    return R.build_pe_image(machine, "boot_service_driver", b"\0" * 64 + R.GOP_PROTOCOL_GUID + b"GOP driver body" * 20)


def multi_image_rom() -> bytes:
    legacy = R.build_legacy_image(0x8086, 0x0406, b"VBIOS" + bytes(300) + demo.vbt(), last=False, device_ids=[0x3E92, 0x3E9B, 0x5916])
    efi = R.build_efi_image(0x8086, 0x0406, gop_driver(), last=True, device_ids=[0x3E92, 0x3E9B])
    return R.build_rom(legacy, efi)


def test_built_legacy_plus_efi_rom():
    data = multi_image_rom()
    info = rom_summary(data)
    assert info["findings"] == [] and info["walk_ended"] == "last image"
    legacy, efi = info["images"]
    assert (legacy["kind"], legacy["last"], legacy["pcir_layout"]) == ("legacy", False, "3.0")
    assert legacy["device_list"] == [0x3E92, 0x3E9B, 0x5916] and legacy["checksum"]["state"] == "ok"
    assert legacy["pcir"]["device_list_offset"] == R.PCIR30_SIZE and legacy["pcir"]["length"] == 0x1C
    assert (efi["kind"], efi["last"], efi["offset"]) == ("efi", True, legacy["length"])
    assert efi["device_list"] == [0x3E92, 0x3E9B]
    e = efi["efi"]
    assert e["efi_subsystem"] == {"value": 11, "name": "boot_service_driver"}
    assert e["efi_machine_type"] == {"value": 0x8664, "name": "x64"}
    assert e["compression_type"] == {"value": 0, "name": "none"}
    assert e["efi_image_header_offset"] == 512 and e["pcir_offset"] == 0x1C
    assert e["initialization_size"] * 512 == efi["length"]
    assert efi["pe"] == {"dos_header": True, "pe": True, "e_lfanew": 0x40, "machine": {"value": 0x8664, "name": "x64"},
                         "format": "pe32_plus", "subsystem": {"value": 11, "name": "boot_service_driver"}}
    assert efi["gop"] is True and efi["usable_by_uefi"] is True
    assert info["has_legacy"] and info["has_efi"] and info["gop"]["present"] is True and info["gop"]["image"] == 1
    assert info["rom_size"] == len(data) and info["vbt"]["image"] == 0 and info["vbt_offset"] == info["vbt"]["offset"]
    m = R.match_device(info, 0x3E9B)
    assert m["match"] == "device_list" and m["kind"] == "legacy" and [i["match"] for i in m["images"]] == ["device_list", "device_list"]
    m = R.match_device(info, 0x5916)
    assert [i["match"] for i in m["images"]] == ["device_list", "generic"]
    info["match"] = R.match_device(info, 0x3E9B)
    lines = render.render_rom(info).splitlines()
    assert lines[1:4] == ["  image 0 at 0x0: legacy, checksum ok, 1024 bytes",
                          "    PCIR 3.0 at 0x40: 8086:0406, class 030000, code type 0 (pc_at), revision 3, code revision 0",
                          "    device list (3):"]
    assert lines[4].split() == ["3e92", "3e9b", "5916"]
    assert lines[5] == "  image 1 at 0x400: efi x64 boot_service_driver compression none, 1536 bytes, last"  # EFI images carry no checksum
    assert lines[-3] == "  GOP: present (image 1 (EFI) contains the GOP protocol GUID)"
    assert lines[-2] == "  VBT at 0x195 in image 0 (legacy): 398 bytes, BDB version 221"
    assert lines[-1].startswith("  for 8086:3e9b? yes (device list): image 0 (legacy) has PCIR 8086:0406 and its device list names 3e9b; no legacy image has PCIR 8086:3e9b")
    info["match"] = R.match_device(info, 0x0412)  # a Haswell: not this ROM, and no patch advice
    assert render.render_rom(info).splitlines()[-1] == "  for 8086:0412? no: image 0 (legacy) has PCIR 8086:0406: made for another Intel device, not 8086:0412"


def test_build_sides_round_trip_and_compile():
    data = multi_image_rom()
    for img in R.walk_images(data)["images"]:
        p = img["offset"] + img["pcir_offset"]
        raw = data[p : p + R.PCIR30_SIZE]
        assert R.Pcir30.build(R.Pcir30.parse(raw)) == raw
        assert R.Pcir30.compile().parse(raw) == R.Pcir30.parse(raw)
        head = data[img["offset"] : img["offset"] + 0x1A]
        schema = R.EfiRomHeader if img["kind"] == "efi" else R.LegacyRomHeader
        assert schema.build(schema.parse(head)) == head
    assert R.Pcir30.sizeof() == 0x1C and R.Pcir.sizeof() == 0x18


def test_demo_rom_bytes_unchanged():
    # the demo capture's golden output carries this ROM's sha256
    import hashlib

    assert hashlib.sha256(demo.option_rom()).hexdigest().startswith("f32aff4ba9ce8fd4")
    info = R.walk_images(demo.option_rom())
    assert info["findings"] == [] and info["images"][0]["pcir_layout"] == "2.2"


def test_pe_mismatch_and_missing_headers():
    wrong = R.build_efi_image(0x8086, 0x5916, R.build_pe_image("ia32", "application"), machine="x64")
    f = " | ".join(R.walk_images(wrong)["findings"])
    assert "machine 0x8664, the PE header 0x014c" in f and "subsystem 11, the PE header 10" in f
    no_mz = R.build_efi_image(0x8086, 0x5916, b"not a PE image")
    assert any("no PE/COFF 'MZ' header" in x for x in R.walk_images(no_mz)["findings"])
    odd = bytearray(R.build_efi_image(0x8086, 0x5916, gop_driver()))
    odd[0x0A:0x0C] = (0x1234).to_bytes(2, "little")  # unknown machine type
    odd[0x0C:0x0E] = (7).to_bytes(2, "little")  # unknown compression
    f = " | ".join(R.walk_images(bytes(odd))["findings"])
    assert "unknown EFI machine type 0x1234" in f and "unknown compression type 7" in f
    no_sig = bytearray(odd)
    no_sig[4:8] = bytes(4)
    info = R.walk_images(bytes(no_sig))
    assert any("no EFI signature" in x for x in info["findings"])
    assert info["images"][0]["kind"] == "efi_without_header" and not info["has_efi"]
    assert "efi_without_header" in render.render_rom(info)


# -- hostile chains ---------------------------------------------------------------------------------


def _set_u16(data: bytearray, off: int, value: int) -> None:
    data[off : off + 2] = value.to_bytes(2, "little")


def _walk(data: bytes) -> dict:
    t0 = time.perf_counter()
    info = rom_summary(bytes(data))
    assert time.perf_counter() - t0 < 2.0
    return info


def test_image_length_zero():
    data = bytearray(multi_image_rom())
    _set_u16(data, 0x40 + 0x10, 0)
    info = _walk(data)
    assert len(info["images"]) == 1 and any("image length is 0" in f for f in info["findings"])


def test_image_length_past_the_end():
    data = bytearray(demo.option_rom())
    _set_u16(data, 0x40 + 0x10, 0xFFFF)  # 32 MiB claimed
    info = _walk(data)
    assert any("claims 33553920 bytes, only 1536 present" in f for f in info["findings"])
    data[0x40 + 0x15] = 0  # not last either: the walk must still stop
    assert any("truncated ROM" in f for f in _walk(data)["findings"])


def test_next_image_missing_or_not_last():
    legacy = R.build_legacy_image(0x8086, 0x5916, b"x", last=False)
    info = _walk(legacy)
    assert any("not marked last" in f for f in info["findings"])
    info = _walk(legacy + b"\xff" * 512)
    assert any("no 0x55AA signature at 0x200" in f for f in info["findings"])


def test_pcir_offset_outside():
    data = bytearray(demo.option_rom())
    _set_u16(data, 0x18, 0xFFF0)
    info = _walk(data)
    assert any("PCIR offset 0xfff0 points outside" in f for f in info["findings"])
    _set_u16(data, 0x18, 0x100)  # inside, but no PCIR there
    assert any("no 'PCIR' signature at +0x100" in f for f in _walk(data)["findings"])
    _set_u16(data, 0x18, 0x41)
    data[0x41:0x45] = b"PCIR"
    assert any("not 4-byte aligned" in f for f in _walk(data)["findings"])


def test_ten_thousand_images_claimed():
    one = R.build_legacy_image(0x8086, 0x5916, b"", last=False)
    assert len(one) == 512
    data = one * 10_000
    info = _walk(data)
    assert len(info["images"]) == R.MAX_IMAGES
    assert any(f"more than {R.MAX_IMAGES} images" in f for f in info["findings"])


def test_device_list_hostile():
    data = bytearray(R.build_legacy_image(0x8086, 0x0406, bytes(2000), device_ids=[0x5916]))
    _set_u16(data, 0x40 + 0x08, 0xFFF0)  # device list far outside the image
    info = _walk(data)
    assert info["images"][0]["device_list"] == [] and any("device list" in f and "outside" in f for f in info["findings"])
    _set_u16(data, 0x40 + 0x08, R.PCIR30_SIZE)
    data[0x40 + R.PCIR30_SIZE : 0x40 + R.PCIR30_SIZE + 1200] = b"\x16\x59" * 600  # no terminator for 600 entries
    info = _walk(data)
    assert len(info["images"][0]["device_list"]) == R.MAX_DEVICE_LIST
    assert any("no terminating 0" in f for f in info["findings"])


def test_efi_sizes_hostile():
    data = bytearray(R.build_efi_image(0x8086, 0x5916, gop_driver()))
    _set_u16(data, 2, 0xFFFF)  # InitializationSize far beyond the image
    f = " | ".join(_walk(data)["findings"])
    assert "exceeds the image length" in f
    data = bytearray(R.build_efi_image(0x8086, 0x5916, gop_driver()))
    _set_u16(data, 0x16, 0xFFFF)
    f = " | ".join(_walk(data)["findings"])
    assert "not inside the" in f and "initialization area" in f


def test_legacy_size_byte_zero_and_bad_checksum():
    data = bytearray(demo.option_rom())
    data[2] = 0
    info = _walk(data)
    assert info["images"][0]["checksum"]["state"] == "empty" and any("size byte is 0" in f for f in info["findings"])
    data = bytearray(demo.option_rom())
    data[100] ^= 0xFF
    info = _walk(data)
    assert info["images"][0]["checksum_ok"] is False and any("sum to" in f and "SeaBIOS" in f for f in info["findings"])


def test_random_mutations_never_raise():
    rng = random.Random(1)
    seeds = [demo.option_rom(), multi_image_rom()]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(len(data) + 1)]
        info = _walk(data)
        R.match_device(info, 0x5916)
        render.render_rom(info)


def test_no_allocation_proportional_to_claimed_lengths():
    data = bytearray(demo.option_rom())
    _set_u16(data, 0x40 + 0x10, 0xFFFF)
    data[2] = 0xFF
    tracemalloc.start()
    try:
        _walk(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20  # claims of 32 MiB and 128 KiB, a 1.5 KiB ROM: no big buffers


def test_show_rom_with_device_says_whether_it_belongs(tmp_path, capsys):
    import json

    from igdscope.cli import main
    from igdscope.sources import demo

    path = tmp_path / "igd.rom"
    path.write_bytes(R.build_rom(R.build_legacy_image(0x8086, 0x0406, b"VBIOS" + demo.vbt(), device_ids=[0x3E92, 0x5916])))
    assert main.main(["show", str(path), "--device", "8086:5916"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "    device list (2):" in out and "      3e92 5916" in out
    assert any(line.startswith("  for 8086:5916? yes (device list)") for line in out)
    assert main.main(["show", str(path), "--device", "0x3e92", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["match"]["match"] == "device_list" and doc["match"]["device_id"] == 0x3E92 and doc["match"]["legacy_exact"] is False
    assert main.main(["show", str(path), "--device", "8086:zz"]) == 3
    assert "give a hex device ID" in capsys.readouterr().err
    vbt = tmp_path / "x.vbt"
    vbt.write_bytes(demo.vbt())
    assert main.main(["show", str(vbt), "--device", "3e92"]) == 3
    assert "--device is for option ROMs" in capsys.readouterr().err


def test_byte_sum_is_sum():
    from igdscope.schemas.common import byte_sum

    rng = random.Random(7)
    for n in [*range(0, 520), 4095, 4096, 65535, 65536, 65537, 1 << 20]:
        for data in (bytes(rng.randrange(256) for _ in range(min(n, 600))) * (n // 600 + 1), b"\xff" * n, bytes(n)):
            data = data[:n]
            assert byte_sum(data) == sum(data)
            assert byte_sum(bytearray(data)) == sum(data)
    assert byte_sum(memoryview(b"\xff" * 1000)[3:]) == 997 * 0xFF
