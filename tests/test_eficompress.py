"""The UEFI decompressor (compressed EFI images in option ROMs): streams from the test encoder for
every path of the format, bad streams, the work bounds, and -- where the uefi_firmware package is
installed -- round trips through EDK2's own compressor (EfiCompress, the C code EfiRom uses)."""

from __future__ import annotations

import random

import pytest

from igdscope.binary import eficompress as E
from igdscope.cli import render
from igdscope.schemas import rom as R
from tests.support import efi_encode as enc
from tests.support.shared import CORPUS


def roundtrip(blocks: list[list]) -> dict:
    res = E.decompress(enc.encode(blocks))
    assert res["error"] is None and res["stopped"] is None, res
    assert res["data"] == enc.expand(blocks) and res["complete"] and res["blocks"] == len(blocks)
    return res


def test_literals_matches_and_code_lengths():
    rng = random.Random(1)
    text = bytes(rng.choice(b"abcdefgh \n") for _ in range(3000))
    # literals of a skewed alphabet, matches of every position symbol (distances 1 .. 2^14)
    tokens = list(text) + [(3, 1), (256, 2), (17, 3), (40, 7), (100, 1000), (5, 2999)]
    tokens += [(4, d) for d in (4, 5, 9, 17, 33, 65, 129, 257, 513, 1025, 2049, 3000)]
    roundtrip([tokens])


def test_streams_like_a_real_compressor():
    # greedy matches over a PE image and text, several blocks: the shape EfiRom's output has
    for data in (_gop_pe(), b"GOP " * 5000 + bytes(range(256)) * 30):
        res = roundtrip(enc.lz(data, block=300))
        assert res["data"] == data and res["blocks"] > 1


def test_overlapping_match_repeats_the_last_bytes():
    res = roundtrip([[0x41, 0x42, (256, 2), (100, 1)]])
    assert res["data"] == b"AB" + b"AB" * 128 + b"B" * 100


def test_single_symbol_sets_are_coded_with_no_bits():
    # one literal only: the char&len set is a single symbol read with 0 bits (a run)
    res = roundtrip([[0x5A] * 5000])
    assert res["data"] == b"Z" * 5000
    # literals and matches of one distance: the position set is a single symbol
    roundtrip([[1, 2, 3, (10, 3), (10, 3), 4]])


def test_zero_runs_in_the_code_lengths():
    # symbols far apart leave runs of unused codes: 1, 3..18 and 20+ zeros between lengths
    tokens = [0, 2, 6, 30, 60, 200, 255, 0, 2, 6, 30, 60, 200, 255, (3, 1), (256, 5)] * 5
    roundtrip([tokens])


def test_codes_longer_than_the_lookup_table():
    # Fibonacci counts give a 16-symbol code of lengths up to 15: past the 12-bit table
    fib = [1, 1]
    while len(fib) < 16:
        fib.append(fib[-1] + fib[-2])
    tokens = [sym for sym, n in zip(range(16), fib) for _ in range(n)]
    random.Random(2).shuffle(tokens)
    clen = enc.huffman_lengths(dict(zip(range(16), fib)))
    assert max(clen.values()) > 12
    roundtrip([tokens])


def test_several_blocks_and_a_count_of_zero_meaning_65536():
    roundtrip(enc.literals(bytes(range(256)) * 40, block=3000))
    # a block whose 16-bit symbol count is 0 decodes 65536 symbols (EDK2's UINT16 count)
    w = enc.BitWriter()
    enc.write_block(w, [0x5A], count=0)
    enc.write_block(w, [0x59] * 4)
    body = w.data()
    data = len(body).to_bytes(4, "little") + (65536 + 4).to_bytes(4, "little") + body
    res = E.decompress(data)
    assert res["error"] is None and res["data"] == b"Z" * 65536 + b"YYYY" and res["blocks"] == 2


def test_output_stops_at_orig_size_and_zero_bits_follow_the_data():
    stream = enc.encode([[1, 2, 3, 4, 5]])
    short = E.decompress(stream[:4] + (3).to_bytes(4, "little") + stream[8:])
    assert short["data"] == b"\x01\x02\x03" and short["complete"]
    # an OrigSize beyond what the data holds: EDK2 would go on with zero bits (65536 zero bytes per
    # block); igdscope stops where the data ends
    longer = E.decompress(stream[:4] + (0xFFFFFFF).to_bytes(4, "little") + stream[8:])
    assert longer["error"] is None and longer["data"] == b"\x01\x02\x03\x04\x05" and not longer["complete"]
    assert longer["stopped"].startswith(f"the compressed data ends ({len(stream) - 8} bytes) before OrigSize 268435455 is reached")
    assert E.decompress((0).to_bytes(8, "little")) == {
        "comp_size": 0, "orig_size": 0, "data": b"", "complete": True, "blocks": 0, "error": None, "stopped": None}



def test_a_block_that_claims_more_symbols_than_the_data_holds():
    # the match is the most common symbol, so its code is '0': past the data, zero bits would
    # decode as matches, each adding 3 bytes, for the 60000 symbols the block claims
    w = enc.BitWriter()
    enc.write_block(w, [0x41, 0x42] + [(3, 1)] * 4, count=60000)
    body = w.data()
    res = E.decompress(len(body).to_bytes(4, "little") + (0xFFFFFF).to_bytes(4, "little") + body)
    assert res["error"] is None and res["stopped"].startswith("the compressed data ends")
    assert res["data"].startswith(b"AB" + b"B" * 12) and len(res["data"]) <= 14 + 3 * 8


@pytest.mark.parametrize("data, needle", [
    (b"\x01\x00\x00", "3 bytes, shorter than the 8-byte compression header"),
    ((100).to_bytes(4, "little") + (10).to_bytes(4, "little") + bytes(20), "CompSize 100 + 8 header bytes exceeds the 28 bytes present (EDK2 refuses it)"),
])
def test_headers_edk2_refuses(data, needle):
    res = E.decompress(data)
    assert res["error"] == needle and res["data"] == b"" and not res["complete"]


def _stream(bits: str, orig: int = 10) -> bytes:
    w = enc.BitWriter()
    w.put_str(bits + "0" * 64)  # room for the shortest block header behind any prefix
    body = w.data()
    return len(body).to_bytes(4, "little") + orig.to_bytes(4, "little") + body


def test_bad_tables_and_matches_are_errors_with_their_place():
    count = "0000000000000001"
    # extra set: 3 lengths of 1 overfill the code space
    res = E.decompress(_stream(count + "00011" + "001" * 3 + "00"))
    assert res["error"] == "block 1 (bit 0 of the stream): extra set: the code lengths overfill the code space"
    # extra set: one length of 1 leaves half of it unused
    res = E.decompress(_stream(count + "00001" + "001"))
    assert res["error"] == "block 1 (bit 0 of the stream): extra set: the code lengths do not fill the code space"
    # extra set given as the single symbol 25, beyond its 19
    res = E.decompress(_stream(count + "00000" + "11001"))
    assert res["error"] == "block 1 (bit 0 of the stream): extra set: the only symbol is 25, beyond the 19 of the set"
    # a code length over 16 ('111' and ten 1s)
    res = E.decompress(_stream(count + "00010" + "111" + "1" * 10 + "0"))
    assert "extra set: a code length over 16" in res["error"]
    # a match that reaches before the first byte: single symbol 256 (length 3), position symbol 5
    # with 4 more bits 0011: 16 + 3 = 19, so 20 bytes back
    res = E.decompress(_stream(count + "00000" + "00000" + "000000000" + "100000000" + "0000" + "0101" + "0011"))
    assert res["error"] == "at output byte 0: a match 20 bytes back reaches before the start" and res["data"] == b""


def test_work_is_bounded_whatever_the_header_claims(monkeypatch):
    # one 0-bit literal repeated: 8 bytes of stream make 4 GiB; stops at the output bound, says so
    w = enc.BitWriter()
    enc.write_block(w, [0x5A], count=0)
    for _ in range(3):
        enc.write_block(w, [0x5A], count=0)
    body = w.data()
    res = E.decompress(len(body).to_bytes(4, "little") + (0xFFFFFFFF).to_bytes(4, "little") + body, limit=200000)
    assert res["error"] is None and res["data"] == b"Z" * 200000 and not res["complete"]
    assert res["stopped"] == "igdscope decompresses at most 200000 bytes" and res["blocks"] == 4
    monkeypatch.setattr(E, "MAX_BLOCKS", 3)
    res = E.decompress(enc.encode(enc.literals(bytes(range(50)), block=10)))
    assert res["stopped"] == "igdscope reads at most 3 blocks" and res["data"] == bytes(range(30)) and not res["complete"]


# -- in option ROMs ---------------------------------------------------------------------------------


def _gop_pe() -> bytes:
    """A PE image with the GOP protocol GUID in its data, like a real GOP driver."""
    rng = random.Random(3)
    payload = bytes(rng.choice(b"\x00\x00\x00\x48\x8b\xc4\xe8\xff") for _ in range(6000)) + R.GOP_PROTOCOL_GUID + bytes(500)
    return R.build_pe_image(payload=payload)


def test_rom_with_a_compressed_gop_driver():
    pe = _gop_pe()
    image = R.build_efi_image(0x8086, 0x0406, enc.encode(enc.literals(pe)), compressed=True)
    info = R.walk_images(image)
    img = info["images"][0]
    assert img["decompressed"]["error"] is None and img["decompressed"]["size"] == len(pe) and img["decompressed"]["complete"]
    assert img["pe"]["machine"]["name"] == "x64" and img["pe"]["subsystem"]["name"] == "boot_service_driver"
    assert img["gop"] is True and img["usable_by_uefi"] and info["findings"] == []
    assert info["gop"] == {"present": True, "image": 0, "how": "image 0 (EFI) contains the GOP protocol GUID"}
    text = render.render_rom(info)
    assert f"    compressed (UEFI algorithm): {img['decompressed']['comp_size']} bytes for {len(pe)}; decompressed (2 blocks)" in text
    # the same driver without the GUID: searched to its end, so the GOP is absent
    plain = R.build_pe_image(payload=bytes(300))
    info = R.walk_images(R.build_efi_image(0x8086, 0x0406, enc.encode(enc.literals(plain)), compressed=True))
    assert info["images"][0]["gop"] is False and info["gop"]["present"] is False


def test_rom_with_a_compressed_image_that_does_not_decompress():
    efi = R.build_efi_image(0x8086, 0x5916, b"compressed bytes, no MZ" * 10, compressed=True, machine="ia32", pcir_revision=0)
    info = R.walk_images(efi)
    img = info["images"][0]
    assert img["pcir_layout"] == "2.2" and img["efi"]["compression_type"]["name"] == "efi_compressed"
    assert img["decompressed"]["error"].startswith("CompSize 1886220131 + 8 header bytes exceeds")
    assert img["pe"] is None and img["gop"] is None and not img["usable_by_uefi"]
    assert info["gop"]["present"] is False and "does not decompress: EDK2 skips it" in info["gop"]["how"]
    assert info["findings"] == [f"image 0 at 0x0: the compressed EFI image does not decompress: {img['decompressed']['error']} (EDK2 skips the image)"]


def test_rom_with_a_compressed_image_cut_by_the_bounds(monkeypatch):
    monkeypatch.setattr(E, "MAX_OUTPUT", 4096)
    pe = _gop_pe()
    info = R.walk_images(R.build_efi_image(0x8086, 0x0406, enc.encode(enc.literals(pe)), compressed=True))
    img = info["images"][0]
    assert img["decompressed"]["stopped"] == "igdscope decompresses at most 4096 bytes" and img["gop"] is None
    assert info["gop"]["present"] is None and info["gop"]["how"].endswith("igdscope could not search in full: igdscope decompresses at most 4096 bytes")
    assert img["pe"]["machine"]["name"] == "x64"  # the headers are in the first bytes
    assert f"only the first 4096 of the {len(pe)} decompressed bytes were examined" in info["findings"][0]
    assert "GOP: unknown (" in render.render_rom(info)


# -- against EDK2's compressor ----------------------------------------------------------------------


def _edk2():
    try:
        from uefi_firmware import efi_compressor
    except ImportError:
        pytest.skip("the uefi_firmware package (EDK2's EfiCompress) is not installed: pip install '.[test]'")
    return efi_compressor


def _inputs() -> dict[str, bytes]:
    rng = random.Random(4)
    out = {
        "empty-ish": b"\0",
        "zeros": bytes(70000),
        "random": rng.randbytes(30000),
        "text": b"The Graphics Output Protocol driver of the IGD. " * 2000,
        "skewed": bytes(rng.choice(b"\0\0\0\0\xff\x01\x02\x48\x8b") for _ in range(200000)),
        "gop-pe": _gop_pe(),
    }
    if CORPUS.is_dir():
        for p in sorted(CORPUS.glob("*.rom")):
            out[p.name] = p.read_bytes()
    return out


@pytest.mark.parametrize("name", sorted(_inputs()))
def test_edk2_compressed_data_decompresses_to_the_original(name):
    ef = _edk2()
    data = _inputs()[name]
    packed = ef.EfiCompress(data, len(data))
    assert ef.EfiDecompress(packed, len(packed)) == data  # the reference agrees with itself
    res = E.decompress(packed)
    assert res["error"] is None and res["stopped"] is None and res["complete"] and res["data"] == data


@pytest.mark.parametrize("name", sorted(_inputs()))
def test_edk2_tiano_compressed_data_decompresses_to_the_original(name):
    """The Tiano variant (version 2) against EDK2's TianoCompress; the EFI 1.1 reading of the same
    stream fails or differs, as the two formats are not the same."""
    ef = _edk2()
    data = _inputs()[name]
    packed = ef.TianoCompress(data, len(data))
    assert ef.TianoDecompress(packed, len(packed)) == data
    res = E.decompress(packed, version=2)
    assert res["error"] is None and res["stopped"] is None and res["complete"] and res["data"] == data
    if len(data) > 1:
        assert E.decompress(packed, version=1)["data"] != data


def test_edk2_compressed_gop_in_a_rom():
    ef = _edk2()
    pe = _gop_pe()
    rom = R.build_efi_image(0x8086, 0x0406, ef.EfiCompress(pe, len(pe)), compressed=True)
    info = R.walk_images(rom)
    assert info["gop"]["present"] is True and info["images"][0]["decompressed"]["size"] == len(pe) and info["findings"] == []
