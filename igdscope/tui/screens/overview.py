"""Overview: the devices (IGD, host bridge, LPC), platform and generation, bound driver, IOMMU
group, where each blob came from, OpRegion and VBT versions, stolen memory and GTT sizes, and the
readiness verdicts (legacy / UPT / UPT + OpRegion) of :mod:`igdscope.analysis.check`."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from igdscope.schemas.pci import size_text
from igdscope.tui.model import ROLE_ORDER, ROLE_TITLES, Snapshot, View, printable
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.screens.checks import verdict_lines
from igdscope.tui.widgets.common import grid, kv_table, when_text


def _hx(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


class OverviewScreen(DataScreen):
    """Capture text goes into the tables as str (kv_table and grid escape it) or, where a Text is
    built from it, through printable first."""

    SCREEN_TITLE = "Overview"
    WATCH = frozenset({"devices"})

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview"):
            for key, title in (("machine", "Machine"), ("readiness", "Readiness (7 Checks has every rule)"), ("devices", "Devices"), ("memory", "Stolen memory and GTT"),
                               ("firmware", "OpRegion, VBT and option ROM"), ("blobs", "Where each blob came from"), ("problems", "Findings and source errors")):
                box = Static("", id=f"ov-{key}", classes="box")
                box.border_title = title
                yield box

    def show(self, snap: Snapshot, view: View | None) -> None:
        boxes = {k: self.query_one(f"#ov-{k}", Static) for k in ("machine", "readiness", "devices", "memory", "firmware", "blobs", "problems")}
        if view is None:
            boxes["machine"].update(Text(printable(snap.error or "no data yet")))
            for k, b in boxes.items():
                b.display = k == "machine"
            return
        for b in boxes.values():
            b.display = True
        cap, dec = view.capture, view.decoded
        plat = view.platform
        h = cap.host or {}
        rows: list[tuple[str, object]] = [("machine", f"{cap.machine} · captured {cap.created or 'at an unknown time'} by igdscope {cap.tool_version or '?'}")]
        if plat:
            q = plat["qemu_gen"]
            rows.append(("platform", f"{plat['platform']} — {plat['name']}{' ' + plat['variant'] if plat.get('variant') else ''}, graphics gen {plat['gen']:g}"))
            rows.append(("QEMU generation", f"{q['A']} (QEMU 2016–9.1), {q['B']} (9.2), {q['C']} (10.0+)"))
        else:
            rows.append(("platform", Text("unknown: no IGD identifies it (registers not decoded per generation)", style="bold")))
        if h:
            rows.append(("kernel", f"{h.get('kernel_release') or '?'} · QEMU {h.get('qemu_version') or 'not found'}"))
            mods = h.get("modules") or {}
            rows.append(("modules", ", ".join(m for m, v in mods.items() if v.get("loaded")) or "none loaded"))
            hv = h.get("hypervisor") or {}
            rows.append(("hypervisor", f"{'yes (a VM)' if hv.get('cpu_flag') else 'no'} · {hv.get('dmi_sys_vendor') or '?'} / {hv.get('dmi_product_name') or '?'}"))
        boxes["machine"].update(kv_table(rows))

        result = snap.checks
        if result is None or "error" in result:
            boxes["readiness"].update(Text((result or {}).get("error") or "not checked", style="italic"))
        else:
            vm = result.get("vm")
            how = (f"with the {vm['source']} VM configuration (machine {printable(vm.get('machine') or '?')})" if vm
                   else "host side only: no VM configuration given (igdscope tui --vm-args/--libvirt/--proxmox/--pid)")
            if snap.diff_mode and self.app.side == "guest":  # type: ignore[attr-defined]
                how += "; judged on the host capture"
            boxes["readiness"].update(Text("\n").join([*verdict_lines(result, self.tone), Text(how, style="italic")]))

        drows = []
        for d in sorted(cap.devices, key=lambda d: ROLE_ORDER.get(d.role, 9)):
            grp = "-" if d.iommu_group is None else str(d.iommu_group)
            if d.iommu_group_members and len(d.iommu_group_members) > 1:
                grp += f" ({len(d.iommu_group_members)} devices: {', '.join(m.split(':', 1)[-1] for m in d.iommu_group_members)})"
            state = Text("present", style=self.tone("success"))
            if d.bdf in snap.gone:
                state = Text(f"GONE since {when_text(snap.gone[d.bdf])}", style=f"bold {self.tone('error')}")
            sub = f"{d.subsystem_vendor:04x}:{d.subsystem_device:04x}" if d.subsystem_vendor is not None and d.subsystem_device is not None else "-"
            dd = view.device_decoded(d.role) or {}
            note = dd.get("emulated") or ""
            drows.append([ROLE_TITLES.get(d.role, d.role), d.bdf, f"{d.vendor:04x}:{d.device:04x} rev {d.revision:02x}", f"{d.class_code:06x}", sub, d.driver or "-", grp, state, note])
        boxes["devices"].update(grid(["role", "address", "id", "class", "subsystem", "driver", "IOMMU group", "state", ""], drows))

        igd = (view.device_decoded("igd") or {}).get("summary") or {}
        hb = (view.device_decoded("host_bridge") or {}).get("summary") or {}
        s = {**hb, **{k: v for k, v in igd.items() if v is not None}}
        mrows: list[tuple[str, object]] = []
        if "ggc" in s:
            mrows.append(("GGC", f"{s['ggc']:#06x} (IGD {'does not decode' if s.get('ivd') else 'decodes'} legacy VGA)"))
            mrows.append(("data stolen memory (DSM)", f"{size_text(s.get('dsm_bytes'))} (GMS {s.get('gms', 0):#x})"))
            mrows.append(("GTT stolen memory (GSM)", f"{size_text(s.get('gsm_bytes'))} (GGMS {s.get('ggms') if s.get('ggms') is not None else '-'})"))
            if s.get("gtt_bytes"):
                mrows.append(("GGTT", f"{size_text(s['gtt_bytes'])} = {s.get('gtt_entries', 0):,} entries"))
        for key, label in (("bdsm", "BDSM (stolen base)"), ("bgsm", "BGSM (GTT stolen base)"), ("tolud", "TOLUD"), ("asls", "ASLS (OpRegion address)")):
            if key in s:
                mrows.append((label, _hx(s[key])))
        g = cap.blobs.get("gtt")
        if g is not None:
            mrows.append(("GGTT captured", f"{len(g.data):,} bytes from {g.source} ({g.note or g.path})"))
        else:
            why = "; ".join(printable(e["reason"]) for e in view.errors_for("gtt")) or "not captured (igdscope dump --gtt, or live as root)"
            mrows.append(("GGTT captured", Text(why, style="italic")))
        boxes["memory"].update(kv_table(mrows) if mrows else Text("no graphics control register decoded (platform unknown or config space not captured)"))

        op = dec.opregion or {}
        frows: list[tuple[str, object]] = []
        if op.get("present") and "error" not in op:
            ext = op.get("extended_vbt")
            frows.append(("OpRegion", f"version {op.get('version')}, {op.get('size_kib')} KiB, {op.get('bytes')} bytes from {op.get('source')}; mailboxes {', '.join(op.get('mailboxes') or []) or 'none'}; extended VBT {'yes' if ext else 'no'}"))
        elif op.get("present"):
            frows.append(("OpRegion", Text(f"cannot be decoded: {printable(op['error'])}", style="bold")))
        else:
            tried = ((op.get("sources") or {}).get("tried")) or []
            frows.append(("OpRegion", Text("not captured" + ("".join(f"\n{printable(t['source'])}: {printable(t['result'])}" for t in tried) if tried else ""), style="italic")))
        for c in view.vbt_copies:
            if c.error:
                frows.append(("VBT", Text(f"{c.where}: {printable(c.error)}", style="bold")))
            else:
                d = c.decoded or {}
                ok = (d.get("checksum") or {}).get("ok")
                frows.append(("VBT", f"{c.where}: BDB version {d.get('bdb_version')}, {(d.get('vbt_header') or {}).get('vbt_size')} bytes, checksum {'ok' if ok else 'mismatch'}, {len(d.get('blocks') or [])} blocks"))
        if not view.vbt_copies:
            frows.append(("VBT", Text("no copy found (no debugfs i915_vbt, OpRegion or ROM with a $VBT)", style="italic")))
        rom = view.rom
        if rom is None:
            frows.append(("option ROM", Text("; ".join(printable(e["reason"]) for e in view.errors_for("rom")) or "not captured", style="italic")))
        elif "error" in rom:
            frows.append(("option ROM", Text(printable(rom["error"]), style="bold")))
        else:
            kinds = ", ".join(i.get("kind", "?") for i in rom.get("images", []))
            frows.append(("option ROM", f"{rom['size']:,} bytes, {len(rom.get('images', []))} image(s) ({kinds}); VBT {'at ' + _hx(rom.get('vbt_offset')) if rom.get('vbt_offset') is not None else 'not found'}"))
        boxes["firmware"].update(kv_table(frows))

        brows = [[k, b.source, f"{len(b.data):,}", b.path, b.note] for k, b in sorted(cap.blobs.items())]
        boxes["blobs"].update(grid(["blob", "source", "bytes", "read from", "note"], brows) if brows else Text("no blobs captured"))

        problems = []
        for role, dd in dec.devices.items():
            d = dd.plain
            for f in d.get("findings", []) or []:
                problems.append(Text(f"! {ROLE_TITLES.get(d.get('role', role), role)}: {printable(f)}", style=self.tone("warning")))
            if "error" in d:
                problems.append(Text(f"! {printable(role)}: {printable(d['error'])}", style=f"bold {self.tone('error')}"))
        for f in dec.findings:
            problems.append(Text(f"! {printable(f)}", style=self.tone("warning")))
        for e in cap.errors:
            problems.append(Text(f"✗ {printable(e['source'])}: {printable(e['reason'])}", style=self.tone("error")))
        boxes["problems"].update(Group(*problems) if problems else Text("none", style=self.tone("success")))
