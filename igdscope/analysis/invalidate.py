"""The one write path: invalidating and restoring the IGD's GGTT.

No read path imports this module. Every write goes through :class:`GttWindow` (BAR0's GTT half
mapped from ``resource0``, or the BAR4 index/data I/O window), after a backup of every entry has
been written and fsync'ed to a new file (never replacing one); every written entry is read back
and verified; then the generation's GGTT TLB flush is issued. Before anything is written the
device's identity is confirmed (:func:`target`), the file is a real sysfs attribute (never a copy
in a --root tree), and no other igdscope is writing it (:func:`exclusive`); a restore validates
the whole backup and checks it is of this device in this boot first. SIGINT, SIGTERM, SIGHUP and
SIGQUIT stop the writing between chunks: the backup is complete and ``igdscope gtt restore``
brings every entry back byte-exact.

Why zero: QEMU's legacy mode (2.7 ... 9.2) wrote 0 to the GGTT entries it cleared at VM start, so
that the IGD does not DMA through stale host addresses; i915 fills unused entries with a scratch
page it allocates, which a tool outside the driver cannot do (an address of the previous owner's
scratch page would be a host-physical address, exactly what the invalidation removes). A zero PTE
is "not present"; the next driver writes every entry it uses.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import mmap
import os
import re
import signal
import struct
import sys
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from igdscope import outfile, platforms
from igdscope.errors import EXIT_REFUSED, BadInput, IgdscopeError
from igdscope.schemas.gtt import FORMATS, PteFormat, format_for
from igdscope.sources.live import GTT_MAX, gtt_window
from igdscope.sources.sysfs import PCI_DEVICES, Root, os_reason
from igdscope.textsafe import printable, write_control

BACKUP_FORMAT = "igdscope-gtt-backup"
BACKUP_VERSION = 2  # 2: the device's identity and the boot id are recorded and checked
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

    def __init__(self, fd: int):
        self.fd = fd

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

    def __init__(self, fd: int, bar0_size: int, gtt_offset: int, entries: int, fmt: PteFormat):
        self.fmt, self.entries = fmt, entries
        self.fd = fd
        self.map = mmap.mmap(self.fd, bar0_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.gtt = memoryview(self.map)[gtt_offset : gtt_offset + entries * fmt.size].cast("I")
        self.mmio = memoryview(self.map)[: gtt_offset].cast("I")

    def read(self, first: int, count: int) -> bytes:
        _bounded(self, first, count)
        d = self.fmt.size // 4
        return self.gtt[first * d : (first + count) * d].tobytes()

    def write(self, first: int, data: bytes) -> None:
        _bounded(self, first, len(data) // self.fmt.size, len(data))
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
        _bounded(self, first, count)
        d = self.fmt.size // 4
        return struct.pack(f"<{count * d}I", *(self._dword(k) for k in range(first * d, (first + count) * d)))

    def write(self, first: int, data: bytes) -> None:
        _bounded(self, first, len(data) // self.fmt.size, len(data))
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


def _bounded(win: Any, first: int, count: int, nbytes: int | None = None) -> None:
    """Every access stays inside the GGTT: whole entries, from ``first`` for ``count``."""
    if first < 0 or count < 0 or first + count > win.entries or (nbytes is not None and nbytes != count * win.fmt.size):
        raise Refused(f"GGTT access of entries {first}..{first + count} is outside the table of {win.entries} entries; stopped")


# -- the device and its safety checks ---------------------------------------------------------------

PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
BAR0_SIZE = {4: 4 << 20, 8: 16 << 20}  # GTTMMADR: 4 MiB with 32-bit PTEs (gen6/7), 16 MiB from gen8
DRIVERS_ALLOWED = (None, "vfio-pci", "pci-stub")  # no driver, or one that leaves the GGTT alone


def pci_address(text: object, what: str = "--device") -> str:
    """A PCI address as sysfs names it (``0000:00:02.0``; ``00:02.0`` gets domain 0000)."""
    t = text.strip().lower() if isinstance(text, str) else ""
    if len(t) == 7:
        t = "0000:" + t
    if not PCI_ADDRESS.fullmatch(t):
        raise BadInput(f"{what} {printable(str(text))[:40]!r} is not a PCI address (like 0000:00:02.0)")
    return t


@dataclass
class Target:
    bdf: str
    vendor: int
    device_id: int
    revision: int
    class_code: int
    platform: str
    fmt: PteFormat
    bar0_size: int
    gtt_offset: int
    entries: int
    driver: str | None
    iommu_group: int | None
    boot_id: str | None
    holders: list[str] = field(default_factory=list)


def _bar0_size(root: Root, bdf: str) -> int:
    try:
        first = root.read_text(f"{PCI_DEVICES}/{bdf}/resource", 4096).splitlines()[0].split()
        start, end = int(first[0], 16), int(first[1], 16)
        return end - start + 1 if end > start else 0
    except (OSError, IndexError, ValueError):
        return 0


def boot_id(root: Root) -> str | None:
    return root.read_attr("proc/sys/kernel/random/boot_id")


def open_holders(root: Root, bdf: str, group: int | None) -> list[str]:
    """Processes holding the device's vfio group/device or its sysfs resource files open."""
    wanted = {f"/dev/vfio/{group}"} if group is not None else set()
    devdir = f"/sys/bus/pci/devices/{bdf}/"
    realdev = os.path.realpath(root.path(f"{PCI_DEVICES}/{bdf}"))
    me = str(os.getpid())
    out = []
    for pid in root.listdir("proc"):
        if not pid.isdigit() or (pid == me and root.is_live):
            continue
        for fd in root.listdir(f"proc/{pid}/fd"):
            try:
                target = os.readlink(root.path(f"proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            hit = target in wanted or target.startswith("/dev/vfio/devices/") or target.startswith(devdir) or target.startswith(realdev) or target.startswith("/sys/devices/") and bdf in target
            if hit:
                comm = root.read_attr(f"proc/{pid}/comm") or "?"
                out.append(f"{printable(comm)} (pid {pid}) holds {printable(target)}")
                break
    return out


def target(root: Root, bdf: str) -> Target:
    """The device at ``bdf``, identified before anything is written to it: an Intel (0x8086)
    display-class function the platform table knows, the same vendor, device, revision and class
    in its sysfs attributes and its config space, and a BAR0 of the size its generation has,
    whose upper half holds the GGTT that GGC describes. Anything else is refused (exit 6)."""
    bdf = pci_address(bdf)
    base = f"{PCI_DEVICES}/{bdf}"
    if not root.exists(base):
        raise Refused(f"no PCI device {bdf} under {root.path(PCI_DEVICES)}")
    attrs = {k: root.read_int(f"{base}/{k}", 16) for k in ("vendor", "device", "revision", "class")}
    try:
        cfg = root.read_bytes(f"{base}/config", 256)
    except OSError as exc:
        raise Refused(f"{bdf}/config: {os_reason(exc)}") from None
    if len(cfg) < 0x52:
        raise Refused(f"{bdf}: only {len(cfg)} bytes of its config space are readable; the identity and GGC cannot be confirmed (run as root)")
    conf = {"vendor": int.from_bytes(cfg[0:2], "little"), "device": int.from_bytes(cfg[2:4], "little"), "revision": cfg[8], "class": int.from_bytes(cfg[9:12], "little")}
    for key, width in (("vendor", 4), ("device", 4), ("revision", 2), ("class", 6)):
        if attrs[key] is not None and attrs[key] != conf[key]:
            raise Refused(f"{bdf}: sysfs says {key} {attrs[key]:#0{width + 2}x}, its config space {conf[key]:#0{width + 2}x}; not writing to a device whose identity is unclear")
    did = conf["device"]
    if conf["vendor"] != 0x8086:
        raise Refused(f"{bdf} is {conf['vendor']:04x}:{did:04x}, not an Intel (8086) device; igdscope writes only to an Intel IGD's GGTT")
    if conf["class"] >> 16 != 0x03:
        raise Refused(f"{bdf} (8086:{did:04x}) has class {conf['class']:06x}, not a display controller (03xxxx)")
    plat = platforms.lookup(did)
    fmt = format_for(plat)
    if plat is None or fmt is None:
        raise Refused(f"{bdf} (8086:{did:04x}) is not an IGD whose GGTT format igdscope knows (gen 6 and later)")
    bar0 = _bar0_size(root, bdf)
    want = BAR0_SIZE[fmt.size]
    if bar0 != want:
        raise Refused(f"{bdf} (8086:{did:04x}, {plat.platform}): BAR0 is {bar0:#x} bytes, but a gen {plat.gen_text} IGD's GTTMMADR is {want:#x}; not writing")
    win = gtt_window(cfg, did, bar0)
    if win is None:
        raise Refused(f"{bdf}: GGTT size unknown (GGMS is 0 or not valid for {plat.platform})")
    offset, size, pte = win
    if pte != fmt.size or size % pte:
        raise Refused(f"{bdf}: GGC describes {size} bytes of {pte}-byte PTEs, not a {fmt.name} GGTT")
    grp = root.readlink_name(f"{base}/iommu_group")
    t = Target(bdf, conf["vendor"], did, conf["revision"], conf["class"], plat.platform, fmt, bar0, offset, size // pte,
               root.readlink_name(f"{base}/driver"), int(grp) if grp and grp.isdigit() else None, boot_id(root))
    t.holders = open_holders(root, bdf, t.iommu_group)
    return t


def check(t: Target, ignore_open: bool) -> None:
    if t.driver in ("i915", "xe"):
        raise Refused(f"{t.driver} is bound to {t.bdf} and owns its GGTT; unbind it first (echo {t.bdf} > /sys/bus/pci/drivers/{t.driver}/unbind)")
    if t.driver not in DRIVERS_ALLOWED:
        raise Refused(f"{printable(t.driver)} is bound to {t.bdf}; igdscope writes the GGTT only with no driver, vfio-pci or pci-stub bound")
    if t.holders and not ignore_open:
        raise Refused(f"{t.bdf} is in use: {'; '.join(t.holders)} (a running VM?); stop it, or pass --ignore-open if you are sure")


def plan(t: Target, method: str) -> dict[str, Any]:
    return {
        "device": t.bdf,
        "id": f"{t.vendor:04x}:{t.device_id:04x}",
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


def default_backup(t: Target, directory: str | os.PathLike = ".") -> Path:
    """A backup name no earlier backup has: the device, this boot and the time."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    boot = (t.boot_id or "unknown-boot").replace("-", "")[:8]
    base = Path(directory) / f"igdscope-gtt-backup-{t.bdf.replace(':', '_')}-boot{boot}-{stamp}"
    path, n = base.with_name(base.name + ".json"), 1
    while os.path.lexists(path):
        n += 1
        path = base.with_name(f"{base.name}-{n}.json")
    return path


# -- backup -------------------------------------------------------------------------------------------

_BACKUP_KEYS: dict[str, type | tuple[type, ...]] = {
    "format": str, "version": int, "created": str, "boot_id": (str, type(None)), "device": str, "vendor_id": int, "device_id": int,
    "revision": int, "class_code": int, "platform": str, "pte_format": str, "pte_size": int, "bar0_size": int, "gtt_offset": int,
    "entries": int, "size": int, "sha256": str, "data": str,
}


def backup_doc(t: Target, data: bytes) -> dict[str, Any]:
    return {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "boot_id": t.boot_id,
        "device": t.bdf,
        "vendor_id": t.vendor,
        "device_id": t.device_id,
        "revision": t.revision,
        "class_code": t.class_code,
        "platform": t.platform,
        "pte_format": t.fmt.name,
        "pte_size": t.fmt.size,
        "bar0_size": t.bar0_size,
        "gtt_offset": t.gtt_offset,
        "entries": t.entries,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }


def write_backup(path: Path, t: Target, data: bytes) -> dict[str, Any]:
    """Write the backup of ``data`` (every entry of ``t``'s GGTT) to a new file ``path`` (mode
    0600, fsync'ed); an existing ``path`` is never replaced (WriteRefused, exit 6)."""
    doc = backup_doc(t, data)
    outfile.write_file(path, json.dumps(doc), replace=False, mode=0o600)
    return doc


def read_backup(path: Path) -> tuple[dict[str, Any], bytes]:
    """A backup, validated whole before anything uses it: every field present with its type, a
    PCI address, a known PTE format whose size times the entries is the data's size, and the
    data decompressed within bounds and matching its sha256. Raises BadInput (exit 3)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read((64 << 20) + 1)
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
        old = " (written by an earlier igdscope that did not record the device's identity and boot; it cannot be checked against the device)" if doc.get("version") == 1 else ""
        raise BadInput(f"{path}: GGTT backup version {printable(repr(doc.get('version')))[:20]} is not one this igdscope restores{old}")
    for key, kind in _BACKUP_KEYS.items():
        if key not in doc:
            raise BadInput(f"{path}: backup has no {key!r}: damaged or not written by igdscope")
        v = doc[key]
        if not isinstance(v, kind) or isinstance(v, bool):
            raise BadInput(f"{path}: backup field {key!r} has the wrong type ({type(v).__name__}): damaged")
    pci_address(doc["device"], f"{path}: backup device")
    fmt = FORMATS.get(doc["pte_format"])
    if fmt is None or fmt.size != doc["pte_size"]:
        raise BadInput(f"{path}: backup PTE format {printable(doc['pte_format'])[:20]!r} / {doc['pte_size']}-byte PTEs is not one igdscope knows")
    size = doc["size"]
    if not 0 < size <= GTT_MAX or doc["entries"] * fmt.size != size:
        raise BadInput(f"{path}: backup of {doc['entries']} entries of {fmt.size} bytes does not fit its size {size} (at most {GTT_MAX} bytes)")
    if not re.fullmatch(r"[0-9a-f]{64}", doc["sha256"]):
        raise BadInput(f"{path}: backup sha256 is not a sha256: damaged")
    try:
        d = zlib.decompressobj()
        data = d.decompress(base64.b64decode(doc["data"], validate=True), size + 1)
    except (ValueError, zlib.error):
        raise BadInput(f"{path}: backup data is damaged") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != doc["sha256"]:
        raise BadInput(f"{path}: backup data does not match its sha256 (damaged or edited)")
    return doc, data


def fits(doc: dict[str, Any], t: Target, path: Path, allow_other_boot: bool = False) -> None:
    """Refuse (exit 6) a valid backup that is not of this device as it is now."""
    for key, mine, show in (("device", t.bdf, str), ("vendor_id", t.vendor, "{:04x}".format), ("device_id", t.device_id, "{:04x}".format),
                            ("revision", t.revision, "{:02x}".format), ("pte_format", t.fmt.name, str), ("entries", t.entries, str),
                            ("gtt_offset", t.gtt_offset, hex)):
        if doc[key] != mine:
            raise Refused(f"{path}: the backup is of {key} {printable(show(doc[key]))[:40]}, {t.bdf} has {show(mine)}; nothing written")
    if doc["boot_id"] != t.boot_id and not allow_other_boot:
        raise Refused(f"{path}: the backup was made in another boot (boot id {printable(str(doc['boot_id']))[:36]}, now {t.boot_id}): its entries hold "
                      "host addresses of that boot; nothing written (--allow-other-boot restores it anyway)")


# -- writing ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    written: int
    verified: int
    total: int
    interrupted: str | None = None
    mismatches: list[int] = field(default_factory=list)
    flushed: bool = False
    backup: str | None = None
    nothing_to_do: bool = False


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Stopper:
    """Notes SIGINT/SIGTERM/SIGHUP/SIGQUIT instead of dying of them while it is active (main
    thread only; elsewhere the signals keep their handlers), so a write stops between chunks."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._old: dict[int, Any] = {}
        self.settle = False  # set once entries were written: on exit, the signals are dropped from then on

    def __enter__(self) -> Stopper:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.seen.append(signal.Signals(signum).name)

    def __exit__(self, *exc: object) -> None:
        if self.settle:
            outfile.settle(self._old)
            return
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    @property
    def stopped(self) -> str | None:
        return self.seen[0] if self.seen else None


def write_entries(win: GttWindow, data: bytes, progress: Callable[[int, int], None] | None = None, stopper: Stopper | None = None) -> Outcome:
    """Write ``data`` (every entry of the window, no more, no less) from entry 0, verify every
    chunk, then flush the TLBs. A stop signal stops between chunks (before the first one too);
    what was written so far is reported and flushed."""
    fmt = win.fmt
    if len(data) != win.entries * fmt.size:
        raise Refused(f"{len(data)} bytes do not make the {win.entries} entries of this GGTT; nothing written")
    total = win.entries
    own = stopper is None
    stop = stopper or Stopper()
    out = Outcome(0, 0, total)
    if own:
        stop.__enter__()
    try:
        for first in range(0, total, CHUNK):
            if stop.stopped:
                out.interrupted = stop.stopped
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
        if out.written:
            win.flush()
            out.flushed = True
    finally:
        if own:
            stop.__exit__()
    return out


@contextlib.contextmanager
def exclusive(root: Root, t: Target):
    """One writer per device: an exclusive lock on the device's resource0 (no file is written
    for it); a second invalidate or restore meanwhile is refused (exit 6)."""
    path = root.path(f"{PCI_DEVICES}/{t.bdf}/resource0")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"{path}: {os_reason(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise Refused(f"another igdscope is writing the GGTT of {t.bdf} right now; nothing written") from None
        yield
    finally:
        os.close(fd)


def invalidate(root: Root, t: Target, backup: Path, method: str = "mmio", progress: Callable[[int, int], None] | None = None,
               io: PortIO | None = None, ignore_open: bool = False) -> Outcome:
    """Back up every entry to the new file ``backup``, then write 0 to every entry (verified,
    then the TLB flush). Refused (exit 6) before anything is read when the backup path exists
    or is not a plain new file, or the device fails :func:`check`. A stop signal before the
    first chunk leaves the GGTT untouched (the backup stays)."""
    check(t, ignore_open)
    outfile.check_target(backup, replace=False)
    with Stopper() as stop, exclusive(root, t):
        win = open_window(root, t, method, io)
        try:
            current = win.read(0, t.entries)
            if not any(current):
                return Outcome(0, 0, t.entries, nothing_to_do=True)
            write_backup(backup, t, current)
            out = write_entries(win, bytes(len(current)), progress, stop)
            stop.settle = out.written > 0  # written: signals no longer change the outcome
        finally:
            win.close()
    out.backup = str(backup)
    return out


def restore(root: Root, backup: Path, device: str | None = None, method: str = "mmio", progress: Callable[[int, int], None] | None = None,
            io: PortIO | None = None, ignore_open: bool = False, allow_other_boot: bool = False) -> Outcome:
    """Write a backup's entries back, after the whole backup is validated (exit 3) and found to
    be of this device in this boot (exit 6); verified, then the TLB flush."""
    doc, data = read_backup(backup)
    t = target(root, device or doc["device"])
    fits(doc, t, backup, allow_other_boot)
    check(t, ignore_open)
    with Stopper() as stop, exclusive(root, t):
        win = open_window(root, t, method, io)
        try:
            out = write_entries(win, data, progress, stop)
            stop.settle = out.written > 0
        finally:
            win.close()
    out.backup = str(backup)
    return out


def progress_bar(stream: Any = None) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        out = stream or sys.stderr
        width = 40
        filled = width * done // max(total, 1)
        write_control(out, f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} entries")
        if done >= total:
            out.write("\n")
        out.flush()

    return show


def _open_device_file(root: Root, path: Path) -> int:
    """``resource0`` / ``resource4`` opened read-write, only when it is a real sysfs attribute:
    igdscope never writes into a copied tree (--root)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"{path}: {os_reason(exc)}") from None
    if not root.on_sysfs(fd):
        os.close(fd)
        raise Refused(f"{path} is not a sysfs attribute (a copied tree?): igdscope writes only to a real device's GGTT")
    return fd


def open_window(root: Root, t: Target, method: str, io: PortIO | None = None) -> GttWindow:
    if method == "bar4":
        if io is None:
            io = SysfsPortIO(_open_device_file(root, root.path(f"{PCI_DEVICES}/{t.bdf}/resource4")))
        return Bar4Window(io, t.entries, t.fmt)
    path = root.path(f"{PCI_DEVICES}/{t.bdf}/resource0")
    fd = _open_device_file(root, path)
    try:
        return Bar0Window(fd, t.bar0_size, t.gtt_offset, t.entries, t.fmt)
    except (OSError, ValueError) as exc:
        os.close(fd)
        raise Refused(f"{path}: {os_reason(exc) if isinstance(exc, OSError) else exc}") from None
