"""The GGTT as a virtual list (Line API: a ScrollView that renders only the visible lines, each
decoded on demand from numpy chunks and kept in an LRU of strips) and the aperture occupancy
picture. A million entries cost one array, never a million widgets or rows."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from igdscope.tui.model import (
    CATEGORY_NAMES,
    CHANGED,
    EMPTY,
    MAPPED,
    SCRATCH,
    STOLEN,
    GttModel,
)
from igdscope.tui.widgets.lines import LineView

CATEGORY_CLASS = {EMPTY: "empty", SCRATCH: "scratch", MAPPED: "mapped", STOLEN: "stolen", CHANGED: "changed"}
ADDRESS_PARTS = {"addr", "addr_lo", "addr_hi"}


def columns(model: GttModel) -> list[str]:
    return [n for n in model.field_names if n not in ADDRESS_PARTS and n != model.fmt.present]


def header_text(model: GttModel) -> str:
    raw_w = model.fmt.size * 2 + 2
    cols = "".join(f"{c[:6]:>7}" for c in columns(model))
    return f"{'index':>8}  {'GGTT addr':<11} {'PTE':<{raw_w}}  P  {'maps address':<15}{cols}  what"


def line_text(model: GttModel, e: dict[str, Any]) -> str:
    raw_w = model.fmt.size * 2 + 2
    present = e.get(model.fmt.present)
    cols = "".join(f"{e[c]:>7}" if not isinstance(e[c], bool) else f"{'1' if e[c] else '0':>7}" for c in columns(model))
    what = CATEGORY_NAMES[e["category"]]
    if e["category"] == STOLEN and model.dsm and not model.fmt.stolen_relative:
        what += f" +{e['address'] - model.dsm[0]:#x}"
    return f"{e['index']:>8}  {e['index'] * 4096:#011x} {e['raw']:#0{raw_w}x}  {'P' if present else '-'}  {e['address']:#015x}{cols}  {what}"


class GttList(LineView):
    CACHE_LINES = 1024
    COMPONENT_CLASSES = {"gttlist--cursor", "gttlist--empty", "gttlist--scratch", "gttlist--mapped", "gttlist--stolen", "gttlist--changed"}
    DEFAULT_CSS = """
    GttList { height: 1fr; }
    GttList > .gttlist--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    GttList > .gttlist--empty { color: $text-disabled; }
    GttList > .gttlist--scratch { color: $text-muted; }
    GttList > .gttlist--mapped { color: $foreground; }
    GttList > .gttlist--stolen { color: $warning; }
    GttList > .gttlist--changed { color: $error; text-style: bold; }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, view: GttList, index: int | None) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> GttList:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.model: GttModel | None = None
        self.rows: Any = None  # None: every entry; else a numpy array of entry indices
        self.cursor = 0

    @property
    def row_count(self) -> int:
        if self.model is None:
            return 0
        return self.model.n if self.rows is None else len(self.rows)

    def index_of_row(self, row: int) -> int:
        return row if self.rows is None else int(self.rows[row])

    def row_of_index(self, index: int) -> int:
        """The row showing ``index``, or the first row after it (filters skip entries)."""
        if self.rows is None:
            return max(0, min(index, self.row_count - 1))
        import numpy as np

        return int(min(np.searchsorted(self.rows, index), max(self.row_count - 1, 0)))

    @property
    def current_index(self) -> int | None:
        return self.index_of_row(self.cursor) if self.row_count else None

    def set_model(self, model: GttModel | None, rows: Any, *, keep_index: bool = True) -> None:
        index = self.current_index if keep_index else None
        self.model, self.rows = model, rows
        self._cache.clear()
        self._version += 1
        width = len(header_text(model)) + 24 if model is not None else 0
        self.virtual_size = Size(width, self.row_count)
        self.cursor = self.row_of_index(index) if index is not None and self.row_count else 0
        self.scroll_rows_into_view(self.cursor)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current_index))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if self.model is None or row >= self.row_count:
            return Strip.blank(width, base)
        index = self.index_of_row(row)
        selected = row == self.cursor
        key = (index, selected, self._version)
        strip = self._cache.get(key)
        if strip is None:
            e = self.model.entry(index)
            style = base + self.get_component_rich_style(f"gttlist--{CATEGORY_CLASS[e['category']]}", partial=True)
            if selected:
                style = style + self.get_component_rich_style("gttlist--cursor", partial=True)
            strip = Strip([Segment(line_text(self.model, e), style)])
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base if not selected else base + self.get_component_rich_style("gttlist--cursor", partial=True)).apply_offsets(scroll_x, row)

    # -- moving ----------------------------------------------------------------------------
    def move_to_row(self, row: int, top: bool = False) -> None:
        if not self.row_count:
            return
        row = max(0, min(row, self.row_count - 1))
        old = self.cursor
        self.cursor = row
        self.scroll_rows_into_view(row, top=top)
        first = int(self.scroll_y)
        for r in (old, row):
            if first <= r < first + self.size.height:
                self.refresh_line(r - first)
        self.post_message(self.Highlighted(self, self.current_index))

    def refresh_line(self, y: int) -> None:
        self.refresh(Region(0, y, self.size.width, 1))

    def goto_index(self, index: int) -> None:
        self.move_to_row(self.row_of_index(index), top=True)

    def action_move(self, delta: int) -> None:
        self.move_to_row(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        height = max(self.scrollable_content_region.height, 1)
        row = max(0, min(self.cursor + direction * height, self.row_count - 1))
        self.cursor = row
        self.scroll_to(y=max(0, min(int(self.scroll_y) + direction * height, self.row_count - height)), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current_index))

    def action_edge(self, end: int) -> None:
        self.move_to_row(self.row_count - 1 if end else 0)

    def on_click(self, event: Click) -> None:
        at = event.get_content_offset(self)
        if at is None:
            return
        self.focus()
        self.move_to_row(int(self.scroll_y) + at.y)


class Occupancy(Widget):
    """The aperture as a picture: every cell a slice of the table coloured by the highest
    category in it (changed > stolen memory > mapped > scratch > not present). Click to jump."""

    COMPONENT_CLASSES = {"occupancy--empty", "occupancy--scratch", "occupancy--mapped", "occupancy--stolen", "occupancy--changed", "occupancy--cursor"}
    DEFAULT_CSS = """
    Occupancy { height: 4; }
    Occupancy > .occupancy--empty { color: $text-disabled; }
    Occupancy > .occupancy--scratch { color: $primary-darken-2; }
    Occupancy > .occupancy--mapped { color: $success; }
    Occupancy > .occupancy--stolen { color: $warning; }
    Occupancy > .occupancy--changed { color: $error; }
    Occupancy > .occupancy--cursor { background: $foreground; }
    """
    GLYPH = {EMPTY: "·", SCRATCH: "░", MAPPED: "█", STOLEN: "█", CHANGED: "█"}

    class Jump(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.model: GttModel | None = None
        self.marker: int | None = None
        self._cells: Any = None
        self._key: tuple | None = None

    def set_model(self, model: GttModel | None) -> None:
        self.model = model
        self._key = None
        self._subtitle()
        self.refresh()

    def on_resize(self) -> None:
        self._subtitle()

    def _subtitle(self) -> None:
        cells = self.size.width * self.size.height
        self.border_subtitle = f"a cell ≈ {max(self.model.n // cells, 1):,} entries · click to jump" if self.model is not None and cells else ""

    def set_marker(self, index: int | None) -> None:
        if index != self.marker:
            self.marker = index
            self.refresh()

    def _grid(self) -> Any:
        w, h = self.size.width, self.size.height
        key = (id(self.model), w, h)
        if self._key != key and self.model is not None:
            self._cells = self.model.occupancy(w * h)
            self._key = key
        return self._cells

    def render_line(self, y: int) -> Strip:
        w = self.size.width
        base = self.rich_style
        if self.model is None or self.model.n == 0:
            return Strip.blank(w, base)
        cells = self._grid()
        total = len(cells)
        mark_cell = self.marker * total // self.model.n if self.marker is not None else None
        styles = {c: base + self.get_component_rich_style(f"occupancy--{CATEGORY_CLASS[c]}", partial=True) for c in CATEGORY_CLASS}
        cursor = self.get_component_rich_style("occupancy--cursor", partial=True)
        segs = []
        row = cells[y * w : (y + 1) * w].tolist()
        for x, c in enumerate(row):
            st = styles[c]
            if mark_cell == y * w + x:
                st = st + cursor
            segs.append(Segment(self.GLYPH[c], st))
        return Strip(segs).extend_cell_length(w, base)

    def on_click(self, event: Click) -> None:
        if self.model is None or self.model.n == 0:
            return
        at = event.get_content_offset(self)
        if at is None:
            return
        cells = self._grid()
        k = at.y * self.size.width + at.x
        if 0 <= k < len(cells):
            self.post_message(self.Jump(k * self.model.n // len(cells)))

