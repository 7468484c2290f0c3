"""The VBT inside LZMA-compressed sections of UEFI images (``igdscope.fwsections``), and what
``show --kind vbt`` and ``extract vbt --kind vbt`` make of such an image: the section headers in
both forms, nesting, partial and hostile streams, and the bounds."""

from __future__ import annotations

import lzma
import random
import time

import pytest

from igdscope import formats, fwsections
from igdscope.cli import main
from igdscope.errors import BadInput
from igdscope.sources import demo
from tests.fw_build import FLASH_DESCRIPTOR, lzma_section, volume

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
    secs = fwsections.lzma_sections(image)
    assert secs == [fwsections.Section(7, 7 + 24, 7 + len(a)), fwsections.Section(10 + len(a), 10 + len(a) + 32, len(image))]
    for sec, payload in zip(secs, (b"x" * 100, b"y" * 100)):
        assert fwsections.decompress(image[sec.data_start : sec.end], 1 << 20) == (payload, None)


def test_nested_vbt_is_found_with_its_path():
    image, _, outer = nested_image()
    found, notes = fwsections.find_vbt(image)
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
    assert "LZMA-compressed section) is found with --kind vbt" in capsys.readouterr().err
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
    assert "container" not in formats.vbt_decode(image) and formats.vbt_decode(image)["vbt_offset"] == len(lzma_section(VBT))
    with pytest.raises(BadInput, match=r"^no '\$VBT' signature in the file \(300 bytes\)$"):
        formats.vbt_decode(bytes(300))


def test_sections_without_a_vbt_are_counted_in_the_reason():
    image = volume(lzma_section(bytes(100)), lzma_section(b"code" * 50))
    with pytest.raises(BadInput, match=r"^no '\$VBT' signature in the file \(\d+ bytes\); 2 LZMA section\(s\) decompressed, none holds a VBT$"):
        formats.vbt_decode(image)
    with pytest.raises(BadInput, match=r"^x.bin: no '\$VBT'.*2 LZMA section\(s\) decompressed, none holds a VBT$"):
        formats.extract_vbt(image, "vbt", "x.bin")


def test_a_damaged_stream_gives_what_came_before_the_damage():
    stream = lzma.compress(VBT + bytes(range(256)) * 64, format=lzma.FORMAT_ALONE)
    cut = lzma_section(b"", stream=stream[: len(stream) * 2 // 3])
    found, notes = fwsections.find_vbt(cut)
    assert found is not None and found.data[: len(VBT)] == VBT
    assert notes == ["LZMA section at 0x0 (%s decompressed): the stream ends early" % f"{len(found.data)} bytes"]
    payload = VBT + random.Random(5).randbytes(512 << 10)  # 512 KiB that do not compress after the VBT
    stream = bytearray(lzma.compress(payload, format=lzma.FORMAT_ALONE))
    stream[len(stream) // 2 : len(stream) // 2 + 64] = b"\xa5" * 64  # damage in the middle
    found, notes = fwsections.find_vbt(lzma_section(b"", stream=bytes(stream)))
    assert found is not None and found.data[: len(VBT)] == VBT and len(found.data) < len(payload)
    assert notes[0].startswith(f"LZMA section at 0x0 ({len(found.data)} bytes decompressed): damaged after {len(found.data)} bytes of output (")
    garbage = lzma_section(b"", stream=b"\x5d" + bytes(12) + b"\xff" * 40)
    found, notes = fwsections.find_vbt(garbage)
    assert found is None and notes[0].startswith("LZMA section at 0x0 (0 bytes decompressed): ")
    assert notes[-1] == "1 LZMA section(s) decompressed, none holds a VBT"


def test_a_huge_dictionary_is_refused_not_allocated():
    # properties 0x5d, dictionary 4 GiB - 1, unknown size: liblzma would reserve the dictionary
    stream = b"\x5d" + (0xFFFFFFFF).to_bytes(4, "little") + b"\xff" * 8 + lzma.compress(VBT, format=lzma.FORMAT_ALONE)[13:]
    t0 = time.perf_counter()
    found, notes = fwsections.find_vbt(lzma_section(b"", stream=stream))
    assert found is None and "not LZMA" in notes[0] and "emory" in notes[0]
    assert time.perf_counter() - t0 < 5


def test_output_and_section_count_are_bounded(monkeypatch):
    monkeypatch.setattr(fwsections, "MAX_SECTION_OUTPUT", 1 << 20)
    found, notes = fwsections.find_vbt(lzma_section(bytes(3 << 20) + VBT))
    assert found is None and notes[0] == "LZMA section at 0x0 (1 MiB decompressed): output cut at 1 MiB"
    monkeypatch.setattr(fwsections, "MAX_SECTIONS", 3)
    many = b"".join(lzma_section(bytes(10)) for _ in range(5)) + lzma_section(VBT)
    assert len(fwsections.lzma_sections(many)) == 3
    found, notes = fwsections.find_vbt(many)
    assert found is None and notes[-1] == "3 LZMA section(s) decompressed, none holds a VBT"
    monkeypatch.setattr(fwsections, "MAX_SECTIONS", 256)
    monkeypatch.setattr(fwsections, "MAX_TOTAL_OUTPUT", 25)
    found, notes = fwsections.find_vbt(b"".join(lzma_section(bytes(10)) for _ in range(4)))
    sec3 = 2 * len(lzma_section(bytes(10)))
    assert found is None and notes == [f"LZMA section at {sec3:#x} (5 bytes decompressed): output cut at 5 bytes",
                                       "stopped after 3 sections and 25 bytes of output", "3 LZMA section(s) decompressed, none holds a VBT"]


def test_nesting_is_bounded(monkeypatch):
    image = VBT
    for _ in range(4):
        image = lzma_section(image)
    assert fwsections.find_vbt(image)[0] is None  # 4 deep, MAX_DEPTH is 3
    monkeypatch.setattr(fwsections, "MAX_DEPTH", 4)
    assert fwsections.find_vbt(image)[0].data == VBT


@pytest.mark.parametrize("desc,blob", [
    ("size smaller than the fixed fields", b"\x10\x00\x00\x02" + fwsections.LZMA_GUID + b"\x18\x00\x01\x00"),
    ("DataOffset past the size", b"\x30\x00\x00\x02" + fwsections.LZMA_GUID + b"\x40\x00\x01\x00" + bytes(40)),
    ("DataOffset inside the fixed fields", b"\x30\x00\x00\x02" + fwsections.LZMA_GUID + b"\x10\x00\x01\x00" + bytes(40)),
    ("wrong section type", b"\x30\x00\x00\x01" + fwsections.LZMA_GUID + b"\x18\x00\x01\x00" + bytes(40)),
    ("extended form without 0xFFFFFF", b"\x01\x00\x00\x02\x30\x00\x00\x00" + fwsections.LZMA_GUID + b"\x1c\x00\x01\x00" + bytes(40)),
    ("the GUID at the very start", fwsections.LZMA_GUID + b"\x18\x00\x01\x00" + bytes(40)),
    ("the GUID cut at the end", b"\x30\x00\x00\x02" + fwsections.LZMA_GUID[:10]),
])
def test_lying_headers_are_not_sections(desc, blob):
    assert fwsections.lzma_sections(blob) == [], desc


def test_a_size_past_the_data_is_cut_to_the_data():
    sec = lzma_section(VBT)
    lying = (0xFFFFF0).to_bytes(3, "little") + sec[3:]
    assert fwsections.lzma_sections(lying) == [fwsections.Section(0, 24, len(lying))]
    assert fwsections.find_vbt(lying)[0].data == VBT
