"""GTT: every GGTT entry (a million and more) in a virtual list with decoded fields; a picture of
the aperture's occupancy (present, scratch, stolen memory, changed); jump to an index or address;
filter present / mapped / changed; and the invalidate action, behind a confirmation screen with
the dry-run plan and the backup path, with progress while it runs (live sources only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from igdscope.schemas.pci import size_text
from igdscope.tui.model import (
    CATEGORY_NAMES,
    CHANGED,
    FILTERS,
    STOLEN,
    GttModel,
    Snapshot,
    View,
    printable,
)
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.screens.prompt import PromptScreen
from igdscope.tui.widgets.common import Line, Notice, when_text
from igdscope.tui.widgets.gttlist import GttList, Occupancy, header_text

JUMP_HELP = "an entry index (4096 or 0x1000) · ga:ADDR a GGTT (graphics) address · pa:ADDR the first entry mapping a physical address"


def parse_target(text: str, model: GttModel) -> tuple[int | None, str | None]:
    """An entry index from what the user typed, or why not."""
    t = text.strip().lower().replace("_", "")
    try:
        if t[:3] in ("pa:", "pa "):
            addr = int(t[3:].strip(), 0)
            idx = model.find_address(addr)
            if idx is None:
                return None, f"no present entry maps the page of {addr:#x}"
            return idx, None
        if t[:3] in ("ga:", "ga "):
            idx = int(t[3:].strip(), 0) >> 12
        else:
            idx = int(t, 0)
    except ValueError:
        return None, f"not a number: {text!r} ({JUMP_HELP})"
    if not 0 <= idx < model.n:
        return None, f"entry {idx:#x} is outside the table (0 to {model.n - 1:#x})"
    return idx, None


class GttScreen(DataScreen):
    SCREEN_TITLE = "GGTT"
    WATCH = frozenset({"devices", "gtt"})
    BINDINGS = [
        Binding("g", "jump", "Jump"),
        Binding("f", "filter", "Filter"),
        Binding("x", "invalidate", "Invalidate…"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = "all"
        self.model: GttModel | None = None

    def compose_body(self) -> ComposeResult:
        yield Notice(id="gtt-notice")
        yield Static("", id="gtt-summary", markup=False)
        occ = Occupancy(id="gtt-occupancy")
        occ.border_title = "aperture occupancy"
        yield occ
        yield Static("", id="gtt-legend", markup=False)
        yield Static("", id="gtt-header", markup=False)
        yield GttList(id="gtt-list")
        yield Line("", id="gtt-detail")

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        lst = self.query_one(GttList)
        if view is None:
            notice.say(snap.error or "no data")
            return
        model = view.gtt
        if not isinstance(model, GttModel):
            if model is None:
                why = "; ".join(printable(e["reason"]) for e in view.errors_for("gtt")) or "the capture has no GGTT"
                notice.say(f"GGTT not captured: {why}.\nWhat to do: igdscope dump --gtt as root (it maps BAR0's GTT half read-only), or igdscope tui as root on the machine.")
            else:
                notice.say(f"GGTT captured but not decoded: {model}")
            self.model = None
            lst.set_model(None, None)
            self.query_one(Occupancy).set_model(None)
            for w in ("#gtt-summary", "#gtt-legend", "#gtt-header"):
                self.query_one(w, Static).update("")
            self.query_one("#gtt-detail", Line).set("")
            return
        notice.say("")
        if model is self.model:
            self._summary(snap)
            return
        first = self.model is None
        self.model = model
        lst.set_model(model, model.rows(self.filter), keep_index=not first)
        self.query_one(Occupancy).set_model(model)
        self.query_one("#gtt-header", Static).update(Text(header_text(model), style="bold"))
        self._legend()
        self._summary(snap)

    def show_key(self, snap: Snapshot) -> tuple:
        return (*super().show_key(snap), snap.gtt_changes, snap.gtt_last_change)

    def _legend(self) -> None:
        occ = self.query_one(Occupancy)
        t = Text("  ")
        for cat, glyph in Occupancy.GLYPH.items():
            t.append(glyph * 2, style=occ.get_component_rich_style(f"occupancy--{['empty', 'scratch', 'mapped', 'stolen', 'changed'][cat]}", partial=True))
            t.append(f" {CATEGORY_NAMES[cat]}   ")
        self.query_one("#gtt-legend", Static).update(t)

    def _summary(self, snap: Snapshot) -> None:
        m = self.model
        if m is None:
            return
        s = m.summary
        parts = [f"{m.n:,} entries ({m.fmt.title}, {size_text(m.n * 4096)} aperture)", f"present {s.get('present', 0):,}", f"mapped {s.get('mapped_entries', 0):,} in {s.get('mapped_runs', 0):,} runs"]
        if s.get("scratch_value") is not None:
            parts.append(f"scratch {s['scratch_value']:#x} × {s.get('scratch_entries', 0):,}")
        if "stolen" in s:
            parts.append(f"{s['stolen']['entries']:,} in stolen memory")
        if snap.live:
            parts.append(f"changed {snap.gtt_changes:,}" + (f" (last {when_text(snap.gtt_last_change)})" if snap.gtt_last_change else ""))
        parts.append(f"filter {self.filter}: {m.count(self.filter):,} rows")
        self.query_one("#gtt-summary", Static).update(" · ".join(parts))

    @on(GttList.Highlighted, "#gtt-list")
    def _highlighted(self, event: GttList.Highlighted) -> None:
        self.query_one(Occupancy).set_marker(event.index)
        detail = self.query_one("#gtt-detail", Line)
        m = self.model
        if m is None or event.index is None:
            detail.set("no entries match the filter" if m is not None else "")
            return
        from igdscope.schemas.gtt import parse_pte

        e = m.entry(event.index)
        pte = parse_pte(int(e["raw"]), m.fmt)
        fields = ", ".join(f"{k} {int(v)}" if isinstance(v, bool) else f"{k} {v:#x}" for k, v in pte.items() if k not in ("address", "is_present") and not k.startswith("ignored"))
        what = CATEGORY_NAMES[e["category"]]
        if e["category"] == STOLEN and m.dsm:
            what += f" (DSM base {m.dsm[0]:#x} + {e['address'] - m.dsm[0]:#x})" if not m.fmt.stolen_relative else " (stolen-relative address)"
        if m.changed_mask is not None and len(m.changed_mask) == m.n and bool(m.changed_mask[event.index]):
            what += "; changed since the first read" if e["category"] != CHANGED else ""
        detail.set(f"entry {event.index:,} ({event.index:#x}) · GGTT address {event.index * 4096:#x} → {'maps ' + hex(pte['address']) if pte['is_present'] else 'not present'} · {what}\n{fields}")

    @on(Occupancy.Jump)
    def _occupancy_jump(self, event: Occupancy.Jump) -> None:
        lst = self.query_one(GttList)
        lst.goto_index(event.index)
        lst.focus()

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "invalidate":
            return bool(getattr(self.app, "source", None) and self.app.source.live)  # type: ignore[attr-defined]
        return True

    def action_filter(self) -> None:
        if self.model is None:
            return
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self.query_one(GttList).set_model(self.model, self.model.rows(self.filter))
        if self.snapshot is not None:
            self._summary(self.snapshot)
        if self.model.count(self.filter) == 0:
            self.notify("changed entries appear in live mode (the GGTT is re-read while this screen shows)" if self.filter == "changed" and not (self.snapshot and self.snapshot.live) else f"no {self.filter} entries", title=f"filter {self.filter}")

    def action_jump(self) -> None:
        if self.model is None:
            return

        def done(text: str | None) -> None:
            if not text or self.model is None:
                return
            idx, err = parse_target(text, self.model)
            if err is not None:
                self.notify(err, severity="warning", title="jump", markup=False)  # it quotes what was typed
                return
            assert idx is not None
            lst = self.query_one(GttList)
            if lst.row_count and lst.index_of_row(lst.row_of_index(idx)) != idx:
                self.notify(f"entry {idx:#x} is hidden by the filter {self.filter}: showing the next one", title="jump")
            lst.goto_index(idx)
            lst.focus()

        self.app.push_screen(PromptScreen("Jump to", placeholder="4096, 0x1000, ga:0x1000000, pa:0x8b800000", help=JUMP_HELP), done)

    def action_invalidate(self) -> None:
        """Confirm, then invalidate the live IGD's GGTT. The one place the TUI touches the write path."""
        source = self.app.source  # type: ignore[attr-defined]
        view = self.data
        if not source.live or source.root is None:
            self.notify("Invalidation writes to a live IGD: run igdscope tui on the machine (or --root on a fake tree), not on a capture.", severity="warning", title="invalidate")
            return
        igd = view.capture.device("igd") if view is not None else None
        if igd is None:
            self.notify("no IGD in the current data", severity="warning", title="invalidate")
            return
        from igdscope.analysis import invalidate as gw
        from igdscope.errors import IgdscopeError

        root = source.root
        try:
            t = gw.target(root, igd.bdf)
        except IgdscopeError as exc:
            self.notify(str(exc), severity="error", title="invalidate refused", markup=False)
            return
        method = "mmio"
        plan = gw.plan(t, method)
        refused = None
        try:
            gw.check(t, ignore_open=False)
        except gw.Refused as exc:
            refused = str(exc)
        backup = str(gw.default_backup(t, getattr(self.app, "backup_dir", None) or "."))

        def run(path: str, progress: Any) -> dict[str, Any]:
            out = gw.invalidate(root, t, Path(path), method, progress)  # refuses an existing backup path (WriteRefused)
            return {"written": out.written, "verified": out.verified, "total": out.total, "interrupted": out.interrupted,
                    "mismatches": out.mismatches[:64], "flushed": out.flushed, "backup": out.backup or path, "nothing_to_do": out.nothing_to_do}

        from igdscope.tui.screens.invalidate import InvalidateScreen

        def after(result: dict[str, Any] | None) -> None:
            if result and "error" not in result:
                self.app.refresh_now(full=True)  # type: ignore[attr-defined]

        self.app.push_screen(InvalidateScreen(plan, backup, run, refused), after)
