"""The Linux VFIO user API pieces igdscope needs to find and read the IGD device-specific regions.

Layouts and numbers follow ``include/uapi/linux/vfio.h`` (all fields little-endian on x86, natural
alignment): ``vfio_group_status`` (8 bytes), ``vfio_device_info`` (16 bytes before the capability
era, 24 bytes since ``cap_offset`` and ``pad`` were added; a 20-byte answer is accepted too),
``vfio_region_info`` (32 bytes), ``vfio_info_cap_header`` (8 bytes) and the region capabilities
TYPE (16 bytes) and SPARSE_MMAP (16 bytes + 16 per area).

Capability offsets (``cap_offset`` and every ``next``) count from the start of the info buffer;
``next == 0`` ends the chain. :func:`parse_region_info` walks that chain defensively: a chain the
kernel (or a capture file) got wrong yields findings, never an exception.

Facts: the kernel's ``include/uapi/linux/vfio.h``
(linux-blktests/linux-block @ ce7b8f47, awilliam/linux-vfio @ 117aad82 for the pre-capability form)
and the vfio-pci ``GET_REGION_INFO`` handler (capabilities shifted to ``sizeof(info)``; a too-small
``argsz`` is answered with the needed size, ``cap_offset = 0`` and the CAPS flag set).
"""

from __future__ import annotations

from typing import Any, Iterable

import construct as cs

from igdscope.binary import decode, to_plain

# --- ioctl numbers: _IO(';', 100 + n); no size or direction bits are encoded --------------------

VFIO_TYPE = ord(";")  # 0x3B
VFIO_BASE = 100


def _vfio_io(n: int) -> int:
    return (VFIO_TYPE << 8) | (VFIO_BASE + n)


VFIO_GET_API_VERSION = _vfio_io(0)  # 0x3B64
VFIO_CHECK_EXTENSION = _vfio_io(1)  # 0x3B65
VFIO_SET_IOMMU = _vfio_io(2)  # 0x3B66
VFIO_GROUP_GET_STATUS = _vfio_io(3)  # 0x3B67
VFIO_GROUP_SET_CONTAINER = _vfio_io(4)  # 0x3B68
VFIO_GROUP_UNSET_CONTAINER = _vfio_io(5)  # 0x3B69
VFIO_GROUP_GET_DEVICE_FD = _vfio_io(6)  # 0x3B6A
VFIO_DEVICE_GET_INFO = _vfio_io(7)  # 0x3B6B
VFIO_DEVICE_GET_REGION_INFO = _vfio_io(8)  # 0x3B6C
VFIO_DEVICE_GET_IRQ_INFO = _vfio_io(9)  # 0x3B6D
VFIO_DEVICE_SET_IRQS = _vfio_io(10)  # 0x3B6E
VFIO_DEVICE_RESET = _vfio_io(11)  # 0x3B6F

IOCTL_NAMES = {
    VFIO_GET_API_VERSION: "VFIO_GET_API_VERSION",
    VFIO_CHECK_EXTENSION: "VFIO_CHECK_EXTENSION",
    VFIO_SET_IOMMU: "VFIO_SET_IOMMU",
    VFIO_GROUP_GET_STATUS: "VFIO_GROUP_GET_STATUS",
    VFIO_GROUP_SET_CONTAINER: "VFIO_GROUP_SET_CONTAINER",
    VFIO_GROUP_UNSET_CONTAINER: "VFIO_GROUP_UNSET_CONTAINER",
    VFIO_GROUP_GET_DEVICE_FD: "VFIO_GROUP_GET_DEVICE_FD",
    VFIO_DEVICE_GET_INFO: "VFIO_DEVICE_GET_INFO",
    VFIO_DEVICE_GET_REGION_INFO: "VFIO_DEVICE_GET_REGION_INFO",
    VFIO_DEVICE_GET_IRQ_INFO: "VFIO_DEVICE_GET_IRQ_INFO",
    VFIO_DEVICE_SET_IRQS: "VFIO_DEVICE_SET_IRQS",
    VFIO_DEVICE_RESET: "VFIO_DEVICE_RESET",
}

# The only requests igdscope's reader issues: queries plus the container/group setup that a device
# fd requires. Nothing here changes device state by itself (see sources/vfio.py on what the kernel
# does when a device fd is opened and closed).
READ_ONLY_IOCTLS = frozenset(
    {
        VFIO_GET_API_VERSION,
        VFIO_CHECK_EXTENSION,
        VFIO_SET_IOMMU,
        VFIO_GROUP_GET_STATUS,
        VFIO_GROUP_SET_CONTAINER,
        VFIO_GROUP_GET_DEVICE_FD,
        VFIO_DEVICE_GET_INFO,
        VFIO_DEVICE_GET_REGION_INFO,
    }
)

VFIO_API_VERSION = 0

# IOMMU types (VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU argument, passed by value)
VFIO_TYPE1_IOMMU = 1
VFIO_SPAPR_TCE_IOMMU = 2
VFIO_TYPE1v2_IOMMU = 3
VFIO_NOIOMMU_IOMMU = 8

# --- region indexes (vfio-pci fixed ABI) ---------------------------------------------------------

VFIO_PCI_BAR0_REGION_INDEX = 0
VFIO_PCI_BAR1_REGION_INDEX = 1
VFIO_PCI_BAR2_REGION_INDEX = 2
VFIO_PCI_BAR3_REGION_INDEX = 3
VFIO_PCI_BAR4_REGION_INDEX = 4
VFIO_PCI_BAR5_REGION_INDEX = 5
VFIO_PCI_ROM_REGION_INDEX = 6
VFIO_PCI_CONFIG_REGION_INDEX = 7
VFIO_PCI_VGA_REGION_INDEX = 8
VFIO_PCI_NUM_REGIONS = 9  # indexes >= 9 are device specific, described by a TYPE capability

REGION_INDEX_NAMES = {
    0: "BAR0",
    1: "BAR1",
    2: "BAR2",
    3: "BAR3",
    4: "BAR4",
    5: "BAR5",
    6: "ROM",
    7: "CONFIG",
    8: "VGA",
}

# --- flags -----------------------------------------------------------------------------------------

GroupFlags = cs.FlagsEnum(cs.Int32ul, viable=1 << 0, container_set=1 << 1)
VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1

DeviceFlags = cs.FlagsEnum(
    cs.Int32ul,
    reset=1 << 0,
    pci=1 << 1,
    platform=1 << 2,
    amba=1 << 3,
    ccw=1 << 4,
    ap=1 << 5,
    fsl_mc=1 << 6,
    caps=1 << 7,
    cdx=1 << 8,
)
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_DEVICE_FLAGS_CAPS = 1 << 7

RegionFlags = cs.FlagsEnum(cs.Int32ul, read=1 << 0, write=1 << 1, mmap=1 << 2, caps=1 << 3)
VFIO_REGION_INFO_FLAG_READ = 1 << 0
VFIO_REGION_INFO_FLAG_WRITE = 1 << 1
VFIO_REGION_INFO_FLAG_MMAP = 1 << 2
VFIO_REGION_INFO_FLAG_CAPS = 1 << 3

# --- region capability ids and region types -------------------------------------------------------

VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1
VFIO_REGION_INFO_CAP_TYPE = 2
VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3
VFIO_REGION_INFO_CAP_NVLINK2_SSATGT = 4  # deprecated
VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD = 5  # deprecated

REGION_CAP_NAMES = {
    VFIO_REGION_INFO_CAP_SPARSE_MMAP: "SPARSE_MMAP",
    VFIO_REGION_INFO_CAP_TYPE: "TYPE",
    VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: "MSIX_MAPPABLE",
    VFIO_REGION_INFO_CAP_NVLINK2_SSATGT: "NVLINK2_SSATGT",
    VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD: "NVLINK2_LNKSPD",
}

VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 1 << 31
VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xFFFF
VFIO_REGION_TYPE_GFX = 1
VFIO_REGION_TYPE_CCW = 2
VFIO_REGION_TYPE_MIGRATION_DEPRECATED = 3

PCI_VENDOR_ID_INTEL = 0x8086
VFIO_REGION_TYPE_INTEL_IGD = VFIO_REGION_TYPE_PCI_VENDOR_TYPE | PCI_VENDOR_ID_INTEL  # 0x80008086

VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION = 1
VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG = 2
VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG = 3
VFIO_REGION_SUBTYPE_GFX_EDID = 1

INTEL_IGD_SUBTYPE_NAMES = {
    VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION: "IGD OpRegion",
    VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG: "IGD host bridge config",
    VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG: "IGD LPC bridge config",
}

# --- structures --------------------------------------------------------------------------------------

GroupStatus = cs.Struct("argsz" / cs.Int32ul, "flags" / GroupFlags)

# 16 bytes in pre-capability kernels; 24 (cap_offset + pad) since. Missing tail fields parse as None
# and build as nothing, so one schema reads and writes the 16-, 20- and 24-byte forms.
DeviceInfo = cs.Struct(
    "argsz" / cs.Int32ul,
    "flags" / DeviceFlags,
    "num_regions" / cs.Int32ul,
    "num_irqs" / cs.Int32ul,
    "cap_offset" / cs.Optional(cs.Int32ul),
    "pad" / cs.Optional(cs.Int32ul),
)
DEVICE_INFO_OLD_SIZE = 16
DEVICE_INFO_SIZE = 24

RegionInfo = cs.Struct(
    "argsz" / cs.Int32ul,
    "flags" / RegionFlags,
    "index" / cs.Int32ul,
    "cap_offset" / cs.Int32ul,  # "resv" before capabilities existed
    "size" / cs.Int64ul,
    "offset" / cs.Int64ul,  # file offset of the region within the device fd
)
REGION_INFO_SIZE = 32

InfoCapHeader = cs.Struct("id" / cs.Int16ul, "version" / cs.Int16ul, "next" / cs.Int32ul)
CAP_HEADER_SIZE = 8

RegionInfoCapType = cs.Struct("header" / InfoCapHeader, "type" / cs.Int32ul, "subtype" / cs.Int32ul)
CAP_TYPE_SIZE = 16

SparseMmapArea = cs.Struct("offset" / cs.Int64ul, "size" / cs.Int64ul)
SPARSE_AREA_SIZE = 16

RegionInfoCapSparseMmapHead = cs.Struct(
    "header" / InfoCapHeader, "nr_areas" / cs.Int32ul, "reserved" / cs.Int32ul
)
RegionInfoCapSparseMmap = cs.Struct(
    "header" / InfoCapHeader,
    "nr_areas" / cs.Int32ul,
    "reserved" / cs.Int32ul,
    "areas" / cs.Array(cs.this.nr_areas, SparseMmapArea),
)
CAP_SPARSE_HEAD_SIZE = 16

MAX_CAPS = 32


# --- names -------------------------------------------------------------------------------------------


def region_type_name(rtype: int) -> str:
    if rtype & VFIO_REGION_TYPE_PCI_VENDOR_TYPE:
        vendor = rtype & VFIO_REGION_TYPE_PCI_VENDOR_MASK
        rest = rtype & ~(VFIO_REGION_TYPE_PCI_VENDOR_TYPE | VFIO_REGION_TYPE_PCI_VENDOR_MASK)
        return f"PCI vendor {vendor:04x}" + (f" (unknown bits {rest:#x})" if rest else "")
    return {
        VFIO_REGION_TYPE_GFX: "GFX",
        VFIO_REGION_TYPE_CCW: "CCW",
        VFIO_REGION_TYPE_MIGRATION_DEPRECATED: "MIGRATION (deprecated)",
    }.get(rtype, "unknown")


def region_subtype_name(rtype: int, subtype: int) -> str:
    if rtype == VFIO_REGION_TYPE_INTEL_IGD:
        return INTEL_IGD_SUBTYPE_NAMES.get(subtype, "unknown")
    if rtype == VFIO_REGION_TYPE_GFX and subtype == VFIO_REGION_SUBTYPE_GFX_EDID:
        return "EDID"
    return "unknown"


# --- parsing -----------------------------------------------------------------------------------------


def parse_device_info(buf: bytes) -> dict:
    """Plain ``vfio_device_info`` (16-, 20- or 24-byte form; longer input is ignored past 24)."""
    c = decode(DeviceInfo, bytes(buf[:DEVICE_INFO_SIZE]), "vfio_device_info")
    out = to_plain(c)
    out["flags_value"] = int.from_bytes(buf[4:8], "little")
    return out


def parse_group_status(buf: bytes) -> dict:
    c = decode(GroupStatus, bytes(buf[:8]), "vfio_group_status")
    out = to_plain(c)
    out["flags_value"] = int.from_bytes(buf[4:8], "little")
    return out


def _parse_cap(buf: bytes, off: int, hdr: cs.Container, findings: list[str]) -> dict:
    cap: dict[str, Any] = {
        "offset": off,
        "id": hdr.id,
        "version": hdr.version,
        "next": hdr.next,
        "name": REGION_CAP_NAMES.get(hdr.id, "unknown"),
    }
    if hdr.id == VFIO_REGION_INFO_CAP_TYPE:
        if off + CAP_TYPE_SIZE > len(buf):
            findings.append(f"TYPE capability at {off:#x} is cut off by the end of the {len(buf)}-byte buffer")
            cap["truncated"] = True
            return cap
        t = RegionInfoCapType.parse(buf[off : off + CAP_TYPE_SIZE])
        cap["type"] = t.type
        cap["subtype"] = t.subtype
        cap["type_name"] = region_type_name(t.type)
        cap["subtype_name"] = region_subtype_name(t.type, t.subtype)
        if hdr.version != 1:
            findings.append(f"TYPE capability at {off:#x} has version {hdr.version}, expected 1")
    elif hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP:
        if off + CAP_SPARSE_HEAD_SIZE > len(buf):
            findings.append(f"SPARSE_MMAP capability at {off:#x} is cut off by the end of the {len(buf)}-byte buffer")
            cap["truncated"] = True
            return cap
        head = RegionInfoCapSparseMmapHead.parse(buf[off : off + CAP_SPARSE_HEAD_SIZE])
        # the areas end where the buffer ends, or earlier where the next capability starts
        end = hdr.next if off < hdr.next < len(buf) else len(buf)
        fit = max(0, (end - off - CAP_SPARSE_HEAD_SIZE) // SPARSE_AREA_SIZE)
        n = head.nr_areas
        if n > fit:
            where = "before the next capability" if end != len(buf) else "in the buffer"
            findings.append(
                f"SPARSE_MMAP capability at {off:#x} claims {n} areas but only {fit} fit {where}"
            )
            cap["truncated"] = True
            n = fit
        areas = []
        base = off + CAP_SPARSE_HEAD_SIZE
        for i in range(n):
            a = SparseMmapArea.parse(buf[base + i * SPARSE_AREA_SIZE : base + (i + 1) * SPARSE_AREA_SIZE])
            areas.append({"offset": a.offset, "size": a.size})
        cap["nr_areas"] = head.nr_areas
        cap["areas"] = areas
    return cap


def walk_region_caps(buf: bytes, first: int) -> tuple[list[dict], list[str]]:
    """Follow a region-info capability chain from ``first``; bounded and loop-safe."""
    caps: list[dict] = []
    findings: list[str] = []
    seen: set[int] = set()
    off = first
    while off:
        if off < REGION_INFO_SIZE:
            findings.append(f"capability offset {off:#x} points into the fixed 32-byte vfio_region_info")
            break
        if off + CAP_HEADER_SIZE > len(buf):
            findings.append(f"capability offset {off:#x} lies outside the {len(buf)}-byte info buffer")
            break
        if off in seen:
            findings.append(f"capability chain loops back to {off:#x}")
            break
        if len(caps) >= MAX_CAPS:
            findings.append(f"capability chain longer than {MAX_CAPS} entries; stopped at {off:#x}")
            break
        if off % 8:
            findings.append(f"capability at {off:#x} is not 8-byte aligned")
        seen.add(off)
        hdr = InfoCapHeader.parse(buf[off : off + CAP_HEADER_SIZE])
        caps.append(_parse_cap(buf, off, hdr, findings))
        off = hdr.next
    return caps, findings


def parse_region_info(buf: bytes) -> dict:
    """Decode a ``VFIO_DEVICE_GET_REGION_INFO`` answer: the fixed 32 bytes plus its capability chain.

    Raises :class:`igdscope.binary.DecodeError` only when the fixed part is shorter than 32 bytes;
    every problem in the chain becomes a string in ``findings``.
    """
    buf = bytes(buf)
    fixed = decode(RegionInfo, buf[:REGION_INFO_SIZE], "vfio_region_info")
    flags_value = int.from_bytes(buf[4:8], "little")
    findings: list[str] = []
    caps: list[dict] = []
    if fixed.flags.caps:
        if fixed.argsz > len(buf):
            findings.append(
                f"capability chain needs {fixed.argsz} bytes but the buffer holds {len(buf)}"
            )
        if fixed.cap_offset:
            caps, chain_findings = walk_region_caps(buf, fixed.cap_offset)
            findings += chain_findings
        elif fixed.argsz <= len(buf):
            findings.append("CAPS flag set but cap_offset is 0")
    rtype = subtype = None
    for cap in caps:
        if cap["id"] == VFIO_REGION_INFO_CAP_TYPE and "type" in cap:
            if rtype is not None:
                findings.append(f"more than one TYPE capability; using the first ({rtype:#x}/{subtype})")
                break
            rtype, subtype = cap["type"], cap["subtype"]
    if fixed.offset + fixed.size > (1 << 64) - 1:
        findings.append(f"region offset {fixed.offset:#x} + size {fixed.size:#x} overflows 64 bits")
    out = {
        "index": fixed.index,
        "name": REGION_INDEX_NAMES.get(fixed.index)
        or (region_subtype_name(rtype, subtype) if rtype is not None else "device specific"),
        "argsz": fixed.argsz,
        "flags": to_plain(fixed.flags),
        "flags_value": flags_value,
        "cap_offset": fixed.cap_offset,
        "size": fixed.size,
        "offset": fixed.offset,
        "caps": caps,
        "type": rtype,
        "subtype": subtype,
        "findings": findings,
    }
    if rtype is not None:
        out["type_name"] = region_type_name(rtype)
        out["subtype_name"] = region_subtype_name(rtype, subtype)
    return out


# --- building (tests, fixtures, fake kernels) ----------------------------------------------------------


def build_cap(cap: dict, next_offset: int = 0) -> bytes:
    """One capability. ``cap``: ``{"id": 2, "type", "subtype"}``, ``{"id": 1, "areas": [(off, size)]}``
    or ``{"id": n, "raw": bytes}`` (body after the header); optional ``version`` and ``next`` (an
    explicit ``next`` overrides the computed link, for hostile chains)."""
    nxt = cap.get("next", next_offset)
    version = cap.get("version", 1)
    header = {"id": cap["id"], "version": version, "next": nxt}
    if "raw" in cap:
        return InfoCapHeader.build(header) + bytes(cap["raw"])
    if cap["id"] == VFIO_REGION_INFO_CAP_TYPE:
        return RegionInfoCapType.build({"header": header, "type": cap["type"], "subtype": cap["subtype"]})
    if cap["id"] == VFIO_REGION_INFO_CAP_SPARSE_MMAP:
        areas = [{"offset": o, "size": s} for o, s in cap.get("areas", [])]
        return RegionInfoCapSparseMmap.build(
            {"header": header, "nr_areas": cap.get("nr_areas", len(areas)), "reserved": 0, "areas": areas}
        )
    return InfoCapHeader.build(header)


def _align8(n: int) -> int:
    return (n + 7) & ~7


def build_region_info(
    index: int,
    flags: int | dict = VFIO_REGION_INFO_FLAG_READ,
    size: int = 0,
    offset: int = 0,
    caps: Iterable[dict] = (),
    *,
    argsz: int | None = None,
    cap_offset: int | None = None,
) -> bytes:
    """Bytes of a full ``GET_REGION_INFO`` answer as the kernel lays it out: the 32-byte struct, then
    the capabilities 8-byte aligned from offset 32, linked in order. The CAPS flag is added when there
    are capabilities; ``argsz`` defaults to the total length; ``cap_offset`` to 32 (or 0)."""
    caps = list(caps)
    if isinstance(flags, dict):
        flags = int.from_bytes(RegionFlags.build(flags), "little")
    offsets = []
    pos = REGION_INFO_SIZE
    for cap in caps:
        offsets.append(pos)
        pos = _align8(pos + len(build_cap(cap)))
    body = b""
    for i, cap in enumerate(caps):
        nxt = offsets[i + 1] if i + 1 < len(caps) else 0
        blob = build_cap(cap, nxt)
        body += blob + b"\0" * (_align8(len(blob)) - len(blob))
    if caps:
        flags |= VFIO_REGION_INFO_FLAG_CAPS
    total = REGION_INFO_SIZE + len(body)
    fixed = RegionInfo.build(
        {
            "argsz": total if argsz is None else argsz,
            "flags": flags,
            "index": index,
            "cap_offset": (REGION_INFO_SIZE if caps else 0) if cap_offset is None else cap_offset,
            "size": size,
            "offset": offset,
        }
    )
    return fixed + body


def build_device_info(
    flags: int = VFIO_DEVICE_FLAGS_PCI, num_regions: int = VFIO_PCI_NUM_REGIONS, num_irqs: int = 5,
    *, argsz: int | None = None, cap_offset: int | None = 0, pad: int | None = 0,
) -> bytes:
    """``vfio_device_info``; ``cap_offset=None`` gives the 16-byte pre-capability form, ``pad=None``
    the 20-byte form. ``argsz`` defaults to the length built."""
    if cap_offset is None:
        pad = None
    if argsz is None:
        argsz = DEVICE_INFO_OLD_SIZE + (cap_offset is not None) * 4 + (pad is not None) * 4
    return DeviceInfo.build(
        {
            "argsz": argsz,
            "flags": flags,
            "num_regions": num_regions,
            "num_irqs": num_irqs,
            "cap_offset": cap_offset,
            "pad": pad,
        }
    )


def build_group_status(flags: int, argsz: int = 8) -> bytes:
    return GroupStatus.build({"argsz": argsz, "flags": flags})
