"""Small shared widgets: the source banner (a failed source or a gone device, shown where the data
would be), the status line (source, side, live tick, polling interval, udev), notices."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

from igdscope.tui.model import Change, Snapshot


localtime = time.localtime  # tests pin it to time.gmtime


def when_text(c: Change | None) -> str:
    if c is None:
        return ""
    if c.when is None:
        return f"tick {c.tick}"
    return f"{time.strftime('%H:%M:%S', localtime(c.when))} (tick {c.tick})"


def kv_table(rows: list[tuple[str, Any]], *, key_style: str = "bold") -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style=key_style, no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(k, v if isinstance(v, Text) else Text(str(v)))
    return t


def grid(headers: list[str], rows: list[list[Any]], *, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", expand=False, show_edge=False, pad_edge=False, box=None, header_style="bold")
    for h in headers:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*[c if isinstance(c, Text) else Text("" if c is None else str(c)) for c in r])
    return t


class Line(Widget):
    """Text that changes often at a fixed size (a status or detail line): repainted in place,
    without the layout pass Static.update asks for."""

    def __init__(self, text: Any = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._text = text

    def set(self, text: Any) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Any:
        return self._text if isinstance(self._text, Text) else Text(str(self._text))


class Notice(Static):
    """Where data would be, when it is not there: what happened and what to do."""

    DEFAULT_CLASSES = "notice"

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(text, id=id, classes=classes, markup=False)

    def say(self, text: str | None) -> None:
        self.update(text or "")
        self.display = bool(text)


class SourceBanner(Static):
    """A failed source or a gone device, above the data it affects."""

    def __init__(self) -> None:
        super().__init__("", id="banner", markup=False)
        self.display = False

    def show_snapshot(self, snap: Snapshot | None) -> None:
        lines = []
        if snap is not None and snap.error:
            lines.append(snap.error + (" The data below is the last read." if snap.host is not None else ""))
        if snap is not None:
            for bdf, c in snap.gone.items():
                lines.append(f"{bdf} is gone since {when_text(c)}: the data below is the last read; it comes back here when the device returns.")
        self.update("\n".join(lines))
        self.display = bool(lines)


class StatusLine(Static):
    """One line: the source, which side is shown, and for live sources the tick, the polling
    interval (adjustable, pausable) and the udev monitor state."""

    def __init__(self) -> None:
        super().__init__("", id="status", markup=False)

    def show_state(self, app: Any) -> None:
        snap: Snapshot | None = app.snapshot
        parts = []
        if snap is None:
            parts.append("reading…")
        else:
            parts.append(snap.source)
            if snap.diff_mode:
                parts.append(f"showing the {app.side} (s switches)")
            if snap.live:
                parts.append("paused" if app.paused else f"every {app.interval:g} s")
                last = Change(snap.tick, snap.when, None, None)
                parts.append(f"read {when_text(last)}")
                if app.udev_status:
                    parts.append(app.udev_status)
            parts += snap.notes[:1]
        self.update(" · ".join(parts))


class TableView(DataTable):
    """A DataTable that repaints after it measures new rows. DataTable measures column widths
    when idle but keeps the lines it drew before that (keyed by its update count), so a table
    painted between add_row and idle would keep header-wide columns."""

    async def _on_idle(self, event: Any) -> None:
        pending = self._require_update_dimensions or bool(self._updated_cells)
        await super()._on_idle(event)
        if pending:
            self._clear_caches()
            self.refresh()
