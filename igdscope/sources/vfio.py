"""Reading the IGD device-specific regions that vfio-pci exposes for an Intel IGD it owns.

vfio-pci creates three read-only regions when the device is opened (reference §5): the OpRegion
(subtype 1), the host bridge config space (subtype 2) and the LPC bridge config space (subtype 3), all
of type ``VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086``. Getting at them needs the legacy group path:
container ``/dev/vfio/vfio``, group ``/dev/vfio/<N>``, ``VFIO_GROUP_SET_CONTAINER``,
``VFIO_SET_IOMMU``, ``VFIO_GROUP_GET_DEVICE_FD``; then ``VFIO_DEVICE_GET_INFO`` and
``VFIO_DEVICE_GET_REGION_INFO`` per index and ``pread`` at each region's reported offset.

This module never writes to the device: the only ioctls are the queries and the container/group
setup (:data:`igdscope.schemas.vfio.READ_ONLY_IOCTLS`, enforced), and region contents are read with
``pread`` only. Be aware of what the *kernel* does, though: opening a vfio-pci device fd enables the
device and tries a function reset, and closing the last fd disables it, tries a reset again and may
put it in D3hot (vfio_pci_enable / vfio_pci_disable). That is the same thing every VM start does to a
passed-through device, but it is not side-effect free, so callers should only do this on request.

Every fd opened here is closed on every path. Failures that prevent reading anything raise
:class:`VfioError` (one line, user-facing); per-region problems land in the result's ``errors``.
"""

from __future__ import annotations

import errno as E
import os
import re
import struct
from typing import Any, Protocol

from igdscope.binary import DecodeError
from igdscope.errors import EXIT_BAD_INPUT, EXIT_PERMISSION, IgdscopeError
from igdscope.schemas import vfio as V

KiB = 1 << 10
MiB = 1 << 20

MAX_INFO_BUFFER = 64 * KiB  # capability chains larger than this are not fetched
OPREGION_LIMIT = 8 * MiB  # OpRegion (8 KiB) + an extended VBT fits easily
CFG_LIMIT = 4096  # PCI config space, conventional or extended
MAX_DEVICE_REGIONS = 64  # device-specific region indexes examined beyond the 9 fixed ones
READ_CHUNK = 1 * MiB

SUBTYPE_KEYS = {
    V.VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION: ("opregion", OPREGION_LIMIT),
    V.VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG: ("host_cfg", CFG_LIMIT),
    V.VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG: ("lpc_cfg", CFG_LIMIT),
}

NO_OPREGION = (
    "the kernel exposes no IGD OpRegion region: CONFIG_VFIO_PCI_IGD off, ASLS is 0, or kernel < 4.6"
)
NO_HOST_CFG = (
    "the kernel exposes no IGD host bridge config region: 0000:00:00.0 is missing or not an Intel "
    "host bridge (class 0x060000)"
)
NO_LPC_CFG = (
    "the kernel exposes no IGD LPC bridge config region: 0000:00:1f.0 is missing or not an Intel "
    "ISA bridge (class 0x060100)"
)

# Drivers that do not make an IOMMU group non-viable (vfio-pci itself and the kernel's allow-list).
VIABLE_DRIVERS = frozenset({"vfio-pci", "pci-stub", "pcieport"})

_BDF = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")


class VfioError(IgdscopeError):
    """vfio cannot be used to reach the device at all; ``str()`` is one line saying why."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, errno: int | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.errno = errno
        if exit_code is not None:
            self.exit_code = exit_code


class Ops(Protocol):
    def open(self, path: str, flags: int) -> int: ...

    def ioctl(self, fd: int, request: int, buf: bytearray | int) -> int: ...

    def pread(self, fd: int, n: int, offset: int) -> bytes: ...

    def close(self, fd: int) -> None: ...


class OsOps:
    """The real system calls. ``ioctl`` takes a ``bytearray`` for pointer arguments (filled in place by
    the kernel) or an ``int`` for by-value arguments (``VFIO_SET_IOMMU``, ``VFIO_CHECK_EXTENSION``);
    failures raise :class:`OSError` with ``errno`` set."""

    def open(self, path: str, flags: int) -> int:
        return os.open(path, flags | os.O_CLOEXEC)

    def ioctl(self, fd: int, request: int, buf: bytearray | int) -> int:
        import fcntl  # POSIX only; imported late so the module loads anywhere

        if isinstance(buf, int):
            return fcntl.ioctl(fd, request, buf)
        return fcntl.ioctl(fd, request, buf, True)

    def pread(self, fd: int, n: int, offset: int) -> bytes:
        return os.pread(fd, n, offset)

    def close(self, fd: int) -> None:
        os.close(fd)


def normalize_bdf(bdf: str) -> str:
    """``00:02.0`` / ``0000:00:02.0`` → ``0000:00:02.0``; anything else raises :class:`VfioError`."""
    m = _BDF.match(bdf.strip())
    if not m:
        raise VfioError(f"{bdf!r} is not a PCI address like 0000:00:02.0")
    dom, bus, dev, fn = m.groups()
    return f"{(dom or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def _errname(exc: OSError) -> str:
    code = exc.errno
    name = E.errorcode.get(code, str(code)) if code is not None else "?"
    return f"{name}: {exc.strerror or os.strerror(code or 0)}"


def _in_use(group: int) -> str:
    return (
        f"the vfio group {group} is in use — probably by a running VM; stop it or read the capture "
        "inside the guest"
    )


def _needs_root(path: str) -> VfioError:
    return VfioError(
        f"cannot open {path}: permission denied — reading vfio regions needs root",
        errno=E.EACCES,
        exit_code=EXIT_PERMISSION,
    )


def group_members(root: str, group: int) -> list[tuple[str, str | None]]:
    """(bdf, driver or None) of every device in IOMMU group ``group`` according to sysfs."""
    base = os.path.join(root, "sys/kernel/iommu_groups", str(group), "devices")
    out = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names[:256]:
        try:
            driver = os.path.basename(os.readlink(os.path.join(base, name, "driver")))
        except OSError:
            driver = None
        out.append((name, driver))
    return out


def _not_viable(root: str, group: int, bdf: str) -> VfioError:
    members = [(d, drv) for d, drv in group_members(root, group) if d != bdf]
    blocking = [(d, drv) for d, drv in members if drv is not None and drv not in VIABLE_DRIVERS]
    shown = blocking or [(d, drv) for d, drv in members if drv != "vfio-pci"]
    if shown:
        listed = ", ".join(f"{d} ({drv or 'no driver'})" for d, drv in shown)
    else:
        listed = f"see /sys/kernel/iommu_groups/{group}/devices"
    return VfioError(f"other devices of IOMMU group {group} are not bound to vfio-pci: {listed}")


class _Session:
    """fd bookkeeping and the guarded ioctl; close() closes everything in reverse order."""

    def __init__(self, ops: Any):
        self.ops = ops
        self.fds: list[int] = []

    def open(self, path: str) -> int:
        fd = self.ops.open(path, os.O_RDWR)
        self.fds.append(fd)
        return fd

    def adopt(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def ioctl(self, fd: int, request: int, buf: bytearray | int) -> int:
        if request not in V.READ_ONLY_IOCTLS:  # a programming error, never user input
            raise AssertionError(f"refusing ioctl {request:#x}: not a query")
        return self.ops.ioctl(fd, request, buf)

    def close(self) -> None:
        while self.fds:
            fd = self.fds.pop()
            try:
                self.ops.close(fd)
            except OSError:
                pass


def _open_node(s: _Session, path: str, group: int, what: str) -> int:
    try:
        return s.open(path)
    except OSError as exc:
        if exc.errno == E.ENOENT:
            if what == "container":
                raise VfioError(
                    f"no {path}: no vfio on this system (load the vfio and vfio-pci modules)", errno=E.ENOENT
                ) from None
            raise VfioError(
                f"no {path}: vfio-pci does not own the device (or {group} is not its IOMMU group)",
                errno=E.ENOENT,
            ) from None
        if exc.errno in (E.EACCES, E.EPERM):
            raise _needs_root(path) from None
        if exc.errno == E.EBUSY:
            raise VfioError(_in_use(group), errno=E.EBUSY) from None
        raise VfioError(f"cannot open {path}: {_errname(exc)}", errno=exc.errno) from None


def _setup_error(step: str, exc: OSError, group: int, path: str) -> VfioError:
    if exc.errno == E.EBUSY:
        return VfioError(_in_use(group), errno=E.EBUSY)
    if exc.errno in (E.EACCES, E.EPERM):
        return VfioError(
            f"{step} on {path} was refused ({_errname(exc)}) — reading vfio regions needs root",
            errno=exc.errno,
            exit_code=EXIT_PERMISSION,
        )
    return VfioError(f"{step} failed for vfio group {group}: {_errname(exc)}", errno=exc.errno)


def _get_device_fd(s: _Session, group_fd: int, name: str, group: int) -> int:
    arg = bytearray(name.encode("ascii") + b"\0")
    try:
        return s.adopt(s.ioctl(group_fd, V.VFIO_GROUP_GET_DEVICE_FD, arg))
    except OSError as exc:
        if exc.errno == E.EBUSY:
            raise VfioError(_in_use(group), errno=E.EBUSY) from None
        if exc.errno == E.ENODEV:
            raise VfioError(f"{name} is not in IOMMU group {group}", errno=E.ENODEV) from None
        if exc.errno in (E.EACCES, E.EPERM):
            raise VfioError(
                f"opening {name} through vfio was refused ({_errname(exc)}) — needs root",
                errno=exc.errno,
                exit_code=EXIT_PERMISSION,
            ) from None
        raise VfioError(
            f"vfio-pci could not open {name} ({_errname(exc)}); if dmesg says 'Failed to setup Intel "
            "IGD regions', the kernel's OpRegion/host bridge/LPC checks failed",
            errno=exc.errno,
        ) from None


def _region_info(s: _Session, dev_fd: int, index: int, errors: list[str]) -> dict | None:
    buf = bytearray(V.REGION_INFO_SIZE)
    struct.pack_into("<II", buf, 0, V.REGION_INFO_SIZE, 0)
    struct.pack_into("<I", buf, 8, index)
    try:
        s.ioctl(dev_fd, V.VFIO_DEVICE_GET_REGION_INFO, buf)
        argsz, flags = struct.unpack_from("<II", buf, 0)
        if flags & V.VFIO_REGION_INFO_FLAG_CAPS and argsz > len(buf):
            if argsz > MAX_INFO_BUFFER:
                errors.append(
                    f"region {index}: capability chain needs {argsz} bytes, more than the "
                    f"{MAX_INFO_BUFFER // KiB} KiB limit; capabilities not read"
                )
                buf = buf[: V.REGION_INFO_SIZE]
                struct.pack_into("<I", buf, 12, 0)  # no chain in this buffer
            else:
                buf = bytearray(argsz)
                struct.pack_into("<II", buf, 0, argsz, 0)
                struct.pack_into("<I", buf, 8, index)
                s.ioctl(dev_fd, V.VFIO_DEVICE_GET_REGION_INFO, buf)
    except OSError as exc:
        errors.append(f"region {index}: VFIO_DEVICE_GET_REGION_INFO failed: {_errname(exc)}")
        return None
    try:
        info = V.parse_region_info(bytes(buf))
    except DecodeError as exc:  # cannot happen with a >= 32-byte buffer; kept for fakes
        errors.append(f"region {index}: {exc}")
        return None
    if info["index"] != index:
        info["findings"].append(f"kernel answered for index {info['index']} when asked for {index}")
    errors.extend(f"region {index}: {f}" for f in info["findings"])
    return info


def _read_region(s: _Session, dev_fd: int, info: dict, limit: int, errors: list[str]) -> bytes | None:
    label = f"region {info['index']} ({info.get('subtype_name', 'device specific')})"
    size, base = info["size"], info["offset"]
    if not info["flags"].get("read"):
        errors.append(f"{label} is not readable (flags {info['flags_value']:#x})")
        return None
    if size == 0:
        errors.append(f"{label} is empty")
        return None
    if size > limit:
        errors.append(f"{label} claims {size} bytes, more than the {limit}-byte limit; not read")
        return None
    if base + size > (1 << 63) - 1:
        errors.append(f"{label} offset {base:#x} + size {size:#x} is beyond any file offset; not read")
        return None
    chunks: list[bytes] = []
    got = 0
    while got < size:
        want = min(READ_CHUNK, size - got)
        try:
            b = s.ops.pread(dev_fd, want, base + got)
        except OSError as exc:
            errors.append(f"{label}: read at +{got:#x} failed: {_errname(exc)}")
            return b"".join(chunks) if chunks else None
        if not b:
            errors.append(f"{label}: read ended after {got} of {size} bytes")
            break
        b = bytes(b[:want])
        chunks.append(b)
        got += len(b)
    return b"".join(chunks) if chunks else None


def read_igd_regions(root: str, bdf: str, group: int, *, ops: Any = None) -> dict:
    """Open ``bdf`` through vfio group ``group`` and read its IGD regions.

    ``root`` prefixes the device nodes (``{root}/dev/vfio/vfio``, ``{root}/dev/vfio/{group}``) and the
    sysfs used to explain a non-viable group; ``None``/``""`` mean ``/``. ``ops`` replaces the system
    calls (see :class:`OsOps`). Returns ``{"opregion", "host_cfg", "lpc_cfg"}`` (bytes or None),
    ``"regions"`` (plain infos of the device-specific regions, index >= 9), ``"device"`` (plain
    ``vfio_device_info``) and ``"errors"`` (one-line strings). Raises :class:`VfioError` when no
    device fd can be had.
    """
    root = root or "/"
    ops = ops if ops is not None else OsOps()
    name = normalize_bdf(bdf)
    if not isinstance(group, int) or isinstance(group, bool) or group < 0:
        raise VfioError(f"{group!r} is not an IOMMU group number")
    container_path = os.path.join(root, "dev/vfio/vfio")
    group_path = os.path.join(root, "dev/vfio", str(group))
    result: dict[str, Any] = {
        "opregion": None,
        "host_cfg": None,
        "lpc_cfg": None,
        "regions": [],
        "device": None,
        "errors": [],
    }
    errors: list[str] = result["errors"]
    s = _Session(ops)
    try:
        container = _open_node(s, container_path, group, "container")
        try:
            version = s.ioctl(container, V.VFIO_GET_API_VERSION, 0)
        except OSError as exc:
            raise _setup_error("VFIO_GET_API_VERSION", exc, group, container_path) from None
        if version != V.VFIO_API_VERSION:
            raise VfioError(f"unknown vfio API version {version} (expected {V.VFIO_API_VERSION})")

        group_fd = _open_node(s, group_path, group, "group")
        status = bytearray(V.build_group_status(0))
        try:
            s.ioctl(group_fd, V.VFIO_GROUP_GET_STATUS, status)
        except OSError as exc:
            raise _setup_error("VFIO_GROUP_GET_STATUS", exc, group, group_path) from None
        flags = V.parse_group_status(bytes(status))["flags"]
        if not flags["viable"]:
            raise _not_viable(root, group, name)
        if flags["container_set"]:
            raise VfioError(_in_use(group), errno=E.EBUSY)

        try:
            s.ioctl(group_fd, V.VFIO_GROUP_SET_CONTAINER, bytearray(struct.pack("<i", container)))
        except OSError as exc:
            raise _setup_error("VFIO_GROUP_SET_CONTAINER", exc, group, group_path) from None
        last: OSError | None = None
        for iommu in (V.VFIO_TYPE1v2_IOMMU, V.VFIO_TYPE1_IOMMU):
            try:
                s.ioctl(container, V.VFIO_SET_IOMMU, iommu)
                last = None
                break
            except OSError as exc:
                last = exc
        if last is not None:
            raise _setup_error("VFIO_SET_IOMMU (type1v2, type1)", last, group, container_path)

        dev_fd = _get_device_fd(s, group_fd, name, group)
        dinfo = bytearray(V.build_device_info(num_regions=0, num_irqs=0, flags=0))
        try:
            s.ioctl(dev_fd, V.VFIO_DEVICE_GET_INFO, dinfo)
        except OSError as exc:
            raise VfioError(f"VFIO_DEVICE_GET_INFO failed for {name}: {_errname(exc)}", errno=exc.errno) from None
        device = V.parse_device_info(bytes(dinfo))
        result["device"] = device
        if not device["flags"]["pci"]:
            errors.append(f"{name} is not reported as a vfio-pci device (flags {device['flags_value']:#x})")
        num_regions = device["num_regions"]
        last_index = min(num_regions, V.VFIO_PCI_NUM_REGIONS + MAX_DEVICE_REGIONS)
        if num_regions > last_index:
            errors.append(f"device reports {num_regions} regions; only the first {last_index} are examined")

        found: dict[str, dict] = {}
        for index in range(V.VFIO_PCI_NUM_REGIONS, last_index):
            info = _region_info(s, dev_fd, index, errors)
            if info is None:
                continue
            result["regions"].append(info)
            if info["type"] != V.VFIO_REGION_TYPE_INTEL_IGD or info["subtype"] not in SUBTYPE_KEYS:
                continue
            key, limit = SUBTYPE_KEYS[info["subtype"]]
            if key in found:
                errors.append(
                    f"region {index}: a second {info['subtype_name']} region (first is region "
                    f"{found[key]['index']}); ignored"
                )
                continue
            found[key] = info
            result[key] = _read_region(s, dev_fd, info, limit, errors)

        if "opregion" not in found:
            errors.append(NO_OPREGION)
        else:
            if "host_cfg" not in found:
                errors.append(NO_HOST_CFG)
            if "lpc_cfg" not in found:
                errors.append(NO_LPC_CFG)
        return result
    finally:
        s.close()
