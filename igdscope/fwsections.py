"""The VBT inside LZMA-compressed sections of a UEFI firmware image (a BIOS update or SPI flash dump).

Most UEFI images keep their DXE firmware volume -- where the GOP driver and its VBT file live --
in an LZMA-compressed GUID-defined section, so a plain ``$VBT`` search finds nothing. This module
finds those sections by the section format alone, without walking volumes and files (dumps are
often partial, and vendors add their own containers around the volumes):

- EFI_GUID_DEFINED_SECTION (PI spec, Vol. 3): a 4-byte common header (24-bit size, type 0x02), or
  the 8-byte form whose 24-bit size is 0xFFFFFF and whose 32-bit size follows; then SectionDefinitionGuid,
  DataOffset (from the section start) and Attributes.
- SectionDefinitionGuid EE4E5898-3914-4259-9D6E-DC7BD79403CF (EDK2's LZMA_CUSTOM_DECOMPRESS_GUID):
  the data is an LZMA stream with the 13-byte "LZMA alone" header (5 property bytes, the 64-bit
  uncompressed size), which is what EDK2's LzmaCustomDecompressLib reads.

A section found this way is decompressed and searched for ``$VBT``; a decompressed volume is
searched again for sections of its own (nesting as deep as :data:`MAX_DEPTH`). Everything is
bounded: the output of one section, of all sections, the decoder's memory (an LZMA header can ask
for a 4 GiB dictionary) and the number of sections tried. LZMA with the x86 branch filter
(D42AE6BD-...) and Tiano/EFI-compressed sections are not handled: a VBT inside one is not found.
"""

from __future__ import annotations

import lzma
import uuid
from typing import NamedTuple

LZMA_GUID = uuid.UUID("EE4E5898-3914-4259-9D6E-DC7BD79403CF").bytes_le
SECTION_GUID_DEFINED = 0x02
MAX_SECTION_OUTPUT = 32 << 20  # one decompressed section (a DXE volume is 2-16 MiB)
MAX_TOTAL_OUTPUT = 128 << 20  # all sections of one search together
MAX_SECTIONS = 256  # sections decompressed in one search
MAX_DEPTH = 3  # volumes inside sections inside volumes ...
MEMLIMIT = 256 << 20  # liblzma's memory for one decoder (dictionary included)
CHUNK = 16 << 10  # input fed to the decoder at a time
STEP = 256 << 10  # output asked of it at a time (what an error in a step loses)


class Section(NamedTuple):
    offset: int  # where the section header starts
    data_start: int  # where the LZMA stream starts (offset + DataOffset)
    end: int  # where the section ends (its size, cut to the data)


class Found(NamedTuple):
    data: bytes  # the decompressed bytes that hold the VBT
    offset: int  # where the VBT starts in them
    where: str  # the path to it, e.g. "LZMA section at 0x1a0000 (5.2 MiB decompressed), at 0x2f3a0 of its output"


def lzma_sections(data: bytes) -> list[Section]:
    """Every LZMA GUID-defined section in ``data`` (by its GUID and a header that fits around it), in
    order, at most :data:`MAX_SECTIONS`."""
    out: list[Section] = []
    pos = data.find(LZMA_GUID)
    while pos != -1 and len(out) < MAX_SECTIONS:
        sec = _section_at_guid(data, pos)
        if sec is not None:
            out.append(sec)
        pos = data.find(LZMA_GUID, pos + 1)
    return out


def _section_at_guid(data: bytes, guid_at: int) -> Section | None:
    for header in (4, 8):
        start = guid_at - header
        if start < 0 or data[start + 3] != SECTION_GUID_DEFINED:
            continue
        size = int.from_bytes(data[start : start + 3], "little")
        if header == 8:
            if size != 0xFFFFFF:
                continue
            size = int.from_bytes(data[start + 4 : start + 8], "little")
        elif size == 0xFFFFFF:
            continue
        fixed = header + 20  # GUID, DataOffset, Attributes
        if guid_at + 20 > len(data) or size < fixed:
            continue
        data_offset = int.from_bytes(data[guid_at + 16 : guid_at + 18], "little")
        if not fixed <= data_offset <= size:
            continue
        return Section(start, start + data_offset, min(start + size, len(data)))
    return None


def decompress(stream: bytes, limit: int) -> tuple[bytes, str | None]:
    """At most ``limit`` bytes of an LZMA-alone stream, and why decoding stopped early (None when it
    reached the end): a corrupt stream still gives what came out before the damage."""
    dec = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE, memlimit=MEMLIMIT)
    out = bytearray()
    fed = 0
    try:  # fed in pieces, so that what decoded before a damaged spot is kept
        while len(out) < limit and not dec.eof:
            if dec.needs_input:
                if fed >= len(stream):
                    break
                piece, fed = stream[fed : fed + CHUNK], fed + CHUNK
            else:
                piece = b""
            out += dec.decompress(piece, max_length=min(STEP, limit - len(out)))
    except lzma.LZMAError as exc:
        return bytes(out), (f"damaged after {_size(len(out))} of output ({exc})" if out else f"not LZMA ({exc})")
    if dec.eof:
        return bytes(out), None
    if len(out) >= limit:
        return bytes(out), f"output cut at {_size(limit)}"
    return bytes(out), "the stream ends early"


def find_vbt(data: bytes) -> tuple[Found | None, list[str]]:
    """The first ``$VBT`` (with room for its header) inside an LZMA section of ``data``, searched
    depth first in file order, and what was tried (one phrase per section that did not decompress
    cleanly, and a summary when nothing was found)."""
    notes: list[str] = []
    budget = [MAX_TOTAL_OUTPUT, MAX_SECTIONS]
    found = _search(data, "", 0, budget, notes)
    if found is None:
        tried = MAX_SECTIONS - budget[1]
        notes.append(f"{tried} LZMA section(s) decompressed, none holds a VBT" if tried else "no LZMA-compressed section")
    return found, notes


def _search(data: bytes, path: str, depth: int, budget: list[int], notes: list[str]) -> Found | None:
    from igdscope.schemas.vbt import find_vbt as find_plain

    for sec in lzma_sections(data):
        if budget[1] <= 0 or budget[0] <= 0:
            notes.append(f"stopped after {MAX_SECTIONS - budget[1]} sections and {_size(MAX_TOTAL_OUTPUT - budget[0])} of output")
            return None
        budget[1] -= 1
        out, why = decompress(data[sec.data_start : sec.end], min(MAX_SECTION_OUTPUT, budget[0]))
        budget[0] -= len(out)
        here = f"{path}LZMA section at {sec.offset:#x}{' of that' if path else ''} ({_size(len(out))} decompressed)"
        if why is not None:
            notes.append(f"{here}: {why}")
        pos = find_plain(out, limit=len(out))
        if pos is not None:
            return Found(out, pos, f"{here}, at {pos:#x} of its output")
        if depth + 1 < MAX_DEPTH:
            inner = _search(out, f"{here} > ", depth + 1, budget, notes)
            if inner is not None:
                return inner
    return None


def _size(n: int) -> str:
    if n < 1 << 20:
        return f"{n} bytes"
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n / (1 << 20):.1f} MiB"
