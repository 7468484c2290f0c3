"""Checks: will legacy mode, UPT and UPT with OpRegion work with this host (and the VM
configuration given on the command line)? The verdict per mode, then every rule of
:mod:`igdscope.analysis.check` with its status; the selected rule's evidence and fix below the table."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from igdscope.analysis.check import MODES
from igdscope.tui.model import Snapshot, View, printable
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice, TableView

MODE_TITLES = {"legacy": "legacy mode", "upt": "UPT", "upt_opregion": "UPT + OpRegion"}
STATUS_ORDER = {"fail": 0, "warn": 1, "unknown": 2, "pass": 3}
STATUS_TONE = {"fail": "error", "warn": "warning", "unknown": "accent", "pass": "success"}
VERDICT_TONE = {"fails": "error", "unknown": "warning", "works": "success"}


def verdict_lines(result: dict[str, Any], tone: Any, selected: str | None = None) -> list[Text]:
    """One line per mode: verdict, whether it is the VM's mode, the failing and unknown rules.
    ``tone(name)`` gives a theme colour (the Overview shows the same lines); ``selected`` marks the
    mode the Checks screen plans for."""
    lines = []
    asked = result.get("requested_mode")
    for mode in MODES:
        v = (result.get("verdicts") or {}).get(mode)
        if v is None:
            continue
        line = Text()
        if selected is not None:
            line.append("▸ " if mode == selected else "  ", style=f"bold {tone('accent')}")
        line.append(f"{MODE_TITLES[mode]:<15}", style="bold")
        line.append(f"{v['verdict'].upper():<8}", style=f"bold {tone(VERDICT_TONE[v['verdict']])}")
        if asked == mode:
            line.append(" the VM's mode", style="bold")
        if v["failing"]:
            line.append(f"  failing: {', '.join(v['failing'])}")
        if v["unknown"]:
            line.append(f"  unknown: {', '.join(v['unknown'])}", style="italic")
        lines.append(line)
    return lines


def context_line(result: dict[str, Any]) -> str:
    """What the checks judged: the IGD, kernel, QEMU version and the VM configuration."""
    ident = result.get("igd") or {}
    plat = result.get("platform") or {}
    parts = []
    if ident:
        parts.append(f"IGD {ident.get('vendor', 0):04x}:{ident.get('device', 0):04x} {plat.get('platform', '')}".rstrip())
    parts.append(f"kernel {result.get('kernel') or '?'}")
    parts.append(f"QEMU {result.get('qemu_version') or 'unknown'}")
    vm = result.get("vm")
    if vm:
        parts.append(f"VM: {vm['source']} config, machine {vm.get('machine') or '?'}, firmware {vm.get('firmware') or '?'}")
    else:
        parts.append("no VM configuration given (igdscope tui --vm-args/--libvirt/--proxmox/--pid): the VM's side is unknown")
    return printable(" · ".join(parts))  # the kernel and QEMU versions are the capture's text


def default_mode(result: dict[str, Any]) -> str:
    """The mode to plan for first: the VM's, else the first that works, else the first."""
    verdicts = result.get("verdicts") or {}
    if result.get("requested_mode") in verdicts:
        return result["requested_mode"]
    return next((m for m in MODES if (verdicts.get(m) or {}).get("verdict") == "works"), MODES[0])


class ChecksScreen(DataScreen):
    SCREEN_TITLE = "Checks"
    BINDINGS = [
        Binding("f", "toggle_passing", "Hide/show passing"),
        Binding("m", "next_mode", "Mode"),
        Binding("c", "plan", "Plan"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[dict[str, Any]] = []  # in table order
        self.hide_passing = False
        self._result: dict[str, Any] | None = None
        self._pending: str | None = None
        self.mode: str | None = None  # the mode the plan is for (marked in the Readiness box)

    def compose_body(self) -> ComposeResult:
        verdicts = Static("", id="checks-verdicts", classes="box")
        verdicts.border_title = "Readiness"
        yield verdicts
        yield Notice(id="checks-notice")
        table = TableView(id="checks-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="checks-detail", markup=False)

    def on_mount(self) -> None:
        self.query_one("#checks-table", DataTable).add_columns("status", "rule", "what", "modes")
        super().on_mount()

    def show_key(self, snap: Snapshot) -> tuple:
        return (*super().show_key(snap), id(snap.host))

    def restyle(self) -> None:
        self._result = None

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        box = self.query_one("#checks-verdicts", Static)
        result = snap.checks
        if result is None:
            notice.say(snap.error or "no data yet")
            return
        if "error" in result:
            notice.say(f"nothing to check: {result['error']}")
            box.update(Text("no verdicts"))
            self._fill([])
            return
        side_note = "the checks judge the host capture (s shows the guest on the other screens)" if snap.diff_mode and self.app.side == "guest" else None  # type: ignore[attr-defined]
        notice.say(snap.error or side_note)
        if result is self._result:
            return
        self._result = result
        if self.mode is None:
            self.mode = default_mode(result)
        self._verdicts()
        self._fill(result.get("rules") or [])

    def _verdicts(self) -> None:
        if self._result is None:
            return
        box = self.query_one("#checks-verdicts", Static)
        box.update(Text("\n").join([Text(context_line(self._result), style="italic"), *verdict_lines(self._result, self.tone, self.mode)]))
        box.border_title = "Readiness" + (f" · plan for {MODE_TITLES[self.mode]} (m: mode, c: plan)" if self.mode else "")

    def _fill(self, rules: list[dict[str, Any]]) -> None:
        table = self.query_one("#checks-table", DataTable)
        table.clear()
        ordered = sorted(rules, key=lambda r: STATUS_ORDER.get(r["status"], 9))
        self.rules = [r for r in ordered if not (self.hide_passing and r["status"] == "pass")]
        for r in self.rules:
            style = self.tone(STATUS_TONE.get(r["status"], ""))
            mark = Text(r["status"].upper(), style=f"bold {style}" if r["status"] != "pass" else style)
            modes = ", ".join(MODE_TITLES[m] for m in MODES if m in r["modes"]) if len(r["modes"]) < len(MODES) else "all"
            table.add_row(mark, r["id"], r["title"], modes, key=r["id"])
        hidden = len(ordered) - len(self.rules)
        table.border_title = f"{len(ordered)} rules" + (f", {hidden} passing hidden (f shows them)" if hidden else "")
        if self._pending:
            want, self._pending = self._pending, None
            self.select(want)
        else:
            self._detail(0)

    def _detail(self, row: int) -> None:
        detail = self.query_one("#checks-detail", Static)
        if not 0 <= row < len(self.rules):
            detail.update("" if self.rules else "no rules to show")
            return
        r = self.rules[row]
        text = Text()
        text.append(f"{r['id']}: {r['title']}\n", style="bold")
        text.append("evidence: ", style="bold")
        text.append(printable(r["evidence"] or "-"))  # evidence quotes the capture: escape its control characters
        if r.get("fix") and r["status"] != "pass":
            text.append("\nfix: ", style="bold")
            text.append(printable(r["fix"]))
        detail.update(text)

    @on(DataTable.RowHighlighted, "#checks-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def action_toggle_passing(self) -> None:
        self.hide_passing = not self.hide_passing
        if self._result is not None:
            self._fill(self._result.get("rules") or [])

    def action_next_mode(self) -> None:
        if self._result is None or "error" in self._result:
            return
        self.mode = MODES[(MODES.index(self.mode or MODES[-1]) + 1) % len(MODES)]
        self._verdicts()

    def action_plan(self) -> None:
        """The plan for the marked mode, for the host capture, the QEMU version the app was given
        (else the capture's) and the VM's firmware (else SeaBIOS)."""
        snap = self.snapshot
        result = snap.checks if snap is not None else None
        if snap is None or snap.host is None or result is None:
            self.app.notify("no capture yet: nothing to plan for", severity="warning", title="plan")
            return
        if "error" in result:
            self.app.notify(f"nothing to plan for: {result['error']}", severity="warning", title="plan", markup=False)
            return
        from igdscope.tui.screens.plan import PlanScreen

        vm = snap.vm
        firmware = getattr(vm, "firmware", None) if vm is not None else None
        self.app.push_screen(PlanScreen(snap.host, self.mode or default_mode(result), qemu_version=snap.qemu_version,
                                        firmware=firmware if firmware in ("seabios", "ovmf") else "seabios", vm=vm), self._planned)

    def _planned(self, mode: str | None) -> None:
        """Back from the plan: the mode last shown there stays marked."""
        if mode in MODES:
            self.mode = mode
            self._verdicts()

    def select(self, what: str) -> None:
        """``check:<rule id>`` from the command palette: move the cursor to that rule."""
        rid = what.split(":", 1)[1] if what.startswith("check:") else what
        ids = [r["id"] for r in self.rules]
        if rid not in ids:
            if self._result is None:
                self._pending = rid  # selected once the rules arrive
                return
            if self.hide_passing:
                self.hide_passing = False
                self._fill(self._result.get("rules") or [])
                ids = [r["id"] for r in self.rules]
            if rid not in ids:
                return
        table = self.query_one("#checks-table", DataTable)
        table.move_cursor(row=ids.index(rid))
        table.focus()
        self._detail(ids.index(rid))
