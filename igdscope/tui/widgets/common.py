"""Small shared widgets: the source banner (a failed source or a gone device, shown where the data
would be), the status line (source, side, live tick, polling interval, udev), notices.

Text from a capture can hold anything (see :mod:`igdscope.textsafe`): the table helpers and widgets
here escape what they are given, every str as plain text (never markup) through
:func:`~igdscope.textsafe.printable` and every rich Text through :func:`safe_text`. Screens escape
capture text with ``printable`` before they build a Text or a line of several values from it (so a
newline in a value shows as ``\\x0a`` rather than starting a line of its own)."""

from __future__ import annotations

import time
from typing import Any

from rich.protocol import is_renderable
from rich.table import Table
from rich.text import Span, Text
from textual.widget import Widget
from textual.widgets import DataTable, Static, Tree

from igdscope.textsafe import printable, printable_lines
from igdscope.tui.model import Change, Snapshot

localtime = time.localtime  # tests pin it to time.gmtime


def when_text(c: Change | None) -> str:
    if c is None:
        return ""
    if c.when is None:
        return f"tick {c.tick}"
    return f"{time.strftime('%H:%M:%S', localtime(c.when))} (tick {c.tick})"


def safe_text(t: Text) -> Text:
    """``t`` with its unsafe characters escaped as :func:`~igdscope.textsafe.printable_lines` does
    (tab and newline stay: a Text igdscope builds may have several lines), styles kept on the
    escapes; ``t`` itself when there is nothing to escape."""
    plain = t.plain
    if printable_lines(plain) == plain:
        return t
    starts, parts = [0], []
    for c in plain:
        parts.append(printable_lines(c))
        starts.append(starts[-1] + len(parts[-1]))
    out = t.blank_copy("".join(parts))
    out.spans = [Span(starts[min(s.start, len(plain))], starts[min(s.end, len(plain))], s.style) for s in t.spans]
    return out


def cell(v: Any) -> Any:
    """What a table cell or a label shows: a str as plain Text (never markup) through
    ``printable``, a Text through :func:`safe_text`, None as nothing, another value as its str;
    other renderables (a table in a table) as they are."""
    if isinstance(v, Text):
        return safe_text(v)
    if isinstance(v, str) or not is_renderable(v):
        return Text(printable("" if v is None else str(v)))
    return v


def kv_table(rows: list[tuple[str, Any]], *, key_style: str = "bold") -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style=key_style, no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(cell(k), cell(v if isinstance(v, Text) else str(v)))
    return t


def grid(headers: list[str], rows: list[list[Any]], *, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", expand=False, show_edge=False, pad_edge=False, box=None, header_style="bold")
    for h in headers:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*[cell(c) for c in r])
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
        return safe_text(self._text if isinstance(self._text, Text) else Text(str(self._text)))


class Notice(Static):
    """Where data would be, when it is not there: what happened and what to do."""

    DEFAULT_CLASSES = "notice"

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(text, id=id, classes=classes, markup=False)

    def say(self, text: str | None) -> None:
        """Show ``text`` (lines; a capture's text in them escaped by the caller with printable:
        here only what would harm the terminal is escaped, and the lines stay)."""
        self.update(printable_lines(text or ""))
        self.display = bool(text)


class SourceBanner(Static):
    """A failed source or a gone device, above the data it affects."""

    def __init__(self) -> None:
        super().__init__("", id="banner", markup=False)
        self.display = False

    def show_snapshot(self, snap: Snapshot | None) -> None:
        lines = []
        if snap is not None and snap.error:
            lines.append(printable(snap.error) + (" The data below is the last read." if snap.host is not None else ""))
        if snap is not None:
            for bdf, c in snap.gone.items():
                lines.append(f"{printable(bdf)} is gone since {when_text(c)}: the data below is the last read; it comes back here when the device returns.")
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
        self.update(printable(" · ".join(parts)))  # the source's name, its notes and errors may quote a capture or a device


class TableView(DataTable):
    """A DataTable whose cells are escaped (:func:`cell`: a str is plain text, never markup), and
    that repaints after it measures new rows. DataTable measures column widths when idle but keeps
    the lines it drew before that (keyed by its update count), so a table painted between add_row
    and idle would keep header-wide columns."""

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None) -> Any:
        return super().add_row(*(cell(c) for c in cells), height=height, key=key, label=label)

    async def _on_idle(self, event: Any) -> None:
        pending = self._require_update_dimensions or bool(self._updated_cells)
        await super()._on_idle(event)
        if pending:
            self._clear_caches()
            self.refresh()


class TextTree(Tree):
    """A Tree whose labels are escaped (:func:`cell`): a str label is plain text, never markup."""

    def process_label(self, label: Any) -> Text:
        return super().process_label(cell(label))
