"""Two captures of the same role (two hosts, two moments): differences are information, except
what the second lost."""

from __future__ import annotations

from typing import Any

from igdscope.analysis.diff.config import _diff_config, _reg
from igdscope.analysis.diff.core import (
    BREAKS_NO_VBT,
    _flatten,
    _Out,
    _replace_or_add,
    _result,
    _side,
)
from igdscope.analysis.diff.firmware import (
    _capture_vbt,
    _diff_opregion,
    _diff_rom,
    _diff_vbt,
)
from igdscope.analysis.diff.hostguest import _dev_cfg
from igdscope.capture import Capture
from igdscope.decode.devices import capture_platform

# -- captures: same role (two hosts, two moments) -------------------------------------------------------


def _same_role(a: Capture, b: Capture) -> dict[str, Any]:
    out = _Out()
    plat_a = capture_platform(a)
    plat_b = capture_platform(b)
    for role in ("igd", "host_bridge", "lpc"):
        da, db = a.device(role), b.device(role)
        if da is None and db is None:
            continue
        if db is None:
            out.missing(role, f"{da.vendor:04x}:{da.device:04x} at {da.bdf}", None, "unexpected", f"b has no {role.replace('_', ' ')}",
                        "a device the assignment depends on is gone" if role != "host_bridge" else None)
            continue
        if da is None:
            out.missing(role, None, f"{db.vendor:04x}:{db.device:04x} at {db.bdf}", "info", f"a has no {role.replace('_', ' ')}")
            continue
        for f in ("bdf", "driver", "iommu_group", "boot_vga", "config_size"):
            va, vb = getattr(da, f), getattr(db, f)
            if va != vb:
                out.add(f"{role}.{f}", va, vb, "info", f"device fact: {f.replace('_', ' ')}")
        if sorted(da.iommu_group_members) != sorted(db.iommu_group_members):
            out.add(f"{role}.iommu_group_members", da.iommu_group_members, db.iommu_group_members, "info", "devices sharing the IOMMU group")
        ca, cb = _dev_cfg(a, role, plat_a), _dev_cfg(b, role, plat_b)
        if ca is None or cb is None:
            if ca is not None:
                out.missing(f"{role}.config", "captured", None, "info", "b holds no config space for it")
            continue

        def lab(k: str, x: Any, y: Any, role=role):
            if k.startswith("extended_capabilities.") and (x is None or y is None):
                return "info", "extended capability present on one side only", None
            return "info", "differs between the two captures", None

        _diff_config(out, role, ca, cb, lab, lambda w, c: ("info", "differs", None))
        if role == "igd":
            for reg, fld in (("ASLS", "base"), ("BDSM", "base")):
                va, vb = _reg(ca, reg, fld), _reg(cb, reg, fld)
                if va not in (None, 0, 0xFFFFFFFF) and vb in (0, 0xFFFFFFFF):
                    brk = (BREAKS_NO_VBT + "; vfio-pci creates no IGD regions without ASLS") if reg == "ASLS" else "no stolen memory base: the driver runs without stolen memory, Windows stops with Code 43"
                    _replace_or_add(out, f"igd.registers.{reg}.{fld}", va, vb, "unexpected", f"{reg} was {va:#x} in a and is {vb:#x} in b", brk)
        hs = {r["bar"]: r["size"] for r in da.resources}
        hb = {r["bar"]: r["size"] for r in db.resources}
        for bar in sorted(set(hs) | set(hb)):
            if hs.get(bar) != hb.get(bar):
                out.add(f"{role}.resources.{'ROM' if bar == 6 else f'BAR{bar}'}.size", hs.get(bar), hb.get(bar), "info", "BAR size")
    # host facts
    for k in ("kernel_release", "cmdline", "qemu_version", "vfio_pci_disable_vga"):
        va, vb = a.host.get(k), b.host.get(k)
        if va != vb:
            out.add(f"host.{k}", va, vb, "info", "host fact")
    ma, mb = a.host.get("modules") or {}, b.host.get("modules") or {}
    for m in dict.fromkeys([*ma, *mb]):
        la: dict[str, Any] = {}
        lb: dict[str, Any] = {}
        _flatten(ma.get(m) or {}, "", la)
        _flatten(mb.get(m) or {}, "", lb)
        for k in dict.fromkeys([*la, *lb]):
            if la.get(k) != lb.get(k):
                out.add(f"host.modules.{m}.{k}", la.get(k), lb.get(k), "info", "kernel module state")
    # firmware blobs
    oa, ob = a.blob("opregion"), b.blob("opregion")
    if oa is not None and ob is None:
        out.missing("opregion", f"OpRegion, {len(oa)} bytes", None, "unexpected", "a holds an OpRegion, b none", BREAKS_NO_VBT)
    elif oa is None and ob is not None:
        out.missing("opregion", None, f"OpRegion, {len(ob)} bytes", "info", "b holds an OpRegion, a none")
    elif oa is not None and ob is not None and oa != ob:
        if oa[:16] == b"IntelGraphicsMem":
            _diff_opregion(out, "opregion", oa, ob, host_guest=False, vbt_handled=True)
    va, wa = _capture_vbt(a)
    vb, wb = _capture_vbt(b)
    if va is not None and vb is None:
        out.missing("vbt", f"VBT from {wa}", None, "unexpected", "b has no VBT", BREAKS_NO_VBT)
    elif va is not None and vb is not None and va != vb:
        _diff_vbt(out, "vbt", va, vb, host_guest=False)
    ra, rb = a.blob("rom"), b.blob("rom")
    if ra is not None and rb is None:
        out.missing("rom", f"option ROM, {len(ra)} bytes", None, "info", "b has no option ROM")
    elif ra is not None and rb is not None and ra != rb:
        _diff_rom(out, "rom", ra, rb, label="info", why="differs between the two captures")
    ga, gb = a.blob("gtt"), b.blob("gtt")
    if ga is not None and gb is not None and ga != gb:
        from igdscope.decode import gtt as gttmod
        from igdscope.schemas.gtt import format_for

        fmt = format_for(plat_a or plat_b)
        if fmt is not None:
            ch = gttmod.changed(ga, gb, fmt, limit=0)
            out.add("gtt.changed", {"entries": ch["entries_compared"]}, {"changed": ch["changed"], "runs": ch["runs"][:8]}, "info",
                    "GGTT entries that differ between the two reads")
    for k in sorted(set(a.blobs) - set(b.blobs)):
        if k.startswith("config/") or k in ("opregion", "rom", "gtt") or f"{k}" in out.missing_in_b:
            continue
        out.missing(f"blobs.{k}", f"{len(a.blobs[k].data)} bytes", None, "info", "captured in a only")
    for k in sorted(set(b.blobs) - set(a.blobs)):
        if k.startswith("config/") or k in ("opregion", "rom", "gtt"):
            continue
        out.missing(f"blobs.{k}", None, f"{len(b.blobs[k].data)} bytes", "info", "captured in b only")
    return _result("same-role", out, _side(a), _side(b), {"platform": (plat_a or plat_b).platform if (plat_a or plat_b) else None})
