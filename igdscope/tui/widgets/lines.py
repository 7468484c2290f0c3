"""The base of the Line-API views (hex bytes, GGTT entries): one Strip a row from an LRU cache that
is dropped when the theme or styles change, and a row range scrolled into view."""

from __future__ import annotations

from typing import Any

from textual.cache import LRUCache
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView, can_focus=True):
    CACHE_LINES = 512

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache: LRUCache[tuple, Strip] = LRUCache(self.CACHE_LINES)
        self._version = 0  # part of every cache key: bump it to repaint every line

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def scroll_rows_into_view(self, first: int, last: int | None = None, *, top: bool = False) -> None:
        """Scroll the least that shows rows ``first``..``last`` (``first`` wins when they do not
        fit); with ``top``, put ``first`` at the top (as far as the content allows)."""
        last = first if last is None else last
        height = max(self.scrollable_content_region.height, 1)
        current = int(self.scroll_y)
        if top:
            y = max(0, min(first, self.virtual_size.height - height))
        elif first < current:
            y = first
        elif last >= current + height:
            y = last - height + 1 if last - first < height else first
        else:
            return
        self.scroll_to(y=y, animate=False, immediate=True)
