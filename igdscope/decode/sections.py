"""The VBT inside compressed sections of a UEFI firmware image (a BIOS update or SPI flash dump).

UEFI images keep their DXE firmware volume -- where the GOP driver and its VBT file live -- in a
compressed section, so a plain ``$VBT`` search finds nothing. This module finds those sections by
the section format alone, without walking volumes and files (dumps are often partial, and vendors
add their own containers around the volumes). The formats (PI spec, Vol. 3; EDK2, checked there;
the vendor variants as UEFITool reads them):

- EFI_GUID_DEFINED_SECTION: a 4-byte common header (24-bit size, type 0x02), or the 8-byte form
  whose 24-bit size is 0xFFFFFF and whose 32-bit size follows; then SectionDefinitionGuid,
  DataOffset (from the section start) and Attributes. The GUIDs read here:

  - EE4E5898-3914-4259-9D6E-DC7BD79403CF, EDK2's LZMA_CUSTOM_DECOMPRESS_GUID, and
    0ED85E23-F253-413F-A03C-901987B04397, HP's copy of it: an LZMA stream with the 13-byte "LZMA
    alone" header (5 property bytes, the 64-bit uncompressed size), as EDK2's
    LzmaCustomDecompressLib reads it;
  - D42AE6BD-1352-4BFB-909A-CA72A6EAE889, EDK2's LZMAF86_CUSTOM_DECOMPRESS_GUID: the same LZMA
    stream, whose output then goes through the x86 branch converter (BCJ) in decoding direction
    from address 0 (``x86_Convert(buf, size, 0, &state, 0)`` in EDK2's
    F86GuidedSectionExtraction.c);
  - A31280AD-481E-41B6-95E8-127F4C984779, EDK2's TIANO_CUSTOM_DECOMPRESS_GUID: the Tiano variant
    of the UEFI compression format (``UefiTianoDecompress`` version 2).

- EFI_COMPRESSION_SECTION: the common header with type 0x01 (either form), then
  UncompressedLength (u32) and CompressionType (u8). Type 1 (EFI_STANDARD_COMPRESSION) is the
  UEFI format, which EDK2's DXE core decompresses as version 1 (EFI 1.1); vendors also store the
  Tiano variant under it, so UEFITool tries both, and so does this module. Types 2 (LZMA) and
  0x86 (LZMA with the x86 converter) are vendor values UEFITool knows; so is Intel's legacy form
  of type 2, with 4 bytes before the LZMA header (UEFITool's LZMA_INTEL_LEGACY, taken when no
  LZMA header starts the data; what the 4 bytes hold is not checked). Type 0 holds its sections
  uncompressed, where a plain search already sees them. The LZMA and Tiano sections are found by
  their GUID; compression sections, which have none, by their header: the type bytes, and the
  uncompressed length repeated in the stream's own header.

A section found this way is decompressed and searched for ``$VBT``; its output is searched again
for sections of its own (nesting as deep as :data:`MAX_DEPTH`). Everything is bounded: the output
of one section, of all sections, of the pure-Python UEFI/Tiano decoder (about 4 MB/s), the LZMA
decoder's memory (an LZMA header can ask for a 4 GiB dictionary) and the number of sections tried.
"""

from __future__ import annotations

import lzma
import uuid
from typing import NamedTuple

from igdscope.binary import eficompress

LZMA_GUID = uuid.UUID("EE4E5898-3914-4259-9D6E-DC7BD79403CF").bytes_le
LZMA_HP_GUID = uuid.UUID("0ED85E23-F253-413F-A03C-901987B04397").bytes_le
LZMAF86_GUID = uuid.UUID("D42AE6BD-1352-4BFB-909A-CA72A6EAE889").bytes_le
TIANO_GUID = uuid.UUID("A31280AD-481E-41B6-95E8-127F4C984779").bytes_le
SECTION_COMPRESSION = 0x01
SECTION_GUID_DEFINED = 0x02
SECTION_TYPES = frozenset({0x01, 0x02, 0x03, *range(0x10, 0x1D)})  # EFI_SECTION_* of the PI spec

# how each kind of section is decoded, and how the path names it
LZMA, LZMA_X86, UEFI, TIANO = "lzma", "lzma-x86", "uefi", "tiano"
GUID_KINDS = {LZMA_GUID: (LZMA, "LZMA section"), LZMA_HP_GUID: (LZMA, "LZMA section (HP GUID)"),
              LZMAF86_GUID: (LZMA_X86, "LZMA+x86 section"), TIANO_GUID: (TIANO, "Tiano section")}
COMPRESSION_KINDS = {1: (UEFI, "compression section"), 2: (LZMA, "compression section (LZMA)"),
                     0x86: (LZMA_X86, "compression section (LZMA+x86)")}
LEGACY_LZMA = "compression section (Intel legacy LZMA)"  # type 2 with 4 bytes before the LZMA header

MAX_SECTION_OUTPUT = 32 << 20  # one decompressed section (a DXE volume is 2-16 MiB)
MAX_TOTAL_OUTPUT = 128 << 20  # all sections of one search together
MAX_UEFI_OUTPUT = 48 << 20  # of that, from the pure-Python UEFI/Tiano decoder (about 12 s)
MAX_SECTIONS = 256  # sections decompressed in one search
MAX_CANDIDATES = 1 << 16  # places whose bytes match a compression section's header, looked at per data
WINDOW = 1 << 20  # positions the compression-section scan compares at a time
MAX_DEPTH = 3  # volumes inside sections inside volumes ...
MEMLIMIT = 256 << 20  # liblzma's memory for one decoder (dictionary included)
CHUNK = 16 << 10  # input fed to the decoder at a time
STEP = 256 << 10  # output asked of it at a time (what an error in a step loses)


NO_SECTION = "no compressed section"


class Section(NamedTuple):
    offset: int  # where the section header starts
    data_start: int  # where the compressed data starts
    end: int  # where the section ends (its size, cut to the data)
    method: str  # LZMA, LZMA_X86, UEFI or TIANO
    name: str  # "LZMA section", "compression section", ...


class Found(NamedTuple):
    data: bytes  # the decompressed bytes that hold the VBT
    offset: int  # where the VBT starts in them
    where: str  # the path to it, e.g. "LZMA section at 0x1a0000 (5.2 MiB decompressed), at 0x2f3a0 of its output"


def sections(data: bytes) -> list[Section]:
    """Every compressed section in ``data`` this module reads (GUID-defined LZMA, LZMA+x86 and Tiano
    sections, and compression sections), in file order, at most :data:`MAX_SECTIONS`."""
    found: list[Section] = []
    for guid in GUID_KINDS:
        pos = data.find(guid)
        while pos != -1 and len(found) < 4 * MAX_SECTIONS:
            sec = _section_at_guid(data, pos)
            if sec is not None:
                found.append(sec)
            pos = data.find(guid, pos + 1)
    found += _compression_sections(data)
    found.sort()
    return found[:MAX_SECTIONS]


def _header(data: bytes, start: int, section_type: int) -> tuple[int, int] | None:
    """(header size, section size) of a common section header of ``section_type`` at ``start``."""
    if start < 0 or start + 4 > len(data) or data[start + 3] != section_type:
        return None
    size = int.from_bytes(data[start : start + 3], "little")
    if size != 0xFFFFFF:
        return 4, size
    if start + 8 > len(data):
        return None
    return 8, int.from_bytes(data[start + 4 : start + 8], "little")


def _section_at_guid(data: bytes, guid_at: int) -> Section | None:
    method, name = GUID_KINDS[bytes(data[guid_at : guid_at + 16])]
    for header in (4, 8):
        start = guid_at - header
        head = _header(data, start, SECTION_GUID_DEFINED)
        if head is None or head[0] != header:
            continue
        size = head[1]
        fixed = header + 20  # GUID, DataOffset, Attributes
        if guid_at + 20 > len(data) or size < fixed:
            continue
        data_offset = int.from_bytes(data[guid_at + 16 : guid_at + 18], "little")
        if not fixed <= data_offset <= size:
            continue
        return Section(start, start + data_offset, min(start + size, len(data)), method, name)
    return None


def _compression_sections(data: bytes) -> list[Section]:
    """Compression sections, found by their header: section type 0x01 and a known CompressionType
    after UncompressedLength, then for the UEFI format the stream's OrigSize equal to
    UncompressedLength and its CompSize inside the section, for LZMA valid properties and the same
    size in the LZMA header (or "unknown"; Intel's legacy form: the header 4 bytes on). The type
    bytes and the repeated length are matched with numpy, a window at a time; at most
    :data:`MAX_CANDIDATES` places that match are looked at more closely."""
    import numpy as np

    n = len(data)
    a = np.frombuffer(data, dtype=np.uint8)
    out: list[Section] = []
    looked = 0
    # f: where UncompressedLength would be (after a 4-byte header, or an 8-byte one from f - 8);
    # CompressionType at f + 4, the data at f + 5 (the UEFI format's OrigSize at f + 9)
    for lo in range(4, n - 17, WINDOW):
        hi = min(lo + WINDOW, n - 17)
        kind = a[lo + 4 : hi + 4]
        same_length = ((a[lo : hi] == a[lo + 9 : hi + 9]) & (a[lo + 1 : hi + 1] == a[lo + 10 : hi + 10])
                       & (a[lo + 2 : hi + 2] == a[lo + 11 : hi + 11]) & (a[lo + 3 : hi + 3] == a[lo + 12 : hi + 12]))
        props = a[lo + 5 : hi + 5] < 9 * 5 * 5  # valid LZMA properties where the data starts
        legacy = (kind == 2) & (a[lo + 9 : hi + 9] < 9 * 5 * 5)  # ... or 4 bytes on
        fields = ((kind == 1) & same_length) | (((kind == 2) | (kind == 0x86)) & props) | legacy
        short = a[lo - 1 : hi - 1] == SECTION_COMPRESSION
        lo8 = max(lo, 8)  # the 8-byte form starts at f - 8
        long_ = np.zeros(hi - lo, dtype=bool)
        if lo8 < hi:
            long_[lo8 - lo :] = ((a[lo8 - 5 : hi - 5] == SECTION_COMPRESSION) & (a[lo8 - 8 : hi - 8] == 0xFF)
                                 & (a[lo8 - 7 : hi - 7] == 0xFF) & (a[lo8 - 6 : hi - 6] == 0xFF))
        for f in (np.flatnonzero(fields & (short | long_)) + lo).tolist():
            for start in (f - 4, f - 8):
                looked += 1
                if looked > MAX_CANDIDATES:
                    return out
                sec = _compression_section_at(data, start)
                if sec is not None and sec.data_start in (f + 5, f + 9):
                    out.append(sec)
                    if len(out) >= MAX_SECTIONS:
                        return out
                    break
    return out


def _compression_section_at(data: bytes, start: int) -> Section | None:
    head = _header(data, start, SECTION_COMPRESSION)
    if head is None:
        return None
    header, size = head
    at = start + header  # UncompressedLength, CompressionType, then the data
    data_start = at + 5
    if size < header + 5 or data_start + 8 > len(data):
        return None
    length = int.from_bytes(data[at : at + 4], "little")
    method, name = COMPRESSION_KINDS.get(data[at + 4], (None, ""))
    if method is None or length == 0:
        return None
    if method == UEFI:
        comp = int.from_bytes(data[data_start : data_start + 4], "little")
        orig = int.from_bytes(data[data_start + 4 : data_start + 8], "little")
        if orig != length or data_start + 8 + comp > start + size:
            return None
    elif not _lzma_header_fits(data, data_start, length, unknown=True):
        # Intel's legacy LZMA sections (type 2 only) put 4 bytes before the LZMA header; UEFITool
        # reads them so when the header is not one at the data's start. Taken only with the size
        # stated in full, as the 4 extra bytes are not checked.
        if data[at + 4] != 2 or not _lzma_header_fits(data, data_start + 4, length, unknown=False):
            return None
        data_start += 4
        name = LEGACY_LZMA
    return Section(start, data_start, min(start + size, len(data)), method, name)


def _lzma_header_fits(data: bytes, at: int, length: int, unknown: bool) -> bool:
    """Whether an LZMA-alone header at ``at`` has valid properties and states ``length`` as its
    size (or, when ``unknown``, the "size unknown" value)."""
    if at + 13 > len(data) or data[at] >= 9 * 5 * 5:
        return False
    stated = int.from_bytes(data[at + 5 : at + 13], "little")
    return stated == length or (unknown and stated == (1 << 64) - 1)


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


def x86_decode(data: bytes) -> bytes:
    """Undo the x86 branch converter (BCJ, start address 0) on ``data``. liblzma's x86 filter is
    the LZMA SDK's converter that EDK2 runs; it works only inside a filter chain ending in LZMA1/2,
    so the data goes in as an LZMA2 stream of uncompressed chunks (control byte 1 for the first,
    which resets the dictionary, 2 after it; the chunk size - 1 in 16 bits, big-endian; 0 ends)."""
    chunks = bytearray()
    for i in range(0, len(data), 1 << 16):
        piece = data[i : i + (1 << 16)]
        chunks += (b"\x01" if i == 0 else b"\x02") + (len(piece) - 1).to_bytes(2, "big") + piece
    chunks += b"\x00"
    filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "dict_size": 1 << 16}]
    return lzma.decompress(bytes(chunks), format=lzma.FORMAT_RAW, filters=filters)


def _looks_like_sections(out: bytes) -> bool:
    """Whether ``out`` starts as a section stream does (what a compression section and a Tiano
    section hold): a common header of a known type whose size fits the output."""
    if len(out) < 4 or out[3] not in SECTION_TYPES:
        return False
    size = int.from_bytes(out[0:3], "little")
    if size == 0xFFFFFF and len(out) >= 8:
        size = int.from_bytes(out[4:8], "little")
    return 4 <= size <= len(out)


def _uefi(stream: bytes, limit: int, first: int) -> tuple[bytes, str | None, str, int]:
    """Decode with the UEFI format's ``first`` version (1 = EFI 1.1, 2 = Tiano) and, when that does
    not give a whole section stream, with the other too: the better output, why it is not whole,
    the version's name when it is not the one the section's kind implies, and the bytes decoded
    in all (both tries)."""
    names = {1: "EFI 1.1", 2: "Tiano"}
    max_blocks = max(eficompress.MAX_BLOCKS, limit >> 12)
    tried = []
    spent = 0
    for version in (first, 3 - first):
        room = limit - spent
        res = eficompress.decompress(stream, limit=room, version=version, max_blocks=max_blocks)
        out = res["data"]
        spent += len(out)
        whole = res["complete"] and _looks_like_sections(out)
        tried.append((whole, len(out), version, out, res["error"] or res["stopped"]))
        if whole or len(out) >= room:  # whole, or cut by a bound: the other version cannot do better
            break
    whole, _, version, out, why = max(tried, key=lambda t: (t[0], t[1]))
    if why is None and not whole:
        why = "decoded, but the output does not start as a section stream"
    return out, why, "" if version == first else f", {names[version]} format", spent


def decompress_section(data: bytes, sec: Section, limit: int) -> tuple[bytes, str | None, str, int]:
    """At most ``limit`` bytes of ``sec``'s decompressed data: the output, why it is not whole (None
    when it is), the format's name when not the one the section's kind implies (", Tiano format"),
    and the bytes the pure-Python UEFI/Tiano decoder produced (0 for LZMA)."""
    stream = data[sec.data_start : sec.end]
    if sec.method in (UEFI, TIANO):
        return _uefi(stream, limit, 1 if sec.method == UEFI else 2)
    out, why = decompress(stream, limit)
    return (x86_decode(out) if sec.method == LZMA_X86 else out), why, "", 0


def find_vbt(data: bytes) -> tuple[Found | None, list[str]]:
    """The first ``$VBT`` (with room for its header) inside a compressed section of ``data``,
    searched depth first in file order, and what was tried (one phrase per section that did not
    decompress cleanly, and a summary when nothing was found)."""
    notes: list[str] = []
    budget = {"output": MAX_TOTAL_OUTPUT, "uefi": MAX_UEFI_OUTPUT, "sections": MAX_SECTIONS}
    found = _search(data, "", 0, budget, notes)
    if found is None:
        tried = MAX_SECTIONS - budget["sections"]
        notes.append(f"{tried} compressed section(s) decompressed, none holds a VBT" if tried else NO_SECTION)
    return found, notes


def _search(data: bytes, path: str, depth: int, budget: dict[str, int], notes: list[str]) -> Found | None:
    from igdscope.schemas.vbt import find_vbt as find_plain

    for sec in sections(data):
        if budget["sections"] <= 0 or budget["output"] <= 0:
            notes.append(f"stopped after {MAX_SECTIONS - budget['sections']} sections and "
                         f"{_size(MAX_TOTAL_OUTPUT - budget['output'])} of output")
            return None
        limit = min(MAX_SECTION_OUTPUT, budget["output"])
        if sec.method in (UEFI, TIANO):
            limit = min(limit, budget["uefi"])
            if limit <= 0:
                notes.append(f"{path}{sec.name} at {sec.offset:#x}: not decompressed, the UEFI/Tiano decoder's "
                             f"{_size(MAX_UEFI_OUTPUT)} are used up")
                continue
        out, why, variant, spent = decompress_section(data, sec, limit)
        budget["uefi"] -= spent
        budget["sections"] -= 1
        budget["output"] -= len(out)
        here = f"{path}{sec.name} at {sec.offset:#x}{' of that' if path else ''} ({_size(len(out))} decompressed{variant})"
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
