"""``igdscope check``: will IGD assignment work with this host, kernel, QEMU and VM config?

Every rule has an id, a status (pass / fail / warn / unknown), the evidence (register, file or
argument and its value) and what to change. Verdicts for the three modes — ``legacy`` (QEMU's
legacy IGD mode), ``upt`` (plain assignment) and ``upt_opregion`` (with ``x-igd-opregion``) —
list every failing rule, not the first only.

What QEMU does is asked of the QEMU model (:mod:`igdscope.analysis.qemu.igd`), once per QEMU
version: the installed one when it is known, else one version per range whose IGD code behaves
the same (from the machine type's version on), and the verdicts then say where they change.
Without a host capture the rules that need the host are "unknown" and say what a capture adds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from igdscope import platforms
from igdscope.analysis import qemu
from igdscope.analysis.qemu import igd as qm
from igdscope.analysis.qemu.errors import explain as explain_qemu_error
from igdscope.capture import Capture
from igdscope.decode.model import Decoded, decode, thaw

MODES = ("legacy", "upt", "upt_opregion")
ALL = frozenset(MODES)
OPREGION_MODES = frozenset({"legacy", "upt_opregion"})
LEGACY = frozenset({"legacy"})
UPT_OPREGION = frozenset({"upt_opregion"})

# Every rule's title, once.
TITLES = {
    "host.capture": "A capture of the host",
    "host.machine": "Capture taken on the host",
    "igd.present": "An Intel IGD in the capture",
    "kernel.asls": "OpRegion address (ASLS, IGD config 0xFC)",
    "kernel.opregion": "OpRegion header (signature, size)",
    "kernel.rvda": "OpRegion 2.0 with an extended VBT at an absolute RVDA",
    "kernel.host_bridge": "Host bridge at 00:00.0 (Intel, class 0x060000)",
    "kernel.lpc": "ISA/LPC bridge at 00:1f.0 (Intel, class 0x060100)",
    "kernel.lpc_region": "The kernel's LPC bridge region",
    "kernel.class": "IGD display class",
    "own.driver": "IGD bound to vfio-pci",
    "own.i915_loaded": "i915 module loaded",
    "own.xe_loaded": "xe module loaded",
    "own.framebuffer": "No host framebuffer on the IGD",
    "own.disable_vga": "vfio-pci VGA access",
    "own.sriov": "Not an SR-IOV VF",
    "iommu.enabled": "IOMMU on",
    "iommu.group": "IGD alone in its IOMMU group",
    "iommu.width": "IOMMU address width",
    "rom.present": "Option ROM available",
    "rom.loadable": "A ROM QEMU can load",
    "rom.legacy_image": "Legacy x86 VBIOS image",
    "rom.ovmf": "UEFI guest firmware and the ROM",
    "rom.device_id": "ROM made for this IGD (PCIR ID, device list)",
    "rom.vbt": "VBT inside the ROM",
    "qemu.version": "QEMU version known",
    "qemu.machine_version": "QEMU runs the machine type's version",
    "qemu.generation": "QEMU knows the IGD generation for legacy mode",
    "qemu.class": "IGD class is VGA (0x0300)",
    "qemu.ivd": "IGD decodes VGA (GGC.IVD = 0)",
    "qemu.igd": "QEMU treats the device as an IGD",
    "qemu.opregion": "QEMU gives the guest the OpRegion",
    "qemu.gms": "Stolen memory the guest gets",
    "qemu.bdsm": "BDSM register location",
    "qemu.fatal": "QEMU starts the VM",
    "qemu.note": "QEMU version note",
    "vm.config": "VM configuration",
    "vm.igd": "The VM is given the IGD",
    "vm.igd_function": "The IGD is host 00:02.0",
    "vm.mdev": "Not a GVT-g (mdev) device",
    "vm.address": "IGD at guest 00:02.0 on the root bus",
    "vm.root_bus": "IGD on the root bus",
    "vm.1f0": "Guest 00:1f.0 free (or vfio-pci-igd-lpc-bridge)",
    "vm.machine": "i440fx machine for legacy mode",
    "vm.hotplug": "IGD not hot-plugged",
    "vm.legacy_mode": "x-igd-legacy-mode not off",
    "vm.opregion": "x-igd-opregion",
    "vm.gms": "x-igd-gms in range",
    "vm.qemu_error": "QEMU error in the configuration text",
    "vm.windows_address": "IGD at guest 00:02.0 for the Windows driver",
    "vm.gop": "A pre-boot display under OVMF",
    "pve.legacy_igd": "Proxmox starts a legacy-igd VM",
    "vm.slot": "The IGD's guest address is free",
}

# Rules whose warning matters even when no rule fails: the verdict names them.
CAUTIONS = frozenset({"vm.windows_address", "vm.gop", "qemu.note", "vm.qemu_error", "qemu.machine_version"})


@dataclass
class Rule:
    id: str
    title: str
    status: str  # pass, fail, warn, unknown
    evidence: str
    fix: str = ""
    modes: frozenset = ALL

    def plain(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "evidence": self.evidence, "fix": self.fix, "modes": sorted(self.modes)}


@dataclass
class Context:
    cap: Capture | None
    dec: Decoded | None
    vm: Any = None  # igdscope.analysis.vmconfig.VmConfig
    qemu: tuple[int, int] | None = None
    kernel: tuple[int, int] | None = None
    rules: list[Rule] = field(default_factory=list)
    device_id: int | None = None  # the IGD's device ID when there is no capture (--device)

    def add(self, rid: str, status: str, evidence: str, fix: str = "", modes: frozenset = ALL) -> None:
        self.rules.append(Rule(rid, TITLES[rid], status, evidence, fix, modes))

    @property
    def igd(self):
        return self.cap.device("igd") if self.cap is not None else None

    def summary(self, role: str) -> Any:
        return self.dec.summary(role) if self.dec is not None else {}


# -- kernel vfio-pci rules ---------------------------------------------------------------------------


def kernel_rules(c: Context) -> None:
    assert c.cap is not None and c.dec is not None
    igd = c.igd
    s = c.summary("igd")
    asls = s.get("asls")
    if asls is None:
        c.add("kernel.asls", "unknown", "ASLS not captured (config space shorter than 256 bytes)", "run igdscope dump as root", OPREGION_MODES)
    elif asls in (0, 0xFFFFFFFF):
        c.add("kernel.asls", "fail", f"ASLS = {asls:#010x}: the firmware published no OpRegion, so vfio-pci creates no IGD regions", "enable the IGD as the primary display in the firmware setup (or use a firmware that provides the OpRegion); UPT without x-igd-opregion may still work", OPREGION_MODES)
    else:
        c.add("kernel.asls", "pass", f"ASLS = {asls:#010x}", modes=OPREGION_MODES)
    op = c.dec.opregion or {}
    if op.get("present"):
        bad = [f for f in op.get("findings", []) if "signature" in f or "size" in f]
        ver = op.get("version")
        if bad:
            c.add("kernel.opregion", "fail", "; ".join(bad), "vfio-pci refuses an OpRegion without the IntelGraphicsMem signature or with size 0 (the device open fails)", OPREGION_MODES)
        else:
            c.add("kernel.opregion", "pass", f"version {ver}, {op.get('size_kib')} KiB, from {op.get('source')}", modes=OPREGION_MODES)
        ext = op.get("extended_vbt") or {}
        if ext.get("kind") == "absolute":
            if c.kernel is None:
                c.add("kernel.rvda", "unknown", f"RVDA {ext.get('address', 0):#x}; kernel version unknown", "kernels before 5.16 refuse it (device open fails); 5.16+ map it", OPREGION_MODES)
            elif c.kernel < (5, 16):
                c.add("kernel.rvda", "fail", f"kernel {c.kernel[0]}.{c.kernel[1]} refuses OpRegion 2.0 with an extended VBT (RVDA {ext.get('address', 0):#x})", "use Linux 5.16 or later", OPREGION_MODES)
            else:
                c.add("kernel.rvda", "pass", f"kernel {c.kernel[0]}.{c.kernel[1]} maps it and reports version 2.1 with RVDA 0x2000", modes=OPREGION_MODES)
    elif asls not in (None, 0, 0xFFFFFFFF):
        c.add("kernel.opregion", "unknown", "OpRegion not captured: " + "; ".join(f"{t['source']}: {t['result']}" for t in (op.get("sources") or {}).get("tried", [])), "capture it: igdscope dump as root (--vfio when vfio-pci owns the IGD)", OPREGION_MODES)
    # vfio-pci's IGD setup (drivers/vfio/pci/vfio_pci_igd.c): after the OpRegion, the host bridge
    # at 00:00.0 and the LPC bridge at 00:1f.0. A missing one gives -ENODEV, which the open
    # tolerates (the regions registered so far stay: no LPC region, so no legacy mode); one that
    # is there but not Intel with exactly the right class gives -EINVAL and the device open fails
    # ("Failed to setup Intel IGD regions") whatever QEMU is asked for.
    opens = asls not in (0, 0xFFFFFFFF)  # the OpRegion step passed, so the bridges are looked at
    _bridge_rule(c, "kernel.host_bridge", c.cap.device("host_bridge"), "00:00.0", 0x060000, opens,
                 "no PCI function at 00:00.0 in the capture: vfio-pci registers no host-bridge or LPC region",
                 "legacy mode needs both regions; UPT with x-igd-opregion works without them",
                 "the IGD cannot be opened by vfio-pci on this host while the firmware publishes an OpRegion")
    _bridge_rule(c, "kernel.lpc", c.cap.device("lpc"), "00:1f.0", 0x060100, opens,
                 "no PCI function at 00:1f.0: vfio-pci makes the OpRegion and host-bridge regions but no LPC region (-ENODEV, tolerated)",
                 "legacy mode copies the host's LPC bridge (QEMU: 'IGD LPC bridge access is not supported by kernel'); UPT with x-igd-opregion works without it",
                 "vfio-pci requires an Intel ISA bridge of class exactly 0x060100 at 00:1f.0 once the IGD has an OpRegion")
    if igd is not None:
        cls = igd.class_code >> 8
        if cls == 0x0300:
            c.add("kernel.class", "pass", f"class {igd.class_code:06x} (VGA)", modes=OPREGION_MODES)
        elif cls == 0x0380:
            if c.kernel is not None and c.kernel >= (6, 15):
                c.add("kernel.class", "pass", f"class {igd.class_code:06x} (not the primary display); kernel {c.kernel[0]}.{c.kernel[1]} matches any display class", modes=OPREGION_MODES)
            else:
                c.add("kernel.class", "fail" if c.kernel else "unknown", f"class {igd.class_code:06x}: the IGD is not the primary display; kernels before 6.15 create IGD regions only for class 0x0300", "make the IGD the primary display in the firmware setup, or use Linux 6.15+", OPREGION_MODES)


def _bridge_rule(c: Context, rid: str, dev: Any, where: str, cls: int, opens: bool, missing: str, missing_fix: str, wrong_fix: str) -> None:
    """The host bridge or LPC bridge vfio-pci looks up after the OpRegion: missing is -ENODEV
    (tolerated: only legacy mode loses its region), wrong vendor or class is -EINVAL (the device
    open fails in every mode)."""
    if dev is None:
        c.add(rid, "fail", missing, missing_fix, LEGACY)
    elif dev.vendor != 0x8086 or dev.class_code != cls:
        what = f"{where} is {dev.vendor:04x}:{dev.device:04x} class {dev.class_code:06x}"
        if opens:
            c.add(rid, "fail", what + ": vfio-pci's IGD setup returns -EINVAL and the device open fails ('Failed to setup Intel IGD regions')", wrong_fix)
        else:
            c.add(rid, "pass", what + " (not looked at: no OpRegion)")
    else:
        c.add(rid, "pass", f"{dev.vendor:04x}:{dev.device:04x} class {dev.class_code:06x}", modes=LEGACY)


# -- ownership, IOMMU ---------------------------------------------------------------------------------


def ownership_rules(c: Context) -> None:
    igd = c.igd
    assert c.cap is not None
    if igd is None:
        return
    h = c.cap.host
    if igd.driver == "vfio-pci":
        c.add("own.driver", "pass", f"{igd.bdf} driver vfio-pci")
    elif igd.driver in ("i915", "xe"):
        c.add("own.driver", "fail", f"{igd.bdf} is bound to {igd.driver}", f"bind it to vfio-pci (vfio-pci.ids={igd.vendor:04x}:{igd.device:04x}, and keep {igd.driver} off it: modprobe.blacklist={igd.driver} or softdep)")
    else:
        c.add("own.driver", "warn", f"{igd.bdf} has {'no driver' if not igd.driver else 'driver ' + igd.driver}", f"bind it to vfio-pci (vfio-pci.ids={igd.vendor:04x}:{igd.device:04x})")
    mods = h.get("modules", {})
    for drv in ("i915", "xe"):
        if mods.get(drv, {}).get("loaded") and igd.driver == "vfio-pci":
            c.add(f"own.{drv}_loaded", "warn", f"{drv} is loaded (not bound to the IGD)", f"blacklist {drv} (modprobe.blacklist={drv}) so it cannot take the IGD back after a VM stops or at the next boot")
    fb = [line.strip() for line in h.get("iomem", []) if re.search(r"efifb|simplefb|BOOTFB|vesafb", line, re.I)]
    if fb:
        c.add("own.framebuffer", "fail", "; ".join(fb[:3]), "keep the host console off the IGD: video=efifb:off video=simplefb:off (or initcall_blacklist=sysfb_init)")
    elif h.get("iomem") is not None:
        c.add("own.framebuffer", "pass", "no efifb/simplefb/BOOTFB region in /proc/iomem")
    dv = h.get("vfio_pci_disable_vga")
    if dv in ("Y", "1"):
        c.add("own.disable_vga", "fail", "vfio_pci disable_vga=Y: no VGA region", "legacy mode needs the VGA region: remove vfio-pci.disable_vga=1", LEGACY)
    elif dv is not None:
        c.add("own.disable_vga", "pass", f"vfio_pci disable_vga={dv}", modes=LEGACY)
    cmdline = h.get("cmdline") or ""
    if igd.iommu_group is None:
        c.add("iommu.enabled", "fail", "the IGD has no IOMMU group" + (f"; cmdline: {cmdline}" if cmdline else ""), "enable VT-d in the firmware and add intel_iommu=on to the kernel command line")
    else:
        c.add("iommu.enabled", "pass", f"IOMMU group {igd.iommu_group}" + (f", {len(h.get('dmar', []))} DMAR units" if h.get("dmar") else ""))
        others = [m for m in igd.iommu_group_members if m != igd.bdf]
        if others:
            c.add("iommu.group", "warn", f"group {igd.iommu_group} also holds {', '.join(others)}", "every device of the group must be bound to vfio-pci (and usually given to the same VM)")
        else:
            c.add("iommu.group", "pass", f"group {igd.iommu_group}: {igd.bdf} only")
    if igd.sriov:
        if igd.sriov.get("role") == "vf":
            c.add("own.sriov", "fail", f"{igd.bdf} is a VF of {igd.sriov.get('physfn')}", "a VF has no OpRegion, VGA or ROM: only plain assignment (UPT) is possible", OPREGION_MODES)
        elif igd.sriov.get("numvfs"):
            c.add("own.sriov", "warn", f"{igd.sriov['numvfs']} VFs enabled on {igd.bdf}", "assigning the PF with VFs enabled is untested territory: set sriov_numvfs to 0", LEGACY)
    dmar = h.get("dmar") or []
    if dmar and c.vm is not None:
        widths = []
        for u in dmar:
            try:
                widths.append(((int(u.get("cap") or "0", 16) >> 16) & 0x3F) + 1)
            except ValueError:
                pass
        if widths:
            c.add("iommu.width", "pass", f"MGAW {min(widths)} bits ({', '.join(str(w) for w in widths)}); guest RAM must stay below 2^{min(widths)}: keep phys-bits at or below it")


# -- option ROM -------------------------------------------------------------------------------------


def rom_rules(c: Context) -> None:
    igd = c.igd
    rom = c.dec.rom if c.dec is not None else None
    vm_igd = c.vm.igd if c.vm is not None else None
    romfile = vm_igd.romfile if vm_igd is not None else None
    if romfile:
        c.add("rom.present", "pass", f"romfile={romfile} (contents not captured: run igdscope show on it)", modes=LEGACY)
        return
    if vm_igd is not None and (vm_igd.rombar == 0 or romfile == ""):
        c.add("rom.present", "fail", "rombar=0 / romfile disabled in the VM config", "legacy mode needs the VBIOS: remove rombar=0, or give romfile=", LEGACY)
        return
    if c.cap is None:
        c.add("rom.present", "unknown", "no romfile= in the config and no host capture to read the IGD's ROM from", "give romfile= with a VBIOS for this IGD, or check with a host capture", LEGACY)
        return
    if not rom:
        c.add("rom.present", "fail" if c.vm is not None else "warn", "no ROM read from sysfs (UEFI-only firmware leaves no shadowed VBIOS) and no romfile=", "legacy mode needs a legacy VBIOS: extract one (igdscope extract) or pass romfile= with a VBIOS for this IGD", LEGACY)
        return
    legacy = [i for i in rom["images"] if i.get("kind") == "legacy"]
    efi = [i for i in rom["images"] if i.get("kind") == "efi"]
    c.add("rom.present", "pass", f"{rom['size']} bytes from sysfs, {len(rom['images'])} image(s)", modes=LEGACY)
    if not legacy:
        c.add("rom.legacy_image", "fail", "the ROM has no code type 0 image", "QEMU legacy mode runs the legacy VBIOS (SeaBIOS, or OVMF with a CSM)", LEGACY)
    else:
        ok = all(i.get("checksum_ok") for i in legacy)
        c.add("rom.legacy_image", "pass" if ok else "warn", f"{len(legacy)} legacy image(s), checksum {'ok' if ok else 'bad'}", "" if ok else "a bad checksum often means a truncated or patched dump", LEGACY)
    if c.vm is not None and c.vm.firmware == "ovmf":
        gop = rom.get("gop") or {}
        fix = "OVMF runs no legacy VBIOS without a CSM: use SeaBIOS, or a ROM with an Intel GOP (EfiRom with IgdAssignmentDxe + the GOP driver)"
        if gop.get("present"):
            c.add("rom.ovmf", "pass", f"OVMF guest; GOP: {gop.get('how')}", modes=LEGACY)
        elif gop.get("present") is None and efi:
            c.add("rom.ovmf", "unknown", f"OVMF guest; GOP: {gop.get('how')}", modes=LEGACY)
        elif legacy and not efi:
            c.add("rom.ovmf", "warn", "OVMF guest with a legacy-only ROM", fix, LEGACY)
        else:
            c.add("rom.ovmf", "warn", f"OVMF guest; no GOP in the ROM: {gop.get('how')}", fix, LEGACY)
        if not gop.get("present") and not (vm_igd is not None and vm_igd.mdev):
            c.add("vm.gop", "warn", "OVMF guest and no Intel GOP in the IGD's ROM: no picture before the guest OS driver loads (no boot menu, no boot logo)",
                  "give romfile= a ROM with the Intel GOP driver if the pre-boot display matters", frozenset({"upt", "upt_opregion"}))
    if igd is not None and rom["images"]:
        from igdscope.schemas.rom import match_device

        m = match_device(rom, igd.device, igd.vendor)
        ok = m["match"] in ("pcir", "device_list", "generic")
        c.add("rom.device_id", "pass" if ok else "warn", m["detail"],
              "" if ok else "a ROM for another device may not initialise this IGD: use the ROM of this machine (igdscope dump reads it)", LEGACY)
    c.add("rom.vbt", "pass" if rom.get("vbt_offset") is not None else "warn", f"$VBT at {rom['vbt_offset']:#x}" if rom.get("vbt_offset") is not None else "no $VBT in the ROM", modes=LEGACY)


# -- what QEMU does ---------------------------------------------------------------------------------


def _host_function(vi: Any) -> int | None:
    m = re.search(r"\.([0-7])$", vi.host or "")
    return int(m.group(1)) if m else None


def assignment(c: Context) -> qm.Assignment:
    """The :class:`~igdscope.analysis.qemu.igd.Assignment` of the capture and VM config in ``c``."""
    igd = c.igd
    s = c.summary("igd")
    vm = c.vm
    vi = vm.igd if vm is not None else None
    kw: dict[str, Any] = {}
    if igd is not None:
        asls = s.get("asls")
        op = (c.dec.opregion or {}) if c.dec is not None else {}
        bad_op = op.get("present") and any("signature" in f or "size" in f for f in op.get("findings", []))
        if asls in (0, 0xFFFFFFFF) or bad_op:
            region: bool | None = False
        elif asls is None:
            region = None
        else:
            region = True
        lpc = c.cap.device("lpc") if c.cap is not None else None
        romdata = c.dec.rom if c.dec is not None else None
        kw.update(device_id=igd.device, vendor=igd.vendor, class_code=igd.class_code, ivd=s.get("ivd") if s.get("ivd") is not None else None,
                  host_gms=s.get("gms"), opregion_region=region, lpc_region=bool(lpc is not None and lpc.vendor == 0x8086 and lpc.class_code == 0x060100),
                  rom=bool(romdata and romdata.get("images")))
    else:
        kw.update(device_id=c.device_id, class_code=None)
    if vi is not None:
        fn = _host_function(vi)
        vf = None
        if fn not in (0, None) and igd is not None:
            vf = bool(igd.sriov and igd.sriov.get("numvfs") and fn <= igd.sriov.get("numvfs", 0))
        rom = kw.get("rom")
        if vi.romfile:
            rom = True
        elif vi.rombar == 0 or vi.romfile == "":
            rom = False
        fam = vm.machine_family
        at = None if vm.devices_at_1f0 is None else tuple(d for d in vm.devices_at_1f0 if "igd-lpc-bridge" not in d)
        if fam == "q35" and at == () and not vm.devices_at_1f0:
            at = (qm.q35_at_1f0(),)  # a family set after reading: q35's own LPC bridge is there
        kw.update(host_function=fn, vf=vf if fn not in (0, None) else False, mdev=bool(vi.mdev), rom=rom, machine_family=fam,
                  guest_slot=vi.guest_slot if not (vi.guest_slot is None and vi.legacy_igd) else 2,
                  guest_function=vi.guest_function, on_root_bus=vi.on_root_bus,
                  at_1f0=at,
                  hotplugged=vi.hotplugged, x_igd_opregion=vi.x_igd_opregion, x_igd_legacy_mode=vi.x_igd_legacy_mode,
                  x_igd_lpc=vi.x_igd_lpc, x_igd_gms=vi.x_igd_gms)
    return qm.Assignment(**kw)


def qemu_rules(c: Context, v: tuple[int, int]) -> None:
    """The rules QEMU ``v`` decides, for the capture and VM config in ``c``."""
    a = assignment(c)
    vm = c.vm
    vi = vm.igd if vm is not None else None
    t = qemu.text(v)
    # legacy mode (as a mode to try: the VM config's addresses and machine, legacy mode not off)
    try_legacy = replace(a, x_igd_legacy_mode=None if a.x_igd_legacy_mode == "off" else a.x_igd_legacy_mode)
    out = qm.judge(v, try_legacy)
    for s in out.legacy_steps:
        if s.id in ("vm.address", "vm.root_bus", "vm.machine", "vm.1f0", "vm.hotplug", "rom.loadable", "vm.mdev", "vm.igd_function") and vm is None:
            continue
        if s.id == "kernel.lpc_region":
            continue  # said by kernel.lpc
        if s.id == "rom.loadable":
            continue  # said by rom.present
        status = "pass" if s.ok else ("fail" if s.ok is False else "unknown")
        if s.id == "vm.address" and s.ok is None and vi is not None and vi.legacy_igd:
            status = "pass"
        ev = s.evidence
        if s.id == "vm.machine" and vm is not None:
            machine = vm.machine or (f"not stated ({vm.machine_family} inferred)" if vm.machine_family else "not given")
            ev = f"machine {machine}"
        if s.id == "vm.1f0" and vm is not None and vm.machine_family == "q35":
            machine = vm.machine or f"not stated ({vm.machine_family} inferred)"
            ev = f"machine {machine}: {', '.join(vm.devices_at_1f0 or []) or 'ICH9 LPC'} at 00:1f.0"
        fix = s.fix
        if s.qemu_says and s.ok is False:
            fix = (fix + "; " if fix else "") + f"QEMU says: '{s.qemu_says}'"
        c.add(s.id, status, ev, fix, LEGACY)
    if vm is not None and vi is not None and a.x_igd_legacy_mode == "off":
        c.add("vm.legacy_mode", "fail", "x-igd-legacy-mode=off", "remove it to allow legacy mode", LEGACY)
    if v < (9, 2) and a.host_gms is not None and (vi is None or vi.x_igd_gms is None) and not a.mdev:
        gms = a.host_gms
        c.add("qemu.gms", "warn" if gms else "pass", f"host GMS {gms:#x} ({(c.summary('igd').get('dsm_bytes') or 0) >> 20} MiB); QEMU {t} gives the guest GMS 0 unless x-igd-gms",
              "set x-igd-gms (1-0x10) if the guest driver needs stolen memory (Windows: Code 43 without it on some generations)", LEGACY)
    plat = platforms.lookup(a.device_id) if a.device_id is not None else None
    if plat is not None and plat.bdsm == "0xc0" and v < (9, 2) and not a.mdev:
        c.add("qemu.bdsm", "warn", f"{plat.platform} keeps BDSM at config 0xC0 (64-bit); QEMU {t} emulates only 0x5C, so the guest reads the host's stolen base unless its firmware handles it", "QEMU 9.2+ emulates the 64-bit BDSM of gen 11+", LEGACY)
    # the OpRegion (as a mode to try: x-igd-opregion=on)
    op = qm.judge(v, replace(a, x_igd_opregion=True, x_igd_legacy_mode="off" if v >= (10, 0) else a.x_igd_legacy_mode))
    if op.opregion is False and a.opregion_region is not False:
        c.add("qemu.opregion", "fail", f"QEMU {t}: {op.opregion_why}", _opregion_fix(v, op, a), UPT_OPREGION)
    elif op.opregion and a.device_id is not None:
        c.add("qemu.opregion", "pass", f"QEMU {t}: {op.opregion_why}", modes=UPT_OPREGION)
    if vm is not None and vi is not None and vi.x_igd_opregion is False and qm.opregion_default(v):
        c.add("vm.opregion", "warn", "x-igd-opregion=off", "the guest gets no OpRegion/VBT (black screen with most guest drivers): remove x-igd-opregion=off", UPT_OPREGION)
    # the config as written
    if vm is not None and vi is not None:
        asked = qm.judge(v, a)
        if asked.gms is not None:
            g = asked.gms
            # refused before 10.0: the guest gets no stolen memory at all (legacy mode's GMS 0);
            # refused from 10.0: the host's GMS is kept (harmless) unless the refusal is fatal (10.2)
            fatal = g in asked.fatal
            status = ("warn" if g.caution else "pass") if g.ok else ("unknown" if g.ok is None else ("fail" if fatal or v < (9, 2) else "warn"))
            c.add("vm.gms", status, g.evidence + ("; the guest gets GMS 0 (no data stolen memory)" if status == "fail" and not fatal else ""), g.fix,
                  ALL if fatal else LEGACY if v < (10, 0) else LEGACY | UPT_OPREGION)
        mode = requested_mode(vm, v)
        for f in asked.fatal:
            if f.id == "vm.gms":
                continue
            c.add("qemu.fatal", "fail", f.evidence, f.fix + (f"; QEMU says: '{f.qemu_says}'" if f.qemu_says else ""), frozenset({mode}) if mode else ALL)
        for n in asked.notes:
            c.add("qemu.note", "warn", n, "use QEMU 10.1 or later for this IGD's OpRegion", UPT_OPREGION)


def _opregion_fix(v: tuple[int, int], out: qm.Outcome, a: qm.Assignment) -> str:
    if a.mdev:
        return "GVT-g gives the OpRegion only for QEMU generation 8/9 and with x-igd-opregion=on"
    if v >= (10, 0) and v < (10, 1) and out.generation == -1:
        return "QEMU 10.1 and later give the OpRegion to devices QEMU 10.0 does not know"
    if a.class_code is not None and a.class_code >> 8 != 0x0300 and v < (10, 2):
        return "make the IGD the primary display (class 0x0300) in the firmware setup, or use QEMU 10.2+"
    return ""


def vm_rules(c: Context) -> bool:
    """The VM config's own rules; False when the config gives no IGD to judge further."""
    vm = c.vm
    if vm is None:
        c.add("vm.config", "unknown", "no VM configuration given", "pass --vm-args, --libvirt, --proxmox or --pid to check the VM's side", LEGACY)
        return False
    for err in vm.errors_quoted[:5]:
        why, fix = explain_qemu_error(err)
        c.add("vm.qemu_error", "warn", err[:300] + (f" - {why}" if why else ""), fix, ALL)
    vi = vm.igd
    if vi is None:
        unread = f"; not understood: {'; '.join(u[:120] for u in vm.unparsed[:2])}" if vm.unparsed else ""
        c.add("vm.igd", "fail", f"no assigned device from host 00:02 in the {vm.source} config{unread}",
              "assign 0000:00:02.0" + (" (a JSON -device must be quoted for the shell: -device '{...}')" if any("JSON" in u for u in vm.unparsed) else ""))
        return False
    fn = _host_function(vi)
    if vi.mdev:
        parent = "the IGD (parent assumed: 0000:00:02.0)" if getattr(vi, "mdev_parent_assumed", False) else f"{vi.host or 'the IGD'}"
        c.add("vm.igd", "pass", f"GVT-g mediated device {vi.mdev} of {parent} ({vi.origin})")
    elif fn not in (0, None):
        igd = c.igd
        numvfs = (igd.sriov or {}).get("numvfs") if igd is not None else None
        if numvfs and fn <= numvfs:
            what = f"host 00:02.{fn} is SR-IOV VF {fn} of the IGD"
            c.add("vm.igd", "warn", f"{what} ({vi.origin})", "a VF needs an SR-IOV capable guest driver (i915/xe with SR-IOV support); it has no OpRegion, VGA or ROM", frozenset({"upt"}))
            c.add("vm.igd_function", "fail", what, "legacy mode and the OpRegion are for the physical IGD 00:02.0 only: remove legacy-igd / x-igd-opregion from the VF", OPREGION_MODES)
        else:
            known = " (the host capture shows no SR-IOV VFs)" if igd is not None else " (an SR-IOV VF only if the host enabled VFs: sriov_numvfs)"
            c.add("vm.igd", "fail", f"the VM is given host 00:02.{fn}, not the IGD 00:02.0{known} ({vi.origin})",
                  "assign function 0: host address 0000:00:02.0 (libvirt: function='0x0')")
            c.add("vm.igd_function", "fail", f"host function 00:02.{fn}", "legacy mode and the OpRegion are for the physical IGD 00:02.0 only", OPREGION_MODES)
    else:
        c.add("vm.igd", "pass", f"host {vi.host or '?'} ({vi.origin})")
    if vi.hotplugged:
        c.add("vm.hotplug", "fail", "the IGD is hot-plugged", "cold-plug it (define it at VM start)", OPREGION_MODES)
    if vm.source == "proxmox" and vi.legacy_igd:
        proxmox_legacy_rules(c, vm, vi, fn)
    if vi.guest_slot is not None:
        def bus(b: str | None) -> str | None:
            return None if b in (None, "pci.0", "pcie.0") else b  # None: the root bus

        here = [d for d in vm.devices if d.slot == vi.guest_slot and (d.function or 0) == (vi.guest_function or 0) and bus(d.bus) == bus(vi.guest_bus)]
        others = [d for d in here if d.driver != "vfio-pci"] if len(here) > 1 else []
        if others:
            o = others[0]
            fix = {"QEMU default VGA": "add -vga none (or -nodefaults): QEMU's default VGA is made first and takes 00:02.0",
                   "QEMU default NIC": "add -nodefaults, or give the NIC as -netdev plus -device with its own addr: QEMU's default NIC is made with the machine and takes the first free slot",
                   "-nic / -net nic": "give the NIC as -netdev plus -device with its own addr: a -nic NIC is made with the machine and takes the first free slot",
                   }.get(o.origin, f"move {o.driver}{' (' + o.id + ')' if o.id else ''} to another slot")
            c.add("vm.slot", "fail", f"guest {vi.guest_slot:02x}.{vi.guest_function or 0} also holds {o.driver} ({o.origin}): QEMU stops with 'PCI: slot {vi.guest_slot} function {vi.guest_function or 0} not available for vfio-pci, in use by {o.driver}'", fix)
    # cautions that matter even when no rule fails
    if vm.firmware == "ovmf" and not (vi.guest_slot == 2 and (vi.guest_function or 0) == 0 and vi.on_root_bus is not False) and not vi.legacy_igd:
        where = "auto-assigned" if vi.guest_slot is None else f"{vi.guest_slot:02x}.{vi.guest_function or 0}" + (f" on {vi.guest_bus}" if vi.guest_bus else "")
        c.add("vm.windows_address", "warn", f"OVMF guest with the IGD at guest {where}" + (" behind a root port" if vi.on_root_bus is False else ""),
              "Windows' Intel driver expects the IGD at 00:02.0 on the root bus (reports of Code 43 otherwise): give addr=0x2 on pcie.0 / pci.0", frozenset({"upt", "upt_opregion"}))
    return True


def proxmox_legacy_rules(c: Context, vm: Any, vi: Any, fn: int | None) -> None:
    """qm start refuses a hostpci with legacy-igd=1 unless these hold (qemu-server's
    parse_hostpci_devices); the error stops the VM before QEMU runs."""
    bad: list[tuple[str, str]] = []
    if vm.vga is not None and vm.vga.split(",")[0].strip() != "none":
        bad.append((f"vga: {vm.vga}", "requires VGA mode to be 'none'"))
    if vi.rombar == 0:
        bad.append(("rombar=0", "requires rombar to be enabled"))
    if vi.x_vga:
        bad.append(("x-vga=1", "is not compatible with x-vga"))
    if vi.mdev:
        bad.append((f"mdev={vi.mdev}", "is not compatible with mdev"))
    if vm.machine_family == "q35":
        bad.append((f"machine {vm.machine or 'q35'}", "is not compatible with q35"))
    if fn not in (0, None):
        bad.append((f"host 00:02.{fn}", "only works for devices on host bus 00:02.0"))
    if bad:
        c.add("pve.legacy_igd", "fail", "; ".join(f"{what}: qm start says 'legacy IGD assignment {says}'" for what, says in bad),
              "for legacy-igd=1 set vga: none, keep rombar on, no x-vga or mdev, an i440fx machine and host 0000:00:02.0 (or drop legacy-igd for UPT)", LEGACY)
    elif vm.vga is None:
        c.add("pve.legacy_igd", "unknown", "vga not in this config: qm start refuses legacy-igd unless vga: none", "set vga: none", LEGACY)
    else:
        c.add("pve.legacy_igd", "pass", "vga: none, i440fx, host 00:02.0", modes=LEGACY)


# -- putting it together ----------------------------------------------------------------------------


def _versions(c: Context, installed: tuple[int, int] | None, lower: tuple[int, int] | None) -> list[tuple[int, int]]:
    if installed is not None:
        return [installed]
    return qm.versions_from(lower)


def run_checks(cap: Capture | None, vm: Any = None, qemu_version: str | None = None, decoded: Decoded | None = None, *, device: int | None = None) -> dict[str, Any]:
    """Every rule for ``cap`` (a host capture, or None to judge a VM config alone) and the
    verdict per mode. ``decoded`` is the capture's ``decode(cap, with_gtt_summary=False)`` when
    the caller has it."""
    dec = decoded if decoded is not None else (decode(cap, with_gtt_summary=False) if cap is not None else None)
    created = getattr(vm, "created_with_qemu", None) if vm is not None else None
    hint = vm.qemu_version_hint if vm is not None else None
    if hint and created and hint == created:
        hint = None
    qv = qemu_version or (cap.host.get("qemu_version") if cap is not None else None) or hint
    kv = qemu.version(cap.host.get("kernel_release")) if cap is not None else None
    installed = qemu.version(qv)
    lower = qemu.version(vm.machine_version) if vm is not None and vm.machine_version else None
    base = Context(cap, dec, vm, installed, kv, device_id=device)
    guest = cap is not None and cap.machine == "guest"
    if cap is None:
        base.add("host.capture", "unknown", "no host capture: the kernel, driver, IOMMU and ROM rules and the IGD's identity are not judged",
                 "on the host: igdscope dump -o host.json, then igdscope check host.json with this config")
    elif guest:
        base.add("host.machine", "unknown", "this capture was taken inside a VM (CPU hypervisor flag): check judges a host, so no verdict",
                 "run check on the host's capture; compare host and guest with igdscope diff HOST.json GUEST.json")
    if cap is not None and base.igd is None:
        base.add("igd.present", "fail", "no IGD device in the capture", "take the capture on the machine with the IGD")
    elif cap is not None:
        kernel_rules(base)
        if not guest:
            ownership_rules(base)
    has_vm_igd = vm_rules(base)
    if cap is not None or vm is not None:
        rom_rules(base) if (base.igd is not None or has_vm_igd) else None
    if installed is None:
        base.add("qemu.version", "unknown", "no QEMU version given or found" + (f"; the machine type {vm.machine} needs QEMU {qemu.text(lower)} or later" if lower else "")
                 + (f"; the VM was created with QEMU {created} (not necessarily the one installed)" if created else ""),
                 "pass --qemu-version X.Y (or run check on the host, where qemu-system-x86_64 is on PATH)", LEGACY)
    elif lower is not None and installed < lower:
        base.add("qemu.machine_version", "fail", f"machine {vm.machine} needs QEMU {qemu.text(lower)} or later; the installed QEMU is {qemu.text(installed)}",
                 f"QEMU {qemu.text(installed)} refuses the machine type: use a machine type of {qemu.text(installed)} or older (or the unversioned alias)", ALL)
    elif created and qemu.version(created) and installed is not None and qemu.version(created) != installed:
        base.add("qemu.note", "pass", f"the VM was created with QEMU {created}; QEMU {qemu.text(installed)} runs it (judged with {qemu.text(installed)})")
    judge_igd = (base.igd is not None) or has_vm_igd
    per_version: list[tuple[tuple[int, int], list[Rule]]] = []
    if judge_igd and (base.igd is not None or vm is not None):
        for v in _versions(base, installed, lower):
            c = Context(cap, dec, vm, v, kv, device_id=device)
            qemu_rules(c, v)
            per_version.append((v, c.rules))
    rules = list(base.rules)
    by_version = None
    if len(per_version) == 1:
        rules += per_version[0][1]
    elif per_version:
        rules += _merge(per_version)
        common = [r for r in base.rules if r.id != "qemu.version"]  # each of these versions is known
        by_version = [(v, common + rs) for v, rs in per_version]
    verdicts = {}
    for mode in MODES:
        verdicts[mode] = _verdict(rules, mode)
        if by_version is not None:
            steps = [{"qemu": qm.range_label(v), "verdict": _verdict(rs, mode)["verdict"], "failing": _verdict(rs, mode)["failing"]} for v, rs in by_version]
            if len({s["verdict"] for s in steps}) > 1:
                # the verdict depends on which QEMU runs the VM: say where it changes
                verdicts[mode]["by_qemu"] = steps
                verdicts[mode]["verdict"] = "unknown"
                verdicts[mode]["unknown"] = list(dict.fromkeys([*verdicts[mode]["unknown"], "qemu.version"]))
    asked = requested_mode(vm, installed or lower)
    ident = dec.device("igd").identity if dec is not None and dec.device("igd") is not None else None
    plat_plain = None if dec is None else thaw(dec.platform)
    if dec is None and device is not None:
        from igdscope.decode.devices import platform_plain

        ident, plat_plain = {"vendor": 0x8086, "device": device}, platform_plain(platforms.lookup(device))
    return {
        "capture": None if cap is None else cap.machine,
        "igd": None if ident is None else thaw(ident),
        "platform": plat_plain,
        "qemu_version": qv,
        "qemu_judged": [qm.range_label(v) for v, _ in per_version] if installed is None else None,
        "kernel": cap.host.get("kernel_release") if cap is not None else None,
        "vm": None if vm is None else {"source": vm.source, "machine": vm.machine, "machine_family": vm.machine_family, "firmware": vm.firmware},
        "requested_mode": asked,
        "verdicts": verdicts,
        "rules": [r.plain() for r in rules],
    }


def _verdict(rules: list[Rule], mode: str) -> dict[str, Any]:
    mine = [r for r in rules if mode in r.modes]
    failing = list(dict.fromkeys(r.id for r in mine if r.status == "fail"))
    unknown = list(dict.fromkeys(r.id for r in mine if r.status == "unknown"))
    cautions = list(dict.fromkeys(r.id for r in mine if r.status == "warn" and r.id in CAUTIONS))
    out = {"verdict": "fails" if failing else ("unknown" if unknown else "works"), "failing": failing, "unknown": unknown}
    if cautions:
        out["cautions"] = cautions
    return out


def _merge(per_version: list[tuple[tuple[int, int], list[Rule]]]) -> list[Rule]:
    """One rule per id across the versions judged: the same when every version agrees, else
    "unknown" with the versions where each status holds."""
    order: list[str] = []
    seen: dict[str, list[tuple[tuple[int, int], Rule]]] = {}
    for v, rs in per_version:
        for r in rs:
            key = r.id
            if key not in seen:
                order.append(key)
                seen[key] = []
            seen[key].append((v, r))
    out: list[Rule] = []
    versions = [v for v, _ in per_version]
    for key in order:
        got = seen[key]
        statuses = {r.status for _, r in got}
        first = got[0][1]
        if len(got) == len(versions) and len(statuses) == 1 and len({r.evidence for _, r in got}) == 1:
            out.append(first)
            continue
        if len(statuses) == 1:
            # the same status wherever QEMU has the rule (a rule some versions do not have
            # cannot turn a failure elsewhere into a pass: the verdicts per version say that)
            where = "" if len(got) == len(versions) else f"QEMU {', '.join(qm.range_label(v) for v, _ in got)}: "
            evid = {r.evidence for _, r in got}
            text = where + (first.evidence if len(evid) == 1 else "; ".join(f"{qm.range_label(v)}: {r.evidence}" for v, r in got))
            out.append(Rule(first.id, first.title, first.status, text, first.fix, first.modes))
            continue
        parts = []
        for st in ("fail", "warn", "unknown", "pass"):
            vs = [qm.range_label(v) for v, r in got if r.status == st]
            if vs:
                parts.append(f"{st} on QEMU {', '.join(vs)}")
        missing = [qm.range_label(v) for v in versions if v not in [g[0] for g in got]]
        if missing:
            parts.append(f"not a rule on QEMU {', '.join(missing)}")
        worst = next((r for _, r in got if r.status == "fail"), first)
        modes = frozenset().union(*(r.modes for _, r in got))
        out.append(Rule(first.id, first.title, "unknown", f"{'; '.join(parts)} - {worst.evidence}", worst.fix, modes))
    return out


def requested_mode(vm: Any, version: tuple[int, int] | None) -> str | None:
    if vm is None or vm.igd is None:
        return None
    vi = vm.igd
    fn = _host_function(vi)
    if vi.mdev or fn not in (0, None):
        return "upt_opregion" if vi.x_igd_opregion else "upt"
    if vi.legacy_igd or vi.x_igd_legacy_mode == "on":
        return "legacy"
    if vi.x_igd_legacy_mode == "off":
        return "upt_opregion" if vi.x_igd_opregion else "upt"
    if vm.machine_family == "i440fx" and vi.guest_slot == 2 and (vi.guest_function or 0) == 0:
        return "legacy"
    if vi.x_igd_opregion or (version is not None and qm.asls_emulated_always(version) and vi.x_igd_opregion is not False):
        return "upt_opregion"
    return "upt"
