"""Diff: the host and the guest side by side — every register field, identity fact and blob field
that differs. The list comes from :func:`igdscope.tui.model.diff_items` (or, later, an analysis
that labels each difference expected or unexpected); the widget groups and styles by label."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from igdscope.tui.model import Snapshot, View
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice
from igdscope.tui.widgets.diffview import DiffView


class DiffScreen(DataScreen):
    SCREEN_TITLE = "Host ⇄ guest"
    BINDINGS = [Binding("t", "toggle_expected", "Hide/show expected")]

    def __init__(self) -> None:
        super().__init__()
        self._key: tuple | None = None

    def compose_body(self) -> ComposeResult:
        yield Notice(id="diff-notice")
        yield DiffView(id="diff")

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        if not snap.diff_mode:
            notice.say(snap.error or "Diff mode needs a host and a guest capture: igdscope tui HOST.json --guest GUEST.json")
            return
        notice.say(snap.error or "")
        key = (id(snap.host), id(snap.guest))
        if key == self._key:
            return
        self._key = key
        assert snap.host is not None and snap.guest is not None
        a = f"{snap.host.machine} ({snap.host.capture.created or '?'})"
        b = f"{snap.guest.machine} ({snap.guest.capture.created or '?'})"
        self.query_one(DiffView).set_items(snap.diff, a, b)

    def action_toggle_expected(self) -> None:
        self.query_one(DiffView).toggle_expected()
