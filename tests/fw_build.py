"""Builds pieces of UEFI firmware images for tests: LZMA GUID-defined sections (PI spec layout,
EDK2's LZMA GUID, the "LZMA alone" stream EDK2's LzmaCompress writes) and volumes around them."""

from __future__ import annotations

import lzma
import struct

from igdscope.fwsections import LZMA_GUID

FLASH_DESCRIPTOR = bytes(16) + b"\x5a\xa5\xf0\x0f"


def lzma_section(payload: bytes, extended: bool = False, gap: int = 0, stream: bytes | None = None) -> bytes:
    """An EFI_GUID_DEFINED_SECTION holding ``payload`` LZMA-compressed (or ``stream`` as is);
    ``extended`` uses the 8-byte header (size 0xFFFFFF, then the 32-bit size); ``gap`` bytes lie
    between the fixed fields and the data (DataOffset says where the data starts)."""
    data = lzma.compress(payload, format=lzma.FORMAT_ALONE) if stream is None else stream
    header = 8 if extended else 4
    data_offset = header + 20 + gap
    size = data_offset + len(data)
    head = b"\xff\xff\xff\x02" + struct.pack("<I", size) if extended else size.to_bytes(3, "little") + b"\x02"
    return head + LZMA_GUID + struct.pack("<HH", data_offset, 1) + bytes(gap) + data


def volume(*contents: bytes) -> bytes:
    """Bytes that look like a firmware volume around ``contents`` (the _FVH signature at 0x28)."""
    return bytes(0x28) + b"_FVH" + bytes(0x14) + b"".join(contents)
