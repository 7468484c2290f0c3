"""The App: wiring only. It owns the source and the refresh loop (a timer only signals; one thread
worker builds the next frozen Snapshot and posts it; refreshes never overlap), hands the Snapshot
down to the screens as an attribute, and maps keys and palette commands to screens and actions."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer

from igdscope.textsafe import printable, printable_lines
from igdscope.tui.model import ROLE_ORDER, ROLE_TITLES, Snapshot
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.screens.checks import ChecksScreen
from igdscope.tui.screens.diff import DiffScreen
from igdscope.tui.screens.gtt import GttScreen
from igdscope.tui.screens.opregion import OpRegionScreen
from igdscope.tui.screens.overview import OverviewScreen
from igdscope.tui.screens.prompt import PromptScreen
from igdscope.tui.screens.registers import RegistersScreen
from igdscope.tui.screens.rom import RomScreen
from igdscope.tui.screens.vbt import VbtScreen
from igdscope.tui.sources import DiffSource, Refresher, Source, export, export_path

SCREENS: dict[str, tuple[type[DataScreen], str]] = {
    "overview": (OverviewScreen, "devices, platform, driver, IOMMU group, blob sources, OpRegion/VBT versions, stolen memory and GTT sizes"),
    "registers": (RegistersScreen, "host bridge, IGD and LPC config space: every field with bits, raw value and meaning; hex view"),
    "opregion": (OpRegionScreen, "OpRegion header and mailboxes as a tree; live changes highlighted with when"),
    "vbt": (VbtScreen, "every VBT copy: blocks as a tree, child devices, raw bytes"),
    "rom": (RomScreen, "the option ROM's image chain"),
    "gtt": (GttScreen, "every GGTT entry, occupancy picture, jump, filter, invalidate"),
    "checks": (ChecksScreen, "will legacy mode / UPT / UPT + OpRegion work: every rule with its evidence and fix"),
    "diff": (DiffScreen, "host and guest side by side: expected and unexpected differences, why, what breaks"),
}
INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class IgdscopeApp(App[int]):
    CSS_PATH = "igdscope.tcss"
    TITLE = "igdscope"
    BINDINGS = [
        Binding("1", "screen('overview')", "Overview", show=False),
        Binding("2", "screen('registers')", "Registers", show=False),
        Binding("3", "screen('opregion')", "OpRegion", show=False),
        Binding("4", "screen('vbt')", "VBT", show=False),
        Binding("5", "screen('rom')", "ROM", show=False),
        Binding("6", "screen('gtt')", "GGTT", show=False),
        Binding("7", "screen('checks')", "Checks", show=False),
        Binding("8", "screen('diff')", "Diff", show=False),
        Binding("question_mark", "keys", "Keys"),
        Binding("e", "export", "Export"),
        Binding("s", "side", "Host/guest"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "interval(1)", "Slower", show=False),
        Binding("minus", "interval(-1)", "Faster", show=False),
        Binding("r", "reload", "Re-read"),
        Binding("q", "quit", "Quit"),
    ]

    snapshot: reactive[Snapshot | None] = reactive(None, init=False)
    side: reactive[str] = reactive("host", init=False)
    paused: reactive[bool] = reactive(False, init=False)
    interval: reactive[float] = reactive(1.0, init=False)

    class Refreshed(Message):
        def __init__(self, snapshot: Snapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, IgdscopeApp.Refreshed)

    class UdevEvent(Message):
        def __init__(self, action: str, name: str) -> None:
            super().__init__()
            self.action = action
            self.name = name

    def __init__(self, source: Source, *, clock: Callable[[], float] | None = None, interval: float = 1.0, backup_dir: str | Path | None = None, start: str = "overview"):
        super().__init__()
        self.source = source
        self.refresher = Refresher(source, clock)
        self.backup_dir = backup_dir
        self.start_mode = start
        self.modes = [m for m in SCREENS if m != "diff" or isinstance(source, DiffSource)]
        for m in self.modes:
            self.add_mode(m, SCREENS[m][0])
        self.set_reactive(IgdscopeApp.interval, interval)
        self.udev_status: str | None = None
        self._timer: Timer | None = None
        self._refreshing = False
        self._queued: bool | None = None  # a refresh asked for while one ran (True: a full one)

    # -- life ------------------------------------------------------------------------------
    async def on_mount(self) -> None:
        await self.switch_mode(self.start_mode if self.start_mode in self.modes else "overview")
        self.refresh_now(full=True)
        if self.source.live:
            self._timer = self.set_interval(self.interval, self._tick, name="poll")
            self.udev_status = self.source.start_monitor(lambda action, name: self.post_message(self.UdevEvent(action, name)))

    def on_unmount(self) -> None:
        self.source.stop_monitor()

    def _tick(self) -> None:
        if not self.paused:
            self.refresh_now()

    def _watched(self) -> frozenset[str]:
        for s in reversed(self.screen_stack):
            if isinstance(s, DataScreen):
                return s.WATCH
        return frozenset()

    def refresh_now(self, full: bool = False) -> None:
        """Start a refresh unless one runs; then remember to run one more when it ends."""
        if self._refreshing:
            self._queued = bool(self._queued) or full
            return
        self._refreshing = True
        self._refresh(self._watched(), full)

    @work(thread=True, group="refresh", exit_on_error=False)
    def _refresh(self, watch: frozenset[str], full: bool) -> None:
        try:
            snap = self.refresher.build(watch, full)
        except Exception as exc:  # a source must never crash the UI: say it where the data is
            prev = self.refresher.prev
            snap = Snapshot(self.refresher.seq + 1, self.source.label, live=self.source.live, error=f"reading failed: {type(exc).__name__}: {exc}",
                            host=prev.host if prev else None, guest=prev.guest if prev else None, tick=self.refresher.tick)
        self.post_message(self.Refreshed(snap))

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        self._refreshing = False
        first = self.snapshot is None
        self.snapshot = message.snapshot
        if first and not self.source.live:
            self._prefetch(message.snapshot)
        if self._queued is not None:
            full, self._queued = self._queued, None
            self.refresh_now(full)

    @work(thread=True, group="prefetch", exit_on_error=False)
    def _prefetch(self, snap: Snapshot) -> None:
        """Build the checks, the host/guest comparison and the GGTT model of a capture in the
        background after the first paint, so those screens open at once (live sources build the
        GGTT model in the refresh when it is watched)."""
        _ = snap.checks
        _ = snap.diff  # host versus guest: a few hundred ms, done before the Diff screen asks
        for view in (snap.host, snap.guest):
            if view is not None and "gtt" in view.capture.blobs:
                _ = view.gtt

    @on(UdevEvent)
    def _udev(self, message: UdevEvent) -> None:
        self.refresh_now(full=True)

    def watch_interval(self, value: float) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = self.set_interval(value, self._tick, name="poll")

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information", timeout: float | None = None, markup: bool = True) -> None:
        """Every notification (screens' too) with its unsafe characters escaped (it can quote a
        capture, a path or a device's error); one that quotes such text also passes markup=False."""
        super().notify(printable_lines(message), title=printable(title), severity=severity, timeout=timeout, markup=markup)

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what does not apply: polling for static sources, sides outside diff mode, and what a
        screen says has no place on it (``APP_ACTIONS_OFF``: the plan view keeps its footer to its own keys)."""
        if action in getattr(self.screen, "APP_ACTIONS_OFF", ()):
            return False
        if action in ("pause", "interval"):
            return self.source.live
        if action == "side":
            return isinstance(self.source, DiffSource)
        if action == "screen" and parameters:
            return parameters[0] in self.modes
        return True

    async def action_screen(self, mode: str) -> None:
        if mode in self.modes:
            await self.switch_mode(mode)
            if self.source.live:
                self.refresh_now()  # the new screen may watch more (config, OpRegion, GGTT)

    async def goto(self, mode: str, what: str) -> None:
        await self.switch_mode(mode)
        screen = self.screen
        if isinstance(screen, DataScreen):
            screen.select(what)

    def action_keys(self) -> None:
        try:
            self.screen.query_one("HelpPanel")
        except NoMatches:
            self.action_show_help_panel()
        else:
            self.action_hide_help_panel()

    def action_side(self) -> None:
        if self.snapshot is not None and self.snapshot.diff_mode:
            self.side = "guest" if self.side == "host" else "host"
        else:
            self.notify("one capture only: host/guest switching is for diff mode (igdscope tui HOST.json --guest GUEST.json)", title="side")

    def action_pause(self) -> None:
        if not self.source.live:
            self.notify("a capture does not change: polling is for live sources", title="pause")
            return
        self.paused = not self.paused

    def action_interval(self, step: int) -> None:
        if not self.source.live:
            return
        i = min(range(len(INTERVALS)), key=lambda k: abs(INTERVALS[k] - self.interval))
        self.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, i + step))]

    def action_reload(self) -> None:
        self.refresh_now(full=True)

    def action_export(self) -> None:
        snap = self.snapshot
        view = snap.view(self.side) if snap is not None else None
        if view is None:
            self.notify("nothing to export yet", severity="warning", title="export")
            return
        cap = view.capture

        def chosen(path: str | None) -> None:
            if path:
                self._export(cap, path)

        self.push_screen(PromptScreen("Export the current state as a capture file (the format of igdscope dump --json)", str(export_path(cap)), help="Enter writes the file, Escape cancels"), chosen)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, cap: Any, path: str) -> None:
        from igdscope.errors import IgdscopeError

        try:
            p = export(cap, path)
        except IgdscopeError as exc:  # one line: refused (a symlink, a device, ...) or the OS said no
            self.call_from_thread(self.notify, str(exc), severity="error", title="export", markup=False)
            return
        self.call_from_thread(self.notify, f"wrote {p} ({p.stat().st_size:,} bytes)", title="export", markup=False)

    # -- the command palette ---------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key, m in enumerate(self.modes, start=1):
            cls, doc = SCREENS[m]
            yield SystemCommand(f"Screen: {cls.SCREEN_TITLE} ({key})", doc, partial(self.action_screen, m))
        yield SystemCommand("Export the current state", "write a capture file (igdscope dump --json format)", self.action_export)
        if self.source.live:
            yield SystemCommand("Pause or resume polling", "stop or restart the live refresh", self.action_pause)
            yield SystemCommand("Re-read everything now", "a full read of the live machine", self.action_reload)
        if self.snapshot is not None and self.snapshot.diff_mode:
            yield SystemCommand("Switch host/guest", "which capture the other screens show", self.action_side)
        checks = self.snapshot.checks if self.snapshot is not None else None
        for r in (checks or {}).get("rules") or []:
            yield SystemCommand(f"Check: {r['id']} ({r['status']})", r["title"], partial(self.goto, "checks", f"check:{r['id']}"), discover=False)
        view = self.snapshot.view(self.side) if self.snapshot is not None else None
        if view is None:
            return
        for d in sorted(view.capture.devices, key=lambda d: ROLE_ORDER.get(d.role, 9)):
            for r in view.registers(d.role):
                if r.group == "device" or r.name in ("PCICMD", "CAPPTR") or r.group == "capability":
                    yield SystemCommand(f"Register: {ROLE_TITLES.get(d.role, d.role)} {r.name}", f"{r.offset:#05x} {r.doc}", partial(self.goto, "registers", f"{d.role}:{r.name}"), discover=False)
        copies = view.vbt_copies
        if copies and copies[0].decoded:
            for b in copies[0].decoded.get("blocks") or []:
                yield SystemCommand(f"VBT block {b['id']}: {b.get('name') or 'unknown'}", f"{b.get('size')} bytes at {b['offset']:#x}", partial(self.goto, "vbt", f"block:{b['id']}"), discover=False)
