"""Diff: the host and the guest side by side, compared by :mod:`igdscope.analysis.diff` (the rules of the
QEMU version that made the guest): unexpected differences first with what they break, expected
ones (what QEMU copies, emulates or rewrites) dimmed and hideable, then information."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from igdscope.tui.model import Snapshot, View, printable
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
        res = snap.diff
        assert snap.host is not None and snap.guest is not None and res is not None
        notice.say(snap.error or (f"cannot compare: {res['error']}" if "error" in res else ""))
        key = (id(snap.host), id(snap.guest), id(res))
        if key == self._key:
            return
        self._key = key
        self.query_one(DiffView).set_items(res.get("differences") or [], snap.host.machine, snap.guest.machine, header=self._header(res))

    @staticmethod
    def _header(res: dict) -> str:
        from igdscope.cli.diff import headline

        s = res.get("summary") or {}
        lines = [headline(res)] if res.get("mode") else []
        if s.get("compared_against"):
            lines.append(f"compared against {s['compared_against']}")
        for side, title in (("missing_in_b", "missing in the guest"), ("missing_in_a", "missing in the host")):
            if res.get(side):
                lines.append(f"{title}: {', '.join(res[side])}")
        if s.get("verdict"):
            lines.append(f"verdict: {s['verdict']}")
        return "\n".join(printable(line) for line in lines)  # the QEMU version and the paths come from the captures

    def action_toggle_expected(self) -> None:
        self.query_one(DiffView).toggle_expected()
