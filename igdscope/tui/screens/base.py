"""The frame every screen shares: header, source banner, the screen's body, status line, footer.

Screens get their data from the App's ``snapshot`` and ``side`` attributes (attributes down) and
render it in :meth:`DataScreen.show`; a screen that is not current only remembers that it is stale
and renders when it is shown again, so a live tick costs one screen's update."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from igdscope.tui.model import Snapshot, View
from igdscope.tui.widgets.common import SourceBanner, StatusLine


class DataScreen(Screen):
    SCREEN_TITLE: ClassVar[str] = ""
    WATCH: ClassVar[frozenset[str]] = frozenset({"devices"})

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield SourceBanner()
        yield from self.compose_body()
        yield StatusLine()
        yield Footer()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - every screen has a body
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = self.SCREEN_TITLE
        self.watch(self.app, "snapshot", self._data_changed, init=False)
        self.watch(self.app, "side", self._data_changed, init=False)
        self.watch(self.app, "paused", self._status_changed, init=False)
        self.watch(self.app, "interval", self._status_changed, init=False)
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self._data_changed()

    def _theme_changed(self, *_: object) -> None:
        """Redraw what carries colours of the old theme (rich Text built from its variables)."""
        self._shown = None
        self.restyle()
        self._data_changed()

    def restyle(self) -> None:
        """Forget styled content before a redraw in a new theme (screens that cache it)."""

    def tone(self, name: str) -> str:
        """A colour of the current theme (success, warning, error, ...) for rich Text."""
        return self.app.theme_variables.get(name, "")

    def on_screen_resume(self) -> None:
        self._data_changed()

    @property
    def snapshot(self) -> Snapshot | None:
        return self.app.snapshot  # type: ignore[attr-defined]

    @property
    def data(self) -> View | None:
        snap = self.snapshot
        return snap.view(self.app.side) if snap is not None else None  # type: ignore[attr-defined]

    def _status_changed(self, *_: object) -> None:
        if self.is_mounted:
            self.query_one(StatusLine).show_state(self.app)

    def _data_changed(self, *_: object) -> None:
        if not self.is_mounted or self.app.screen is not self:
            return  # rendered when it is shown again
        snap = self.snapshot
        self.query_one(SourceBanner).show_snapshot(snap)
        self.query_one(StatusLine).show_state(self.app)
        if snap is None:
            return
        key = self.show_key(snap)
        if key == self._shown:
            return
        self._shown = key
        self.show(snap, self.data)

    def show_key(self, snap: Snapshot) -> tuple:
        """What the screen's picture depends on: it is redrawn only when this changes (a live
        tick that read nothing new redraws nothing but the status line)."""
        return (id(snap.view(self.app.side)), self.app.side, snap.error, tuple(snap.gone), snap.diff_mode)  # type: ignore[attr-defined]

    def show(self, snap: Snapshot, view: View | None) -> None:  # pragma: no cover - every screen renders
        raise NotImplementedError

    def select(self, what: str) -> None:
        """Select an item named by the command palette (a register, a block); screens that have
        such items override this."""
