"""Snapshots of every screen from the demo captures at a fixed terminal size (pytest-textual-snapshot).

Deterministic: the demo captures are built from fixed values, the header has no clock, inputs do
not blink, and every refresh worker has finished before the picture is taken.
Update after an intended change with: python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.sources import LiveSource, demo_source
from tests.support.fakesys import FakeRoot, build_tree
from tests.support.tui import SIZE, Clock, settle, steady

SCREENS = ["overview", "registers", "opregion", "vbt", "rom", "gtt", "checks", "diff"]


@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, screen):
    async def ready(pilot):
        await steady(pilot)

    assert snap_compare(make_app(demo_source(), start=screen), terminal_size=SIZE, run_before=ready)


def test_guest_registers(snap_compare):
    """The guest side of diff mode: QEMU's i440FX host bridge and the legacy-mode IGD."""

    async def ready(pilot):
        await settle(pilot)
        await pilot.press("s")
        await steady(pilot)

    assert snap_compare(make_app(demo_source(), start="registers"), terminal_size=SIZE, run_before=ready)


def test_gtt_mapped_filter_after_a_jump(snap_compare):
    async def ready(pilot):
        await settle(pilot)
        await pilot.press("f", "f", "g")
        await pilot.pause()
        await pilot.press(*"16384", "enter")
        await steady(pilot)

    assert snap_compare(make_app(demo_source(), start="gtt"), terminal_size=SIZE, run_before=ready)


def test_overview_light_theme(snap_compare):
    async def ready(pilot):
        pilot.app.theme = "textual-light"
        await steady(pilot)

    assert snap_compare(make_app(demo_source()), terminal_size=SIZE, run_before=ready)


def test_invalidate_dialog(snap_compare, tmp_path, monkeypatch):
    import time

    from igdscope.tui.widgets import common

    monkeypatch.setattr(common, "localtime", time.gmtime)
    root = build_tree(demo.host_capture(), tmp_path)

    async def ready(pilot):
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        pilot.app.screen.query_one("#inv-backup").value = "gtt-backup.json"
        await steady(pilot)

    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=Clock(), interval=3600, start="gtt")
    app.refresher.source.label = "live fake tree"  # the tree's path differs per run
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("keys", [(), ("m", "f")], ids=["legacy-qemu", "upt-libvirt"])
def test_plan_view_80x24(snap_compare, keys):
    """The plan the Checks screen opens (c), at the smallest supported terminal."""

    async def ready(pilot):
        await settle(pilot)
        await pilot.press("c", *keys)
        await steady(pilot)

    assert snap_compare(make_app(demo_source(), start="checks"), terminal_size=(80, 24), run_before=ready)
