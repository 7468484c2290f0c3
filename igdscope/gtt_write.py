"""The one write path: invalidating and restoring the IGD's GGTT.

No read path imports this module. Every write goes through :class:`GttWindow` (BAR0's GTT half
mapped from ``resource0``, or the BAR4 index/data I/O window), after a backup of every entry has
been written and fsync'ed; every written entry is read back and verified; then the generation's
GGTT TLB flush is issued. SIGINT/SIGTERM stop the writing between chunks: the backup is complete
and ``igdscope gtt restore`` brings every entry back byte-exact.

Why zero: QEMU's legacy mode (2.7 ... 9.2) wrote 0 to the GGTT entries it cleared at VM start, so
that the IGD does not DMA through stale host addresses; i915 fills unused entries with a scratch
page it allocates, which a tool outside the driver cannot do (an address of the previous owner's
scratch page would be a host-physical address, exactly what the invalidation removes). A zero PTE
is "not present"; the next driver writes every entry it uses.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import mmap
import os
import signal
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from igdscope import platforms
from igdscope.errors import EXIT_REFUSED, BadInput, IgdscopeError
from igdscope.schemas.gtt import PteFormat, format_for
from igdscope.sources.live import gtt_window
from igdscope.sources.sysfs import PCI_DEVICES, Root, os_reason

BACKUP_FORMAT = "igdscope-gtt-backup"
BACKUP_VERSION = 1
GFX_FLSH_CNTL = 0x101008  # GFX_FLSH_CNTL_GEN6: write 1 to invalidate the GGTT TLBs
CHUNK = 4096  # entries written between signal checks and progress updates


class Refused(IgdscopeError):
    exit_code = EXIT_REFUSED


class PortIO(Protocol):
    """The narrow interface of the IGD's BAR4 I/O window: 32-bit accesses at offsets 0 and 4."""

    def outl(self, offset: int, value: int) -> None: ...

    def inl(self, offset: int) -> int: ...

    def close(self) -> None: ...


class SysfsPortIO:
    """BAR4 through sysfs ``resource4`` (I/O BAR files accept pread/pwrite of 1, 2 or 4 bytes)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR)

    def outl(self, offset: int, value: int) -> None:
        os.pwrite(self.fd, struct.pack("<I", value & 0xFFFFFFFF), offset)

    def inl(self, offset: int) -> int:
        return struct.unpack("<I", os.pread(self.fd, 4, offset))[0]

    def close(self) -> None:
        os.close(self.fd)


class GttWindow(Protocol):
    fmt: PteFormat
    entries: int

    def read(self, first: int, count: int) -> bytes: ...

    def write(self, first: int, data: bytes) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Bar0Window:
    """The GGTT as the upper half of BAR0 (``resource0`` mapped read-write); the TLB flush
    register in the lower (MMIO) half."""

    def __init__(self, path: Path, bar0_size: int, gtt_offset: int, entries: int, fmt: PteFormat):
        self.fmt, self.entries = fmt, entries
        self.fd = os.open(path, os.O_RDWR | getattr(os, "O_SYNC", 0))
        self.map = mmap.mmap(self.fd, bar0_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.gtt = memoryview(self.map)[gtt_offset : gtt_offset + entries * fmt.size].cast("I")
        self.mmio = memoryview(self.map)[: gtt_offset].cast("I")

    def read(self, first: int, count: int) -> bytes:
        d = self.fmt.size // 4
        return self.gtt[first * d : (first + count) * d].tobytes()

    def write(self, first: int, data: bytes) -> None:
        d = self.fmt.size // 4
        words = memoryview(data).cast("I")
        self.gtt[first * d : first * d + len(words)] = words  # dword stores, low dword first

    def flush(self) -> None:
        self.mmio[GFX_FLSH_CNTL // 4] = 1
        _ = self.mmio[GFX_FLSH_CNTL // 4]  # posting read (gen6/7 read it back too)

    def close(self) -> None:
        self.gtt.release()
        self.mmio.release()
        self.map.close()
        os.close(self.fd)


class Bar4Window:
    """The GGTT through BAR4's index/data window: index ``(dword << 2) | 1`` selects a GTT dword,
    the data register at +4 reads or writes it. The TLB flush goes through the MMIO half
    (index ``offset | 0``)."""

    def __init__(self, io: PortIO, entries: int, fmt: PteFormat):
        self.io, self.entries, self.fmt = io, entries, fmt

    def _dword(self, k: int) -> int:
        self.io.outl(0, (k << 2) | 1)
        return self.io.inl(4)

    def read(self, first: int, count: int) -> bytes:
        d = self.fmt.size // 4
        return struct.pack(f"<{count * d}I", *(self._dword(k) for k in range(first * d, (first + count) * d)))

    def write(self, first: int, data: bytes) -> None:
        d = self.fmt.size // 4
        for i, value in enumerate(struct.unpack(f"<{len(data) // 4}I", data)):
            self.io.outl(0, ((first * d + i) << 2) | 1)
            self.io.outl(4, value)

    def flush(self) -> None:
        self.io.outl(0, GFX_FLSH_CNTL & ~3)
        self.io.outl(4, 1)
        self.io.outl(0, GFX_FLSH_CNTL & ~3)
        self.io.inl(4)

    def close(self) -> None:
        self.io.close()


# -- the device and its safety checks ---------------------------------------------------------------


@dataclass
class Target:
    bdf: str
    device_id: int
    platform: str
    fmt: PteFormat
    bar0_size: int
    gtt_offset: int
    entries: int
    driver: str | None
    iommu_group: int | None
    holders: list[str] = field(default_factory=list)


def _bar0_size(root: Root, bdf: str) -> int:
    try:
        first = root.read_text(f"{PCI_DEVICES}/{bdf}/resource", 4096).splitlines()[0].split()
        start, end = int(first[0], 16), int(first[1], 16)
        return end - start + 1 if end > start else 0
    except (OSError, IndexError, ValueError):
        return 0


def open_holders(root: Root, bdf: str, group: int | None) -> list[str]:
    """Processes holding the device's vfio group/device or its sysfs resource files open."""
    wanted = {f"/dev/vfio/{group}"} if group is not None else set()
    devdir = f"/sys/bus/pci/devices/{bdf}/"
    realdev = os.path.realpath(root.path(f"{PCI_DEVICES}/{bdf}"))
    out = []
    for pid in root.listdir("proc"):
        if not pid.isdigit():
            continue
        for fd in root.listdir(f"proc/{pid}/fd"):
            try:
                target = os.readlink(root.path(f"proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            hit = target in wanted or target.startswith("/dev/vfio/devices/") or target.startswith(devdir) or target.startswith(realdev) or target.startswith("/sys/devices/") and bdf in target
            if hit:
                comm = root.read_attr(f"proc/{pid}/comm") or "?"
                out.append(f"{comm} (pid {pid}) holds {target}")
                break
    return out


def target(root: Root, bdf: str) -> Target:
    base = f"{PCI_DEVICES}/{bdf}"
    if not root.exists(base):
        raise BadInput(f"no PCI device {bdf} under {root.path(PCI_DEVICES)}")
    did = root.read_int(f"{base}/device", 16) or 0
    plat = platforms.lookup(did)
    fmt = format_for(plat)
    if plat is None or fmt is None:
        raise Refused(f"{bdf} ({did:04x}) is not an IGD whose GGTT format igdscope knows (gen 6 and later)")
    try:
        cfg = root.read_bytes(f"{base}/config", 256)
    except OSError as exc:
        raise Refused(f"{bdf}/config: {os_reason(exc)}") from None
    bar0 = _bar0_size(root, bdf)
    win = gtt_window(cfg, did, bar0)
    if win is None:
        raise Refused(f"{bdf}: GGTT size unknown (GGMS is 0, the config space is unreadable, or BAR0 has no size)")
    offset, size, pte = win
    grp = root.readlink_name(f"{base}/iommu_group")
    t = Target(bdf, did, plat.platform, fmt, bar0, offset, size // pte, root.readlink_name(f"{base}/driver"), int(grp) if grp and grp.isdigit() else None)
    t.holders = open_holders(root, bdf, t.iommu_group)
    return t


def check(t: Target, ignore_open: bool) -> None:
    if t.driver in ("i915", "xe"):
        raise Refused(f"{t.driver} is bound to {t.bdf} and owns its GGTT; unbind it first (echo {t.bdf} > /sys/bus/pci/drivers/{t.driver}/unbind)")
    if t.holders and not ignore_open:
        raise Refused(f"{t.bdf} is in use: {'; '.join(t.holders)} (a running VM?); stop it, or pass --ignore-open if you are sure")


def plan(t: Target, method: str) -> dict[str, Any]:
    return {
        "device": t.bdf,
        "platform": t.platform,
        "format": t.fmt.name,
        "entries": t.entries,
        "bytes": t.entries * t.fmt.size,
        "method": method,
        "value": 0,
        "why_zero": "QEMU's legacy mode (2.7-9.2) wrote 0 to the GGTT entries it cleared at VM start; i915 fills unused entries with a scratch page only a driver can allocate. 0 = not present; the next driver writes every entry it uses.",
        "tlb_flush": f"write 1 to GFX_FLSH_CNTL (MMIO {GFX_FLSH_CNTL:#x}) and read it back",
        "driver": t.driver,
        "holders": t.holders,
    }


# -- backup -------------------------------------------------------------------------------------------


def write_backup(path: Path, t: Target, data: bytes) -> dict[str, Any]:
    doc = {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "device": t.bdf,
        "device_id": t.device_id,
        "platform": t.platform,
        "pte_format": t.fmt.name,
        "bar0_size": t.bar0_size,
        "gtt_offset": t.gtt_offset,
        "entries": t.entries,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return doc


def read_backup(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > 64 << 20:
        raise BadInput(f"{path}: too large for a GGTT backup")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInput(f"{path}: not a GGTT backup (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
        raise BadInput(f"{path}: not an igdscope GGTT backup")
    if doc.get("version") != BACKUP_VERSION:
        raise BadInput(f"{path}: GGTT backup version {doc.get('version')!r} is not one this igdscope reads")
    size = doc.get("size")
    if not isinstance(size, int) or not 0 < size <= 8 << 20:
        raise BadInput(f"{path}: backup size {size!r} is not a GGTT size")
    try:
        d = zlib.decompressobj()
        data = d.decompress(base64.b64decode(doc["data"], validate=True), size + 1)
    except (KeyError, ValueError, zlib.error):
        raise BadInput(f"{path}: backup data is damaged") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != doc.get("sha256"):
        raise BadInput(f"{path}: backup data does not match its sha256 (damaged)")
    return doc, data


# -- writing ------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


@dataclass
class Outcome:
    written: int
    verified: int
    total: int
    interrupted: str | None = None
    mismatches: list[int] = field(default_factory=list)
    flushed: bool = False


def write_entries(win: GttWindow, data: bytes, progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Write ``data`` (whole PTEs) from entry 0, verify every chunk, then flush the TLBs.
    SIGINT/SIGTERM stop between chunks; what was written so far is reported."""
    fmt = win.fmt
    total = len(data) // fmt.size
    stop: list[str] = []

    def on_signal(signum, frame):
        stop.append(signal.Signals(signum).name)

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    out = Outcome(0, 0, total)
    try:
        for first in range(0, total, CHUNK):
            if stop:
                out.interrupted = stop[0]
                break
            count = min(CHUNK, total - first)
            chunk = data[first * fmt.size : (first + count) * fmt.size]
            win.write(first, chunk)
            out.written = first + count
            back = win.read(first, count)
            if back != chunk:
                for i in range(count):
                    if back[i * fmt.size : (i + 1) * fmt.size] != chunk[i * fmt.size : (i + 1) * fmt.size]:
                        out.mismatches.append(first + i)
            out.verified = first + count
            if progress:
                progress(out.written, total)
        win.flush()
        out.flushed = True
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return out


def progress_bar(stream=sys.stderr) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        width = 40
        filled = width * done // max(total, 1)
        stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} entries")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def open_window(root: Root, t: Target, method: str, io: PortIO | None = None) -> GttWindow:
    if method == "bar4":
        if io is None:
            path = root.path(f"{PCI_DEVICES}/{t.bdf}/resource4")
            try:
                io = SysfsPortIO(path)
            except OSError as exc:
                raise Refused(f"{path}: {os_reason(exc)}") from None
        return Bar4Window(io, t.entries, t.fmt)
    path = root.path(f"{PCI_DEVICES}/{t.bdf}/resource0")
    try:
        return Bar0Window(path, t.bar0_size, t.gtt_offset, t.entries, t.fmt)
    except (OSError, ValueError) as exc:
        raise Refused(f"{path}: {os_reason(exc) if isinstance(exc, OSError) else exc}") from None
