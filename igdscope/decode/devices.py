"""PCI config spaces decoded: a device's role (IGD, host bridge, LPC bridge), its registers field
by field for its platform, the summary every consumer reads (GGC, stolen memory, BDSM, ASLS),
and the cross-checks between the devices of one capture.

No I/O here: everything takes bytes plus explicit context (role, platform). Bad bytes produce
findings and partial results, never exceptions, except for input that is not the claimed kind.
"""

from __future__ import annotations

from typing import Any

from igdscope import platforms
from igdscope.binary import to_plain
from igdscope.capture import Capture
from igdscope.errors import BadInput
from igdscope.platforms import Platform
from igdscope.schemas import pci


# A device role as people read it (the roles are role_of()'s).
ROLE_TITLES = {"igd": "IGD", "display": "Display", "host_bridge": "Host bridge", "lpc": "LPC/ISA bridge", "other": "Device"}


def role_of(vendor: int, class_code: int, bdf: str | None) -> str:
    cls = class_code >> 8
    dev = None
    if bdf:
        try:
            dev = bdf.split(":")[-1]
        except IndexError:
            dev = None
    if cls == pci.CLASS_HOST_BRIDGE and dev in (None, "00.0"):
        return "host_bridge"
    if cls == pci.CLASS_ISA_BRIDGE:
        return "lpc"
    if (class_code >> 16) == pci.BASE_CLASS_DISPLAY and vendor == 0x8086:
        return "igd" if dev in (None, "02.0") else "display"
    return "other"


def decode_config(cfg: bytes, role: str | None = None, plat: Platform | None = None, config_size: int | None = None, bdf: str | None = None) -> dict[str, Any]:
    """Decode one function's config space. ``cfg`` may be 64, 256 or 4096 bytes (or a partial dump)."""
    if len(cfg) < 16:
        raise BadInput(f"config space of {len(cfg)} bytes is too short for a PCI header (16 bytes at least)")
    out: dict[str, Any] = {"bdf": bdf, "bytes": len(cfg), "findings": []}
    findings: list[str] = out["findings"]
    expected = config_size or (4096 if len(cfg) > 256 else 256)
    if len(cfg) < expected:
        out["truncated"] = True
        findings.append(f"config space truncated: {len(cfg)} of {expected} bytes" + (" (an unprivileged read returns 64 bytes)" if len(cfg) == 64 else ""))
    padded = cfg if len(cfg) >= 64 else cfg + b"\x00" * (64 - len(cfg))
    hdr = pci.parse_header(padded)
    if len(cfg) < 64:
        findings.append("header fields past byte %d are missing and shown as 0" % len(cfg))
    class_code = hdr.base_class << 16 | hdr.subclass << 8 | hdr.prog_if
    role = role or role_of(hdr.vendor_id, class_code, bdf)
    out["role"] = role
    out["identity"] = {
        "vendor": hdr.vendor_id,
        "device": hdr.device_id,
        "revision": hdr.revision_id,
        "class": class_code,
        "class_name": pci.CLASS_NAMES.get(class_code >> 8, "unknown"),
        "subsystem_vendor": hdr.get("subsystem_vendor_id"),
        "subsystem_device": hdr.get("subsystem_id"),
        "header_type": hdr.header_type,
    }
    header = to_plain(hdr)
    header.pop("reserved", None)
    out["header"] = header
    if "bar" in hdr and (hdr.header_type & 0x7F) == 0:
        out["bars"] = pci.decode_bars(list(hdr.bar))
    caps, f1 = pci.walk_capabilities(cfg, hdr.capabilities_pointer) if hdr.status.capabilities_list else ([], [])
    ext, f2 = pci.walk_ext_capabilities(cfg)
    out["capabilities"] = caps
    out["extended_capabilities"] = ext
    findings += f1 + f2
    if plat is None and role in ("igd", "display"):
        plat = platforms.lookup(hdr.device_id)
    if plat is None and role == "host_bridge" and hdr.vendor_id == 0x8086:
        plat = platforms.by_host_bridge(hdr.device_id)
        if plat is not None:
            findings.append(f"platform {plat.platform} ({plat.name}) from the host bridge ID {hdr.device_id:#06x}: no IGD to identify it")
    out["platform"] = platform_plain(plat)
    layout = plat.ggc_layout if plat else None
    emulated = _emulated_host_bridge(hdr.device_id, plat) if role == "host_bridge" and hdr.vendor_id == 0x8086 else None
    if emulated:
        regs = []
        out["emulated"] = emulated
        findings.append(f"host bridge {hdr.device_id:04x} is {emulated}: its registers are QEMU's, not the host's (legacy mode copies only revision, prog-if and subsystem IDs)")
    elif role == "host_bridge":
        core = plat is not None and plat.platform not in ("VLV", "CHV", "BXT", "GLK") and layout in pci.GGC_FIELDS
        regs = pci.host_bridge_registers(layout, core, plat.platform if plat else None)
        if plat is None:
            findings.append("platform unknown (no IGD to identify it): host bridge registers not decoded; give --platform")
        elif not core and layout not in pci.LEGACY_LAYOUTS:
            findings.append(f"host bridge register map of {plat.platform} is not described; header only")
    elif role in ("igd", "display"):
        regs = pci.igd_registers(layout, plat.bdsm if plat else None, plat.platform if plat else None)
        if plat is None:
            findings.append(f"device {hdr.device_id:#06x} is not in the platform table: generation-specific registers not decoded")
        elif layout not in pci.GGC_FIELDS:
            findings.append(f"{plat.platform} (gen {plat.gen_text}) keeps its graphics control word elsewhere; GGC not decoded here")
    else:
        regs = []
    out["registers"] = [pci.decode_register(r, cfg) for r in regs]
    out["summary"] = _summary(role, cfg, layout, plat, out["registers"], findings)
    if role in ("igd", "display"):
        if class_code >> 8 == pci.CLASS_DISPLAY_OTHER:
            findings.append("class 0x0380 (display controller): the IGD is not the primary display; QEMU legacy mode needs class 0x0300 and kernels before 6.15 give it no vfio IGD regions")
    return out


# Host bridges QEMU emulates. 0x29C0 is also a real G33-era MCH: it counts as QEMU's only when
# the IGD beside it is newer than that.


def _emulated_host_bridge(device_id: int, plat: Platform | None) -> str | None:
    if device_id == 0x1237 or (device_id == 0x29C0 and plat is not None and plat.gen >= 5):
        machine, chipset = platforms.QEMU_HOST_BRIDGES[device_id]
        return f"QEMU's {machine}" + (f" ({chipset})" if chipset else "")
    return None


def platform_plain(plat: Platform | None) -> dict | None:
    if plat is None:
        return None
    return {
        "device_id": plat.device_id,
        "platform": plat.platform,
        "name": plat.name,
        "variant": plat.variant,
        "gen": plat.gen,
        "ggc_layout": plat.ggc_layout,
        "bdsm": plat.bdsm,
        "qemu_gen": {era: plat.qemu_gen(era) for era in platforms.QEMU_ERAS},
    }


def _reg_raw(regs: list[dict], name: str) -> int | None:
    for r in regs:
        if r["name"] == name:
            return r["raw"]
    return None


def _summary(role: str, cfg: bytes, layout: str | None, plat: Platform | None, regs: list[dict], findings: list[str]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    ggc = _reg_raw(regs, "GGC")
    if ggc is not None and layout in pci.GGC_FIELDS:
        g = pci.decode_ggc(layout, ggc, plat.gen if plat else None)
        s["ggc"] = ggc
        s["gms"] = g.gms
        s["dsm_bytes"] = g.dsm_bytes
        s["ggms"] = g.ggms
        s["gsm_bytes"] = g.gsm_bytes
        s["gtt_bytes"] = g.gtt_bytes
        s["gtt_entries"] = (g.gtt_bytes // pci.pte_size(layout)) if g.gtt_bytes else 0
        s["ivd"] = g.ivd
        findings.extend(g.notes)
        meanings = {"GMS": f"data stolen memory {pci.size_text(g.dsm_bytes)}", "GGMS": f"GTT stolen memory {pci.size_text(g.gsm_bytes)}",
                    "IVD": "IGD does not decode legacy VGA" if g.ivd else "IGD decodes legacy VGA"}
        for r in regs:
            if r["name"] == "GGC":
                for f in r["fields"]:
                    f["meaning"] = meanings.get(f["name"], f["meaning"])
    for r in regs:
        if r["name"] in ("BDSM", "GBSM", "BGSM", "TOLUD", "TSEGMB", "TOUUD") and r["raw"] is not None:
            key = "bdsm" if r["name"] == "GBSM" else r["name"].lower()
            s[key] = next(f["value"] for f in r["fields"] if f["name"] == "base")
    pciexbar = next((r for r in regs if r["name"] == "PCIEXBAR" and r["raw"] is not None), None)
    if pciexbar is not None:
        base, size = pci.pciexbar_window(pciexbar["raw"])
        for f in pciexbar["fields"]:
            if f["name"] == "base" and base is not None:
                f["value"], f["meaning"] = base, f"{base:#x}"
        s["pciexbar_enabled"] = bool(pciexbar["raw"] & 1)
        if size is None:
            findings.append(f"PCIEXBAR length code 3 is reserved on this register layout: ECAM window unknown (raw {pciexbar['raw']:#x})")
        else:
            s["pciexbar"] = base
            s["pciexbar_bytes"] = size
    capid = next((r for r in regs if r["name"] == "CAPID0_A" and r["raw"] is not None), None)
    if capid is not None:
        s["igd_fused_off"] = bool(next(f["value"] for f in capid["fields"] if f["name"] == "IGD"))
    deven = next((r for r in regs if r["name"] == "DEVEN" and r["raw"] is not None), None)
    if deven is not None:
        d2en = next(f["value"] for f in deven["fields"] if f["name"] == "D2EN")
        s["igd_enabled"] = bool(d2en)
        if s.get("igd_fused_off"):
            findings.append("CAPID0_A.IGD is set: this CPU has no integrated graphics (fused off); no firmware setting can enable an IGD")
        elif not d2en:
            findings.append("DEVEN.D2EN is clear: firmware disabled the IGD (device 2); enable the iGPU in the firmware setup")
    asls = _reg_raw(regs, "ASLS")
    if asls is not None:
        s["asls"] = asls
        if asls in (0, 0xFFFFFFFF):
            findings.append(f"ASLS is {asls:#x}: no OpRegion published (vfio-pci creates no IGD regions; the guest gets no VBT)")
    return s


def cross_checks(decoded_devices: dict[str, dict]) -> list[str]:
    """Consistency between the host bridge and the IGD of one machine."""
    out = []
    hb = decoded_devices.get("host_bridge", {}).get("summary", {})
    igd = decoded_devices.get("igd", {}).get("summary", {})
    if "ggc" in hb and "ggc" in igd and hb["ggc"] != igd["ggc"]:
        out.append(f"GGC differs: host bridge {hb['ggc']:#06x}, IGD mirror {igd['ggc']:#06x}")
    if "bdsm" in hb and "bdsm" in igd and hb["bdsm"] != igd["bdsm"]:
        out.append(f"BDSM differs: host bridge {hb['bdsm']:#x}, IGD {igd['bdsm']:#x}")
    dsm = igd.get("dsm_bytes") or hb.get("dsm_bytes")
    if dsm and "bdsm" in hb and "tolud" in hb and hb["bdsm"] + dsm != hb["tolud"]:
        out.append(f"BDSM {hb['bdsm']:#x} + DSM {pci.size_text(dsm)} does not end at TOLUD {hb['tolud']:#x}")
    if "bgsm" in hb and "bdsm" in hb and "gsm_bytes" in igd and igd["gsm_bytes"] and hb["bgsm"] + igd["gsm_bytes"] != hb["bdsm"]:
        out.append(f"BGSM {hb['bgsm']:#x} + GSM {pci.size_text(igd['gsm_bytes'])} does not end at BDSM {hb['bdsm']:#x}")
    return out


def capture_platform(cap: Capture, override: str | None = None) -> Platform | None:
    if override:
        plat = platforms.by_name(override)
        if plat is None:
            raise BadInput(f"unknown platform {override!r} (see specs/platforms.tsv for the codes)")
        return plat
    igd = cap.device("igd")
    host = cap.device("host_bridge")
    return platform_for(igd.device if igd else None, host.device if host and host.vendor == 0x8086 else None)


def platform_for(igd_device: int | None, host_device: int | None) -> Platform | None:
    """The platform of a machine: by its IGD's device ID, else by its host bridge's (a dump
    without an IGD, or an IGD newer than the table)."""
    plat = platforms.lookup(igd_device) if igd_device is not None else None
    if plat is None and host_device is not None:
        plat = platforms.by_host_bridge(host_device)
    return plat


