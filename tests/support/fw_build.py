"""Builds pieces of UEFI firmware images for tests: compressed sections in the PI spec layout
(GUID-defined LZMA, LZMA+x86 and Tiano sections, compression sections), the section streams they
hold, and volumes around them; and an x86 branch converter (BCJ) written from the LZMA SDK's
description, independent of liblzma's, to encode LZMA+x86 payloads and check igdscope's decoding."""

from __future__ import annotations

import lzma
import random
import struct
import uuid

from igdscope.decode.sections import LZMA_GUID, LZMAF86_GUID, TIANO_GUID
from tests.support import efi_encode

FLASH_DESCRIPTOR = bytes(16) + b"\x5a\xa5\xf0\x0f"
EFI_SECTION_RAW = 0x19


def _head(size: int, section_type: int, extended: bool) -> bytes:
    if extended:
        return b"\xff\xff\xff" + bytes((section_type,)) + struct.pack("<I", size)
    assert size < 0xFFFFFF
    return size.to_bytes(3, "little") + bytes((section_type,))


def guid_section(guid: bytes, data: bytes, extended: bool = False, gap: int = 0) -> bytes:
    """An EFI_GUID_DEFINED_SECTION of ``guid`` holding ``data``; ``extended`` uses the 8-byte header
    (size 0xFFFFFF, then the 32-bit size); ``gap`` bytes lie between the fixed fields and the data
    (DataOffset says where the data starts)."""
    header = 8 if extended else 4
    data_offset = header + 20 + gap
    size = data_offset + len(data)
    return _head(size, 0x02, extended) + guid + struct.pack("<HH", data_offset, 1) + bytes(gap) + data


def lzma_sized(payload: bytes) -> bytes:
    """``payload`` as an "LZMA alone" stream whose header states the uncompressed size, as EDK2's
    LzmaCompress writes it (Python's lzma writes "size unknown")."""
    stream = lzma.compress(payload, format=lzma.FORMAT_ALONE)
    return stream[:5] + struct.pack("<Q", len(payload)) + stream[13:]


def lzma_section(payload: bytes, extended: bool = False, gap: int = 0, stream: bytes | None = None) -> bytes:
    """An LZMA GUID-defined section holding ``payload`` compressed as EDK2's LzmaCompress writes it
    (the "LZMA alone" format, size stated), or ``stream`` as is."""
    data = lzma_sized(payload) if stream is None else stream
    return guid_section(LZMA_GUID, data, extended, gap)


def lzmaf86_section(payload: bytes) -> bytes:
    """An LZMA+x86 GUID-defined section: ``payload`` through the x86 converter (encoding), then LZMA."""
    return guid_section(LZMAF86_GUID, lzma_sized(x86_convert(payload, encoding=True)))


def uefi_stream(payload: bytes, pbit: int = 4) -> bytes:
    """``payload`` in the UEFI compression format (``pbit`` 5: the Tiano variant), from the test encoder."""
    return efi_encode.encode(efi_encode.lz(payload), pbit=pbit)


def tiano_section(payload: bytes, pbit: int = 5) -> bytes:
    """A Tiano GUID-defined section holding ``payload`` (``pbit`` 4 stores the EFI 1.1 variant)."""
    return guid_section(TIANO_GUID, uefi_stream(payload, pbit))


def compression_section(payload: bytes, compression_type: int = 1, pbit: int = 4, extended: bool = False,
                        stream: bytes | None = None, length: int | None = None) -> bytes:
    """An EFI_COMPRESSION_SECTION: UncompressedLength (``length``, default the payload's), then
    CompressionType 1 (UEFI format, ``pbit`` 5 the Tiano variant), 2 (LZMA) or 0x86 (LZMA+x86), then
    the compressed ``payload`` (or ``stream`` as is)."""
    if stream is None:
        if compression_type == 1:
            stream = uefi_stream(payload, pbit)
        else:
            plain = x86_convert(payload, encoding=True) if compression_type == 0x86 else payload
            stream = lzma_sized(plain)
    header = 8 if extended else 4
    size = header + 5 + len(stream)
    fields = struct.pack("<IB", len(payload) if length is None else length, compression_type)
    return _head(size, 0x01, extended) + fields + stream


def raw_section(data: bytes) -> bytes:
    """An EFI_SECTION_RAW: what a section stream holding ``data`` starts with."""
    return _head(4 + len(data), EFI_SECTION_RAW, False) + data


def volume(*contents: bytes) -> bytes:
    """Bytes that look like a firmware volume around ``contents`` (the _FVH signature at 0x28)."""
    return bytes(0x28) + b"_FVH" + bytes(0x14) + b"".join(contents)


def _ms_byte(b: int) -> bool:
    """0x00 or 0xFF: the top byte of a near call/jump target the converter changes."""
    return (b + 1) & 0xFE == 0


def x86_convert(data: bytes, encoding: bool, ip: int = 0) -> bytes:
    """The LZMA SDK's x86 branch converter (``x86_Convert``), start address ``ip``: the 32-bit
    operand of an E8/E9 (CALL/JMP rel32) whose top byte is 0x00 or 0xFF becomes absolute
    (encoding) or relative again (decoding). A small state (``mask``) of the E8/E9 bytes seen in
    the last three positions makes it skip opcodes that are likely operands of an earlier one."""
    buf = bytearray(data)
    if len(buf) < 5:
        return bytes(buf)
    limit = len(buf) - 4
    ip += 5
    pos = mask = 0
    while True:
        p = pos
        while p < limit and buf[p] & 0xFE != 0xE8:
            p += 1
        gap, pos = p - pos, p
        if p >= limit:
            return bytes(buf)
        if gap > 2:
            mask = 0
        else:
            mask >>= gap
            if mask and (mask > 4 or mask == 3 or _ms_byte(buf[p + (mask >> 1) + 1])):
                mask = (mask >> 1) | 4
                pos += 1
                continue
        if not _ms_byte(buf[p + 4]):
            mask = (mask >> 1) | 4
            pos += 1
            continue
        v = int.from_bytes(buf[p + 1 : p + 5], "little")
        cur = (ip + pos) & 0xFFFFFFFF
        pos += 5
        v = (v + cur if encoding else v - cur) & 0xFFFFFFFF
        if mask:
            sh = (mask & 6) << 2
            if _ms_byte((v >> sh) & 0xFF):
                v ^= (0x100 << sh) - 1
                v = (v + cur if encoding else v - cur) & 0xFFFFFFFF
            mask = 0
        buf[p + 1 : p + 4] = (v & 0xFFFFFF).to_bytes(3, "little")
        buf[p + 4] = 0xFF if v >> 24 & 1 else 0x00


FFS2_GUID = uuid.UUID("8C8CE578-8A3D-4F1C-9935-896185C32DD3").bytes_le  # EFI_FIRMWARE_FILE_SYSTEM2_GUID
FFS3_GUID = uuid.UUID("5473C07A-3DCB-4DCA-BD6F-1E9689E7349A").bytes_le  # ... 3: sections may use the 8-byte header
EFI_SECTION_FIRMWARE_VOLUME_IMAGE = 0x17
EFI_FV_FILETYPE_DRIVER = 0x07


def ffs_file(*sections: bytes, name: bytes | None = None, file_type: int = EFI_FV_FILETYPE_DRIVER) -> bytes:
    """An FFS file (EFI_FFS_FILE_HEADER) holding ``sections``, each 4-byte aligned: header checksum
    valid, the fixed data checksum 0xAA, state "data valid" for an erase polarity of 1."""
    body = b""
    for sec in sections:
        body += bytes(-len(body) % 4) + sec
    header = bytearray((name or uuid.uuid4().bytes) + bytes(2) + bytes((file_type, 0)) + (24 + len(body)).to_bytes(3, "little") + b"\0")
    header[16] = -sum(header) & 0xFF  # IntegrityCheck.Header: the header sums to 0 with File and State at 0
    header[17], header[23] = 0xAA, 0xF8
    return bytes(header) + body


def firmware_volume(*files: bytes, size: int = 0x10000, ffs3: bool = False) -> bytes:
    """An EFI_FIRMWARE_VOLUME_HEADER (one block map entry, checksum valid, erase polarity 1) with
    ``files`` 8-byte aligned, free space (0xFF) up to ``size``."""
    body = b""
    for f in files:
        body += b"\xff" * (-len(body) % 8) + f
    assert 0x48 + len(body) <= size and size % 0x1000 == 0
    header = bytearray(bytes(16) + (FFS3_GUID if ffs3 else FFS2_GUID) + struct.pack("<Q", size) + b"_FVH"
                       + struct.pack("<IHHHBB", 0x0004FEFF, 0x48, 0, 0, 0, 2) + struct.pack("<IIII", size // 0x1000, 0x1000, 0, 0))
    header[0x32:0x34] = struct.pack("<H", -sum(struct.unpack("<36H", header)) & 0xFFFF)
    return bytes(header) + body + b"\xff" * (size - 0x48 - len(body))


def fv_image_section(fv: bytes) -> bytes:
    """An EFI_SECTION_FIRMWARE_VOLUME_IMAGE: how a volume sits inside a (compressed) section stream."""
    return _head(4 + len(fv), EFI_SECTION_FIRMWARE_VOLUME_IMAGE, False) + fv


def code_like(n: int, seed: int = 1) -> bytes:
    """Bytes like x86 code: CALL/JMP rel32 (E8/E9) with near targets among others, so the x86
    converter has much to change."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        r = rng.random()
        if r < 0.15:
            out += bytes((rng.choice((0xE8, 0xE9)),)) + rng.randrange(-(1 << 20), 1 << 20).to_bytes(4, "little", signed=True)
        elif r < 0.2:
            out.append(rng.choice((0xE8, 0xE9)))
        else:
            out.append(rng.choice((0x00, 0xFF, 0x48, 0x8B, 0xC3, rng.randrange(256))))
    return bytes(out[:n])
