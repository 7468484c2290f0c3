"""Fuzzing the three firmware decoders with hypothesis: mutations of the corpus files and of built
inputs -- bit flips, byte writes, truncations, random tails, and lying size/offset/count fields
(vbt_size, bdb_offset, bdb_size, BDB header size and version, block sizes, the MIPI sequence u32,
child_dev_size; OpRegion size, version, MBOX, RVDA/RVDS; ROM size byte, PCIR offset, PCIR
length/revision, image length, indicator, device-list offset, EFI sizes and offsets).

For each decoder -- VBT (``vbt_decode``), OpRegion (``opregion.parse_opregion`` and its
helpers, and what ``show`` makes of it: the VBT inside and the text view) and ROM
(``rom_summary``, ``rom.match_device``, the VBT inside, the text view) -- no exception other than
``igdscope.errors.BadInput`` (``DecodeError`` is one) may escape, no example may take long, and
lying sizes must not make the decoders allocate in proportion to the claim (tracemalloc).

Examples per decoder: ``IGDSCOPE_FUZZ_EXAMPLES`` (default 200). The long run:

    IGDSCOPE_FUZZ_EXAMPLES=100000 python -m pytest -m fuzz tests/test_fuzz.py
"""

from __future__ import annotations

import os
import time
import tracemalloc
from dataclasses import dataclass, field
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igdscope.binary import eficompress
from igdscope.decode.files import decode_file, extract_vbt, vbt_inside
from igdscope.decode.firmware import rom_summary, vbt_decode
from igdscope.decode import sections
from igdscope.cli import render
from igdscope.errors import BadInput
from igdscope.schemas import opregion as op
from igdscope.schemas import rom as R
from igdscope.schemas import vbt as V
from igdscope.sources import demo
from tests.support import efi_encode
from tests.support.fw_build import FLASH_DESCRIPTOR, compression_section, lzma_section, lzma_sized, lzmaf86_section, raw_section, tiano_section, volume
from tests.support.shared import CORPUS

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("IGDSCOPE_FUZZ_EXAMPLES", "200"))
HANG_S = 10.0  # one decode of one input (at most 64 KiB) must never take this long

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)

# values a lying field is set to, besides any random value of its width
BOUNDARY = [0, 1, 2, 3, 4, 7, 8, 0x16, 0x17, 0x18, 0x1A, 0x1C, 0x30, 0x2F, 0x7F, 0x80, 0xFF, 0x100, 0x1FF, 0x200,
            0x1C00, 0x2000, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF]


@dataclass
class Seed:
    name: str
    data: bytes
    fields: list[tuple[int, int]] = field(default_factory=list)  # (offset, width) of size/offset/count fields


# -- where the lying fields are --------------------------------------------------------------------


def vbt_fields(data: bytes, at: int) -> list[tuple[int, int]]:
    out = [(at + 0x16, 2), (at + 0x18, 2), (at + 0x1C, 4)]
    try:
        w = V.walk_blocks(data, at)
    except BadInput:
        return out
    bdb = at + w["vbt_header"]["bdb_offset"]
    if w["bdb_header"] is not None:
        out += [(bdb + 0x10, 2), (bdb + 0x12, 2), (bdb + 0x14, 2)]
    for b in w["blocks"]:
        blk = at + b["offset"]
        out.append((blk + 1, 2))
        if b["id"] == V.BDB_MIPI_SEQUENCE:
            out += [(blk + 3, 1), (blk + 4, 4)]
        if b["id"] == 2:
            out += [(blk + 3 + 4, 1)]  # child_dev_size: a lie here changes the child count
        if b["id"] in (41, 42):
            out += [(blk + 3, 1), (blk + 4, 2), (blk + 6, 2)]  # LFP data pointers / entry sizes
    return [(o, n) for o, n in out if o + n <= len(data)]


def opregion_fields(data: bytes) -> list[tuple[int, int]]:
    out = [(0x10, 4), (0x14, 4), (0x16, 1), (0x17, 1), (0x58, 4), (0x3BA, 8), (0x3C2, 4), (0x1C00, 4)]
    if data[0x400:0x404] == b"$VBT":
        out += vbt_fields(data, 0x400)
    if data[0x2000:0x2004] == b"$VBT":
        out += vbt_fields(data, 0x2000)
    return [(o, n) for o, n in out if o + n <= len(data)]


def rom_fields(data: bytes) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for img in R.walk_images(data)["images"][:8]:
        o = img["offset"]
        out += [(o + 2, 1), (o + 2, 2), (o + 0x0C, 2), (o + 0x16, 2), (o + 0x18, 2)]
        if img.get("decompressed"):  # the compression header: CompSize, OrigSize
            at = o + img["efi"]["efi_image_header_offset"]
            out += [(at, 4), (at + 4, 4)]
        p = o + img.get("pcir_offset", 0)
        out += [(p + 8, 2), (p + 0x0A, 2), (p + 0x0C, 1), (p + 0x10, 2), (p + 0x14, 1), (p + 0x15, 1)]
    at = V.find_vbt(data)
    if at is not None:
        out += vbt_fields(data, at)
    return [(o, n) for o, n in out if o + n <= len(data)]


# -- seeds: the corpus and built inputs ---------------------------------------------------------------


def _corpus(suffix: str) -> list[tuple[str, bytes]]:
    if not CORPUS.is_dir():
        return []
    return [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.suffix == suffix]


def _many_blocks_vbt() -> bytes:
    return V.build_vbt(230, [(1, bytes(7))] + [(200 + i % 50, b"") for i in range(3000)])


def _mipi_v3_vbt() -> bytes:
    body = bytes([3]) + (120).to_bytes(4, "little") + bytes(range(120))
    return V.build_vbt(230, [(1, bytes(7)), (53, body)])


def _ext_vbt() -> bytes:
    return V.build_vbt(240, [(1, bytes(7)), (254, bytes(7000))])


@cache
def vbt_seeds() -> list[Seed]:
    raw = _corpus(".vbt")
    for name, data in _corpus(".rom") + _corpus(".opregion"):
        at = V.find_vbt(data)
        if at is not None:
            raw.append((name + "#vbt", data[at:]))
    raw += [("demo", demo.vbt()), ("many-blocks", _many_blocks_vbt()), ("mipi-v3", _mipi_v3_vbt()), ("large", _ext_vbt())]
    return [Seed(n, d, vbt_fields(d, 0)) for n, d in raw]


@cache
def opregion_seeds() -> list[Seed]:
    raw = _corpus(".opregion")
    ext = _ext_vbt()
    raw += [
        ("demo", demo.opregion()),
        ("2.0-absolute", op.build_opregion({"version": "2.0.0", "mbox4": demo.vbt(), "mailboxes": {"acpi": {}, "asle": {"rvda": 0x7A5F_1000, "rvds": len(ext)}, "asle_ext": {}}})),
        ("2.1-appended", op.build_opregion({"version": "2.1.0", "mailboxes": {"acpi": {}, "swsci": {}, "asle_ext": {"phed": 1}}, "extended_vbt": ext})),
        ("3.0-backlight", op.build_opregion({"version": "3.0.0", "mbox4": demo.vbt(), "mailboxes": {"acpi": {}, "backlight_3x": {"bcl1": 0x800000FF}, "asle": {}, "asle_ext": {}}})),
    ]
    return [Seed(n, d, opregion_fields(d)) for n, d in raw]


def _gop_driver() -> bytes:
    """A PE image with code-like bytes and the GOP protocol GUID: what a compressed GOP holds."""
    body = bytes((i * 7 + (i >> 5)) & 0xFF if i % 3 else 0x48 for i in range(5000))
    return R.build_pe_image("x64", "boot_service_driver", body + R.GOP_PROTOCOL_GUID + body[:700])


@cache
def efi_stream_seeds() -> list[Seed]:
    """UEFI-compressed streams: literals only, matches in several blocks, single-symbol runs, and
    the Tiano variant (each is decoded as both)."""
    raw = [
        ("literals", efi_encode.encode(efi_encode.literals(bytes(range(256)) * 8, block=700))),
        ("gop-lz", efi_encode.encode(efi_encode.lz(_gop_driver(), block=1500))),
        ("run", efi_encode.encode([[0x5A] * 3000, [1, 2, (256, 2), (40, 1)]])),
        ("tiano-lz", efi_encode.encode(efi_encode.lz(_gop_driver(), block=1500), pbit=5)),
    ]
    return [Seed(n, d, [(0, 4), (4, 4), (8, 2), (10, 1)]) for n, d in raw]


@cache
def rom_seeds() -> list[Seed]:
    raw = _corpus(".rom")
    gop = R.build_pe_image("x64", "boot_service_driver", R.GOP_PROTOCOL_GUID + bytes(200))
    legacy = R.build_legacy_image(0x8086, 0x0406, b"VBIOS" + demo.vbt(), last=False, device_ids=[0x3E92, 0x5916])
    raw += [
        ("demo", demo.option_rom()),
        ("legacy+efi", R.build_rom(legacy, R.build_efi_image(0x8086, 0x0406, gop, device_ids=[0x3E92]))),
        ("efi-compressed-pci22", R.build_efi_image(0x8086, 0x5916, b"\x12\x34" * 300, compressed=True, pcir_revision=0)),
        ("efi-compressed-gop", R.build_efi_image(0x8086, 0x0406, efi_encode.encode(efi_encode.lz(_gop_driver(), block=1500)), compressed=True)),
        ("many-images", R.build_legacy_image(0x8086, 0x5916, b"", last=False) * 200),
    ]
    return [Seed(n, d, rom_fields(d)) for n, d in raw]


def firmware_fields(data: bytes) -> list[tuple[int, int]]:
    """Each compressed section's size and type, its DataOffset or UncompressedLength and
    CompressionType, and its stream's sizes (LZMA: dictionary and uncompressed size; UEFI/Tiano:
    CompSize and OrigSize)."""
    out = []
    for sec in sections.sections(data):
        header = 8 if data[sec.offset : sec.offset + 3] == b"\xff\xff\xff" else 4
        out += [(sec.offset, 3), (sec.offset + 3, 1)] + ([(sec.offset + 4, 4)] if header == 8 else [])
        if data[sec.offset + 3] == sections.SECTION_GUID_DEFINED:
            out.append((sec.offset + header + 16, 2))
        else:
            out += [(sec.offset + header, 4), (sec.offset + header + 4, 1)]
        if sec.method in (sections.LZMA, sections.LZMA_X86):
            out += [(sec.data_start + 1, 4), (sec.data_start + 5, 8)]
        else:
            out += [(sec.data_start, 4), (sec.data_start + 4, 4)]
    return [(o, n) for o, n in out if o + n <= len(data)]


@cache
def firmware_seeds() -> list[Seed]:
    """UEFI images with the VBT in compressed sections: LZMA flat, nested in a volume, behind the
    8-byte header; LZMA+x86; Tiano; compression sections of the UEFI format (EFI 1.1 and Tiano) and
    of LZMA, also in Intel's legacy form."""
    vbt = demo.vbt()
    raw = [
        ("flat", FLASH_DESCRIPTOR + bytes(200) + lzma_section(bytes(300) + vbt)),
        ("nested", volume(lzma_section(bytes(100)), lzma_section(volume(bytes(50), lzma_section(vbt, extended=True)), gap=8))),
        ("no-vbt", volume(lzma_section(b"code" * 200), lzma_section(bytes(4000)))),
        ("lzma-x86", volume(lzmaf86_section(b"\xe8\x10\x00\x00\x00" * 40 + vbt))),
        ("tiano", volume(tiano_section(raw_section(vbt)))),
        ("compression", volume(compression_section(raw_section(bytes(64) + vbt)), compression_section(raw_section(vbt), pbit=5))),
        ("compression-lzma", volume(compression_section(raw_section(vbt), compression_type=2, extended=True))),
        ("legacy-lzma", volume(compression_section(raw_section(vbt), compression_type=2, stream=bytes(4) + lzma_sized(raw_section(vbt))))),
    ]
    return [Seed(n, d, firmware_fields(d)) for n, d in raw]


# -- mutations ------------------------------------------------------------------------------------------


def mutate(draw, seed: Seed) -> bytes:
    data = bytearray(seed.data)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["field", "field", "field", "flip", "byte", "tail", "splice"]))
        if kind == "field" and seed.fields:
            off, width = draw(st.sampled_from(seed.fields))
            top = (1 << (8 * width)) - 1
            value = draw(st.one_of(st.sampled_from([v & top for v in BOUNDARY] + [len(data) & top, (len(data) + 1) & top]), st.integers(0, top)))
            data[off : off + width] = value.to_bytes(width, "little")
        elif kind == "flip" and data:
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
        elif kind == "tail" and data:
            pos = draw(st.integers(0, len(data)))
            data[pos:] = draw(st.binary(max_size=64))
        elif kind == "splice" and len(data) > 8:
            a = draw(st.integers(0, len(data) - 4))
            n = draw(st.integers(1, min(64, len(data) - a)))
            b = draw(st.integers(0, len(data) - n))
            data[b : b + n] = data[a : a + n]
    if draw(st.integers(0, 4)) == 0:  # a truncation in one example of five
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def timed(fn, data: bytes) -> None:
    t0 = time.perf_counter()
    try:
        fn(data)
    except BadInput:
        pass
    took = time.perf_counter() - t0
    assert took < HANG_S, f"{took:.1f} s for {len(data)} bytes"


# -- the decoders as the fuzz sees them ---------------------------------------------------------------


def decode_vbt(data: bytes) -> None:
    res = vbt_decode(data)
    assert isinstance(res["blocks"], list) and isinstance(res["findings"], list)
    try:
        raw, _ = extract_vbt(data, "vbt", "fuzz")
        assert raw.startswith(b"$VBT")
    except BadInput:
        pass


def decode_opregion(data: bytes) -> None:
    res = decode_file(data, "opregion", None, "fuzz")  # what `igdscope show` decodes: mailboxes, then the VBT
    assert isinstance(res["findings"], list) and ("error" in res["vbt_decoded"]) != ("blocks" in res["vbt_decoded"])
    render.render_opregion(res, all_panels=True)
    op.extended_vbt_location(data)
    op.vbt_bytes(data)
    for fn in (lambda: op.vfio_view(data), lambda: extract_vbt(data, "opregion", "fuzz")):
        try:
            fn()
        except BadInput:
            pass


def decode_rom(data: bytes) -> None:
    res = rom_summary(data)
    assert len(res["images"]) <= R.MAX_IMAGES
    R.match_device(res, 0x5916)
    render.render_rom(res)  # what `igdscope show rom.bin` prints must cope with every shape
    render.render_vbt_inside(vbt_inside(data, "rom", "fuzz"), all_panels=True)


def decode_efi_stream(data: bytes) -> None:
    for version in (1, 2):  # EFI 1.1, Tiano
        res = eficompress.decompress(data, version=version)
        assert len(res["data"]) <= eficompress.MAX_OUTPUT and res["blocks"] <= eficompress.MAX_BLOCKS
        assert res["complete"] == (res["error"] is None and res["stopped"] is None and len(res["data"]) == res["orig_size"])


# -- the fuzz tests -------------------------------------------------------------------------------------


def fuzz_one(data, seeds: list[Seed], fn) -> None:
    """One example: a seed drawn from ``seeds``, mutated, through ``fn`` within the time bound."""
    seed = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    timed(fn, mutate(data.draw, seed))


@FUZZ
@given(st.data())
def test_fuzz_vbt(data):
    fuzz_one(data, vbt_seeds(), decode_vbt)


@FUZZ
@given(st.data())
def test_fuzz_opregion(data):
    fuzz_one(data, opregion_seeds(), decode_opregion)


@FUZZ
@given(st.data())
def test_fuzz_rom(data):
    fuzz_one(data, rom_seeds(), decode_rom)


@FUZZ
@given(st.data())
def test_fuzz_firmware_image(data):
    fuzz_one(data, firmware_seeds(), decode_vbt)  # show --kind vbt / extract vbt --kind vbt of a BIOS image


@FUZZ
@given(st.data())
def test_fuzz_efi_decompress(data):
    fuzz_one(data, efi_stream_seeds(), decode_efi_stream)


def test_seeds_have_lying_fields():
    for seeds in (vbt_seeds(), opregion_seeds(), rom_seeds(), efi_stream_seeds(), firmware_seeds()):
        assert seeds and all(s.fields for s in seeds)
    names = {s.name for s in vbt_seeds()}
    assert {"demo", "many-blocks", "mipi-v3"} <= names


# -- lying sizes allocate nothing in proportion to the claim --------------------------------------------


def peak_bytes(fn, data: bytes) -> int:
    fn(data)  # warm caches, lazy imports and compiled schemas first
    tracemalloc.start()
    try:
        try:
            fn(data)
        except BadInput:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _set(data: bytes, *writes: tuple[int, int, int]) -> bytes:
    out = bytearray(data)
    for off, width, value in writes:
        out[off : off + width] = value.to_bytes(width, "little")
    return bytes(out)


def _lies_vbt(vbt: bytes) -> list[bytes]:
    w = V.walk_blocks(vbt)
    blk = w["blocks"][0]["offset"]
    bdb = w["vbt_header"]["bdb_offset"]
    return [
        _set(vbt, (0x18, 2, 0xFFFF)),  # vbt_size
        _set(vbt, (bdb + 0x14, 2, 0xFFFF)),  # bdb_size
        _set(vbt, (blk + 1, 2, 0xFFFF)),  # first block's size
        _set(vbt, (0x1C, 4, 0xFFFFFFF0)),  # bdb_offset
    ]


def _lying_cases() -> list[tuple[str, object, bytes, bytes]]:
    mipi = _mipi_v3_vbt()
    mipi_at = next(b["offset"] for b in V.walk_blocks(mipi)["blocks"] if b["id"] == 53)
    honest_op = op.build_opregion({"version": "2.1.0", "mbox4": demo.vbt(), "mailboxes": {"asle": {}}, "extended_vbt": _ext_vbt()})
    rom = demo.option_rom()
    efi = R.build_efi_image(0x8086, 0x5916, R.build_pe_image() + bytes(1000))
    packed = R.build_efi_image(0x8086, 0x0406, efi_encode.encode(efi_encode.lz(_gop_driver())), compressed=True)
    packed_at = R.walk_images(packed)["images"][0]["efi"]["efi_image_header_offset"]
    cases = [("vbt " + str(i), decode_vbt, demo.vbt(), lie) for i, lie in enumerate(_lies_vbt(demo.vbt()))]
    cases += [
        ("vbt mipi u32 size", decode_vbt, mipi, _set(mipi, (mipi_at + 4, 4, 0xFFFFFFFF))),
        ("opregion rvds", decode_opregion, honest_op, _set(honest_op, (op.RVDS_OFFSET, 4, 0xFFFFFFFF))),
        ("opregion rvda", decode_opregion, honest_op, _set(honest_op, (op.RVDA_OFFSET, 8, 0xFFFFFFFFFFFFF000))),
        ("opregion size", decode_opregion, honest_op, _set(honest_op, (0x10, 4, 0xFFFFFFFF))),
        ("rom image length", decode_rom, rom, _set(rom, (0x40 + 0x10, 2, 0xFFFF), (2, 1, 0xFF))),
        ("rom device list", decode_rom, rom, _set(rom, (0x40 + 0x08, 2, 0xFFFF))),
        ("rom efi sizes", decode_rom, efi, _set(efi, (2, 2, 0xFFFF), (0x16, 2, 0xFFFF), (0x1C + 0x10, 2, 0xFFFF))),
        ("rom efi OrigSize", decode_rom, packed, _set(packed, (packed_at + 4, 4, 0xFFFFFFFF))),
        ("rom efi CompSize", decode_rom, packed, _set(packed, (packed_at, 4, 0xFFFFFFFF))),
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_lying_cases())), ids=[c[0] for c in _lying_cases()])
def test_lying_sizes_do_not_allocate_what_they_claim(case):
    name, fn, honest, lying = _lying_cases()[case]
    base = peak_bytes(fn, honest)
    peak = peak_bytes(fn, lying)
    # claims are 64 KiB to 16 EiB; inputs are a few KiB: the peak may differ from the honest input's
    # by what a different decode path costs, never by the claim
    assert peak < base * 2 + (1 << 20), f"{name}: peak {peak} bytes, honest input {base}"


def test_many_copies_of_a_block_do_not_multiply_the_decode():
    """64 KiB of empty block-27 headers (21,800 of them): each would read as a zero-filled 16-panel
    eDP block. Only the first is decoded, as i915 and igt read only the first; the output stays
    in proportion to the input, with one finding for all the copies."""
    import json

    n = (0xFFFF - 48 - 22) // 3
    vbt = V.build_vbt(230, [(27, b"")] * n)
    dec = vbt_decode(vbt)
    n -= 1  # the last header ends at bdb_size: i915's walk (index + 3 < bdb_size) leaves it out
    assert len(dec["blocks"]) == n
    assert sum("fields" in b for b in dec["blocks"]) == 1
    assert all(b["raw"] == "" for b in dec["blocks"][1:])
    copies = [f for f in dec["findings"] if f.startswith("block 27 appears")]
    assert copies == [f"block 27 appears {n} times: i915 and igt read only the first, at 0x46; the copies at "
                      + ", ".join(f"{0x46 + 3 * i:#x}" for i in range(1, 9)) + f" and {n - 9} more are not decoded (shown raw)"]
    assert len(json.dumps(dec)) < 40 * len(vbt)
