"""The firmware blobs of a capture or a file, decoded: the OpRegion (mailboxes and the VBT it
carries), every VBT copy (plain, or found in the compressed sections of a BIOS image), the option
ROM's image chain with its VBT, and the GGTT summary."""

from __future__ import annotations

from typing import Any

from igdscope.capture import Capture
from igdscope.errors import BadInput
from igdscope.platforms import Platform


def opregion_decode(data: bytes) -> dict[str, Any]:
    from igdscope.schemas import opregion

    return opregion.parse_opregion(data)


def vbt_decode(data: bytes) -> dict[str, Any]:
    from igdscope.schemas import vbt

    off = vbt.find_vbt(data, limit=len(data))  # the whole input, however large (a BIOS image)
    container = None
    if off is None:
        data, off, container = vbt_in_sections(data, "the file")
    res = vbt.walk_blocks(data, off)
    if container is not None:
        res["container"] = container
    version = res.get("bdb_version") or 0
    # i915 (find_raw_section) and intel_vbt_decode (find_section) read the first block of each id
    # and never look at a later one; the walk's findings say so. Later copies stay raw: decoding
    # them would tell nothing the driver uses, and a hostile VBT of 21,000 empty block headers
    # would otherwise expand each into a full zero-filled decode (gigabytes from 64 KiB).
    first: dict[int, dict[str, Any]] = {}
    for b in res.get("blocks", []):
        first.setdefault(b["id"], b)
    context = {i: bytes(b["raw"]) for i, b in first.items() if isinstance(b.get("raw"), (bytes, bytearray))}
    for b in res.get("blocks", []):
        raw = b.pop("raw", b"")
        raw = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
        if first[b["id"]] is not b:  # a later copy: the walk's findings name it
            b["raw"] = raw.hex()
            b["findings"] = []
            continue
        try:
            fields = vbt.decode_block(b["id"], raw, version, context)
        except BadInput as exc:
            b["error"] = str(exc)
            fields = None
        if fields is not None:
            # the block's findings beside its fields: {id, name, offset, size, fields | raw, findings}
            found = fields.pop("findings", None) if isinstance(fields, dict) else None
            b["fields"] = fields
            b["findings"] = found or []
        else:
            b["raw"] = raw.hex()
            b["findings"] = []
    for b in res.get("ignored_blocks", []):  # past bdb_size: i915 and igt never read them; shown raw
        raw = b.get("raw")
        if isinstance(raw, (bytes, bytearray)):
            b["raw"] = bytes(raw).hex()
    return res


def vbt_in_sections(data: bytes, where: str) -> tuple[bytes, int, str]:
    """For input with no plain ``$VBT``: the VBT in a compressed section of a UEFI image (the
    decompressed bytes, the VBT's offset in them, and the path to it), else :class:`BadInput` with
    why there is none."""
    from igdscope.schemas import vbt

    reason = vbt.no_vbt_reason(data, where, limit=len(data))
    try:
        from igdscope.decode import sections
    except ImportError:  # a Python built without liblzma
        raise BadInput(f"{reason}; compressed sections not searched: this Python has no lzma module") from None
    found, notes = sections.find_vbt(data)
    if found is None:
        raise BadInput(reason if notes == [sections.NO_SECTION] else f"{reason}; {'; '.join(notes)}")
    return found.data, found.offset, found.where


def opregion_summary(cap: Capture) -> dict[str, Any] | None:
    data = cap.blob("opregion")
    src = cap.sources.get("opregion")
    if data is None:
        return {"present": False, "sources": src}
    try:
        dec = opregion_decode(data)
    except BadInput as exc:
        return {"present": True, "error": str(exc), "sources": src}
    hdr = dec.get("header", {})
    return {
        "present": True,
        "source": cap.blobs["opregion"].source,
        "bytes": len(data),
        "version": dec.get("version"),
        "size_kib": hdr.get("size"),
        "mailboxes": dec.get("mailboxes_present"),
        "extended_vbt": dec.get("extended_vbt"),
        "findings": dec.get("findings", []),
        "sources": src,
    }


def vbt_sources(cap: Capture) -> list[tuple[str, bytes]]:
    """(where, bytes) of every VBT copy the capture holds: debugfs, the OpRegion (RVDA or
    mailbox 4), the option ROM. A damaged OpRegion does not hide the other copies."""
    from igdscope.schemas import opregion, vbt

    found: list[tuple[str, bytes]] = []
    if "vbt/debugfs" in cap.blobs:
        found.append(("debugfs i915_vbt", cap.blobs["vbt/debugfs"].data))
    if "opregion/rvda" in cap.blobs:
        found.append(("OpRegion RVDA (absolute, read from /dev/mem)", cap.blobs["opregion/rvda"].data))
    op = cap.blob("opregion")
    if op is not None:
        try:
            raw, where = opregion.vbt_bytes(op)
        except BadInput:
            raw, where = None, ""
        if raw is not None:
            found.append((f"OpRegion {where}", raw))
    rom = cap.blob("rom")
    if rom is not None:
        off = vbt.find_vbt(rom)
        if off is not None:
            found.append((f"option ROM at {off:#x}", rom[off:]))
    return found


def vbt_copies(cap: Capture) -> list[dict[str, Any]]:
    """Every VBT copy the capture holds, summarised (see :func:`vbt_sources`)."""
    from igdscope.schemas import vbt

    found = vbt_sources(cap)
    out = []
    for where, raw in found:
        entry: dict[str, Any] = {"where": where}
        try:
            res = vbt.walk_blocks(raw, 0)
        except BadInput as exc:
            entry["error"] = str(exc)
        else:
            entry["bdb_version"] = (res.get("bdb_header") or {}).get("version")
            entry["vbt_size"] = (res.get("vbt_header") or {}).get("vbt_size")
            entry["blocks"] = [b["id"] for b in res.get("blocks", [])]
            entry["checksum_ok"] = (res.get("checksum") or {}).get("ok")
            entry["findings"] = res.get("findings", [])
        out.append(entry)
    return out


def rom_summary(data: bytes) -> dict[str, Any]:
    from igdscope.schemas import rom, vbt

    res = rom.walk_images(data)
    off = vbt.find_vbt(data)
    res["vbt_offset"] = off
    res["has_legacy"] = any(i.get("kind") == "legacy" for i in res["images"])
    res["has_efi"] = any(i.get("kind") == "efi" for i in res["images"])
    return res


def gtt_summary(cap: Capture, plat: Platform | None) -> dict[str, Any]:
    """Entries, present entries and the most common value (the scratch page) of a captured GGTT.

    Kept to C-speed bytes operations so that a dump's decoded view does not pay for importing
    numpy; the full-speed table decoder is numpy's job."""
    from collections import Counter

    data = cap.blob("gtt") or b""
    if plat is None:
        return {"bytes": len(data), "error": "platform unknown: PTE format unknown"}
    from igdscope.schemas import pci

    size = pci.pte_size(plat.ggc_layout)
    n = len(data) // size
    low = data[0 : n * size : size]  # the low byte of every little-endian PTE holds bit 0
    present = low.translate(_ODD).count(1)
    entries = memoryview(data[: n * size]).cast("Q" if size == 8 else "I")
    sample = Counter(entries[:: max(1, n // 4096)].tolist()).most_common(1) if n else []
    value = sample[0][0] if sample else None
    count = count_entries(data[: n * size], size, value) if value is not None else 0
    return {"bytes": len(data), "pte_size": size, "entries": n, "present": present, "most_common_value": value, "most_common_count": count}


_ODD = bytes(i & 1 for i in range(256))


def count_entries(data: bytes, size: int, value: int) -> int:
    """How many aligned ``size``-byte little-endian entries of ``data`` equal ``value``: byte
    lane k of every entry is compared at C speed and the lanes are ANDed as big integers."""
    want = value.to_bytes(size, "little")
    acc = -1
    for k in range(size):
        lane = data[k::size].translate(bytes(int(i == want[k]) for i in range(256)))
        acc &= int.from_bytes(lane, "little")
    return acc.bit_count() if acc >= 0 else 0
