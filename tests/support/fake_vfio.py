"""An emulated kernel for the vfio IGD region reader (``igdscope.sources.vfio``): /dev/vfio/* and a
vfio-pci device fd behaving like vfio-pci's, with the regions a gen9 IGD has (the three IGD
regions: OpRegion, host bridge and LPC config)."""

from __future__ import annotations

import errno
import os
import struct

from igdscope.schemas import vfio as V

IGD = V.VFIO_REGION_TYPE_INTEL_IGD
SHIFT = 40  # vfio-pci's index -> file offset encoding (only the fake relies on it)


def _opregion(size_kib: int = 8) -> bytes:
    head = b"IntelGraphicsMem" + struct.pack("<I", size_kib) + b"\0" * 2 + struct.pack("<H", 0x0201)
    body = bytes((i * 7) & 0xFF for i in range(size_kib * 1024 - len(head)))
    return head + body


def _cfg(vendor: int, device: int, class_code: int, size: int = 256) -> bytes:
    b = bytearray(size)
    struct.pack_into("<HH", b, 0, vendor, device)
    b[9:12] = class_code.to_bytes(3, "little")
    b[0x40:0x44] = b"\x11\x22\x33\x44"
    return bytes(b)


OPREGION = _opregion()
HOST_CFG = _cfg(0x8086, 0x3E30, 0x060000, 256)
LPC_CFG = _cfg(0x8086, 0xA305, 0x060100, 4096)


def std_regions() -> dict[int, dict]:
    """What vfio-pci reports for a gen9 IGD (00:02.0) with the three IGD regions."""
    return {
        0: {"flags": 0b0111, "size": 16 * (1 << 20)},  # GTTMMADR, mmap-able
        1: {"flags": 0, "size": 0},
        2: {"flags": 0b0111, "size": 256 * (1 << 20), "caps": [{"id": V.VFIO_REGION_INFO_CAP_SPARSE_MMAP, "areas": [(0, 256 << 20)]}]},
        3: {"flags": 0, "size": 0},
        4: {"flags": 0b0011, "size": 64},  # I/O BAR
        5: {"flags": 0, "size": 0},
        6: {"flags": 0b0001, "size": 0x20000},  # shadow ROM
        7: {"flags": 0b0011, "size": 4096},
        8: {"flags": 0b0011, "size": 0xC0000},
        9: {
            "flags": 0b0001,
            "size": len(OPREGION),
            "data": OPREGION,
            "caps": [
                {"id": V.VFIO_REGION_INFO_CAP_SPARSE_MMAP, "areas": [(0, 0x1000), (0x1000, 0x1000)]},
                {"id": V.VFIO_REGION_INFO_CAP_TYPE, "type": IGD, "subtype": 1},
            ],
        },
        10: {"flags": 0b0001, "size": len(HOST_CFG), "data": HOST_CFG, "caps": [{"id": 2, "type": IGD, "subtype": 2}]},
        11: {"flags": 0b0001, "size": len(LPC_CFG), "data": LPC_CFG, "caps": [{"id": 2, "type": IGD, "subtype": 3}]},
    }


class FakeKernel:
    """Emulates /dev/vfio/* and a vfio-pci device fd closely enough for the reader.

    ``regions[i]`` is ``{"flags", "size", "caps", "data"}`` or ``{"raw": bytes}`` (a complete, possibly
    hostile, GET_REGION_INFO answer). Every request is recorded; anything that is not a query fails
    the test.
    """

    def __init__(self, root="/fake", group=1, bdf="0000:00:02.0", regions=None):
        self.root = root
        self.group = group
        self.bdf = bdf
        self.regions = std_regions() if regions is None else regions
        self.num_regions = max(self.regions) + 1 if self.regions else 9
        self.open_errors: dict[str, int] = {}
        self.missing: set[str] = set()
        self.viable = True
        self.iommu_types = {V.VFIO_TYPE1_IOMMU, V.VFIO_TYPE1v2_IOMMU}
        self.device_fd_errno: int | None = None
        self.old_device_info = False
        self.max_pread = 3000  # short reads exercise the read loop
        self.next_fd = 10
        self.fds: dict[int, str] = {}
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.calls: list[tuple[str, int]] = []
        self.region_asks: dict[int, list[int]] = {}
        self.container_of_group: int | None = None
        self.iommu_set: int | None = None

    # --- helpers
    def path(self, p):
        return os.path.join(self.root, p)

    def _new_fd(self, kind):
        fd = self.next_fd
        self.next_fd += 1
        self.fds[fd] = kind
        self.opened.append(fd)
        return fd

    def answer(self, index: int) -> bytes:
        r = self.regions[index]
        if "raw" in r:
            return r["raw"]
        return V.build_region_info(index, r["flags"], r["size"], index << SHIFT, r.get("caps", ()))

    # --- ops interface
    def open(self, path, flags):
        assert flags & os.O_ACCMODE == os.O_RDWR
        if path in self.open_errors:
            code = self.open_errors[path]
            raise OSError(code, os.strerror(code), path)
        if path == self.path("dev/vfio/vfio") and path not in self.missing:
            return self._new_fd("container")
        if path == self.path(f"dev/vfio/{self.group}") and path not in self.missing:
            return self._new_fd("group")
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    def ioctl(self, fd, request, buf):
        kind = self.fds[fd]  # KeyError: ioctl on a closed/unknown fd
        self.calls.append((kind, request))
        assert request in V.READ_ONLY_IOCTLS, f"non-query ioctl {request:#x}"
        if kind == "container":
            if request == V.VFIO_GET_API_VERSION:
                return 0
            if request == V.VFIO_SET_IOMMU:
                assert isinstance(buf, int)
                assert self.container_of_group == fd, "SET_IOMMU before SET_CONTAINER"
                if buf not in self.iommu_types:
                    raise OSError(errno.EINVAL, "Invalid argument")
                self.iommu_set = buf
                return 0
        elif kind == "group":
            if request == V.VFIO_GROUP_GET_STATUS:
                argsz = struct.unpack_from("<I", buf, 0)[0]
                assert argsz == 8 and len(buf) == 8
                flags = (V.VFIO_GROUP_FLAGS_VIABLE if self.viable else 0) | (
                    V.VFIO_GROUP_FLAGS_CONTAINER_SET if self.container_of_group else 0
                )
                struct.pack_into("<I", buf, 4, flags)
                return 0
            if request == V.VFIO_GROUP_SET_CONTAINER:
                (cfd,) = struct.unpack("<i", bytes(buf[:4]))
                assert self.fds.get(cfd) == "container"
                if not self.viable:
                    raise OSError(errno.EPERM, "Operation not permitted")
                self.container_of_group = cfd
                return 0
            if request == V.VFIO_GROUP_GET_DEVICE_FD:
                assert self.iommu_set is not None
                name = bytes(buf).split(b"\0")[0].decode()
                if self.device_fd_errno:
                    raise OSError(self.device_fd_errno, os.strerror(self.device_fd_errno))
                if name != self.bdf:
                    raise OSError(errno.ENODEV, "No such device")
                return self._new_fd("device")
        elif kind == "device":
            if request == V.VFIO_DEVICE_GET_INFO:
                argsz = struct.unpack_from("<I", buf, 0)[0]
                assert argsz >= 16
                if self.old_device_info:
                    out = V.build_device_info(V.VFIO_DEVICE_FLAGS_PCI | 1, self.num_regions, 5, cap_offset=None)
                else:
                    out = V.build_device_info(V.VFIO_DEVICE_FLAGS_PCI | 1, self.num_regions, 5, argsz=argsz)
                n = min(len(out), argsz, len(buf))
                buf[:n] = out[:n]
                return 0
            if request == V.VFIO_DEVICE_GET_REGION_INFO:
                argsz, _flags, index = struct.unpack_from("<III", buf, 0)
                assert argsz == len(buf) and argsz >= 32
                self.region_asks.setdefault(index, []).append(argsz)
                if index not in self.regions or index >= self.num_regions:
                    raise OSError(errno.EINVAL, "Invalid argument")
                full = self.answer(index)
                if argsz < len(full) and "raw" not in self.regions[index]:
                    # the kernel's answer to a too-small buffer: needed size, CAPS flag, no chain
                    fixed = bytearray(full[:32])
                    struct.pack_into("<I", fixed, 0, len(full))
                    struct.pack_into("<I", fixed, 12, 0)
                    buf[:32] = fixed
                else:
                    n = min(len(full), argsz)
                    buf[:n] = full[:n]
                return 0
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")

    def pread(self, fd, n, offset):
        assert self.fds[fd] == "device"
        index = offset >> SHIFT
        pos = offset & ((1 << SHIFT) - 1)
        r = self.regions[index]
        data = r.get("data", b"")
        return data[pos : pos + min(n, self.max_pread)]

    def close(self, fd):
        assert fd in self.fds, f"close of unknown or already closed fd {fd}"
        del self.fds[fd]
        self.closed.append(fd)

    def all_closed(self):
        return not self.fds and sorted(self.opened) == sorted(self.closed)
