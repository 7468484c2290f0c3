"""Host versus guest: every difference labelled by what QEMU's IGD assignment does in the QEMU
version the guest ran (asked of :mod:`igdscope.analysis.qemu`), and what is missing in the guest
that QEMU should have given it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from igdscope import platforms
from igdscope.analysis import qemu
from igdscope.analysis.diff.config import _Cfg, _decode_cfg, _diff_config, _reg
from igdscope.analysis.diff.core import (
    BREAKS_HB,
    BREAKS_NO_VBT,
    BREAKS_PCH,
    ICH9_LPC,
    STALE_GTT_MIN,
    _byte_runs,
    _Out,
    _replace_or_add,
    _result,
    _side,
    fmt_value,
)
from igdscope.analysis.diff.firmware import (
    _capture_vbt,
    _diff_opregion,
    _diff_rom,
    _diff_vbt,
)
from igdscope.capture import Capture
from igdscope.decode.devices import capture_platform
from igdscope.decode.model import stolen_of
from igdscope.schemas.opregion import leaves as op_leaves

# -- captures: host versus guest ---------------------------------------------------------------------


@dataclass
class _HG:
    host: Capture
    guest: Capture
    qemu: tuple[int, int] | None
    qemu_source: str
    plat: platforms.Platform | None
    out: _Out

    @property
    def era(self) -> str | None:
        return qemu.era(self.qemu)

    @property
    def v(self) -> str:
        return qemu.text(self.qemu)

    def qgen(self) -> int | None:
        igd = self.host.device("igd") or self.guest.device("igd")
        if igd is None or self.era is None:
            return None
        return platforms.qemu_gen(igd.device, self.era)


def _dev_cfg(cap: Capture, role: str, plat: platforms.Platform | None) -> _Cfg | None:
    d = cap.device(role)
    raw = cap.config(role)
    if d is None or raw is None:
        return None
    return _decode_cfg(raw, role, plat if role != "display" else None, d.config_size, d.bdf, f"{cap.machine} {role} {d.bdf}")


def _gmch_rule(hg: _HG) -> str:
    return qemu.gmch_behaviour(hg.qemu)


def _gms_label(hg: _HG, h: int, g: int) -> tuple[str, str, str | None]:
    brk = ("the guest driver's stolen-memory size no longer matches the region the guest firmware reserved (etc/igd-bdsm-size): "
           "i915 can use memory past it; the Windows driver can stop with Code 43")
    ok, why = qemu.guest_gms(hg.qemu, hg.qgen() if hg.qemu is not None else None, g)
    return ("expected", why, None) if ok else ("unexpected", why, brk)


def _bdsm_emulated(hg: _HG) -> tuple[bool | None, str]:
    """Does this QEMU emulate the platform's BDSM register (0x5C or 0xC0)?"""
    loc = hg.plat.bdsm if hg.plat else None
    return qemu.bdsm_emulation(hg.qemu, hg.qgen() if hg.qemu is not None else None, loc)


def _igd_labeller(hg: _HG, hcfg: _Cfg, gcfg: _Cfg, guest_hb_did: int | None):
    conventional = guest_hb_did == 0x1237
    bdsm_emul, bdsm_why = _bdsm_emulated(hg)

    def lab(k: str, x: Any, y: Any):
        if k.startswith("identity."):
            f = k.split(".", 1)[1]
            if f in ("vendor", "device"):
                return "unexpected", "vfio-pci passes the IGD's IDs through unchanged (unless x-pci-vendor-id/x-pci-device-id)", "i915 platform detection: the driver matches the device ID, a different one picks another platform or none; the Windows driver may not load"
            if f == "revision":
                return "unexpected", "vfio-pci passes the revision through", "i915 picks stepping workarounds by revision"
            if f == "class":
                return "unexpected", "vfio-pci passes the class code through (unless x-pci-class-code)", "QEMU legacy mode needs class 0x0300 (VGA); a 0x0380 IGD is no boot display"
            if f in ("subsystem_vendor", "subsystem_device"):
                return "info", "vfio-pci passes the subsystem IDs through; a difference means x-pci-sub-vendor-id/x-pci-sub-device-id was set", None
            return "info", "header field", None
        if k == "config_size":
            if conventional and y == 256:
                return "expected", "QEMU's i440FX is conventional PCI: the guest sees 256 bytes of config space, no extended capabilities", None
            return "info", "config space size", None
        if k.startswith("header.command"):
            return "expected", "the command register holds what each side's OS enabled (vfio-pci virtualizes it)", None
        if k.startswith("header.status"):
            return "info", "status bits are run-time state", None
        if k in ("header.cache_line_size", "header.latency_timer", "header.interrupt_line", "header.expansion_rom"):
            return "expected", "set by each side's firmware or OS (vfio-pci virtualizes it)", None
        if k == "header.capabilities_pointer":
            return "expected", "QEMU builds the guest's capability list itself", None
        if k.startswith("header."):
            return "info", "header field", None
        if k.startswith("bars."):
            if k.endswith(".address"):
                return "expected", "the guest firmware assigns guest-physical BAR addresses; vfio-pci maps them onto the host BARs", None
            return "unexpected", "vfio-pci passes BAR types through", "the guest driver maps the BAR with the wrong width or caching"
        if k.startswith("registers.GGC."):
            f = k.rsplit(".", 1)[1]
            if f == "GMS":
                return _gms_label(hg, x or 0, y or 0)
            if f in ("lock", "VAMEN"):
                return "info", _gmch_rule(hg), None
            brk = {"GGMS": "the guest driver sizes the GGTT from GGMS: a wrong size maps the wrong entries (GPU hangs, a black screen)",
                   "IVD": "VGA decode differs from the host's: QEMU 10.2 refuses legacy mode with IVD set, and the VBIOS boot screen depends on it"}.get(f)
            return "unexpected", f"{_gmch_rule(hg)}: only GMS may differ", brk
        if k.startswith("registers.BDSM."):
            if bdsm_emul:
                return "expected", bdsm_why, None
            if bdsm_emul is False and k.endswith(".base") and y != x:
                return "info", f"{bdsm_why}; something else wrote the guest's value", None
            return "info", bdsm_why, None
        if k.startswith("registers.ASLS"):
            return "expected", (f"{qemu.asls_behaviour(hg.qemu)}; the guest firmware (SeaBIOS, or OVMF "
                                "with IgdAssignmentDxe) wrote the guest-physical address of its copy of etc/igd-opregion"), None
        if k.startswith("registers."):
            return "info", "run-time register written by the OS driver or ACPI code (passed through)", None
        if k.startswith("capabilities.") or k.startswith("extended_capabilities."):
            if x is not None and y is not None:
                return "info", "capability contents", None
            if k.startswith("extended_capabilities.") and conventional and y is None:
                return None  # folded into the config size entry
            if k == "capabilities.PCI_Express" and y is None and conventional:
                return "expected", "QEMU hides the PCI Express capability of a device on a conventional PCI bus (i440FX)", None
            return "info", "capability present on one side only", None
        return "info", "field", None

    def bytes_lab(where: str, cid: int | None):
        if where.startswith("next-capability pointer"):
            return "expected", "QEMU relinks the capability list around the capabilities it hides", None
        if cid == 0x05:
            return "expected", "MSI address and data are programmed by each side's OS (QEMU virtualizes MSI)", None
        if cid == 0x10 and conventional:
            return "expected", "QEMU hides the PCI Express capability on a conventional PCI bus (i440FX)", None
        if cid == 0x01:
            return "info", "power-management state", None
        return "info", "bytes no decoder names", None

    return lab, bytes_lab


def _hg_igd(hg: _HG) -> None:
    out = hg.out
    hdev, gdev = hg.host.device("igd"), hg.guest.device("igd")
    if gdev is None:
        disp = hg.guest.device("display")
        if disp is not None and disp.vendor == 0x8086:
            out.add("igd.bdf", "00:02.0", disp.bdf, "unexpected", f"the guest has the Intel display device at {disp.bdf}, not 00:02.0",
                    "QEMU legacy mode needs the IGD at guest 00:02.0; the VBIOS and the Windows driver expect it there (Code 43 elsewhere)")
            gdev = disp
        else:
            out.missing("igd", hdev.bdf if hdev else "IGD", None, "unexpected", "the guest capture has no Intel display device", "the guest has no IGD to drive")
            return
    if hdev is None:
        return
    hcfg = _dev_cfg(hg.host, "igd", hg.plat)
    gcfg = _dev_cfg(hg.guest, gdev.role, hg.plat)
    if gdev.role == "display" and hg.guest.config("display") is not None:
        gcfg = _decode_cfg(hg.guest.config("display"), "igd", hg.plat, gdev.config_size, gdev.bdf, "guest display")
    if hcfg is None or gcfg is None:
        out.add("igd.config", "captured" if hcfg else None, "captured" if gcfg else None, "info", "the IGD's config space is missing from one capture")
        return
    hb = hg.guest.device("host_bridge")
    lab, blab = _igd_labeller(hg, hcfg, gcfg, hb.device if hb else None)
    _diff_config(out, "igd", hcfg, gcfg, lab, blab)
    _hg_must_haves(hg, hcfg, gcfg)
    _hg_resources(hg, hdev, gdev)


def _hg_must_haves(hg: _HG, hcfg: _Cfg, gcfg: _Cfg) -> None:
    """ASLS and BDSM in the guest: missing (0) or not emulated (still the host's) are unexpected
    even where no difference shows."""
    out = hg.out
    ha, ga = _reg(hcfg, "ASLS", "base"), _reg(gcfg, "ASLS", "base")
    if ga is not None:
        if ga in (0, 0xFFFFFFFF):
            host_note = " (the host publishes none either: ASLS is 0 there too)" if ha in (0, 0xFFFFFFFF) else ""
            why = (f"ASLS is {ga:#x} in the guest: no OpRegion for the guest driver{host_note}. {qemu.asls_behaviour(hg.qemu)}, "
                   "and the guest firmware must copy etc/igd-opregion and write ASLS "
                   "(SeaBIOS does; upstream OVMF needs IgdAssignmentDxe)")
            _replace_or_add(out, "igd.registers.ASLS.base", ha, ga, "unexpected", why, BREAKS_NO_VBT, missing=True)
        elif ga == ha:
            _replace_or_add(out, "igd.registers.ASLS.base", ha, ga, "unexpected",
                            "ASLS in the guest still holds the host's physical OpRegion address: QEMU did not emulate it",
                            "the guest driver maps guest memory at that address, not the OpRegion: no VBT in the guest, garbage mailbox contents")
    loc = hg.plat.bdsm if hg.plat else None
    if loc in ("0x5c", "0xc0"):
        hb_, gb_ = _reg(hcfg, "BDSM", "base"), _reg(gcfg, "BDSM", "base")
        emulated, why_rule = _bdsm_emulated(hg)
        brk = ("the guest driver finds its stolen memory at the wrong guest-physical address: i915 warns and runs without stolen "
               "memory, the Windows driver stops with Code 43, the firmware framebuffer in stolen memory shows nothing (black screen)")
        if gb_ == 0:
            _replace_or_add(out, "igd.registers.BDSM.base", hb_, gb_, "unexpected",
                            f"BDSM is 0 in the guest: the guest firmware reserved no stolen memory (SeaBIOS writes 0x5C only for 00:02.0 and only when "
                            f"etc/igd-bdsm-size is non-zero; upstream OVMF never does). {why_rule}", brk, missing=True)
        elif gb_ is not None and gb_ == hb_ and hb_:
            label = "unexpected"
            _replace_or_add(out, "igd.registers.BDSM.base", hb_, gb_, label,
                            f"BDSM in the guest still holds the host-physical stolen base {hb_:#x}: {why_rule}", brk)


def _hg_resources(hg: _HG, hdev: Any, gdev: Any) -> None:
    hs = {r["bar"]: r["size"] for r in hdev.resources}
    gs = {r["bar"]: r["size"] for r in gdev.resources}
    for bar in sorted(set(hs) & set(gs)):
        if hs[bar] != gs[bar]:
            if bar == 6:
                hg.out.add("igd.resources.ROM.size", hs[bar], gs[bar], "info", "the guest's ROM BAR is sized for the ROM QEMU exposes (the host's or romfile=)")
            else:
                hg.out.add(f"igd.resources.BAR{bar}.size", hs[bar], gs[bar], "unexpected", "vfio-pci gives the guest BARs of the host's sizes",
                           "the guest driver sizes the GGTT/MMIO (BAR0) or the aperture (BAR2) from these: a smaller BAR loses registers or graphics memory")


def _hb_id_labeller(hg: _HG, which: str, gcfg: _Cfg, hcfg: _Cfg):
    """Identity labels at guest 00:00.0 or 00:1f.0."""
    g_vendor = gcfg.leaves.get("identity.vendor")
    g_device = gcfg.leaves.get("identity.device")
    q35 = (hg.guest.device("host_bridge") is not None and hg.guest.device("host_bridge").device == 0x29C0)
    q35_note = " On q35, 00:1f.0 holds ICH9's LPC, so QEMU cannot set up the copy (use the pc/i440fx machine)." if q35 else ""

    def copied(what: str, value: Any) -> tuple[str, str, str]:
        default = ""
        if which == "host_bridge" or which == "lpc":
            default = f" ({fmt_value(value, 'identity')} is QEMU's own value)"
        if which == "lpc" and (g_vendor, g_device) == ICH9_LPC:
            return "unexpected", (f"the {what} at 00:1f.0 ({fmt_value(value, 'identity')}) is q35's ICH9 LPC bridge's own, not the host "
                                  "LPC bridge's, which QEMU copies into a vfio-pci-igd-lpc-bridge only where 00:1f.0 is free (pc/i440fx)"), BREAKS_PCH
        if which == "host_bridge":
            return "unexpected", (f"QEMU copies the host bridge's {what} into its own 00:00.0 in legacy mode and with x-igd-lpc; "
                                  f"this one was not copied{default}.{q35_note}"), BREAKS_HB
        return "unexpected", (f"QEMU's vfio-pci-igd-lpc-bridge at 00:1f.0 carries the host LPC bridge's {what} (legacy mode, "
                              f"x-igd-lpc); this one was not copied{default}.{q35_note}"), BREAKS_PCH

    def lab(k: str, x: Any, y: Any):
        if not k.startswith("identity."):
            return None  # the rest is QEMU's own device: one grouped entry
        f = k.split(".", 1)[1]
        if which == "host_bridge":
            if f == "device":
                if qemu.host_bridge_name(y) and g_vendor == 0x8086:
                    return "expected", f"{qemu.host_bridge_name(y)} sits at guest 00:00.0; legacy mode copies only its revision, prog-if and subsystem IDs", None
                return "unexpected", f"wrong identity at 00:00.0: {fmt_value(g_vendor, 'identity')}:{fmt_value(y, 'identity')} is neither the host's bridge nor QEMU's", BREAKS_HB
            if f == "vendor":
                return "unexpected", "wrong vendor at 00:00.0", BREAKS_HB
            if f == "class":
                if (x or 0) >> 8 == (y or 0) >> 8:
                    return copied("prog-if", (y or 0) & 0xFF)
                return "unexpected", "00:00.0 is not a host bridge in the guest", BREAKS_HB
            if f == "revision":
                return copied("revision", y)
            if f in ("subsystem_vendor", "subsystem_device"):
                return copied(f.replace("_", " ") + " ID", y)
            return None
        # the LPC bridge at 00:1f.0
        if f in ("vendor", "device"):
            if (g_vendor, g_device) == ICH9_LPC:
                return "unexpected", ("wrong identity at 00:1f.0: q35's ICH9 LPC bridge (8086:2918) occupies it, so QEMU cannot place the "
                                      "vfio-pci-igd-lpc-bridge there ('cannot support legacy mode due to existing devices at address 1f.0')"), BREAKS_PCH
            if g_vendor == 0 and g_device == 0:
                return "unexpected", ("the ISA bridge at 00:1f.0 has IDs 0000:0000: a vfio-pci-igd-lpc-bridge whose identity was never copied "
                                      "(QEMU fills it from the kernel's LPC region only when legacy mode or x-igd-lpc sets it up)"), BREAKS_PCH
            return "unexpected", f"wrong identity at 00:1f.0: {fmt_value(g_vendor, 'identity')}:{fmt_value(g_device, 'identity')} is not the host's LPC bridge", BREAKS_PCH
        if f == "class":
            if (x or 0) >> 8 == (y or 0) >> 8:
                return copied("prog-if", (y or 0) & 0xFF)
            return "unexpected", "00:1f.0 is not an ISA bridge in the guest", BREAKS_PCH
        if f == "revision":
            return copied("revision", y)
        if f in ("subsystem_vendor", "subsystem_device"):
            return copied(f.replace("_", " ") + " ID", y)
        return None

    return lab


def _hg_bridge(hg: _HG, role: str) -> None:
    out = hg.out
    bdf = "00:00.0" if role == "host_bridge" else "00:1f.0"
    hdev, gdev = hg.host.device(role), hg.guest.device(role)
    if hdev is None:
        return
    if gdev is None or hg.guest.config(role) is None:
        if role == "lpc":
            out.missing("lpc", f"{hdev.vendor:04x}:{hdev.device:04x} at {bdf}", None, "unexpected",
                        "nothing at guest 00:1f.0: QEMU created no vfio-pci-igd-lpc-bridge (legacy mode not entered, x-igd-lpc off, "
                        "or the kernel's LPC region missing)", BREAKS_PCH)
        else:
            out.missing("host_bridge", f"{hdev.vendor:04x}:{hdev.device:04x} at {bdf}", None, "info", "the guest capture has no 00:00.0")
        return
    hcfg = _dev_cfg(hg.host, role, hg.plat)
    gcfg = _dev_cfg(hg.guest, role, hg.plat)
    if hcfg is None:
        return
    lab = _hb_id_labeller(hg, role, gcfg, hcfg)
    _diff_config(out, role, hcfg, gcfg, lab, lambda w, c: ("expected", "", None), byte_runs=False)
    # everything but the identity is QEMU's own device: one entry
    ident = {k for k in hcfg.leaves if k.startswith("identity.")}
    other = [k for k in dict.fromkeys([*hcfg.leaves, *gcfg.leaves]) if k not in ident and hcfg.leaves.get(k) != gcfg.leaves.get(k)]
    nbytes = len(_byte_runs(hcfg.raw, gcfg.raw, 0x40))
    if other or nbytes or len(hcfg.raw) != len(gcfg.raw):
        regs = {r["name"]: r["raw"] for r in hcfg.dec.get("registers") or [] if r.get("raw") is not None}
        what = "QEMU's i440FX/Q35 bridge" if role == "host_bridge" else "QEMU's vfio-pci-igd-lpc-bridge (or the machine's own device)"
        why = (f"apart from the copied identity, guest {bdf} is {what}: its header fields, registers and size are QEMU's"
               + ("; the guest reads GGC/BDSM from the IGD, not from here" if role == "host_bridge" else ""))
        out.add(f"{role}.config", {"differing_fields": len(other), "differing_byte_runs": nbytes, "bytes": len(hcfg.raw), **({"registers": sorted(regs)} if regs else {})},
                {"differing_fields": len(other), "bytes": len(gcfg.raw)}, "expected", why)
    # the copied identity, when it is right, is recorded as checked
    g, h = gcfg.leaves, hcfg.leaves
    fields = {"revision": "identity.revision", "subsystem_vendor": "identity.subsystem_vendor", "subsystem_device": "identity.subsystem_device"}
    if role == "lpc":
        fields = {"vendor": "identity.vendor", "device": "identity.device", **fields}
    same = {f: g.get(p) for f, p in fields.items() if g.get(p) == h.get(p)}
    prog_if_same = ((g.get("identity.class") or 0) & 0xFF) == ((h.get("identity.class") or 0) & 0xFF)
    if len(same) == len(fields) and prog_if_same:
        out.checked.append({"path": f"{role}.identity", "value": {**same, "prog_if": (g.get("identity.class") or 0) & 0xFF},
                            "what": f"the host's {'host bridge' if role == 'host_bridge' else 'LPC bridge'} identity fields QEMU copies are there at guest {bdf}"})


def _hg_opregion(hg: _HG) -> None:
    out = hg.out
    ho, go = hg.host.blob("opregion"), hg.guest.blob("opregion")
    gcfg_raw = hg.guest.config("igd")
    asls = int.from_bytes(gcfg_raw[0xFC:0x100], "little") if gcfg_raw is not None and len(gcfg_raw) >= 0x100 else None
    if go is None:
        if ho is None and asls in (None, 0, 0xFFFFFFFF):
            return  # nothing to compare; ASLS 0 is reported with the registers
        tried = (hg.guest.sources.get("opregion") or {}).get("tried") or []
        reasons = "; ".join(f"{t.get('source')}: {t.get('result')}" for t in tried if isinstance(t, dict) and not str(t.get("result", "")).startswith("read "))
        at = f" at ASLS {asls:#x}" if asls not in (None, 0, 0xFFFFFFFF) else ""
        out.missing("opregion", f"OpRegion, {len(ho)} bytes" if ho else "OpRegion", None, "unexpected",
                    f"no OpRegion{at} in the guest capture" + (f" ({reasons})" if reasons else ""), BREAKS_NO_VBT)
        return
    if ho is None:
        out.missing("opregion", None, f"OpRegion, {len(go)} bytes", "info", "the host capture holds no OpRegion to compare with (dump it with --vfio, on a host where i915 owns the IGD, or --allow-devmem)")
        return
    if ho[:16] != b"IntelGraphicsMem":
        out.add("opregion.header.signature", ho[:16], go[:16], "info", "the host capture's OpRegion has no 'IntelGraphicsMem' signature: nothing to compare the guest's with")
        return
    if go[:16] != b"IntelGraphicsMem":
        at = f" at ASLS {asls:#x}" if asls not in (None, 0, 0xFFFFFFFF) else ""
        out.add("opregion.header.signature", ho[:16], go[:16], "unexpected", f"no OpRegion{at}: the guest's bytes there do not start with 'IntelGraphicsMem'", BREAKS_NO_VBT)
        return
    before = len(out.diffs)
    _diff_opregion(out, "opregion", ho, go, host_guest=True, vbt_handled=True)
    if not any(d["label"] == "unexpected" for d in out.diffs[before:]):
        hf = op_leaves(ho)[1]
        out.checked.append({"path": "opregion", "value": {"version": f"{hf['major']}.{hf['minor']}", "bytes": len(go)},
                            "what": "the guest's OpRegion is the host's as vfio-pci presents it (static fields equal; version and RVDA as the vfio rules give)"})


def _hg_vbt(hg: _HG) -> None:
    hv, hwhere = _capture_vbt(hg.host)
    gv, gwhere = _capture_vbt(hg.guest)
    if hv is None:
        return
    if gv is None:
        hg.out.missing("vbt", f"VBT from {hwhere}", None, "unexpected", "the guest capture holds no VBT (no debugfs i915_vbt, none in its OpRegion or ROM)", BREAKS_NO_VBT)
        return
    if hv != gv:
        _diff_vbt(hg.out, "vbt", hv, gv, host_guest=True)
    else:
        hg.out.checked.append({"path": "vbt", "value": {"bytes": len(gv), "host": hwhere, "guest": gwhere}, "what": "the guest's VBT is byte for byte the host's"})


def _hg_rom(hg: _HG) -> None:
    hr, gr = hg.host.blob("rom"), hg.guest.blob("rom")
    if hr is None or gr is None:
        if hr is not None:
            hg.out.missing("rom", f"option ROM, {len(hr)} bytes", None, "info", "the guest capture has no option ROM (rombar=0, or the guest could not read it)")
        return
    if hr != gr:
        _diff_rom(hg.out, "rom", hr, gr, label="info", why="QEMU exposes the host ROM or the romfile= image")


def _iomem_ranges(cap: Capture, name: str) -> list[tuple[int, int]]:
    out = []
    for line in cap.host.get("iomem") or []:
        m = re.match(r"\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*:\s*(.+)$", str(line))
        if m and m.group(3).strip() == name:
            out.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    return out


def _hg_gtt(hg: _HG, hcfg: _Cfg | None, gcfg: _Cfg | None) -> None:
    import numpy as np

    from igdscope.decode import gtt as gttmod
    from igdscope.schemas.gtt import format_for

    out = hg.out
    hgt, ggt = hg.host.blob("gtt"), hg.guest.blob("gtt")
    if ggt is None:
        if hgt is not None:
            out.missing("gtt", f"GGTT, {len(hgt)} bytes", None, "info", "the guest capture has no GGTT (dump --gtt in the guest)")
        return
    fmt = format_for(hg.plat)
    if fmt is None:
        out.add("gtt", None, None, "info", "PTE format unknown for this platform: GGTTs not compared")
        return
    g = gttmod.as_array(ggt, fmt)
    gp = gttmod.present(g, fmt)
    gidx = np.flatnonzero(gp)
    gaddr = gttmod.addresses(g[gidx], fmt)
    plat_name = hg.plat.platform if hg.plat else None
    hstolen = stolen_of(hg.host, plat_name)
    gsum = gcfg.dec.get("summary", {}) if gcfg else {}  # the guest IGD's own registers: QEMU's host bridge holds none
    hbase, hsize = hstolen.bdsm, hstolen.dsm_bytes
    v = hg.v
    zeroing = f" QEMU {v} legacy mode also zeroes the first GGMS/4 KiB entries at VM start." if hg.qemu is not None and qemu.zeroes_ggtt_at_start(hg.qemu) else ""
    breaks = ("the IGD follows these entries to host-physical stolen memory through the guest's IOMMU mapping: DMAR faults, "
              "corrupted or black output")
    if hbase and hsize:
        inside = (gaddr >= np.uint64(hbase)) & (gaddr < np.uint64(hbase + hsize))
        gbase = gsum.get("bdsm")
        if gbase:
            gsize = max(gsum.get("dsm_bytes") or 0, hsize)
            inside &= ~((gaddr >= np.uint64(gbase)) & (gaddr < np.uint64(gbase + gsize)))
        hits = gidx[inside]
        if len(hits):
            ram = [r for r in _iomem_ranges(hg.guest, "System RAM") if r[0] < hbase + hsize and hbase < r[1]]
            first = int(hits[0])
            b = {"entries": int(len(hits)), "first_index": first, "first_address": int(gaddr[inside][0])}
            rng = f"{hbase:#x}-{hbase + hsize - 1:#x}"
            if ram:
                out.add("gtt.host_stolen_entries", f"host data stolen memory {rng}", b, "info",
                        f"{len(hits)} guest GGTT entries point into the range of the host's stolen memory, but the guest has RAM there "
                        f"(its iomem lists System RAM over it), so they can be ordinary guest pages.{zeroing}")
            else:
                out.add("gtt.host_stolen_entries", f"host data stolen memory {rng}", b, "unexpected",
                        f"{len(hits)} guest GGTT entries still point into the host's data stolen memory (host-physical addresses): the guest's "
                        f"own entries hold guest-physical addresses and its stolen memory is the region at guest BDSM.{zeroing}", breaks)
    if hgt is not None:
        h = gttmod.as_array(hgt, fmt)
        n = min(len(h), len(g))
        if n:
            hp = gttmod.present(h[:n], fmt)
            same = (h[:n] == g[:n]) & hp & gp[:n]
            # the scratch page each side fills unused entries with does not count
            gscratch = gttmod.summary(ggt[: n * fmt.size], fmt, max_runs=1).get("scratch_value")
            if gscratch is not None:
                same &= g[:n] != gscratch
            idx = np.flatnonzero(same)
            if len(idx) >= STALE_GTT_MIN:
                out.add("gtt.host_entries", {"entries": int(len(idx)), "first_index": int(idx[0]), "first_value": int(h[idx[0]])},
                        {"entries": int(len(idx)), "first_index": int(idx[0]), "first_value": int(g[idx[0]])}, "unexpected",
                        f"{len(idx)} guest GGTT entries are identical to the host's at the same index: the table still holds the host driver's "
                        f"host-physical mappings (nothing rewrote them since the host's i915 ran).{zeroing}", breaks)
        if hgt != ggt:
            def brief(data: bytes) -> dict[str, Any]:
                s = gttmod.summary(data, fmt, max_runs=1)
                return {k: s.get(k) for k in ("entries", "present", "mapped_entries", "scratch_value")}
            out.add("gtt.entries", brief(hgt), brief(ggt), "expected",
                    "BAR0 is passed through, so both sides read the same physical GGTT at different moments; while the VM runs its entries "
                    f"hold guest-physical addresses (the IOMMU translates them) and its own scratch page.{zeroing}")


def _host_guest(host: Capture, guest: Capture, qemu_version: str | None, flip: bool) -> dict[str, Any]:
    if qemu_version:
        qv, src = qemu.version(qemu_version), "given"
    elif host.host.get("qemu_version"):
        qv, src = qemu.version(host.host.get("qemu_version")), "the host capture"
    elif guest.host.get("qemu_version"):
        qv, src = qemu.version(guest.host.get("qemu_version")), "the guest capture"
    else:
        qv, src = None, "unknown"
    plat = capture_platform(host) or capture_platform(guest)
    hg = _HG(host, guest, qv, src, plat, _Out(flip=flip))
    _hg_igd(hg)
    _hg_bridge(hg, "host_bridge")
    _hg_bridge(hg, "lpc")
    _hg_opregion(hg)
    _hg_vbt(hg)
    _hg_rom(hg)
    hcfg = _dev_cfg(host, "igd", plat) if host.device("igd") else None
    gcfg = _dev_cfg(guest, "igd", plat) if guest.device("igd") else None
    _hg_gtt(hg, hcfg, gcfg)
    era_text = qemu.era_text(hg.qemu) or "unknown"
    extra = {
        "qemu_version": f"{qv[0]}.{qv[1]}" if qv else None,
        "qemu_version_from": src,
        "qemu_rules": era_text,
        "platform": plat.platform if plat else None,
        "compared_against": "QEMU legacy-mode IGD assignment (identities copied, ASLS/BDSM/GMCH emulated, OpRegion passed through)",
    }
    sides = {"host": _side(host), "guest": _side(guest)}
    a, b = (sides["guest"], sides["host"]) if flip else (sides["host"], sides["guest"])
    return _result("host-guest", hg.out, a, b, extra)
