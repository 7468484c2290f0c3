"""``igdscope check``: will IGD assignment work with this host, kernel, QEMU and VM config?

Every rule has an id, a status (pass / fail / warn / unknown), the evidence (register, file or
argument and its value) and what to change. Verdicts for the three modes — ``legacy`` (QEMU's
legacy IGD mode), ``upt`` (plain assignment) and ``upt_opregion`` (with ``x-igd-opregion``) —
list every failing rule, not the first only.

Facts: the project's QEMU/kernel fact sheet (QEMU's legacy-mode conditions per era, the kernel's
vfio-pci IGD region rules), PCI register and OpRegion sheets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from igdscope import platforms
from igdscope.analysis import qemu
from igdscope.capture import Capture
from igdscope.decode.model import decode_capture

MODES = ("legacy", "upt", "upt_opregion")
ALL = frozenset(MODES)
OPREGION_MODES = frozenset({"legacy", "upt_opregion"})
LEGACY = frozenset({"legacy"})


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
    cap: Capture
    dec: dict
    vm: Any = None  # igdscope.vmconfig.VmConfig
    qemu: tuple[int, int] | None = None
    kernel: tuple[int, int] | None = None
    rules: list[Rule] = field(default_factory=list)

    def add(self, rid: str, title: str, status: str, evidence: str, fix: str = "", modes: frozenset = ALL) -> None:
        self.rules.append(Rule(rid, title, status, evidence, fix, modes))

    @property
    def igd(self):
        return self.cap.device("igd")

    def summary(self, role: str) -> dict:
        return self.dec["devices"].get(role, {}).get("summary", {})


# -- kernel vfio-pci rules ---------------------------------------------------------------------------


def kernel_rules(c: Context) -> None:
    igd = c.igd
    s = c.summary("igd")
    asls = s.get("asls")
    if asls is None:
        c.add("kernel.asls", "OpRegion address (ASLS, IGD config 0xFC)", "unknown", "ASLS not captured (config space shorter than 256 bytes)", "run igdscope dump as root", OPREGION_MODES)
    elif asls in (0, 0xFFFFFFFF):
        c.add("kernel.asls", "OpRegion address (ASLS, IGD config 0xFC)", "fail", f"ASLS = {asls:#010x}: the firmware published no OpRegion, so vfio-pci creates no IGD regions", "enable the IGD as the primary display in the firmware setup (or use a firmware that provides the OpRegion); UPT without x-igd-opregion may still work", OPREGION_MODES)
    else:
        c.add("kernel.asls", "OpRegion address (ASLS, IGD config 0xFC)", "pass", f"ASLS = {asls:#010x}", modes=OPREGION_MODES)
    op = c.dec.get("opregion") or {}
    if op.get("present"):
        bad = [f for f in op.get("findings", []) if "signature" in f or "size" in f]
        ver = op.get("version")
        if bad:
            c.add("kernel.opregion", "OpRegion header (signature, size)", "fail", "; ".join(bad), "vfio-pci refuses an OpRegion without the IntelGraphicsMem signature or with size 0 (the device open fails)", OPREGION_MODES)
        else:
            c.add("kernel.opregion", "OpRegion header (signature, size)", "pass", f"version {ver}, {op.get('size_kib')} KiB, from {op.get('source')}", modes=OPREGION_MODES)
        ext = op.get("extended_vbt") or {}
        if ext.get("kind") == "absolute":
            if c.kernel is None:
                c.add("kernel.rvda", "OpRegion 2.0 with an extended VBT at an absolute RVDA", "unknown", f"RVDA {ext.get('address', 0):#x}; kernel version unknown", "kernels before 5.16 refuse it (device open fails); 5.16+ map it", OPREGION_MODES)
            elif c.kernel < (5, 16):
                c.add("kernel.rvda", "OpRegion 2.0 with an extended VBT at an absolute RVDA", "fail", f"kernel {c.kernel[0]}.{c.kernel[1]} refuses OpRegion 2.0 with an extended VBT (RVDA {ext.get('address', 0):#x})", "use Linux 5.16 or later", OPREGION_MODES)
            else:
                c.add("kernel.rvda", "OpRegion 2.0 with an extended VBT at an absolute RVDA", "pass", f"kernel {c.kernel[0]}.{c.kernel[1]} maps it and reports version 2.1 with RVDA 0x2000", modes=OPREGION_MODES)
    elif asls not in (None, 0, 0xFFFFFFFF):
        c.add("kernel.opregion", "OpRegion header (signature, size)", "unknown", "OpRegion not captured: " + "; ".join(f"{t['source']}: {t['result']}" for t in (op.get("sources") or {}).get("tried", [])), "capture it: igdscope dump as root (--vfio when vfio-pci owns the IGD)", OPREGION_MODES)
    hb = c.cap.device("host_bridge")
    if hb is None:
        c.add("kernel.host_bridge", "Host bridge at 00:00.0 (Intel, class 0x060000)", "fail", "no PCI function at 00:00.0 in the capture", "vfio-pci's IGD setup needs it for the host-bridge config region", OPREGION_MODES)
    elif hb.vendor != 0x8086 or hb.class_code != 0x060000:
        c.add("kernel.host_bridge", "Host bridge at 00:00.0 (Intel, class 0x060000)", "fail", f"00:00.0 is {hb.vendor:04x}:{hb.device:04x} class {hb.class_code:06x}", "vfio-pci registers no host-bridge region; QEMU legacy mode then fails", OPREGION_MODES)
    else:
        c.add("kernel.host_bridge", "Host bridge at 00:00.0 (Intel, class 0x060000)", "pass", f"{hb.vendor:04x}:{hb.device:04x} class {hb.class_code:06x}", modes=OPREGION_MODES)
    lpc = c.cap.device("lpc")
    if lpc is None:
        c.add("kernel.lpc", "ISA/LPC bridge at 00:1f.0 (Intel, class 0x060100)", "fail", "no PCI function at 00:1f.0", "vfio-pci's IGD setup fails the device open without it (-EINVAL)", OPREGION_MODES)
    elif lpc.vendor != 0x8086 or lpc.class_code != 0x060100:
        c.add("kernel.lpc", "ISA/LPC bridge at 00:1f.0 (Intel, class 0x060100)", "fail", f"00:1f.0 is {lpc.vendor:04x}:{lpc.device:04x} class {lpc.class_code:06x}", "vfio-pci requires class exactly 0x060100 there", OPREGION_MODES)
    else:
        c.add("kernel.lpc", "ISA/LPC bridge at 00:1f.0 (Intel, class 0x060100)", "pass", f"{lpc.vendor:04x}:{lpc.device:04x} class {lpc.class_code:06x}", modes=OPREGION_MODES)
    if igd is not None:
        cls = igd.class_code >> 8
        if cls == 0x0300:
            c.add("kernel.class", "IGD display class", "pass", f"class {igd.class_code:06x} (VGA)", modes=OPREGION_MODES)
        elif cls == 0x0380:
            if c.kernel is not None and c.kernel >= (6, 15):
                c.add("kernel.class", "IGD display class", "pass", f"class {igd.class_code:06x} (not the primary display); kernel {c.kernel[0]}.{c.kernel[1]} matches any display class", modes=OPREGION_MODES)
            else:
                c.add("kernel.class", "IGD display class", "fail" if c.kernel else "unknown", f"class {igd.class_code:06x}: the IGD is not the primary display; kernels before 6.15 create IGD regions only for class 0x0300", "make the IGD the primary display in the firmware setup, or use Linux 6.15+", OPREGION_MODES)


# -- ownership, IOMMU ---------------------------------------------------------------------------------


def ownership_rules(c: Context) -> None:
    igd = c.igd
    if igd is None:
        return
    h = c.cap.host
    if c.cap.machine == "guest":
        c.add("host.machine", "Capture taken on the host", "warn", "this capture was taken inside a VM (CPU hypervisor flag)", "run check on the host's capture; use diff to compare with the guest")
    if igd.driver == "vfio-pci":
        c.add("own.driver", "IGD bound to vfio-pci", "pass", f"{igd.bdf} driver vfio-pci")
    elif igd.driver in ("i915", "xe"):
        c.add("own.driver", "IGD bound to vfio-pci", "fail", f"{igd.bdf} is bound to {igd.driver}", f"bind it to vfio-pci (vfio-pci.ids={igd.vendor:04x}:{igd.device:04x}, and keep {igd.driver} off it: modprobe.blacklist={igd.driver} or softdep)")
    else:
        c.add("own.driver", "IGD bound to vfio-pci", "warn", f"{igd.bdf} has {'no driver' if not igd.driver else 'driver ' + igd.driver}", f"bind it to vfio-pci (vfio-pci.ids={igd.vendor:04x}:{igd.device:04x})")
    mods = h.get("modules", {})
    for drv in ("i915", "xe"):
        if mods.get(drv, {}).get("loaded") and igd.driver == "vfio-pci":
            c.add(f"own.{drv}_loaded", f"{drv} module loaded", "warn", f"{drv} is loaded (not bound to the IGD)", f"blacklist {drv} (modprobe.blacklist={drv}) so it cannot take the IGD back after a VM stops or at the next boot")
    fb = [line.strip() for line in h.get("iomem", []) if re.search(r"efifb|simplefb|BOOTFB|vesafb", line, re.I)]
    if fb:
        c.add("own.framebuffer", "No host framebuffer on the IGD", "fail", "; ".join(fb[:3]), "keep the host console off the IGD: video=efifb:off video=simplefb:off (or initcall_blacklist=sysfb_init)")
    elif h.get("iomem") is not None:
        c.add("own.framebuffer", "No host framebuffer on the IGD", "pass", "no efifb/simplefb/BOOTFB region in /proc/iomem")
    dv = h.get("vfio_pci_disable_vga")
    if dv in ("Y", "1"):
        c.add("own.disable_vga", "vfio-pci VGA access", "fail", "vfio_pci disable_vga=Y: no VGA region", "legacy mode needs the VGA region: remove vfio-pci.disable_vga=1", LEGACY)
    elif dv is not None:
        c.add("own.disable_vga", "vfio-pci VGA access", "pass", f"vfio_pci disable_vga={dv}", modes=LEGACY)
    cmdline = h.get("cmdline") or ""
    if igd.iommu_group is None:
        c.add("iommu.enabled", "IOMMU on", "fail" if c.cap.machine != "guest" else "unknown", "the IGD has no IOMMU group" + (f"; cmdline: {cmdline}" if cmdline else ""), "enable VT-d in the firmware and add intel_iommu=on to the kernel command line")
    else:
        c.add("iommu.enabled", "IOMMU on", "pass", f"IOMMU group {igd.iommu_group}" + (f", {len(h.get('dmar', []))} DMAR units" if h.get("dmar") else ""))
        others = [m for m in igd.iommu_group_members if m != igd.bdf]
        if others:
            c.add("iommu.group", "IGD alone in its IOMMU group", "warn", f"group {igd.iommu_group} also holds {', '.join(others)}", "every device of the group must be bound to vfio-pci (and usually given to the same VM)")
        else:
            c.add("iommu.group", "IGD alone in its IOMMU group", "pass", f"group {igd.iommu_group}: {igd.bdf} only")
    if igd.sriov:
        if igd.sriov.get("role") == "vf":
            c.add("own.sriov", "Not an SR-IOV VF", "fail", f"{igd.bdf} is a VF of {igd.sriov.get('physfn')}", "a VF has no OpRegion, VGA or ROM: only plain assignment (UPT) is possible", OPREGION_MODES)
        elif igd.sriov.get("numvfs"):
            c.add("own.sriov", "SR-IOV VFs off for legacy mode", "warn", f"{igd.sriov['numvfs']} VFs enabled on {igd.bdf}", "assigning the PF with VFs enabled is untested territory: set sriov_numvfs to 0", LEGACY)
    dmar = h.get("dmar") or []
    if dmar and c.vm is not None:
        widths = []
        for u in dmar:
            try:
                widths.append(((int(u.get("cap") or "0", 16) >> 16) & 0x3F) + 1)
            except ValueError:
                pass
        if widths:
            c.add("iommu.width", "IOMMU address width", "pass", f"MGAW {min(widths)} bits ({', '.join(str(w) for w in widths)}); guest RAM must stay below 2^{min(widths)}: keep phys-bits at or below it")


# -- option ROM -------------------------------------------------------------------------------------


def rom_rules(c: Context) -> None:
    igd = c.igd
    rom = c.dec.get("rom")
    vm_igd = c.vm.igd if c.vm is not None else None
    romfile = vm_igd.romfile if vm_igd is not None else None
    if romfile:
        c.add("rom.present", "Option ROM available", "pass", f"romfile={romfile} (contents not captured: run igdscope show on it)", modes=LEGACY)
        return
    if vm_igd is not None and (vm_igd.rombar == 0 or romfile == ""):
        c.add("rom.present", "Option ROM available", "fail", "rombar=0 / romfile disabled in the VM config", "legacy mode needs the VBIOS: remove rombar=0, or give romfile=", LEGACY)
        return
    if not rom:
        c.add("rom.present", "Option ROM available", "fail" if c.vm is not None else "warn", "no ROM read from sysfs (UEFI-only firmware leaves no shadowed VBIOS) and no romfile=", "legacy mode needs a legacy VBIOS: extract one (igdscope extract) or pass romfile= with a VBIOS for this IGD", LEGACY)
        return
    legacy = [i for i in rom["images"] if i.get("kind") == "legacy"]
    efi = [i for i in rom["images"] if i.get("kind") == "efi"]
    c.add("rom.present", "Option ROM available", "pass", f"{rom['size']} bytes from sysfs, {len(rom['images'])} image(s)", modes=LEGACY)
    if not legacy:
        c.add("rom.legacy_image", "Legacy x86 VBIOS image", "fail", "the ROM has no code type 0 image", "QEMU legacy mode runs the legacy VBIOS (SeaBIOS, or OVMF with a CSM)", LEGACY)
    else:
        ok = all(i.get("checksum_ok") for i in legacy)
        c.add("rom.legacy_image", "Legacy x86 VBIOS image", "pass" if ok else "warn", f"{len(legacy)} legacy image(s), checksum {'ok' if ok else 'bad'}", "" if ok else "a bad checksum often means a truncated or patched dump", LEGACY)
    if c.vm is not None and c.vm.firmware == "ovmf":
        gop = rom.get("gop") or {}
        fix = "OVMF runs no legacy VBIOS without a CSM: use SeaBIOS, or a ROM with an Intel GOP (EfiRom with IgdAssignmentDxe + the GOP driver)"
        if gop.get("present"):
            c.add("rom.ovmf", "UEFI guest firmware and the ROM", "pass", f"OVMF guest; GOP: {gop.get('how')}", modes=LEGACY)
        elif gop.get("present") is None and efi:
            c.add("rom.ovmf", "UEFI guest firmware and the ROM", "unknown", f"OVMF guest; GOP: {gop.get('how')}", modes=LEGACY)
        elif legacy and not efi:
            c.add("rom.ovmf", "UEFI guest firmware and the ROM", "warn", "OVMF guest with a legacy-only ROM", fix, LEGACY)
        else:
            c.add("rom.ovmf", "UEFI guest firmware and the ROM", "warn", f"OVMF guest; no GOP in the ROM: {gop.get('how')}", fix, LEGACY)
    if igd is not None and rom["images"]:
        from igdscope.schemas.rom import match_device

        m = match_device(rom, igd.device, igd.vendor)
        ok = m["match"] in ("pcir", "device_list", "generic")
        c.add("rom.device_id", "ROM made for this IGD (PCIR ID, device list)", "pass" if ok else "warn", m["detail"],
              "" if ok else "a ROM for another device may not initialise this IGD: use the ROM of this machine (igdscope dump reads it)", LEGACY)
    c.add("rom.vbt", "VBT inside the ROM", "pass" if rom.get("vbt_offset") is not None else "warn", f"$VBT at {rom['vbt_offset']:#x}" if rom.get("vbt_offset") is not None else "no $VBT in the ROM", modes=LEGACY)


# -- QEMU legacy-mode rules -------------------------------------------------------------------------


def qemu_rules(c: Context) -> None:
    igd = c.igd
    if igd is None:
        return
    s = c.summary("igd")
    plat = platforms.lookup(igd.device)
    if c.qemu is None:
        c.add("qemu.version", "QEMU version known", "unknown", "no QEMU version given or found", "pass --qemu-version X.Y (or run check on the host, where qemu-system-x86_64 is on PATH)", LEGACY)
    else:
        era = qemu.era(c.qemu)
        gen = platforms.qemu_gen(igd.device, era)
        v = f"{c.qemu[0]}.{c.qemu[1]}"
        if era == "A":
            ok = gen in (6, 8)
        elif era == "B":
            ok = gen != -1
        elif not qemu.legacy_mode_generations_only_6_to_9(c.qemu):
            ok = gen != -1
        else:
            ok = 6 <= gen <= 9
        name = f"{plat.platform} " if plat else ""
        c.add("qemu.generation", "QEMU knows the IGD generation for legacy mode", "pass" if ok else "fail", f"QEMU {v} classifies {name}{igd.device:04x} as generation {gen}", "" if ok else ("QEMU 10.1 and later do legacy mode only for generations 6-9 (SNB ... CML); use UPT (x-igd-opregion=on, q35 or i440fx, any address)" if qemu.legacy_mode_generations_only_6_to_9(c.qemu) else f"this QEMU does not know {igd.device:04x}: upgrade QEMU or use UPT"), LEGACY)
        if c.qemu >= (10, 2):
            ivd = s.get("ivd")
            if ivd is not None:
                c.add("qemu.ivd", "IGD decodes VGA (GGC.IVD = 0)", "fail" if ivd else "pass", f"GGC {s.get('ggc', 0):#06x}: IVD={int(bool(ivd))}", "enable the IGD as primary display / VGA in the firmware setup" if ivd else "", LEGACY)
        gms = s.get("gms")
        if gms is not None and c.qemu < (9, 2):
            c.add("qemu.gms", "Stolen memory the guest gets", "warn" if gms else "pass", f"host GMS {gms:#x} ({(s.get('dsm_bytes') or 0) >> 20} MiB); QEMU {v} gives the guest GMS 0 unless x-igd-gms", "set x-igd-gms (1-0x10) if the guest driver needs stolen memory (Windows: Code 43 without it on some generations)", LEGACY)
        if plat is not None and plat.bdsm == "0xc0" and not qemu.emulates_bdsm_0xc0(c.qemu):
            c.add("qemu.bdsm", "BDSM register location", "warn", f"{plat.platform} keeps BDSM at config 0xC0 (64-bit); QEMU {v} emulates only 0x5C, so the guest reads the host's stolen base unless its firmware handles it", "QEMU 9.2+ emulates the 64-bit BDSM of gen 11+", LEGACY)
    if igd.class_code >> 8 != 0x0300:
        c.add("qemu.class", "IGD class is VGA (0x0300)", "fail", f"class {igd.class_code:06x}", "QEMU legacy mode needs the IGD as primary VGA device", LEGACY)
    vm = c.vm
    if vm is None:
        c.add("vm.config", "VM configuration", "unknown", "no VM configuration given", "pass --vm-args, --libvirt, --proxmox or --pid to check the VM's side", LEGACY)
        return
    vi = vm.igd
    if vi is None:
        c.add("vm.igd", "The VM is given the IGD", "fail", f"no assigned device from host 00:02 in the {vm.source} config", "assign 0000:00:02.0")
        return
    c.add("vm.igd", "The VM is given the IGD", "pass", f"host {vi.host or '?'} ({vi.origin})")
    addr = (vi.guest_slot, vi.guest_function)
    if addr == (2, 0) and vi.on_root_bus is not False:
        c.add("vm.address", "IGD at guest 00:02.0 on the root bus", "pass", "guest address 02.0", modes=LEGACY)
    elif vi.guest_slot is None:
        c.add("vm.address", "IGD at guest 00:02.0 on the root bus", "fail" if not vi.legacy_igd else "pass", "guest address not given (auto-assigned)" + (" - legacy-igd=1 makes Proxmox put it at 02.0" if vi.legacy_igd else ""), "" if vi.legacy_igd else "give addr=02.0 on the root bus (bus=pci.0)", LEGACY)
    else:
        c.add("vm.address", "IGD at guest 00:02.0 on the root bus", "fail", f"guest address {vi.guest_slot:02x}.{vi.guest_function or 0}" + (f" on {vi.guest_bus}" if vi.guest_bus else ""), "legacy mode needs addr=02.0 on the root bus", LEGACY)
    if vi.on_root_bus is False:
        c.add("vm.root_bus", "IGD on the root bus", "fail", f"behind {vi.guest_bus}", "put it on the root bus (pci.0 / pcie.0), not behind a root port", LEGACY)
    fam = vm.machine_family
    machine = vm.machine or (f"not stated ({fam} inferred)" if fam else None)
    if fam == "q35":
        at = vm.devices_at_1f0 or []
        c.add("vm.1f0", "Guest 00:1f.0 free (or vfio-pci-igd-lpc-bridge)", "fail", f"machine {machine}: {', '.join(at) or 'ICH9 LPC'} at 00:1f.0", "QEMU: 'cannot support legacy mode due to existing devices at address 1f.0' - use an i440fx (pc) machine", LEGACY)
        if c.qemu is not None and c.qemu >= (10, 0):
            c.add("vm.machine", "i440fx machine for legacy mode", "fail", f"machine {machine}", "QEMU 10.0+ does legacy mode only on i440fx (pc)", LEGACY)
    elif fam == "i440fx":
        at = [d for d in (vm.devices_at_1f0 or []) if "igd-lpc-bridge" not in d]
        c.add("vm.1f0", "Guest 00:1f.0 free (or vfio-pci-igd-lpc-bridge)", "fail" if at else "pass", f"00:1f.0: {', '.join(at)}" if at else "00:1f.0 free on i440fx", "move the device away from 00:1f.0" if at else "", LEGACY)
        c.add("vm.machine", "i440fx machine for legacy mode", "pass", f"machine {machine}", modes=LEGACY)
    else:
        c.add("vm.machine", "i440fx machine for legacy mode", "unknown", f"machine {machine or 'not given'}", modes=LEGACY)
    if vi.hotplugged:
        c.add("vm.hotplug", "IGD not hot-plugged", "fail", "the IGD is hot-plugged", "cold-plug it (define it at VM start)", OPREGION_MODES)
    lm = vi.x_igd_legacy_mode
    if lm == "off":
        c.add("vm.legacy_mode", "x-igd-legacy-mode not off", "fail", "x-igd-legacy-mode=off", "remove it to allow legacy mode", LEGACY)
    if vi.x_igd_opregion is False and c.qemu is not None and qemu.emulates_asls_always(c.qemu):
        c.add("vm.opregion", "x-igd-opregion", "warn", "x-igd-opregion=off", "the guest gets no OpRegion/VBT (black screen with most guest drivers)", frozenset({"upt_opregion"}))
    gms = vi.x_igd_gms
    if gms is not None and c.qemu is not None:
        gen = platforms.qemu_gen(igd.device, qemu.era(c.qemu))
        if c.qemu < (9, 2):
            ok = 0 < gms <= 0x10
        elif c.qemu < (10, 0):
            ok = True
        elif gen < 8:
            ok = gms <= 0x10
        elif gen == 8:
            ok = gms <= 0x40
        else:
            ok = gms == 0 or qemu.gms_accepted(c.qemu, gen, gms)
        c.add("vm.gms", "x-igd-gms in range", "pass" if ok else "fail", f"x-igd-gms={gms:#x} for QEMU generation {gen}", "" if ok else "see QEMU's accepted ranges per generation (<= 0x10 before gen 8, <= 0x40, 0xF0-0xFE on gen 9+ from 10.1)", LEGACY)
    for err in vm.errors_quoted[:3]:
        c.add("vm.qemu_error", "QEMU error in the configuration text", "warn", err[:200], "", ALL)


# -- putting it together ----------------------------------------------------------------------------


def run_checks(cap: Capture, vm: Any = None, qemu_version: str | None = None, decoded: dict | None = None) -> dict[str, Any]:
    """Every rule for ``cap`` (a host capture) and the verdict per mode. ``decoded`` is the
    capture's ``decode_capture(cap, with_gtt_summary=False)`` when the caller has it."""
    dec = decoded if decoded is not None else decode_capture(cap, with_gtt_summary=False)
    qv = qemu_version or (vm.qemu_version_hint if vm is not None else None) or cap.host.get("qemu_version")
    kv = qemu.version(cap.host.get("kernel_release"))
    c = Context(cap, dec, vm, qemu.version(qv), kv)
    if c.igd is None:
        c.add("igd.present", "An Intel IGD in the capture", "fail", "no IGD device in the capture", "take the capture on the machine with the IGD")
    else:
        kernel_rules(c)
        ownership_rules(c)
        rom_rules(c)
        qemu_rules(c)
    verdicts = {}
    for mode in MODES:
        mine = [r for r in c.rules if mode in r.modes]
        failing = [r.id for r in mine if r.status == "fail"]
        unknown = [r.id for r in mine if r.status == "unknown"]
        verdicts[mode] = {"verdict": "fails" if failing else ("unknown" if unknown else "works"), "failing": failing, "unknown": unknown}
    asked = requested_mode(vm, c.qemu)
    return {
        "igd": dec["devices"].get("igd", {}).get("identity"),
        "platform": dec.get("platform"),
        "qemu_version": qv,
        "kernel": cap.host.get("kernel_release"),
        "vm": None if vm is None else {"source": vm.source, "machine": vm.machine, "machine_family": vm.machine_family, "firmware": vm.firmware},
        "requested_mode": asked,
        "verdicts": verdicts,
        "rules": [r.plain() for r in c.rules],
    }


def requested_mode(vm: Any, version: tuple[int, int] | None) -> str | None:
    if vm is None or vm.igd is None:
        return None
    vi = vm.igd
    if vi.legacy_igd or vi.x_igd_legacy_mode == "on":
        return "legacy"
    if vi.x_igd_legacy_mode == "off":
        return "upt_opregion" if vi.x_igd_opregion else "upt"
    if vm.machine_family == "i440fx" and vi.guest_slot == 2 and (vi.guest_function or 0) == 0:
        return "legacy"
    if vi.x_igd_opregion or (version is not None and qemu.emulates_asls_always(version) and vi.x_igd_opregion is not False):
        return "upt_opregion"
    return "upt"


