"""Registers: host bridge, IGD and LPC config space; each register and field with its bit range,
raw value and meaning; a hex view linked both ways (a field highlights its bytes, a byte selects
the field it belongs to)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static, Tab, Tabs

from igdscope.tui.model import (
    ROLE_ORDER,
    ROLE_TITLES,
    FieldRow,
    RegRow,
    Snapshot,
    View,
    printable,
)
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice, TableView
from igdscope.tui.widgets.hexview import HexView


def _meaning(f: FieldRow) -> str:
    if not f.meaning:
        return f.doc
    if f.meaning in ("set", "clear") or (f.meaning.startswith("0x") and f.doc):
        return f"{f.meaning}: {f.doc}" if f.doc else f.meaning
    return f.meaning


class RegistersScreen(DataScreen):
    SCREEN_TITLE = "Registers"
    WATCH = frozenset({"devices", "config"})
    BINDINGS = [
        Binding("left_square_bracket", "device(-1)", "Prev device"),
        Binding("right_square_bracket", "device(1)", "Next device"),
        Binding("tab", "app.focus_next", "Table ⇄ hex", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.role: str | None = None
        self.rows: list[RegRow] = []
        self.keys: list[tuple[int, int | None]] = []  # table row -> (register, field or None)
        self._hex_cursor: int | None = None
        self._filled: tuple | None = None
        self._pending: str | None = None
        self._want: str | None = None  # the tab to activate once the tabs are rebuilt

    def compose_body(self) -> ComposeResult:
        yield Tabs(id="reg-devices")
        yield Notice(id="reg-notice")
        with Horizontal(id="reg-main"):
            yield TableView(id="reg-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="reg-side"):
                hexv = HexView(id="reg-hex", ascii=False)
                hexv.border_title = "config space"
                yield hexv
                yield Static("", id="reg-detail", markup=False)

    def on_mount(self) -> None:
        t = self.query_one("#reg-table", DataTable)
        t.add_columns("register / field", "at / bits", "value", "meaning")
        super().on_mount()

    # -- data ------------------------------------------------------------------------------
    def _roles(self, view: View) -> list[str]:
        return [d.role for d in sorted(view.capture.devices, key=lambda d: ROLE_ORDER.get(d.role, 9))]

    def show(self, snap: Snapshot, view: View | None) -> None:
        tabs = self.query_one(Tabs)
        if view is None:
            self.query_one(Notice).say(snap.error or "no data")
            return
        roles = self._roles(view)
        if self.role not in roles:
            self.role = "igd" if "igd" in roles else (roles[0] if roles else None)
        want = [f"role-{r}" for r in roles]
        have = [t.id for t in tabs.query(Tab)]
        if want != have:
            self._want = self.role
            self.run_worker(self._rebuild_tabs(view, roles), group="tabs", exclusive=True)
        elif self.role:
            tabs.active = f"role-{self.role}"
        self._fill(view)

    async def _rebuild_tabs(self, view: View, roles: list[str]) -> None:
        """Tabs activate the first tab they get: add them all, then activate ours (the events
        arrive in that order, and only ours is taken)."""
        tabs = self.query_one(Tabs)
        await tabs.clear()
        for r in roles:
            d = view.capture.device(r)
            label = f"{ROLE_TITLES.get(r, r)} {d.bdf.split(':', 1)[-1] if d else ''}"
            await tabs.add_tab(Tab(Text(printable(label)), id=f"role-{r}"))  # Text: a str is markup; the address is the capture's
        if self._want:
            tabs.active = f"role-{self._want}"

    @on(Tabs.TabActivated, "#reg-devices")
    def _tab(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        if self._want is not None:  # tabs being rebuilt: only the tab we asked for counts
            if event.tab.id == f"role-{self._want}":
                self._want = None
            return
        role = event.tab.id.removeprefix("role-")
        if role != self.role:
            self.role = role
            self._filled = None
            if self.data is not None:
                self._fill(self.data)

    def _fill(self, view: View) -> None:
        notice = self.query_one(Notice)
        table = self.query_one("#reg-table", DataTable)
        hexv = self.query_one(HexView)
        role = self.role
        if role is None:
            notice.say("no devices in this capture")
            return
        d = view.capture.device(role)
        cfg = view.capture.config(role)
        dec = view.device_decoded(role) or {}
        problems = []
        if d is not None and d.bdf in (self.snapshot.gone if self.snapshot else {}):
            problems.append(f"{printable(d.bdf)} is gone: the registers below are the last read.")
        if cfg is None:
            why = "; ".join(printable(e["reason"]) for e in view.errors_for(f"config {d.bdf}" if d else "config")) or "config space not captured"
            problems.append(f"{ROLE_TITLES.get(role, role)}: {why}. Run as root for the full config space (unprivileged reads get 64 bytes).")
        elif "error" in dec:
            problems.append(f"{ROLE_TITLES.get(role, role)}: {printable(dec['error'])}")
        problems += [f"! {printable(f)}" for f in dec.get("findings", []) or []]
        notice.say("\n".join(problems))
        rows = view.registers(role)
        key = (role, id(cfg), len(rows))
        if key == self._filled:
            return
        keep = table.cursor_row if self._filled is not None and self._filled[0] == role else 0
        self._filled = key
        self.rows = rows
        self.keys = []
        table.clear()
        for i, r in enumerate(rows):
            raw = "-" if r.raw is None else f"{r.raw:#0{r.size * 2 + 2}x}"
            style = "bold" if r.group == "device" else "bold dim" if r.group == "capability" else "bold"
            whole = len(r.fields) == 1 and r.fields[0].name == r.name  # one field that is the register
            meaning = r.missing or (_meaning(r.fields[0]) if whole else r.doc)
            table.add_row(Text(r.name, style=style), f"{r.offset:#05x}", raw, Text(meaning, style="italic" if r.missing else ""), key=f"r{i}")
            self.keys.append((i, 0 if whole else None))
            if whole:
                continue
            for j, f in enumerate(r.fields):
                value = "-" if f.value is None else f"{f.value:#x}"
                table.add_row(f"  {f.name}", f"[{f.bits}]", value, _meaning(f), key=f"r{i}f{j}")
                self.keys.append((i, j))
        hexv.set_data(cfg or b"")
        hexv.border_title = f"config space · {len(cfg or b'')} bytes"
        if self._pending:
            name, self._pending = self._pending, None
            self._select_register(name)
        elif rows:
            table.move_cursor(row=min(keep, table.row_count - 1), animate=False)
            self._mark(table.cursor_row)

    # -- linking ---------------------------------------------------------------------------
    def _mark(self, row: int, cursor: int | None = None) -> None:
        if not 0 <= row < len(self.keys):
            return
        ri, fi = self.keys[row]
        r = self.rows[ri]
        region = (r.offset, r.offset + r.size)
        field = None
        detail = f"{r.name} at {r.offset:#05x}, {r.size} byte(s): {r.doc}"
        if fi is not None:
            f = r.fields[fi]
            field = (f.start, f.end)
            detail = f"{r.name}.{f.name} [{f.bits}] = {'-' if f.value is None else hex(f.value)}  {f.meaning}\n{f.doc}"
        self.query_one(HexView).mark(region, field, cursor=cursor)
        self.query_one("#reg-detail", Static).update(detail)

    @on(DataTable.RowHighlighted, "#reg-table")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        cursor, self._hex_cursor = self._hex_cursor, None
        self._mark(event.cursor_row, cursor)

    @on(HexView.CursorMoved, "#reg-hex")
    def _byte(self, event: HexView.CursorMoved) -> None:
        off = event.offset
        best: tuple[int, int] | None = None
        best_span = None
        for row, (ri, fi) in enumerate(self.keys):
            r = self.rows[ri]
            if fi is None:
                lo, hi = r.offset, r.offset + r.size
                span = (hi - lo) * 100 + (0 if r.group == "device" else 1)
            else:
                f = r.fields[fi]
                lo, hi = f.start, f.end
                span = (hi - lo) + (0 if r.group == "device" else 1) * 0.5
            if lo <= off < hi and (best_span is None or span < best_span):
                best, best_span = (row, 0), span
        table = self.query_one("#reg-table", DataTable)
        if best is None:
            self.query_one(HexView).mark(None, None, cursor=off, scroll=False)
            self.query_one("#reg-detail", Static).update(f"byte {off:#05x}: not part of a decoded register")
            return
        self._hex_cursor = off
        if table.cursor_row == best[0]:
            self._hex_cursor = None
            self._mark(best[0], off)
        else:
            table.move_cursor(row=best[0], animate=False)

    # -- actions ---------------------------------------------------------------------------
    def action_device(self, step: int) -> None:
        view = self.data
        if view is None:
            return
        roles = self._roles(view)
        if self.role in roles and roles:
            self.query_one(Tabs).active = f"role-{roles[(roles.index(self.role) + step) % len(roles)]}"

    def select(self, what: str) -> None:
        """``role:REGISTER`` from the command palette."""
        role, _, name = what.partition(":")
        self._pending = name
        if role != self.role:
            self.role = role
            self._filled = None
            if self._want is not None:
                self._want = role
            elif self.is_mounted and self.query(f"#role-{role}"):
                self.query_one(Tabs).active = f"role-{role}"
        if self.is_mounted and self.data is not None and self._filled is not None:
            self._pending = None
            self._select_register(name)
        elif self.is_mounted and self.data is not None:
            self._fill(self.data)

    def _select_register(self, name: str) -> None:
        table = self.query_one("#reg-table", DataTable)
        for row, (ri, fi) in enumerate(self.keys):
            if fi is None and self.rows[ri].name == name:
                table.move_cursor(row=row, animate=False)
                table.focus()
                return
