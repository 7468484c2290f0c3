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
from igdscope.capture import Blob, Capture, CaptureBuilder, Device
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
    """One Capture of the machine under ``root``: every Intel display function, the host and LPC
    bridges, host facts, the option ROM, the OpRegion and the VBT i915 selected (and the GGTT
    with ``gtt``). Raises :class:`NoIntelDisplay`; every other failure is an error in the capture."""
    funcs, displays, how = intel_displays(root, use_udev)
    cap = CaptureBuilder(created=_now())
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
    return cap.build()


# -- the cheap per-tick read ------------------------------------------------------------------

# what a light read re-reads (device presence and drivers are always checked)
WATCH_DEVICES = "devices"
WATCH_CONFIG = "config"
WATCH_OPREGION = "opregion"
WATCH_GTT = "gtt"


@dataclass(frozen=True)
class LiveRead:
    """One read of the live machine: the capture (None when the whole read failed, ``error``
    says why and what to do), the devices gone from the bus since the full read (``gone``, by
    BDF) and what was deliberately not re-read (``notes``)."""

    capture: Capture | None
    error: str | None = None
    gone: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LightRead:
    """What :func:`read_light` found: ``capture`` to show, ``base`` to read the next tick against
    (the last full read with the blobs re-read since), or ``full`` (why a full read is due: a
    driver was bound or unbound), in which case the other fields are empty."""

    capture: Capture | None = None
    base: Capture | None = None
    gone: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    full: str | None = None


def gone_devices(root: Root, cap: Capture) -> frozenset[str]:
    """The BDFs of ``cap``'s devices no longer on the bus under ``root``."""
    return frozenset(d.bdf for d in cap.devices if not root.exists(f"{PCI_DEVICES}/{d.bdf}"))


def read_light(root: Root, base: Capture, watch: frozenset[str], *, gtt: bool = True) -> LightRead:
    """Re-read cheaply what ``watch`` names on top of ``base`` (a full :func:`collect`): device
    presence and drivers always; with ``config`` every present device's config space (not while
    it is runtime-suspended: a read would wake it); with ``opregion`` the OpRegion when it came
    from debugfs (never the vfio region: opening the vfio device resets the IGD); with ``gtt``
    (and ``gtt``) the GGTT. The same readers as :func:`collect`, so the fields agree."""
    gone = gone_devices(root, base)
    for d in base.devices:
        if d.bdf not in gone and root.readlink_name(f"{PCI_DEVICES}/{d.bdf}/driver") != d.driver:
            return LightRead(full=f"{d.bdf}: driver changed")  # bound or unbound between udev events (or without udev)
    cap = CaptureBuilder.of(base)
    cap.created = _now()
    fresh: dict[str, Blob] = {}  # blobs re-read this tick
    notes: list[str] = []
    for bdf in sorted(gone):
        cap.error("live", f"{bdf} is gone from {root.path(PCI_DEVICES)} (removed or unbound from the bus); the data shown is the last read")
    if WATCH_CONFIG in watch:
        for d in base.devices:
            if d.bdf in gone or d.config_blob is None:
                continue
            sysdir = f"{PCI_DEVICES}/{d.bdf}"
            if root.read_attr(f"{sysdir}/power/runtime_status") == "suspended":
                notes.append(f"{d.bdf} is runtime-suspended: config space not re-read (a read would wake it)")
                continue
            try:
                fresh[d.config_blob] = read_config(root, sysdir, d.config_size)
            except OSError as exc:
                cap.error(f"config {d.bdf}", os_reason(exc))
    igd = base.device("igd")
    if WATCH_OPREGION in watch and igd is not None and igd.bdf not in gone:
        blob = base.blobs.get("opregion")
        if blob is not None and blob.source == "debugfs":
            try:
                data = root.read_bytes(blob.path.lstrip("/"), len(blob.data) or OPREGION_SIZE)
            except OSError as exc:
                cap.error("opregion", f"{blob.path}: {os_reason(exc)}")
            else:
                fresh["opregion"] = Blob(data, blob.source, blob.path, blob.note)
        elif blob is not None:
            notes.append(f"OpRegion from {blob.source} is not re-read live (only debugfs is: the vfio region resets the IGD when opened)")
    cap.blobs.update(fresh)
    if WATCH_GTT in watch and gtt and igd is not None and igd.bdf not in gone:
        cap.blobs.pop("gtt", None)
        cap.errors = [e for e in cap.errors if e["source"] != "gtt"]
        read_gtt(root, cap, igd)
        if "gtt" in cap.blobs:
            fresh["gtt"] = cap.blobs["gtt"]
    nxt = base if not fresh else Capture(machine=base.machine, created=base.created, tool_version=base.tool_version, host=base.host,
                                         devices=base.devices, blobs={**base.blobs, **fresh}, sources=base.sources, errors=base.errors)
    return LightRead(cap.build(), nxt, gone, tuple(notes))


class LiveReader:
    """The live machine under ``root``, read for a display that refreshes: a full :func:`collect`
    first (and again when asked, when a driver changes or when devices gone come back), then
    :func:`read_light` each tick. Not thread-safe: one caller at a time."""

    def __init__(self, root: Root, *, gtt: bool = True, use_udev: bool | None = None):
        self.root = root
        self.gtt = gtt
        self.use_udev = use_udev
        self.base: Capture | None = None  # the last full read (with the blobs re-read since)
        self.gone: frozenset[str] = frozenset()
        self.full_needed = True

    def request_full(self) -> None:
        """The next :meth:`read` is a full one (a udev event said the bus changed)."""
        self.full_needed = True

    def read(self, watch: frozenset[str], full: bool = False) -> LiveRead:
        if full or self.full_needed or self.base is None:
            return self.read_full()
        return self.read_watched(watch)

    def read_full(self) -> LiveRead:
        self.full_needed = False
        try:
            cap = collect(self.root, gtt=self.gtt, use_udev=self.use_udev)
        except NoIntelDisplay as exc:
            gone: set[str] = set()
            if self.base is not None:  # what left the bus; at least the IGD, which discovery no longer finds
                gone = set(gone_devices(self.root, self.base))
                igd = self.base.device("igd")
                if igd is not None:
                    gone.add(igd.bdf)
            self.gone = frozenset(gone)
            self.full_needed = True
            return LiveRead(None, f"{exc}. Waiting for it to appear (bind it, or rescan the PCI bus); 'igdscope demo' shows the demo machine.", self.gone)
        except OSError as exc:
            self.full_needed = True
            return LiveRead(None, f"{self.root.path(PCI_DEVICES)}: {os_reason(exc)}")
        self.base = cap
        self.gone = frozenset()
        return LiveRead(cap)

    def read_watched(self, watch: frozenset[str]) -> LiveRead:
        assert self.base is not None
        if self.gone and not gone_devices(self.root, self.base):
            return self.read_full()  # everything gone is back: read it all again
        light = read_light(self.root, self.base, watch, gtt=self.gtt)
        if light.full is not None:
            return self.read_full()
        self.gone = light.gone
        self.base = light.base
        return LiveRead(light.capture, None, light.gone, light.notes)


# -- devices ---------------------------------------------------------------------------------


def _device(root: Root, cap: CaptureBuilder, role: str, f: PciFunction) -> Device:
    """The Device at ``f`` (its config space into ``cap.blobs``, what cannot be read into ``cap.errors``)."""
    base = f.sysdir
    bv = root.read_attr(f"{base}/boot_vga")
    iommu_group, members = None, []
    grp = root.readlink_name(f"{base}/iommu_group")
    if grp is not None and grp.isdigit():
        iommu_group = int(grp)
        members = root.listdir(f"sys/kernel/iommu_groups/{grp}/devices") or root.listdir(f"{base}/iommu_group/devices")
    elif role in ("igd", "display"):
        why = "a VM without a virtual IOMMU" if cap.machine == "guest" else "IOMMU off: add intel_iommu=on to the kernel command line"
        cap.error(f"iommu_group {f.bdf}", f"no IOMMU group ({why})")
    sriov = None
    total = root.read_int(f"{base}/sriov_totalvfs")
    if total is not None:
        sriov = {"role": "pf", "totalvfs": total, "numvfs": root.read_int(f"{base}/sriov_numvfs") or 0}
    physfn = root.readlink_name(f"{base}/physfn")
    if physfn:
        sriov = {"role": "vf", "physfn": physfn}
    config_size = root.size(f"{base}/config")
    key = None
    try:
        blob = read_config(root, base, config_size)
    except OSError as exc:
        cap.error(f"config {f.bdf}", os_reason(exc))
    else:
        if blob.note:
            cap.error(f"config {f.bdf}", blob.note)
        key = f"config/{f.bdf}"
        cap.blobs[key] = blob
    return Device(
        role=role,
        bdf=f.bdf,
        vendor=f.vendor,
        device=f.device,
        class_code=f.class_code,
        revision=root.read_int(f"{base}/revision", 16) or 0,
        subsystem_vendor=root.read_int(f"{base}/subsystem_vendor", 16),
        subsystem_device=root.read_int(f"{base}/subsystem_device", 16),
        driver=root.readlink_name(f"{base}/driver"),
        iommu_group=iommu_group,
        iommu_group_members=members,
        sriov=sriov,
        resources=_resources(root, f"{base}/resource"),
        config_blob=key,
        config_size=config_size,
        boot_vga=None if bv is None else bv == "1",
    )


def read_config(root: Root, base: str, config_size: int | None) -> Blob:
    """The config space of the function whose sysfs directory is ``base`` (as much as is
    readable; the note says when that is less than the kernel exposes). Raises OSError."""
    data = root.read_bytes(f"{base}/config", CONFIG_MAX)
    note = ""
    expected = config_size or 256
    if len(data) < expected:
        note = f"only {len(data)} of {expected} bytes readable" + (" (unprivileged read: run as root for the full space)" if len(data) == 64 else "")
    return Blob(data, "sysfs", f"/{base}/config", note)


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


def _rom(root: Root, cap: CaptureBuilder, d: Device) -> None:
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


def _opregion(root: Root, cap: CaptureBuilder, d: Device, allow_devmem: bool, allow_vfio: bool) -> None:
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


def _vbt_debugfs(root: Root, cap: CaptureBuilder, d: Device) -> None:
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


def read_gtt(root: Root, cap: CaptureBuilder, d: Device) -> None:
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
        cfg = read_config(root, base, None).data
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


def host_facts(root: Root, cap: CaptureBuilder) -> None:
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


def _hypervisor_flag(root: Root, cap: CaptureBuilder | None) -> bool:
    """The CPU's "hypervisor" flag: this kernel runs in a VM."""
    try:
        for line in root.read_text("proc/cpuinfo", 4 << 20).splitlines():
            if line.startswith("flags"):
                return "hypervisor" in line.split(":", 1)[-1].split()
    except OSError as exc:
        if cap is not None:
            cap.error("cpuinfo", f"/proc/cpuinfo: {os_reason(exc)}")
    return False


def _iomem(root: Root, cap: CaptureBuilder) -> list[str]:
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

