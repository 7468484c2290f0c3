"""The OpRegion read from physical memory at ASLS through ``/dev/mem`` (only with --allow-devmem).

Read-only and bounded: the 8 KiB OpRegion (or the size its header states, at most 64 KiB) and, for
an OpRegion 2.0 with an absolute RVDA, the extended VBT (RVDS bytes, at most 1 MiB).
"""

from __future__ import annotations

from igdscope.capture import Blob
from igdscope.sources.sysfs import Root, os_reason

SIGNATURE = b"IntelGraphicsMem"
MAX_OPREGION = 64 << 10
MAX_RVDS = 1 << 20


class DevmemError(Exception):
    pass


def _read(root: Root, addr: int, n: int) -> bytes:
    try:
        return root.read_bytes("dev/mem", n, offset=addr)
    except OSError as exc:
        hint = " (CONFIG_STRICT_DEVMEM may forbid it; use debugfs or vfio instead)" if exc.errno in (1, 13) else ""
        raise DevmemError(f"/dev/mem at {addr:#x}: {os_reason(exc)}{hint}") from None


def read_opregion(root: Root, igd_config: bytes | None) -> dict[str, Blob]:
    from igdscope.schemas import opregion

    if igd_config is None or len(igd_config) < 0x100:
        raise DevmemError("ASLS unknown: the IGD's config space above 0x40 was not readable")
    asls = int.from_bytes(igd_config[0xFC:0x100], "little")
    if asls in (0, 0xFFFFFFFF):
        raise DevmemError(f"ASLS is {asls:#x}: the firmware published no OpRegion")
    head = _read(root, asls, 0x400)
    if head[:16] != SIGNATURE:
        raise DevmemError(f"no 'IntelGraphicsMem' signature at ASLS {asls:#x}")
    size_kib = int.from_bytes(head[0x10:0x14], "little")
    size = min(max(size_kib, 8) << 10, MAX_OPREGION)
    data = _read(root, asls, size)
    blobs = {"opregion": Blob(data, "devmem", f"/dev/mem@{asls:#x}", f"{len(data)} bytes at ASLS")}
    loc = opregion.extended_vbt_location(data)
    if loc is not None and loc.get("kind") == "absolute":
        rvds = loc["size"]
        if rvds > MAX_RVDS:
            raise DevmemError(f"RVDS claims {rvds} bytes (limit {MAX_RVDS}); refusing to read")
        vbt = _read(root, loc["address"], rvds)
        blobs["opregion/rvda"] = Blob(vbt, "devmem", f"/dev/mem@{loc['address']:#x}", "extended VBT at the absolute RVDA of an OpRegion 2.0")
    elif loc is not None and loc.get("kind") == "relative" and loc["offset"] + loc["size"] > len(data):
        end = loc["offset"] + loc["size"]
        if end <= MAX_OPREGION + MAX_RVDS:
            data = _read(root, asls, end)
            blobs["opregion"] = Blob(data, "devmem", f"/dev/mem@{asls:#x}", f"{len(data)} bytes at ASLS, including the extended VBT at RVDA")
    return blobs
