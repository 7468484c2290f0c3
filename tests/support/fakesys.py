"""Fake machines for the live paths: a sysfs/procfs/debugfs tree under a directory (for --root),
and a umockdev device description (for real libudev under umockdev-run), both made from a Capture.

The demo captures drive them, so a live read of the fake tree must give back the capture it was
made from: that is what the live-path tests assert.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from igdscope.capture import Capture
from igdscope.sources.sysfs import Root

PCI = "sys/bus/pci/devices"
FAKE_BOOT_ID = "5b0c1e9a-7d2f-4c3e-9a41-2f6d8e0b7c15"  # /proc/sys/kernel/random/boot_id of every fake tree


def _w(root: Path, rel: str, data: bytes | str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _link(root: Path, rel: str, target: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


class FakeSysfsRom:
    """A ``rom`` attribute that behaves like the kernel's (drivers/pci/pci-sysfs.c): a write
    switches it off only when it is at offset 0, exactly 2 bytes long and starts with '0'
    (``pci_write_rom``); any other write switches it on. Reading while it is off fails with
    EINVAL (``pci_read_rom``). The state lives beside the fake file (``rom.enable``, "0" or "1";
    off when absent) and every write is logged (``rom.writes``, one ``offset:hex`` line each), so
    a test in another process sees them too."""

    sysfs = True

    def __init__(self, path: Path, on_read=None):
        self.path, self.on_read = path, on_read
        self.data = path.read_bytes()

    def pread(self, n: int, offset: int) -> bytes:
        if self.on_read is not None:
            self.on_read(self)
        if not self.enabled:
            raise OSError(errno.EINVAL, "Invalid argument")
        return self.data[offset : offset + n]

    def switch(self, data: bytes) -> None:
        self.pwrite(data, 0)

    def pwrite(self, data: bytes, offset: int) -> int:
        with open(str(self.path) + ".writes", "a") as log:
            log.write(f"{offset}:{data.hex()}\n")
        off = offset == 0 and data[:1] == b"0" and len(data) == 2
        Path(str(self.path) + ".enable").write_text("0" if off else "1")
        return len(data)

    @property
    def enabled(self) -> bool:
        return rom_state(self.path) == "1"

    def close(self) -> None:
        pass


def rom_state(path: Path) -> str:
    e = Path(str(path) + ".enable")
    return e.read_text() if e.exists() else "0"


def rom_writes(path: Path) -> list[tuple[int, bytes]]:
    log = Path(str(path) + ".writes")
    if not log.exists():
        return []
    return [(int(o), bytes.fromhex(h)) for o, h in (line.split(":") for line in log.read_text().splitlines())]


class FakeRoot(Root):
    """A Root over a fake tree that stands for sysfs: its ``rom`` attributes behave like the
    kernel's (:class:`FakeSysfsRom`) where a plain file cannot, and its ``resource0`` /
    ``resource4`` count as a device's (the GGTT write path refuses plain files of a plain
    :class:`Root`). ``on_rom_read`` is called before each read of a ROM."""

    on_rom_read = None

    def on_sysfs(self, fd: int) -> bool:
        return True  # its resource files stand for a device's

    def open_rom(self, p: str) -> FakeSysfsRom:
        return FakeSysfsRom(self.path(p), self.on_rom_read)

    def rom_state(self, p: str) -> str:
        return rom_state(self.path(p))


def tree_digest(root: Path) -> dict[str, str]:
    """Every file of a tree (symlinks by their target, files by sha256), to show it unchanged."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            else:
                with open(p, "rb") as fh:
                    out[rel] = hashlib.sha256(fh.read()).hexdigest()
    return out


def resource_text(resources: list[dict]) -> str:
    by_bar = {r["bar"]: r for r in resources}
    lines = []
    for i in range(13):
        r = by_bar.get(i)
        if r is None:
            lines.append("0x0000000000000000 0x0000000000000000 0x0000000000000000")
        else:
            lines.append(f"0x{r['start']:016x} 0x{r['end']:016x} 0x{r['flags']:016x}")
    return "\n".join(lines) + "\n"


def build_tree(cap: Capture, root: Path, *, config_bytes: int | None = None, with_debugfs: bool = True, devmem: bool = False) -> Path:
    """Write ``cap`` as a fake machine under ``root``. ``config_bytes`` truncates config files
    (64 imitates an unprivileged reader)."""
    for d in cap.devices:
        base = f"sys/devices/pci0000:00/{d.bdf}"
        _w(root, f"{base}/vendor", f"0x{d.vendor:04x}\n")
        _w(root, f"{base}/device", f"0x{d.device:04x}\n")
        _w(root, f"{base}/class", f"0x{d.class_code:06x}\n")
        _w(root, f"{base}/revision", f"0x{d.revision:02x}\n")
        if d.subsystem_vendor is not None:
            _w(root, f"{base}/subsystem_vendor", f"0x{d.subsystem_vendor:04x}\n")
            _w(root, f"{base}/subsystem_device", f"0x{d.subsystem_device:04x}\n")
        cfg = cap.blobs[d.config_blob].data
        _w(root, f"{base}/config", cfg[:config_bytes] if config_bytes else cfg)
        _w(root, f"{base}/resource", resource_text(d.resources))
        if d.boot_vga is not None:
            _w(root, f"{base}/boot_vga", "1\n" if d.boot_vga else "0\n")
        if d.driver:
            (root / f"sys/bus/pci/drivers/{d.driver}").mkdir(parents=True, exist_ok=True)
            _link(root, f"{base}/driver", f"../../../bus/pci/drivers/{d.driver}")
        if d.iommu_group is not None:
            gdir = root / f"sys/kernel/iommu_groups/{d.iommu_group}/devices"
            gdir.mkdir(parents=True, exist_ok=True)
            for m in d.iommu_group_members:
                if not (gdir / m).exists():
                    os.symlink(f"../../../../devices/pci0000:00/{m}", gdir / m)
            _link(root, f"{base}/iommu_group", f"../../../kernel/iommu_groups/{d.iommu_group}")
        if d.sriov and d.sriov.get("role") == "pf":
            _w(root, f"{base}/sriov_totalvfs", f"{d.sriov['totalvfs']}\n")
            _w(root, f"{base}/sriov_numvfs", f"{d.sriov['numvfs']}\n")
        if d.sriov and d.sriov.get("role") == "vf":
            _link(root, f"{base}/physfn", f"../{d.sriov['physfn']}")
        if d.role == "igd":
            if "rom" in cap.blobs:
                _w(root, f"{base}/rom", cap.blobs["rom"].data)
            bar0 = d.bar_size(0)
            if bar0:
                p = root / f"{base}/resource0"
                with open(p, "wb") as fh:
                    fh.truncate(bar0)
                    if "gtt" in cap.blobs:
                        fh.seek(bar0 // 2)
                        fh.write(cap.blobs["gtt"].data)
        _link(root, f"{PCI}/{d.bdf}", f"../../../devices/pci0000:00/{d.bdf}")
    h = cap.host
    _w(root, "proc/sys/kernel/osrelease", (h.get("kernel_release") or "") + "\n")
    _w(root, "proc/sys/kernel/random/boot_id", FAKE_BOOT_ID + "\n")
    _w(root, "proc/cmdline", (h.get("cmdline") or "") + "\n")
    mods = h.get("modules", {})
    _w(root, "proc/modules", "".join(f"{m} 16384 0 - Live 0x0000000000000000\n" for m, v in mods.items() if v.get("loaded")))
    for m, v in mods.items():
        for p, val in v.get("parameters", {}).items():
            _w(root, f"sys/module/{m}/parameters/{p}", val + "\n")
    hv = h.get("hypervisor", {})
    flags = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov" + (" hypervisor" if hv.get("cpu_flag") else "") + " lm"
    _w(root, "proc/cpuinfo", f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n\n")
    for key in ("sys_vendor", "product_name", "board_name", "bios_version"):
        if hv.get(f"dmi_{key}"):
            _w(root, f"sys/class/dmi/id/{key}", hv[f"dmi_{key}"] + "\n")
    _w(root, "proc/iomem", "00000000-00000fff : Reserved\n" + "".join(line + "\n" for line in h.get("iomem", [])))
    for u in h.get("dmar", []):
        for k in ("version", "address", "cap", "ecap"):
            _w(root, f"sys/class/iommu/{u['name']}/intel-iommu/{k}", u[k] + "\n")
    igd = cap.device("igd")
    if with_debugfs and igd is not None and igd.driver == "i915":
        _w(root, "sys/kernel/debug/dri/0/name", f"i915 dev={igd.bdf} unique={igd.bdf}\n")
        if "opregion" in cap.blobs:
            _w(root, "sys/kernel/debug/dri/0/i915_opregion", cap.blobs["opregion"].data[:8192])
        if "vbt/debugfs" in cap.blobs:
            _w(root, "sys/kernel/debug/dri/0/i915_vbt", cap.blobs["vbt/debugfs"].data)
    if devmem and igd is not None and "opregion" in cap.blobs:
        asls = int.from_bytes(cap.blobs[igd.config_blob].data[0xFC:0x100], "little")
        with open(_w(root, "dev/mem", b""), "r+b") as fh:
            fh.seek(asls)
            fh.write(cap.blobs["opregion"].data)
    (root / "dev").mkdir(exist_ok=True)
    return root


def umockdev_description(cap: Capture) -> str:
    """A umockdev device description of the capture's PCI functions (for umockdev-run -d)."""
    out = []
    for d in cap.devices:
        cfg = cap.blobs[d.config_blob].data
        lines = [
            f"P: /devices/pci0000:00/{d.bdf}",
            "E: SUBSYSTEM=pci",
            f"E: PCI_CLASS={d.class_code:X}",
            f"E: PCI_ID={d.vendor:04X}:{d.device:04X}",
            f"E: PCI_SLOT_NAME={d.bdf}",
            f"A: vendor=0x{d.vendor:04x}",
            f"A: device=0x{d.device:04x}",
            f"A: class=0x{d.class_code:06x}",
            f"A: revision=0x{d.revision:02x}",
            "A: resource=" + resource_text(d.resources).replace("\n", "\\n"),
            f"H: config={cfg.hex()}",
        ]
        if d.driver:
            lines.insert(2, f"E: DRIVER={d.driver}")
            lines.append(f"L: driver=../../../bus/pci/drivers/{d.driver}")
        if d.subsystem_vendor is not None:
            lines += [f"A: subsystem_vendor=0x{d.subsystem_vendor:04x}", f"A: subsystem_device=0x{d.subsystem_device:04x}"]
        if d.iommu_group is not None:
            lines.append(f"L: iommu_group=../../../kernel/iommu_groups/{d.iommu_group}")
        if d.boot_vga is not None:
            lines.append(f"A: boot_vga={int(d.boot_vga)}")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)
