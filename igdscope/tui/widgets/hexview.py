"""A hex view of a blob through the Line API: 16 bytes a line, a byte cursor, two highlighted
ranges (a region, e.g. a register or VBT block, and a field inside it). Moving the cursor (keys or
mouse) posts :class:`HexView.CursorMoved` so the owner can select what the byte belongs to;
:meth:`HexView.mark` highlights ranges without posting anything (no feedback loops)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from igdscope.tui.widgets.lines import LineView

PER_LINE = 16


class HexView(LineView):
    COMPONENT_CLASSES = {"hexview--offset", "hexview--region", "hexview--field", "hexview--cursor", "hexview--ascii", "hexview--zero"}
    DEFAULT_CSS = """
    HexView { height: 1fr; }
    HexView > .hexview--offset { color: $text-muted; }
    HexView > .hexview--zero { color: $text-disabled; }
    HexView > .hexview--ascii { color: $text-muted; }
    HexView > .hexview--region { background: $primary 30%; }
    HexView > .hexview--field { background: $accent 60%; text-style: bold; }
    HexView > .hexview--cursor { background: $foreground 25%; text-style: reverse; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Byte left", show=False),
        Binding("right", "move(1)", "Byte right", show=False),
        Binding("up", "move(-16)", "Line up", show=False),
        Binding("down", "move(16)", "Line down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First byte", show=False),
        Binding("end", "jump(-1)", "Last byte", show=False),
    ]

    class CursorMoved(Message):
        """The user put the cursor on byte ``offset``."""

        def __init__(self, view: HexView, offset: int) -> None:
            super().__init__()
            self.view = view
            self.offset = offset

        @property
        def control(self) -> HexView:
            return self.view

    def __init__(self, data: bytes = b"", *, ascii: bool = True, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.ascii = ascii
        self.data = b""
        self.cursor = 0
        self.marked_region: tuple[int, int] | None = None
        self.marked_field: tuple[int, int] | None = None
        self.set_data(data)

    # -- state -----------------------------------------------------------------------------
    @property
    def lines(self) -> int:
        return (len(self.data) + PER_LINE - 1) // PER_LINE

    @property
    def offset_width(self) -> int:
        return max(4, len(f"{max(len(self.data) - 1, 0):x}"))

    @property
    def line_width(self) -> int:
        return self.offset_width + 2 + PER_LINE * 3 + 1 + ((1 + PER_LINE) if self.ascii else 0)

    def set_data(self, data: bytes) -> None:
        if data == self.data and self.lines:
            return
        self.data = bytes(data)
        self.cursor = min(self.cursor, max(len(self.data) - 1, 0))
        self._version += 1
        self._cache.clear()
        self.virtual_size = Size(self.line_width, self.lines)
        self.refresh()

    def mark(self, region: tuple[int, int] | None, field: tuple[int, int] | None = None, *, cursor: int | None = None, scroll: bool = True) -> None:
        """Highlight ``region`` and ``field`` (start, end) and optionally move the cursor; no message."""
        self.marked_region, self.marked_field = region, field
        if cursor is not None:
            self.cursor = max(0, min(cursor, max(len(self.data) - 1, 0)))
        elif field is not None:
            self.cursor = field[0]
        elif region is not None:
            self.cursor = region[0]
        self._version += 1
        self.refresh()
        if scroll:
            target = field or region
            if target is not None:
                self.scroll_rows_into_view(target[0] // PER_LINE, (max(target[1] - 1, target[0])) // PER_LINE)

    # -- rendering -------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if row >= self.lines:
            return Strip.blank(width, base)
        key = (row, self._version)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, base)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, row)

    def _style(self, offset: int, base: Style, zero: Style, region: Style, field: Style, cursor: Style, byte: int) -> Style:
        s = base + zero if byte == 0 else base
        if self.marked_region and self.marked_region[0] <= offset < self.marked_region[1]:
            s = s + region
        if self.marked_field and self.marked_field[0] <= offset < self.marked_field[1]:
            s = s + field
        if offset == self.cursor and self.has_focus:
            s = s + cursor
        return s

    def _gap(self, offset: int, base: Style, region: Style, field: Style) -> Style:
        """The space after byte ``offset`` joins it to the next one when both are marked."""
        s = base
        if offset % PER_LINE in (7, 15):
            return s
        for span, style in ((self.marked_region, region), (self.marked_field, field)):
            if span and span[0] <= offset and offset + 1 < span[1]:
                s = s + style
        return s

    def _render_row(self, row: int, base: Style) -> Strip:
        get = self.get_component_rich_style
        off_style, zero, region, field, cursor, asc = (get(f"hexview--{n}", partial=True) for n in ("offset", "zero", "region", "field", "cursor", "ascii"))
        start = row * PER_LINE
        chunk = self.data[start : start + PER_LINE]
        segs = [Segment(f"{start:0{self.offset_width}x}", base + off_style), Segment("  ", base)]
        for i in range(PER_LINE):
            if i == 8:
                segs.append(Segment(" ", base))
            if i < len(chunk):
                b = chunk[i]
                segs.append(Segment(f"{b:02x}", self._style(start + i, base, zero, region, field, cursor, b)))
            else:
                segs.append(Segment("  ", base))
            segs.append(Segment(" ", self._gap(start + i, base, region, field)))
        if not self.ascii:
            return Strip(segs)
        segs.append(Segment(" ", base))
        for i, b in enumerate(chunk):
            ch = chr(b) if 0x20 <= b < 0x7F else "."
            segs.append(Segment(ch, self._style(start + i, base + asc, zero if b == 0 else Style(), region, field, cursor, 1)))
        return Strip(segs)

    # -- input -----------------------------------------------------------------------------
    def _byte_at(self, x: int, y: int) -> int | None:
        row = int(self.scroll_y) + y
        x += int(self.scroll_x)
        hex0 = self.offset_width + 2
        asc0 = hex0 + PER_LINE * 3 + 2
        i = None
        if hex0 <= x < asc0 - 1:
            rel = x - hex0
            if rel >= 8 * 3:
                rel -= 1
            i = rel // 3
        elif self.ascii and asc0 <= x < asc0 + PER_LINE:
            i = x - asc0
        if i is None or not 0 <= i < PER_LINE:
            return None
        off = row * PER_LINE + i
        return off if off < len(self.data) else None

    def _set_cursor(self, offset: int) -> None:
        if not self.data:
            return
        offset = max(0, min(offset, len(self.data) - 1))
        self.cursor = offset
        self._version += 1
        self.scroll_rows_into_view(offset // PER_LINE)
        self.refresh()
        self.post_message(self.CursorMoved(self, offset))

    def on_click(self, event: Click) -> None:
        at = event.get_content_offset(self)
        off = self._byte_at(at.x, at.y) if at is not None else None
        if off is not None:
            self.focus()
            self._set_cursor(off)

    def on_focus(self) -> None:
        self._version += 1
        self.refresh()

    def on_blur(self) -> None:
        self._version += 1
        self.refresh()

    def action_move(self, delta: int) -> None:
        self._set_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self.cursor + direction * PER_LINE * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, where: int) -> None:
        self._set_cursor(len(self.data) - 1 if where < 0 else where)

    def region_of_row(self, row: int) -> Region:
        return Region(0, row, self.line_width, 1)
