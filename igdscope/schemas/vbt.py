"""The Intel Video BIOS Table (VBT): the ``$VBT`` header, the BIOS Data Block (BDB) header, the
block walk, and decoding / building one block through the registry of
:mod:`igdscope.schemas.vbtblocks` (blocks 1 and 2 are in its ``general`` module).

Names follow the Linux kernel's ``intel_vbt_defs.h`` (``struct vbt_header``, ``bdb_header``) and
the block walk follows ``intel_bios.c`` / igt's ``intel_vbt_decode.c``.

Version gating is data: :data:`BLOCKS` maps a block id to its name, schema and BDB range, and each
block schema is parsed with the BDB version as a parse parameter (``bdb_version=``, read inside
schemas as ``this._params.bdb_version``); fields that a version merely does not define yet are
listed in per-block ``gates`` tables and moved out of the decoded output by :func:`decode_block`.

Public functions take bytes and return plain data:

- :func:`find_vbt` -- offset of the first ``$VBT`` a header fits behind (:func:`no_vbt_reason` says why
  there is none);
- :func:`walk_blocks` -- headers, checksum, the blocks i915/igt would see, ``findings``;
- :func:`decode_block` / :func:`build_block` -- one block's fields, and back;
- :func:`build_vbt` -- a complete VBT (headers, sizes, checksum) from raw block payloads.
"""

from __future__ import annotations

from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build, decode_plain
from igdscope.binary import plainparse
from igdscope.schemas import common
from igdscope.schemas.common import Raw, Text, byte_sum
from igdscope.schemas.vbtblocks import BLOCKS, general
from igdscope.schemas.vbtblocks.base import block_name, gate, in_range

VBT_SIGNATURE = b"$VBT"
BDB_SIGNATURE = "BIOS_DATA_BLOCK "
VBT_HEADER_SIZE = 48
BDB_HEADER_SIZE = 22
MAX_SCAN = 16 << 20  # find_vbt looks at most this far (a ROM BAR is at most 16 MiB)
BDB_MIPI_SEQUENCE = 53


# -- headers ----------------------------------------------------------------------------------

VbtHeader = cs.Struct(
    "signature" / Text(20) * "'$VBT' then a space-padded platform string; only '$VBT' is checked",
    "version" / cs.Int16ul * "header version x100 (100 = 1.0)",
    "header_size" / cs.Int16ul * "normally 48",
    "vbt_size" / cs.Int16ul * "VBT header + BDB header + blocks",
    "vbt_checksum" / cs.Int8ul * "makes the first vbt_size bytes sum to 0 (nobody enforces it)",
    "reserved0" / cs.Int8ul,
    "bdb_offset" / cs.Int32ul * "offset of the BDB header from the VBT start",
    "aim_offset" / cs.Array(4, cs.Int32ul) * "add-in module data offsets, 0 if none",
)

BdbHeader = cs.Struct(
    "signature" / Text(16) * "'BIOS_DATA_BLOCK ' (one trailing space, no NUL)",
    "version" / cs.Int16ul * "BDB version: drives every version-dependent field",
    "header_size" / cs.Int16ul * "normally 22; blocks start at BDB + header_size",
    "bdb_size" / cs.Int16ul * "BDB header + blocks",
)

BdbBlockHeader = cs.Struct(
    "id" / cs.Int8ul,
    "size" / cs.Int16ul * "data bytes that follow (block 53 v3+: see the u32 inside)",
)

BdbBlock = cs.Struct(
    "id" / cs.Int8ul,
    "size" / cs.Int16ul,
    "data" / Raw(this.size),
)

# The contiguous layout build_vbt writes: header, BDB header right behind it, blocks.
VbtLayout = cs.Struct(
    "header" / VbtHeader,
    "bdb" / BdbHeader,
    "blocks" / cs.GreedyRange(BdbBlock),
)

# -- one block, through the registry ----------------------------------------------------------


def decode_block(block_id: int, raw: bytes, bdb_version: int, context: dict[int, bytes] | None = None) -> dict[str, Any] | None:
    """Decode one block's data bytes (without the 3-byte id/size header) into plain data, or None
    when no schema covers this id at this BDB version. Short blocks read as zero-filled (i915's
    rule); bytes beyond the struct are returned as ``unparsed``; the block's post hook adds derived
    values and ``findings``."""
    spec = BLOCKS.get(block_id)
    if spec is None or not in_range(bdb_version, spec.min_bdb, spec.max_bdb):
        return None
    raw = bytes(raw)
    params = block_params(block_id, raw, bdb_version, context)
    parsed = decode_plain(spec.schema, raw, f"BDB block {block_id} ({spec.name})", **params)
    plain = gate(parsed, spec.gates, bdb_version)
    if spec.post is not None:
        plain = spec.post(plain, raw, bdb_version, context or {})
    return plain


def block_params(block_id: int, raw: bytes, bdb_version: int, context: dict[int, bytes] | None = None) -> dict[str, Any]:
    """The parse parameters of a block's schema: ``bdb_version``, ``block_size`` and whatever its
    registry entry works out from the other blocks (``BlockSpec.params``)."""
    params: dict[str, Any] = {"bdb_version": bdb_version, "block_size": len(raw)}
    spec = BLOCKS.get(block_id)
    if spec is not None and spec.params is not None:
        params.update(spec.params(bytes(raw), bdb_version, context or {}))
    return params


def build_block(block_id: int, values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """One block's data bytes (no id/size header) from plain values, zeros for anything not given:
    the inverse of :func:`decode_block`, through the block's registered builder."""
    spec = BLOCKS.get(block_id)
    if spec is None or spec.builder is None:
        raise ValueError(f"block {block_id} has no builder from its decoded values; its module builds it its own way")
    return spec.builder(values, bdb_version, size)


# -- finding and walking ----------------------------------------------------------------------


def find_vbt(data: bytes, start: int = 0, limit: int = MAX_SCAN) -> int | None:
    """Offset of the first ``$VBT`` (byte-granular, like igt) at or after ``start`` with room for the
    48-byte header behind it, looking at most ``limit`` bytes; None if there is none."""
    data = memoryview(data)
    end = min(len(data), start + limit)
    hay = bytes(data[start:end])
    pos = hay.find(VBT_SIGNATURE)
    while pos != -1:
        if start + pos + VBT_HEADER_SIZE <= len(data):
            return start + pos
        pos = hay.find(VBT_SIGNATURE, pos + 1)
    return None


def no_vbt_reason(data: bytes, where: str = "the data", start: int = 0, limit: int = MAX_SCAN) -> str:
    """Why :func:`find_vbt` found nothing in ``data`` (called ``where``): no signature at all, or a
    ``$VBT`` too near the end to hold its header -- a cut file must not read as one without a VBT."""
    pos = bytes(memoryview(data)[start : start + limit]).find(VBT_SIGNATURE)
    if pos == -1:
        if len(data) - start > limit:
            return f"no '$VBT' signature in the first {limit} bytes of {where} ({len(data)} bytes)"
        return f"no '$VBT' signature in {where} ({len(data)} bytes)"
    return (f"the '$VBT' at {start + pos:#x} of {where} is cut inside its {VBT_HEADER_SIZE}-byte header "
            f"({len(data) - start - pos} bytes present)")


def _checksum(vbt: bytes, stored: int, vbt_size: int) -> dict[str, Any]:
    body = vbt[:vbt_size]
    computed = (stored - byte_sum(body)) & 0xFF  # the byte that makes the first vbt_size bytes sum to 0
    return {"stored": stored, "computed": computed, "ok": computed == stored and len(body) == vbt_size}


def walk_blocks(data: bytes, vbt_offset: int = 0) -> dict[str, Any]:
    """Walk the VBT at ``vbt_offset`` of ``data``: headers, checksum, blocks, findings.

    Returns ``{"vbt_offset", "vbt_header", "bdb_header", "bdb_version", "checksum": {"stored",
    "computed", "ok"}, "blocks": [{"id", "name", "offset", "size", "raw"}], "ignored_blocks",
    "findings"}``. ``offset`` is where the block's 3-byte id/size header starts, counted from the
    VBT start (the same for a VBT file and its copy in a ROM or OpRegion); ``raw`` is the data
    bytes. The walk is i915's and igt's: blocks from ``bdb_offset + header_size``, a block must
    end inside ``bdb_size`` and inside the data, block 53 v3+ takes its size from the u32 after its
    version byte (its ``raw`` is what i915 and igt copy: that size + 5 bytes, 5 more than the walk
    advances). A block past ``bdb_size`` that would still fit ``vbt_size`` is reported in
    ``ignored_blocks``. Only data too short for the 48-byte VBT header raises
    :class:`~igdscope.decode.DecodeError`.
    """
    data = bytes(data)
    vbt = data[vbt_offset:]
    if len(vbt) < VBT_HEADER_SIZE:
        raise DecodeError("VBT header", f"truncated ({len(vbt)} bytes at offset {vbt_offset:#x}, the header is 48)")
    header = decode_plain(VbtHeader, vbt[:VBT_HEADER_SIZE], "VBT header")
    vbt_size = header["vbt_size"]
    findings: list[str] = []
    out: dict[str, Any] = {
        "vbt_offset": vbt_offset,
        "vbt_header": header,
        "bdb_header": None,
        "bdb_version": None,
        "checksum": _checksum(vbt, header["vbt_checksum"], vbt_size),
        "blocks": [],
        "ignored_blocks": [],
        "findings": findings,
    }
    if vbt[:4] != VBT_SIGNATURE:
        findings.append(f"signature starts with {vbt[:4]!r}, not '$VBT' (i915 rejects it)")
    if header["header_size"] != VBT_HEADER_SIZE:
        findings.append(f"VBT header_size is {header['header_size']}, expected 48")
    if vbt_size > len(vbt):
        findings.append(f"truncated: vbt_size is {vbt_size} but only {len(vbt)} bytes follow the VBT start")
    if not out["checksum"]["ok"] and vbt_size <= len(vbt):
        cs_ = out["checksum"]
        findings.append(f"checksum byte is {cs_['stored']:#04x}, {cs_['computed']:#04x} would make the VBT sum to 0 (i915 and igt do not check it)")

    bdb_at = header["bdb_offset"]
    if bdb_at + BDB_HEADER_SIZE > len(vbt):
        findings.append(f"BDB header at {bdb_at:#x} lies beyond the {len(vbt)} bytes available")
        return out
    bdb = decode_plain(BdbHeader, vbt[bdb_at : bdb_at + BDB_HEADER_SIZE], "BDB header")
    version, bdb_size, bdb_header_size = bdb["version"], bdb["bdb_size"], bdb["header_size"]
    out["bdb_header"] = bdb
    out["bdb_version"] = version
    if bdb["signature"] != BDB_SIGNATURE:
        findings.append(f"BDB signature is {vbt[bdb_at:bdb_at + 16]!r}, expected 'BIOS_DATA_BLOCK '")
    if bdb_at + BDB_HEADER_SIZE > vbt_size:
        findings.append(f"BDB header (at {bdb_at:#x}) does not fit in vbt_size {vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb_size > vbt_size:
        findings.append(f"bdb_offset + bdb_size = {bdb_at + bdb_size} exceeds vbt_size {vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb_size != vbt_size:
        findings.append(f"vbt_size {vbt_size} is {vbt_size - bdb_at - bdb_size} byte(s) more than bdb_offset + bdb_size ({bdb_at + bdb_size})")
    if bdb_header_size < BDB_HEADER_SIZE:
        findings.append(f"BDB header_size {bdb_header_size} is smaller than the 22-byte header: blocks would overlap it")
    elif bdb_header_size != BDB_HEADER_SIZE:
        findings.append(f"BDB header_size is {bdb_header_size}, expected 22")

    bdb_bytes = vbt[bdb_at:]
    available = len(bdb_bytes)
    bound = min(bdb_size, available)
    if bdb_size > available:
        findings.append(f"bdb_size {bdb_size} runs past the end of the data ({available} bytes from the BDB start): walk cut there")
    seen: dict[int, list[int]] = {}  # block id -> offsets of its blocks
    i = bdb_header_size
    while i + 3 < bound:
        block_id = bdb_bytes[i]
        size = int.from_bytes(bdb_bytes[i + 1 : i + 3], "little")
        if block_id == BDB_MIPI_SEQUENCE and i + 3 < available and bdb_bytes[i + 3] >= 3:
            if i + 8 > available:
                findings.append(f"block 53 (MIPI sequence v{bdb_bytes[i + 3]}) at {bdb_at + i:#x}: its u32 size is cut off by the end of the data")
                break
            size = int.from_bytes(bdb_bytes[i + 4 : i + 8], "little")
        start = i + 3
        entry = {"id": block_id, "name": block_name(block_id, version), "offset": bdb_at + i, "size": size}
        if start + size > bound:
            limit = "bdb_size" if bound == bdb_size else "the data"
            findings.append(f"block {block_id} at {bdb_at + i:#x} ({size} bytes) ends {start + size - bound} byte(s) past {limit}: i915 and igt stop the walk there")
            vbt_room = min(vbt_size - bdb_at, available)
            if bound == bdb_size and start + size <= vbt_room:
                entry["raw"] = bdb_bytes[start : start + size]
                out["ignored_blocks"].append(entry)
            i = bound
            break
        end = start + size
        if block_id == BDB_MIPI_SEQUENCE and bdb_bytes[start] >= 3:
            # i915's init_bdb_block() and igt's find_section() copy 5 bytes more than the walk
            # advances: the u32 counts the bytes after the version byte and itself (Bspec: "the
            # size of this entire data structure excluding this header"), and the sequence parser
            # reads that many bytes after the u32
            end = max(end, min(start + size + 5, vbt_size - bdb_at, available))
        entry["raw"] = bdb_bytes[start:end]
        out["blocks"].append(entry)
        seen.setdefault(block_id, []).append(bdb_at + i)
        i = start + size
    if i < bound and any(bdb_bytes[i:bound]):
        findings.append(f"{bound - i} non-zero byte(s) at the end of the BDB too short for a block header")
    for block_id, offsets in seen.items():
        if len(offsets) > 1:
            later = ", ".join(f"{o:#x}" for o in offsets[1:9]) + (f" and {len(offsets) - 9} more" if len(offsets) > 9 else "")
            copies = "the copy at {} is" if len(offsets) == 2 else "the copies at {} are"
            findings.append(f"block {block_id} appears {len(offsets)} times: i915 and igt read only the first, at {offsets[0]:#x}; "
                            + copies.format(later) + " not decoded (shown raw)")
    return out


# -- building a VBT -----------------------------------------------------------------------------


def build_vbt(
    bdb_version: int,
    blocks: list[tuple[int, bytes]],
    *,
    signature: str = "$VBT IGDSCOPE",
    version: int = 100,
    checksum: int | None = None,
) -> bytes:
    """A complete VBT: 48-byte header, BDB header right behind it, then each ``(id, data)`` block
    with its 3-byte header; sizes filled in and the checksum computed so the bytes sum to 0
    (``checksum=`` forces a value instead). The signature is space-padded to 20 bytes.
    Block 53 v3+ data is written as given (its u32 size is the caller's); its u16 size field gets
    the data length capped at 0xFFFF."""
    entries = []
    for block_id, data in blocks:
        data = bytes(data)
        v3_mipi = block_id == BDB_MIPI_SEQUENCE and data[:1] >= b"\x03"
        if len(data) > 0xFFFF and not v3_mipi:
            raise DecodeError("VBT build", f"block {block_id} is {len(data)} bytes, more than a u16 size field holds")
        entries.append({"id": block_id, "size": min(len(data), 0xFFFF), "data": data})
    bdb_size = BDB_HEADER_SIZE + sum(3 + len(e["data"]) for e in entries)
    vbt_size = VBT_HEADER_SIZE + bdb_size
    if vbt_size > 0xFFFF:
        raise DecodeError("VBT build", f"the VBT would be {vbt_size} bytes, more than vbt_size (u16) holds")
    value = {
        "header": {
            "signature": signature.encode("latin-1").ljust(20, b" "),
            "version": version,
            "header_size": VBT_HEADER_SIZE,
            "vbt_size": vbt_size,
            "vbt_checksum": 0,
            "reserved0": 0,
            "bdb_offset": VBT_HEADER_SIZE,
            "aim_offset": [0, 0, 0, 0],
        },
        "bdb": {"signature": BDB_SIGNATURE, "version": bdb_version, "header_size": BDB_HEADER_SIZE, "bdb_size": bdb_size},
        "blocks": entries,
    }
    raw = build(VbtLayout, value, "VBT")
    value["header"]["vbt_checksum"] = (-sum(raw)) & 0xFF if checksum is None else checksum
    return build(VbtLayout, value, "VBT")


# -- the demo machine ---------------------------------------------------------------------------

DEMO_BDB_VERSION = 221


def demo_vbt() -> bytes:
    """The demo machine's VBT: a Coffee Lake desktop (no panel) with HDMI on DDI B, DP on DDI C and
    DP++ on DDI D, built from values by :func:`build_block` / :func:`build_vbt`."""
    v = DEMO_BDB_VERSION
    features = build_block(1, {
        "panel_fitting": 3, "flexaim": True, "msg_enable": True, "display_clock_mode": True,
        "vbios_hotplug_support": True, "legacy_monitor_detect": 1, "int_crt_support": False,
    }, v, size=5)
    ports = [
        # handle, device type, dvo port, ddc pin (CNP PCH: 1 = DDI B), aux channel
        (0x0004, 0x60D2, general.DvoPort.hdmib, 0x01, 0x00, {"hdmi_support": True, "tmds_support": True}),
        (0x0040, 0x68C6, general.DvoPort.dpc, 0x02, 0x20, {"dp_support": True}),
        (0x0020, 0x60D6, general.DvoPort.dpd, 0x03, 0x30, {"dp_support": True, "hdmi_support": True, "tmds_support": True}),
    ]
    devices = [
        {"handle": h, "device_type": t, "dvo_port": str(port), "ddc_pin": ddc, "aux_channel": aux,
         "integrated_encoder": True, "dp_max_link_rate": 0, **extra}
        for h, t, port, ddc, aux, extra in ports
    ]
    devices += [{} for _ in range(5)]  # unused entries, device_type 0, as firmware leaves them
    definitions = build_block(2, {"crt_ddc_gmbus_pin": 2, "devices": devices}, v)
    return build_vbt(v, [(1, features), (2, definitions)], signature="$VBT COFFEELAKE-S")


# The headers' parsers are generated ahead of time with the blocks' (igdscope.schemas.plaingen).
plainparse.ship({"VbtHeader": VbtHeader, "BdbHeader": BdbHeader}, [__file__, common.__file__])
