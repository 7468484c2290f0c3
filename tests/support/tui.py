"""Helpers for the TUI tests: the terminal size, settling an app (workers finished, messages
handled), driving a live refresh, a clock the test moves, a live-like source, a widget's text."""

from __future__ import annotations

from typing import Any

from textual.geometry import Region
from textual.widgets import DataTable

from igdscope.capture import Blob, Capture
from igdscope.sources import demo
from igdscope.tui.sources import Reading, Source

SIZE = (140, 42)


async def settle(pilot: Any, rounds: int = 3) -> None:
    """Let every worker finish and every posted message be handled (refreshes chain)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    for _ in range(100):  # DataTables measure their columns when idle: wait until they have
        if not any(t._require_update_dimensions or t._updated_cells for t in pilot.app.screen.query(DataTable)):
            break
        await pilot.pause(0.01)
    await pilot.pause()


async def steady(pilot: Any) -> None:
    """Settle, then wait until two screenshots in a row are the same (for snapshot tests:
    nothing left to lay out or repaint)."""
    await settle(pilot)
    last = None
    for _ in range(50):
        pilot.app.screen.refresh(layout=True)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        shot = pilot.app.export_screenshot()
        if shot == last:
            return
        last = shot
        await pilot.pause(0.02)


async def tick(pilot: Any, full: bool = False) -> None:
    """One live refresh, driven by the test instead of the timer."""
    pilot.app.refresh_now(full=full)
    await settle(pilot)


class Clock:
    """A clock the test moves: 12:00:00 UTC plus one second a reading."""

    def __init__(self, start: float = 1_795_000_000.0):
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class ChangingSource(Source):
    """A live-like source: the demo guest, whose OpRegion a test edits between ticks."""

    live = True
    label = "fake changing guest"

    def __init__(self) -> None:
        self.base = demo.guest_capture()
        self.opregion = bytearray(self.base.blobs["opregion"].data)
        self.reads = 0

    def poke(self, offset: int, value: int, size: int = 4) -> None:
        self.opregion[offset : offset + size] = value.to_bytes(size, "little")

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        self.reads += 1
        b = self.base
        blobs = dict(b.blobs)
        old = blobs["opregion"]
        blobs["opregion"] = Blob(bytes(self.opregion), old.source, old.path, old.note)
        cap = Capture(machine=b.machine, created=b.created, tool_version=b.tool_version, host=b.host, devices=b.devices, blobs=blobs, sources=b.sources, errors=list(b.errors))
        return Reading(cap)


def text_of(widget) -> str:
    """What the widget shows on the screen now, border and padding included."""
    region = Region(0, 0, widget.outer_size.width, widget.outer_size.height)
    return "\n".join(strip.text for strip in widget.render_lines(region))
