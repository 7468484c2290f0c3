"""The VBT inside compressed sections of UEFI images (``igdscope.decode.sections``), and what ``show
--kind vbt`` and ``extract vbt --kind vbt`` make of such an image: LZMA, LZMA+x86 and Tiano
GUID-defined sections and compression sections, the section headers in both forms, nesting,
partial and hostile streams, and the bounds."""

from __future__ import annotations

import lzma
import random
import struct
import time

import pytest

from igdscope.decode.files import extract_vbt

from igdscope.decode.firmware import vbt_decode
from igdscope.decode import sections
from igdscope.cli.main import main
from igdscope.errors import BadInput
from igdscope.sources import demo
from tests.support.fw_build import (FLASH_DESCRIPTOR, code_like, compression_section, guid_section, lzma_section, lzma_sized,
                                    lzmaf86_section, raw_section, tiano_section, uefi_stream, volume, x86_convert)

VBT = demo.vbt()


def nested_image() -> tuple[bytes, int, int]:
    """A flash image: a section of zeros, then a section holding a volume whose extended-header
    section holds the VBT. Returns the image and where the two outer sections start."""
    inner = volume(bytes(1000), VBT, bytes(100))
    first = lzma_section(bytes(3000))
    head = FLASH_DESCRIPTOR + bytes(5000)
    image = head + first + lzma_section(bytes(500) + lzma_section(inner, extended=True), gap=8) + bytes(100)
    return image, len(head), len(head) + len(first)


def test_sections_are_found_in_both_header_forms():
    a = lzma_section(b"x" * 100)
    b = lzma_section(b"y" * 100, extended=True, gap=4)
    image = bytes(7) + a + bytes(3) + b
    secs = sections.sections(image)
    assert secs == [sections.Section(7, 7 + 24, 7 + len(a), "lzma", "LZMA section"),
                    sections.Section(10 + len(a), 10 + len(a) + 32, len(image), "lzma", "LZMA section")]
    for sec, payload in zip(secs, (b"x" * 100, b"y" * 100)):
        assert sections.decompress(image[sec.data_start : sec.end], 1 << 20) == (payload, None)


def test_nested_vbt_is_found_with_its_path():
    image, _, outer = nested_image()
    found, notes = sections.find_vbt(image)
    assert notes == []
    inner = volume(bytes(1000), VBT, bytes(100))
    assert found.data[found.offset : found.offset + len(VBT)] == VBT and found.offset == inner.index(VBT)
    assert found.where == (f"LZMA section at {outer:#x} ({500 + len(lzma_section(inner, extended=True))} bytes decompressed) > "
                           f"LZMA section at 0x1f4 of that ({len(inner)} bytes decompressed), at {found.offset:#x} of its output")


def test_show_and_extract_a_vbt_in_a_flash_image(tmp_path, capsys):
    image, _, _ = nested_image()
    path = tmp_path / "bios.bin"
    path.write_bytes(image)
    assert main(["show", str(path)]) == 3  # not sniffed as a VBT: the flash image is named
    assert "(plain or in a compressed section) is found with --kind vbt" in capsys.readouterr().err
    assert main(["show", str(path), "--kind", "vbt", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["container"].startswith("LZMA section at ") and [b["id"] for b in doc["blocks"]] == [1, 2]
    assert doc["checksum"]["ok"] and doc["bdb_version"] == 221
    assert main(["show", str(path), "--kind", "vbt"]) == 0
    assert capsys.readouterr().out.startswith(f"VBT in the file's {doc['container']}: signature $VBT COFFEELAKE-S")
    out = tmp_path / "vbt.bin"
    assert main(["extract", "vbt", str(path), "--kind", "vbt", "-o", str(out)]) == 0
    assert out.read_bytes() == VBT
    assert capsys.readouterr().out == f"wrote {out}: 398-byte VBT (BDB version 221) from the file's {doc['container']}\n"


def test_a_plain_vbt_is_preferred_and_no_section_means_the_old_reason():
    image = lzma_section(VBT) + VBT
    assert "container" not in vbt_decode(image) and vbt_decode(image)["vbt_offset"] == len(lzma_section(VBT))
    with pytest.raises(BadInput, match=r"^no '\$VBT' signature in the file \(300 bytes\)$"):
        vbt_decode(bytes(300))


def test_sections_without_a_vbt_are_counted_in_the_reason():
    image = volume(lzma_section(bytes(100)), lzma_section(b"code" * 50))
    with pytest.raises(BadInput, match=r"^no '\$VBT' signature in the file \(\d+ bytes\); 2 compressed section\(s\) decompressed, none holds a VBT$"):
        vbt_decode(image)
    with pytest.raises(BadInput, match=r"^x.bin: no '\$VBT'.*2 compressed section\(s\) decompressed, none holds a VBT$"):
        extract_vbt(image, "vbt", "x.bin")


def test_a_damaged_stream_gives_what_came_before_the_damage():
    stream = lzma.compress(VBT + bytes(range(256)) * 64, format=lzma.FORMAT_ALONE)
    cut = lzma_section(b"", stream=stream[: len(stream) * 2 // 3])
    found, notes = sections.find_vbt(cut)
    assert found is not None and found.data[: len(VBT)] == VBT
    assert notes == ["LZMA section at 0x0 (%s decompressed): the stream ends early" % f"{len(found.data)} bytes"]
    payload = VBT + random.Random(5).randbytes(512 << 10)  # 512 KiB that do not compress after the VBT
    stream = bytearray(lzma.compress(payload, format=lzma.FORMAT_ALONE))
    stream[len(stream) // 2 : len(stream) // 2 + 64] = b"\xa5" * 64  # damage in the middle
    found, notes = sections.find_vbt(lzma_section(b"", stream=bytes(stream)))
    assert found is not None and found.data[: len(VBT)] == VBT and len(found.data) < len(payload)
    assert notes[0].startswith(f"LZMA section at 0x0 ({len(found.data)} bytes decompressed): damaged after {len(found.data)} bytes of output (")
    garbage = lzma_section(b"", stream=b"\x5d" + bytes(12) + b"\xff" * 40)
    found, notes = sections.find_vbt(garbage)
    assert found is None and notes[0].startswith("LZMA section at 0x0 (0 bytes decompressed): ")
    assert notes[-1] == "1 compressed section(s) decompressed, none holds a VBT"


def test_a_huge_dictionary_is_refused_not_allocated():
    # properties 0x5d, dictionary 4 GiB - 1, unknown size: liblzma would reserve the dictionary
    stream = b"\x5d" + (0xFFFFFFFF).to_bytes(4, "little") + b"\xff" * 8 + lzma.compress(VBT, format=lzma.FORMAT_ALONE)[13:]
    t0 = time.perf_counter()
    found, notes = sections.find_vbt(lzma_section(b"", stream=stream))
    assert found is None and "not LZMA" in notes[0] and "emory" in notes[0]
    assert time.perf_counter() - t0 < 5


def test_output_and_section_count_are_bounded(monkeypatch):
    monkeypatch.setattr(sections, "MAX_SECTION_OUTPUT", 1 << 20)
    found, notes = sections.find_vbt(lzma_section(bytes(3 << 20) + VBT))
    assert found is None and notes[0] == "LZMA section at 0x0 (1 MiB decompressed): output cut at 1 MiB"
    monkeypatch.setattr(sections, "MAX_SECTIONS", 3)
    many = b"".join(lzma_section(bytes(10)) for _ in range(5)) + lzma_section(VBT)
    assert len(sections.sections(many)) == 3
    found, notes = sections.find_vbt(many)
    assert found is None and notes[-1] == "3 compressed section(s) decompressed, none holds a VBT"
    monkeypatch.setattr(sections, "MAX_SECTIONS", 256)
    monkeypatch.setattr(sections, "MAX_TOTAL_OUTPUT", 25)
    found, notes = sections.find_vbt(b"".join(lzma_section(bytes(10)) for _ in range(4)))
    sec3 = 2 * len(lzma_section(bytes(10)))
    assert found is None and notes == [f"LZMA section at {sec3:#x} (5 bytes decompressed): output cut at 5 bytes",
                                       "stopped after 3 sections and 25 bytes of output", "3 compressed section(s) decompressed, none holds a VBT"]


def test_nesting_is_bounded(monkeypatch):
    image = VBT
    for _ in range(4):
        image = lzma_section(image)
    assert sections.find_vbt(image)[0] is None  # 4 deep, MAX_DEPTH is 3
    monkeypatch.setattr(sections, "MAX_DEPTH", 4)
    assert sections.find_vbt(image)[0].data == VBT


@pytest.mark.parametrize("desc,blob", [
    ("size smaller than the fixed fields", b"\x10\x00\x00\x02" + sections.LZMA_GUID + b"\x18\x00\x01\x00"),
    ("DataOffset past the size", b"\x30\x00\x00\x02" + sections.LZMA_GUID + b"\x40\x00\x01\x00" + bytes(40)),
    ("DataOffset inside the fixed fields", b"\x30\x00\x00\x02" + sections.LZMA_GUID + b"\x10\x00\x01\x00" + bytes(40)),
    ("wrong section type", b"\x30\x00\x00\x01" + sections.LZMA_GUID + b"\x18\x00\x01\x00" + bytes(40)),
    ("extended form without 0xFFFFFF", b"\x01\x00\x00\x02\x30\x00\x00\x00" + sections.LZMA_GUID + b"\x1c\x00\x01\x00" + bytes(40)),
    ("the GUID at the very start", sections.LZMA_GUID + b"\x18\x00\x01\x00" + bytes(40)),
    ("the GUID cut at the end", b"\x30\x00\x00\x02" + sections.LZMA_GUID[:10]),
])
def test_lying_headers_are_not_sections(desc, blob):
    assert sections.sections(blob) == [], desc


def test_a_size_past_the_data_is_cut_to_the_data():
    sec = lzma_section(VBT)
    lying = (0xFFFFF0).to_bytes(3, "little") + sec[3:]
    assert sections.sections(lying) == [sections.Section(0, 24, len(lying), "lzma", "LZMA section")]
    assert sections.find_vbt(lying)[0].data == VBT


# -- the other kinds of compressed section ------------------------------------------------------------


def test_x86_converter_is_the_lzma_sdk_one():
    """igdscope undoes the x86 converter with liblzma's filter; an independent converter written
    from the LZMA SDK's description encodes, and both decodings agree with it on code-like bytes
    (and liblzma's encoder writes what it writes)."""
    for seed in range(20):
        plain = code_like(random.Random(seed).randrange(0, 6000), seed)
        encoded = x86_convert(plain, encoding=True)
        assert (encoded != plain) == (len(plain) > 100)
        assert sections.x86_decode(encoded) == plain == x86_convert(encoded, encoding=False)
        raw = lzma.compress(plain, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2}])
        assert lzma.decompress(raw, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}]) == encoded
    assert sections.x86_decode(b"") == b"" and sections.x86_decode(b"\xe8\x00\x00") == b"\xe8\x00\x00"
    big = code_like(200_000, 99)  # several LZMA2 chunks of 64 KiB
    assert sections.x86_decode(x86_convert(big, encoding=True)) == big


def test_lzma_x86_section():
    payload = code_like(20_000) + VBT + code_like(3000, 2)
    image = FLASH_DESCRIPTOR + bytes(64) + lzmaf86_section(payload)
    assert [(s.method, s.name) for s in sections.sections(image)] == [("lzma-x86", "LZMA+x86 section")]
    found, notes = sections.find_vbt(image)
    assert notes == [] and found.data == payload and found.offset == 20_000
    assert found.where == f"LZMA+x86 section at 0x54 ({len(payload)} bytes decompressed), at 0x4e20 of its output"


def test_tiano_section_and_the_other_format_under_its_guid():
    stream = raw_section(code_like(5000)) + raw_section(VBT)
    found, notes = sections.find_vbt(volume(tiano_section(stream)))
    assert notes == [] and found.data == stream and found.where.startswith(f"Tiano section at 0x40 ({len(stream)} bytes decompressed), at ")
    # an EFI 1.1 stream under the Tiano GUID (UEFITool tries both): read, and the path says which
    found, notes = sections.find_vbt(volume(tiano_section(stream, pbit=4)))
    assert notes == [] and found.data == stream and f"({len(stream)} bytes decompressed, EFI 1.1 format)" in found.where


def test_compression_sections_of_every_type_and_both_header_forms():
    stream = raw_section(bytes(300)) + raw_section(VBT)
    cases = [
        (compression_section(stream), "compression section", ""),
        (compression_section(stream, extended=True), "compression section", ""),
        (compression_section(stream, pbit=5), "compression section", ", Tiano format"),
        (compression_section(stream, compression_type=2), "compression section (LZMA)", ""),
        # an LZMA header whose size is "unknown" (what Python's lzma writes; EDK2 states it): read too
        (compression_section(stream, compression_type=2, stream=lzma.compress(stream, format=lzma.FORMAT_ALONE)), "compression section (LZMA)", ""),
        (compression_section(stream, compression_type=0x86, extended=True), "compression section (LZMA+x86)", ""),
        # Intel's legacy form: 4 bytes before the LZMA header (here the stream's size, or anything)
        (compression_section(stream, compression_type=2, stream=struct.pack("<I", len(lzma_sized(stream))) + lzma_sized(stream)),
         "compression section (Intel legacy LZMA)", ""),
        (compression_section(stream, compression_type=2, stream=b"\xe1\xff\x00\x5d" + lzma_sized(stream), extended=True),
         "compression section (Intel legacy LZMA)", ""),
    ]
    for section, name, variant in cases:
        image = volume(bytes(7), section)
        assert [s.name for s in sections.sections(image)] == [name]
        found, notes = sections.find_vbt(image)
        assert notes == [] and found.data == stream, name
        assert found.where == f"{name} at 0x47 ({len(stream)} bytes decompressed{variant}), at {len(stream) - len(VBT):#x} of its output"


def test_show_finds_a_vbt_in_a_tiano_compressed_volume_inside_lzma(tmp_path, capsys):
    inner = volume(raw_section(code_like(2000)), raw_section(VBT))
    image = FLASH_DESCRIPTOR + bytes(4000) + lzma_section(volume(compression_section(inner, pbit=5)))
    path = tmp_path / "bios.bin"
    path.write_bytes(image)
    assert main(["extract", "vbt", str(path), "--kind", "vbt", "-o", str(tmp_path / "vbt.bin")]) == 0
    assert (tmp_path / "vbt.bin").read_bytes() == VBT
    where = capsys.readouterr().out.split(" from the file's ")[1]
    assert where.startswith("LZMA section at 0xfb4 (") and " > compression section at 0x40 of that (" in where and ", Tiano format)" in where


@pytest.mark.parametrize("desc,blob", [
    ("OrigSize differs from UncompressedLength", compression_section(b"x" * 100, length=99)),
    ("CompSize past the section", compression_section(b"", stream=(500).to_bytes(4, "little") + (100).to_bytes(4, "little") + bytes(40), length=100)),
    ("unknown CompressionType", compression_section(b"x" * 100, compression_type=3, stream=uefi_stream(b"x" * 100))),
    ("not compressed", compression_section(b"x" * 100, compression_type=0, stream=b"x" * 100)),
    ("LZMA properties out of range", compression_section(b"x" * 100, compression_type=2, stream=b"\xe1" + bytes(4) + (100).to_bytes(8, "little") + bytes(20))),
    ("LZMA size differs", compression_section(b"x" * 100, compression_type=2, stream=b"\x5d" + bytes(4) + (101).to_bytes(8, "little") + bytes(20))),
    ("legacy LZMA size differs", compression_section(b"x" * 100, compression_type=2, stream=bytes(4) + b"\x5d" + bytes(4) + (101).to_bytes(8, "little") + bytes(20))),
    ("legacy LZMA with an unknown size", compression_section(b"x" * 100, compression_type=2, stream=b"\xff" * 4 + b"\x5d" + bytes(4) + b"\xff" * 8 + bytes(20))),
    ("legacy form under LZMA+x86", compression_section(b"x" * 100, compression_type=0x86, stream=bytes(4) + b"\x5d" + bytes(4) + (100).to_bytes(8, "little") + bytes(20))),
    ("zero length", compression_section(b"", stream=bytes(30), length=0)),
    ("a Tiano GUID with a DataOffset past the size", guid_section(sections.TIANO_GUID, bytes(40))[:20] + b"\x60\x00\x01\x00" + bytes(40)),
])
def test_lying_compression_headers_are_not_sections(desc, blob):
    assert sections.sections(bytes(9) + blob + bytes(9)) == [], desc


def test_a_stream_neither_format_reads_is_reported():
    bad = compression_section(b"", stream=(30).to_bytes(4, "little") + (200).to_bytes(4, "little") + b"\xff" * 30, length=200)
    found, notes = sections.find_vbt(bad)
    assert found is None and len(notes) == 2
    assert notes[0] == "compression section at 0x0 (0 bytes decompressed): block 1 (bit 0 of the stream): extra set: a code length over 16"
    assert notes[1] == "1 compressed section(s) decompressed, none holds a VBT"


def test_dense_section_look_alikes_cost_little():
    """A file full of bytes that look like compression-section headers (every byte 0x01): the scan
    looks at no more than MAX_CANDIDATES places and finds nothing."""
    t0 = time.perf_counter()
    assert sections.sections(b"\x01" * (4 << 20)) == []
    found, notes = sections.find_vbt(b"\x01" * (1 << 20))
    assert found is None and notes == [sections.NO_SECTION]
    assert time.perf_counter() - t0 < 20  # a bound on a hang, not a benchmark


def test_the_uefi_decoder_has_its_own_budget(monkeypatch):
    stream = raw_section(bytes(2000)) + raw_section(VBT)
    image = volume(tiano_section(raw_section(bytes(3000))), tiano_section(stream))
    monkeypatch.setattr(sections, "MAX_UEFI_OUTPUT", 3004)
    found, notes = sections.find_vbt(image)
    assert found is None
    assert notes[0].startswith("Tiano section at ") and notes[0].endswith(": not decompressed, the UEFI/Tiano decoder's 3004 bytes are used up")
    assert notes[1] == "1 compressed section(s) decompressed, none holds a VBT"
    monkeypatch.setattr(sections, "MAX_UEFI_OUTPUT", 48 << 20)
    assert sections.find_vbt(image)[0].data == stream


def test_sections_made_by_edk2s_compressors():
    """Sections whose data EDK2's own compressors wrote (the uefi_firmware package: EfiCompress,
    TianoCompress and LzmaCompress, EDK2's C code), as firmware builds write them."""
    try:
        from uefi_firmware import efi_compressor as ef
    except ImportError:
        pytest.skip("the uefi_firmware package (EDK2's compressors) is not installed: pip install '.[test]'")
    stream = raw_section(code_like(40_000)) + raw_section(VBT) + raw_section(bytes(5000))
    efi, tiano, lz = (fn(stream, len(stream)) for fn in (ef.EfiCompress, ef.TianoCompress, ef.LzmaCompress))
    cases = [
        (compression_section(stream, stream=efi), "compression section", ""),
        (compression_section(stream, stream=tiano), "compression section", ", Tiano format"),
        (guid_section(sections.TIANO_GUID, tiano), "Tiano section", ""),
        (guid_section(sections.LZMA_GUID, lz), "LZMA section", ""),
        (compression_section(stream, compression_type=2, stream=lz), "compression section (LZMA)", ""),
    ]
    for section, name, variant in cases:
        found, notes = sections.find_vbt(FLASH_DESCRIPTOR + section)
        assert notes == [] and found.data == stream, name
        assert found.where == f"{name} at 0x14 ({len(stream)} bytes decompressed{variant}), at {40_004 + 4:#x} of its output"


def test_diff_compares_the_vbts_of_two_bios_images(tmp_path, capsys):
    import json

    from tests.support.vbt_build import vbt_with_port

    a, b = tmp_path / "bios-1.02.bin", tmp_path / "bios-1.05.bin"
    a.write_bytes(FLASH_DESCRIPTOR + lzma_section(volume(raw_section(vbt_with_port("hdmib")))))
    b.write_bytes(FLASH_DESCRIPTOR + bytes(16) + compression_section(raw_section(vbt_with_port("hdmic")), pbit=5))
    assert main(["diff", str(a), str(b)]) == 3  # not sniffed: the error names the image and --kind vbt
    assert capsys.readouterr().err.endswith("a VBT stored in it (plain or in a compressed section) is found with --kind vbt\n")
    assert main(["diff", str(a), str(b), "--kind", "vbt", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    by_path = {d["path"]: d for d in res["differences"]}
    assert by_path["vbt.container"]["a"].startswith("LZMA section at 0x14 (")
    assert by_path["vbt.container"]["b"].startswith("compression section at 0x24 (") and "Tiano format" in by_path["vbt.container"]["b"]
    assert by_path["vbt.block2.child[0].dvo_port"]["context"] == {"a": "HDMI-B", "b": "HDMI-C"}
    assert main(["diff", str(a), str(a), "--kind", "vbt"]) == 0
    empty = tmp_path / "none.bin"
    empty.write_bytes(FLASH_DESCRIPTOR + lzma_section(bytes(100)))
    assert main(["diff", str(a), str(empty), "--kind", "vbt"]) == 3
    assert capsys.readouterr().err.startswith(f"igdscope: {empty}: no '$VBT' signature in the file (")
