"""Collect one Capture of the machine igdscope runs on (host or guest alike).

Everything is read-only except the ``rom`` switch that the kernel requires to read an option ROM
(on a real sysfs attribute only: :func:`igdscope.sources.sysfs.read_rom`). Every source that fails
is recorded in ``capture.errors`` with the reason; the capture still holds everything else.
"""

from __future__ import annotations

import datetime as _dt
import mmap
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from igdscope import platforms
from igdscope.capture import Blob, Capture, Device
from igdscope.sources.sysfs import PCI_DEVICES, Root, os_reason, read_rom
from igdscope.sources.udev import PciFunction, discover

CONFIG_MAX = 4096
ROM_MAX = 16 << 20
OPREGION_SIZE = 8 << 10
GTT_MAX = 8 << 20
MODULES = ("i915", "xe", "vfio_pci", "vfio_pci_core", "vfio_iommu_type1", "vfio", "kvm_intel", "kvmgt")
MODULE_PARAMS = {"vfio_pci": ("disable_vga", "ids", "disable_idle_d3", "nointxmask"), "i915": ("modeset", "enable_guc", "force_probe", "vbt_firmware"), "xe": ("force_probe",), "kvm_intel": ("nested",)}
IOMEM_NAMES = re.compile(r"stolen|efifb|simplefb|bootfb|vesafb|intel graphics|igd|gfx", re.I)


class NoIntelDisplay(Exception):
    """No Intel display-class function found; the message says where we looked."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def bdf_parts(bdf: str) -> tuple[str, int, int, int]:
    dom, bus, devfn = bdf.split(":")
    dev, fn = devfn.split(".")
    return dom, int(bus, 16), int(dev, 16), int(fn, 16)


def pick_igd(displays: list[PciFunction]) -> PciFunction:
    """The IGD is the Intel display function at bus 0, device 2, function 0 when there is one."""
    for f in displays:
        _, bus, dev, fn = bdf_parts(f.bdf)
        if bus == 0 and dev == 2 and fn == 0:
            return f
    return displays[0]


def intel_displays(root: Root, use_udev: bool | None = None) -> tuple[list[PciFunction], list[PciFunction], str]:
    """Every PCI function, the Intel display functions among them (never empty) and how they
    were found; :class:`NoIntelDisplay` when there is none."""
    funcs, how = discover(root, use_udev)
    displays = [f for f in funcs if f.vendor == 0x8086 and (f.class_code >> 16) == 0x03]
    if not displays:
        raise NoIntelDisplay(f"no Intel display device (vendor 0x8086, class 0x03xx) among {len(funcs)} PCI functions ({how} of {root.path(PCI_DEVICES)})")
    return funcs, displays, how


def collect(root: Root, *, gtt: bool = False, allow_devmem: bool = False, vfio: bool = False, use_udev: bool | None = None) -> Capture:
    funcs, displays, how = intel_displays(root, use_udev)
    cap = Capture(created=_now())
    cap.sources["discovery"] = how
    igd = pick_igd(displays)
    dom = igd.bdf.split(":")[0]
    by_bdf = {f.bdf: f for f in funcs}
    wanted: list[tuple[str, PciFunction]] = [("igd", igd)]
    wanted += [("display", f) for f in displays if f is not igd]
    for role, bdf in (("host_bridge", f"{dom}:00:00.0"), ("lpc", f"{dom}:00:1f.0")):
        if bdf in by_bdf:
            wanted.append((role, by_bdf[bdf]))
        else:
            cap.error(role, f"no PCI function at {bdf}")
    cap.machine = "guest" if _hypervisor_flag(root, cap) else "host"
    for role, f in wanted:
        cap.devices.append(_device(root, cap, role, f))
    host_facts(root, cap)
    igd_dev = cap.device("igd")
    assert igd_dev is not None
    _rom(root, cap, igd_dev)
    _opregion(root, cap, igd_dev, allow_devmem, vfio)
    _vbt_debugfs(root, cap, igd_dev)
    if gtt:
        read_gtt(root, cap, igd_dev)
    return cap


# -- devices ---------------------------------------------------------------------------------


def _device(root: Root, cap: Capture, role: str, f: PciFunction) -> Device:
    base = f.sysdir
    d = Device(
        role=role,
        bdf=f.bdf,
        vendor=f.vendor,
        device=f.device,
        class_code=f.class_code,
        revision=root.read_int(f"{base}/revision", 16) or 0,
        subsystem_vendor=root.read_int(f"{base}/subsystem_vendor", 16),
        subsystem_device=root.read_int(f"{base}/subsystem_device", 16),
        driver=root.readlink_name(f"{base}/driver"),
        boot_vga=None,
    )
    bv = root.read_attr(f"{base}/boot_vga")
    d.boot_vga = None if bv is None else bv == "1"
    grp = root.readlink_name(f"{base}/iommu_group")
    if grp is not None and grp.isdigit():
        d.iommu_group = int(grp)
        d.iommu_group_members = root.listdir(f"sys/kernel/iommu_groups/{grp}/devices") or root.listdir(f"{base}/iommu_group/devices")
    elif role in ("igd", "display"):
        why = "a VM without a virtual IOMMU" if cap.machine == "guest" else "IOMMU off: add intel_iommu=on to the kernel command line"
        cap.error(f"iommu_group {f.bdf}", f"no IOMMU group ({why})")
    total = root.read_int(f"{base}/sriov_totalvfs")
    if total is not None:
        d.sriov = {"role": "pf", "totalvfs": total, "numvfs": root.read_int(f"{base}/sriov_numvfs") or 0}
    physfn = root.readlink_name(f"{base}/physfn")
    if physfn:
        d.sriov = {"role": "vf", "physfn": physfn}
    d.resources = _resources(root, f"{base}/resource")
    key = f"config/{f.bdf}"
    d.config_size = root.size(f"{base}/config")
    try:
        data = root.read_bytes(f"{base}/config", CONFIG_MAX)
    except OSError as exc:
        cap.error(f"config {f.bdf}", os_reason(exc))
    else:
        note = ""
        expected = d.config_size or 256
        if len(data) < expected:
            note = f"only {len(data)} of {expected} bytes readable" + (" (unprivileged read: run as root for the full space)" if len(data) == 64 else "")
            cap.error(f"config {f.bdf}", note)
        cap.blobs[key] = Blob(data, "sysfs", f"/{base}/config", note)
        d.config_blob = key
    return d


def _resources(root: Root, path: str) -> list[dict[str, int]]:
    try:
        text = root.read_text(path, 8192)
    except OSError:
        return []
    out = []
    for i, line in enumerate(text.splitlines()[:7]):  # BAR0-5 and the ROM (index 6)
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            start, end, flags = (int(p, 16) for p in parts)
        except ValueError:
            continue
        if start == 0 and end == 0:
            continue
        out.append({"bar": i, "start": start, "end": end, "flags": flags, "size": end - start + 1 if end >= start else 0})
    return out


# -- option ROM ------------------------------------------------------------------------------


def _rom(root: Root, cap: Capture, d: Device) -> None:
    path = f"{PCI_DEVICES}/{d.bdf}/rom"
    if not root.exists(path):
        cap.error("rom", f"{d.bdf} has no rom file in sysfs (no ROM BAR and no shadowed VGA ROM)")
        return
    try:
        attr = root.open_rom(path)
    except OSError as exc:
        cap.error("rom", f"{d.bdf}/rom: {os_reason(exc)}")
        return
    try:
        data = read_rom(attr, ROM_MAX)
    except OSError as exc:
        cap.error("rom", f"{d.bdf}/rom: {os_reason(exc)}")
        return
    finally:
        attr.close()
    if not data:
        cap.error("rom", f"{d.bdf}/rom read 0 bytes (no valid ROM image; on UEFI-only systems there is no shadowed VBIOS)")
        return
    note = "" if data[:2] == b"\x55\xaa" else "does not start with the 0x55AA ROM signature"
    if not attr.sysfs:
        note = "; ".join(n for n in (note, "read as a plain file (not sysfs): a copied tree, nothing switched") if n)
    cap.blobs["rom"] = Blob(data, "sysfs", f"/{path}", note)


# -- OpRegion --------------------------------------------------------------------------------


def _debugfs_dri_dir(root: Root, bdf: str) -> str | None:
    """The debugfs dri/<minor> directory of the DRM device at ``bdf``."""
    for minor in root.listdir("sys/kernel/debug/dri"):
        name = root.read_attr(f"sys/kernel/debug/dri/{minor}/name")
        if name and f"dev={bdf}" in name:
            return f"sys/kernel/debug/dri/{minor}"
    return None


def _opregion(root: Root, cap: Capture, d: Device, allow_devmem: bool, allow_vfio: bool) -> None:
    tried: list[dict[str, str]] = []
    used = None
    # 1. debugfs, when i915 owns the device
    if d.driver == "i915":
        dri = _debugfs_dri_dir(root, d.bdf)
        if dri is None:
            tried.append({"source": "debugfs", "result": "no dri/<minor> directory names this device (debugfs not mounted, or not root)"})
        else:
            try:
                data = root.read_bytes(f"{dri}/i915_opregion", OPREGION_SIZE)
            except OSError as exc:
                tried.append({"source": "debugfs", "result": f"{dri}/i915_opregion: {os_reason(exc)}"})
            else:
                if data:
                    cap.blobs["opregion"] = Blob(data, "debugfs", f"/{dri}/i915_opregion", "first 8 KiB as i915 maps it (never the extended VBT)")
                    used = "debugfs"
                    tried.append({"source": "debugfs", "result": f"read {len(data)} bytes"})
                else:
                    tried.append({"source": "debugfs", "result": "i915_opregion is empty (the platform has no OpRegion)"})
    else:
        tried.append({"source": "debugfs", "result": f"not tried: i915 does not own {d.bdf} (driver: {d.driver or 'none'})"})
    # 2. the vfio-pci device-specific region, when vfio-pci owns the device
    if used is None and d.driver == "vfio-pci":
        if not allow_vfio:
            tried.append({"source": "vfio", "result": "not tried: opening the vfio device resets the IGD (as QEMU does at VM start); pass --vfio"})
        elif d.iommu_group is None:
            tried.append({"source": "vfio", "result": "no IOMMU group"})
        else:
            from igdscope.sources import vfio

            try:
                res = vfio.read_igd_regions(str(root.root), d.bdf, d.iommu_group)
            except vfio.VfioError as exc:
                tried.append({"source": "vfio", "result": str(exc)})
            else:
                for e in res.get("errors", []):
                    cap.error("vfio", e)
                if res.get("opregion"):
                    cap.blobs["opregion"] = Blob(res["opregion"], "vfio", f"/dev/vfio/{d.iommu_group} {d.bdf} region type 0x80008086 subtype 1", "the vfio view: version 2.0 with an extended VBT is reported as 2.1 with RVDA 0x2000")
                    used = "vfio"
                    tried.append({"source": "vfio", "result": f"read {len(res['opregion'])} bytes"})
                else:
                    tried.append({"source": "vfio", "result": "; ".join(res.get("errors", [])) or "no OpRegion region"})
                for key, what in (("host_cfg", "host bridge"), ("lpc_cfg", "LPC bridge")):
                    if res.get(key):
                        cap.blobs[f"vfio/{key}"] = Blob(res[key], "vfio", f"/dev/vfio/{d.iommu_group} {d.bdf} {what} config region")
    elif used is None:
        tried.append({"source": "vfio", "result": f"not tried: vfio-pci does not own {d.bdf}"})
    # 3. /dev/mem at ASLS, only when allowed
    if used is None:
        if not allow_devmem:
            tried.append({"source": "devmem", "result": "not tried: needs --allow-devmem"})
        else:
            from igdscope.sources import devmem

            cfg = cap.config("igd")
            try:
                blobs = devmem.read_opregion(root, cfg)
            except devmem.DevmemError as exc:
                tried.append({"source": "devmem", "result": str(exc)})
            else:
                cap.blobs.update(blobs)
                used = "devmem"
                tried.append({"source": "devmem", "result": f"read {len(blobs['opregion'].data)} bytes at ASLS"})
    cap.sources["opregion"] = {"used": used, "tried": tried}
    if used is None:
        cap.error("opregion", "; ".join(f"{t['source']}: {t['result']}" for t in tried))


def _vbt_debugfs(root: Root, cap: Capture, d: Device) -> None:
    if d.driver != "i915":
        return
    dri = _debugfs_dri_dir(root, d.bdf)
    if dri is None:
        return
    try:
        data = root.read_bytes(f"{dri}/i915_vbt", 1 << 20)
    except OSError as exc:
        cap.error("vbt debugfs", f"{dri}/i915_vbt: {os_reason(exc)}")
        return
    if data:
        cap.blobs["vbt/debugfs"] = Blob(data, "debugfs", f"/{dri}/i915_vbt", "the VBT i915 selected")


# -- GTT ---------------------------------------------------------------------------------------


def gtt_window(cfg: bytes | None, device_id: int, bar0_size: int) -> tuple[int, int, int] | None:
    """(offset in BAR0, bytes, PTE size) of the GGTT, from GGC and the BAR0 size."""
    from igdscope.schemas import pci

    plat = platforms.lookup(device_id)
    if plat is None or plat.ggc_layout not in pci.GGC_FIELDS or cfg is None or len(cfg) < 0x52:
        return None
    g = pci.decode_ggc(plat.ggc_layout, int.from_bytes(cfg[0x50:0x52], "little"), plat.gen)
    if not g.gsm_bytes or not bar0_size:
        return None
    return bar0_size // 2, min(g.gsm_bytes, GTT_MAX, bar0_size // 2), pci.pte_size(plat.ggc_layout)


def read_gtt(root: Root, cap: Capture, d: Device) -> None:
    """Read the GGTT of device d from resource0 (read-only mmap of the GTT half) into cap.blobs["gtt"],
    or record why not in cap.errors."""
    win = gtt_window(cap.config("igd"), d.device, d.bar_size(0))
    if win is None:
        cap.error("gtt", "GGTT location unknown (unknown platform, no GGMS, or no BAR0 size)")
        return
    offset, size, pte = win
    site = GttSite(d.bdf, d.device, f"{PCI_DEVICES}/{d.bdf}/resource0", offset, size, pte)
    try:
        mapping = GttMapping(root, site)
    except GttUnavailable as exc:
        cap.error("gtt", str(exc).lstrip("/"))
        return
    try:
        data = mapping.words.copy().tobytes()  # dword reads of the MMIO window
    finally:
        mapping.close()
    cap.blobs["gtt"] = Blob(data, "sysfs", f"/{site.path}", f"GGTT: {size} bytes at BAR0+{offset:#x}")


class GttUnavailable(Exception):
    """The GGTT of a device cannot be located or mapped; the message says why, in one line
    (``errno``: the OS error behind it, if any)."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


@dataclass(frozen=True)
class GttSite:
    """Where a device's GGTT is: ``size`` bytes at ``offset`` in its ``resource0`` (``path``,
    relative to the root)."""

    bdf: str
    device_id: int
    path: str
    offset: int
    size: int
    pte_size: int


def gtt_site(root: Root, bdf: str | None = None) -> GttSite:
    """Locate the GGTT of ``bdf`` (default: the IGD) from sysfs alone: the device ID, GGC in the
    config space and BAR0's size. Reads only; no ROM, no OpRegion."""
    if bdf is None:
        bdf = pick_igd(intel_displays(root)[1]).bdf
    base = f"{PCI_DEVICES}/{bdf}"
    did = root.read_int(f"{base}/device", 16)
    if did is None:
        raise GttUnavailable(f"no PCI device {bdf} under {root.path(PCI_DEVICES)}")
    try:
        cfg = root.read_bytes(f"{base}/config", CONFIG_MAX)
    except OSError as exc:
        raise GttUnavailable(f"/{base}/config: {os_reason(exc)}", exc.errno) from None
    if len(cfg) < 0x52:
        raise GttUnavailable(f"{bdf}: only {len(cfg)} bytes of the config space are readable, GGC (0x50) is not (run as root)")
    bar0 = next((r["size"] for r in _resources(root, f"{base}/resource") if r["bar"] == 0), 0)
    win = gtt_window(cfg, did, bar0)
    if win is None:
        raise GttUnavailable(f"{bdf} ({did:04x}): GGTT location unknown (unknown platform, GGMS 0, or no BAR0 size)")
    offset, size, pte = win
    return GttSite(bdf, did, f"{base}/resource0", offset, size, pte)


class GttMapping:
    """The GGTT half of ``resource0`` mapped read-only once, for reading again and again.

    :meth:`gone` says (cheaply: one ``stat``) whether the file mapped is still the device's
    ``resource0``; a mapping whose device went away must be closed, not read."""

    def __init__(self, root: Root, site: GttSite):
        self.site = site
        self.file = root.path(site.path)
        try:
            fd = os.open(self.file, os.O_RDONLY)
        except OSError as exc:
            raise GttUnavailable(f"/{site.path}: {os_reason(exc)}", exc.errno) from None
        try:
            st = os.fstat(fd)
            self._ident = (st.st_dev, st.st_ino)
            self._map = mmap.mmap(fd, site.size, mmap.MAP_SHARED, mmap.PROT_READ, offset=site.offset)
        except (OSError, ValueError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
            raise GttUnavailable(f"/{site.path}: mmap of {site.size:#x} bytes at {site.offset:#x}: {reason}", getattr(exc, "errno", None)) from None
        finally:
            os.close(fd)
        import numpy as np

        self.words = np.frombuffer(self._map, dtype="<u4")  # dword reads of the MMIO window

    def gone(self) -> str | None:
        """None while the mapped file is still there whole; else why not, in a few words."""
        try:
            st = os.stat(self.file)
        except OSError as exc:
            return f"/{self.site.path}: {os_reason(exc)}"
        if (st.st_dev, st.st_ino) != self._ident:
            return f"/{self.site.path} is a new file (the device was removed and came back)"
        if st.st_size < self.site.offset + self.site.size:
            return f"/{self.site.path} is smaller than BAR0 now ({st.st_size:#x} bytes)"
        return None

    def read_into(self, out, first: int = 0) -> None:
        """Copy dwords ``first:first + len(out)`` of the GGTT into the uint32 array ``out``."""
        out[:] = self.words[first : first + len(out)]

    def close(self) -> None:
        self.words = None
        self._map.close()


# -- host facts --------------------------------------------------------------------------------


def host_facts(root: Root, cap: Capture) -> None:
    h: dict = {}
    h["kernel_release"] = root.read_attr("proc/sys/kernel/osrelease")
    h["cmdline"] = root.read_attr("proc/cmdline")
    mods = {}
    loaded = set()
    try:
        for line in root.read_text("proc/modules", 1 << 20).splitlines():
            loaded.add(line.split(" ", 1)[0])
    except OSError as exc:
        cap.error("modules", f"/proc/modules: {os_reason(exc)}")
    for m in MODULES:
        entry: dict = {"loaded": m in loaded or root.exists(f"sys/module/{m}/initstate")}
        params = {}
        for p in MODULE_PARAMS.get(m, ()):
            v = root.read_attr(f"sys/module/{m}/parameters/{p}")
            if v is not None:
                params[p] = v
        if params:
            entry["parameters"] = params
        mods[m] = entry
    h["modules"] = mods
    h["vfio_pci_disable_vga"] = mods["vfio_pci"].get("parameters", {}).get("disable_vga")
    h["hypervisor"] = {
        "cpu_flag": _hypervisor_flag(root, None),
        "dmi_sys_vendor": root.read_attr("sys/class/dmi/id/sys_vendor"),
        "dmi_product_name": root.read_attr("sys/class/dmi/id/product_name"),
        "dmi_board_name": root.read_attr("sys/class/dmi/id/board_name"),
        "dmi_bios_version": root.read_attr("sys/class/dmi/id/bios_version"),
    }
    h["iomem"] = _iomem(root, cap)
    h["dmar"] = [
        {
            "name": unit,
            "version": root.read_attr(f"sys/class/iommu/{unit}/intel-iommu/version"),
            "address": root.read_attr(f"sys/class/iommu/{unit}/intel-iommu/address"),
            "cap": root.read_attr(f"sys/class/iommu/{unit}/intel-iommu/cap"),
            "ecap": root.read_attr(f"sys/class/iommu/{unit}/intel-iommu/ecap"),
        }
        for unit in root.listdir("sys/class/iommu")
        if unit.startswith("dmar")
    ]
    h["qemu_version"] = qemu_version() if root.is_live else None
    cap.host = h


def _hypervisor_flag(root: Root, cap: Capture | None) -> bool:
    """The CPU's "hypervisor" flag: this kernel runs in a VM."""
    try:
        for line in root.read_text("proc/cpuinfo", 4 << 20).splitlines():
            if line.startswith("flags"):
                return "hypervisor" in line.split(":", 1)[-1].split()
    except OSError as exc:
        if cap is not None:
            cap.error("cpuinfo", f"/proc/cpuinfo: {os_reason(exc)}")
    return False


def _iomem(root: Root, cap: Capture) -> list[str]:
    bars = []
    for d in cap.devices:
        if d.role in ("igd", "display"):
            bars += [(r["start"], r["end"]) for r in d.resources]
    try:
        text = root.read_text("proc/iomem", 1 << 20)
    except OSError as exc:
        cap.error("iomem", f"/proc/iomem: {os_reason(exc)}")
        return []
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)", line)
        if not m:
            continue
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        overlaps = any(start <= e and s <= end for s, e in bars) and end != 0
        if overlaps or IOMEM_NAMES.search(m.group(3)):
            out.append(line.rstrip())
    if out and all(re.match(r"\s*0+-0+ ", ln) for ln in out):
        cap.error("iomem", "/proc/iomem shows zero addresses to unprivileged readers (run as root)")
    return out[:256]


def qemu_version() -> str | None:
    for name in ("qemu-system-x86_64", "qemu-kvm", "kvm"):
        exe = shutil.which(name)
        if not exe:
            continue
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
        if m:
            return m.group(1)
    return None

