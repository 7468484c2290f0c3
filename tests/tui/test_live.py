"""Live behaviour: OpRegion changes highlighted with when they happened (a fake changing source,
and the real live source on a fake sysfs tree whose debugfs OpRegion a test rewrites), a device
that disappears and comes back, refreshes that never overlap, the polling controls."""

from __future__ import annotations

import os
import threading
import time

from textual.widgets import Tree

from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.sources import LiveSource, Reading, Source
from tests.support.fakesys import FakeRoot, build_tree
from tests.support.tui import SIZE, ChangingSource, settle, text_of, tick

BCLP, CBLV = 0x310, 0x318  # ASLE mailbox (0x300): backlight request and current level


async def test_changed_opregion_fields_are_highlighted_with_when(clock):
    src = ChangingSource()
    app = make_app(src, clock=clock, interval=3600, start="opregion")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert app.snapshot.tick == 1 and app.snapshot.opregion_changes == {}
        src.poke(BCLP, 0x80000080)  # the guest driver asks for backlight level 128
        await tick(pilot)
        snap = app.snapshot
        assert set(snap.opregion_changes) == {"mailbox asle.bclp.valid", "mailbox asle.bclp.level"}
        c = snap.opregion_changes["mailbox asle.bclp.level"]
        assert (c.tick, c.old, c.new, c.when) == (2, 0, 128, clock.now)
        node = screen.nodes["mailbox asle.bclp.level"]
        assert "128" in node.label.plain and "← changed" in node.label.plain and "(tick 2)" in node.label.plain
        fresh = screen.get_component_rich_style("opregion--fresh", partial=True)
        assert any(span.style == fresh for span in node.label.spans)
        parent = node.parent
        while parent is not None:  # the change is visible: every ancestor expanded
            assert parent.is_expanded
            parent = parent.parent
        assert "mailbox asle.bclp.level: 0 → 128" in text_of(screen.query_one("#op-changes"))
        untouched = screen.nodes["mailbox asle.cblv.level"]
        assert "changed" not in untouched.label.plain

        await tick(pilot)  # nothing new: still marked, no longer the freshest
        node = screen.nodes["mailbox asle.bclp.level"]
        assert "(tick 2)" in node.label.plain
        assert not any(span.style == fresh for span in node.label.spans)
        changed = screen.get_component_rich_style("opregion--changed", partial=True)
        assert any(span.style == changed for span in node.label.spans)

        src.poke(CBLV, 0x80000032)  # the firmware reports the new level
        await tick(pilot)
        assert app.snapshot.opregion_changes["mailbox asle.cblv.level"].tick == 4
        assert "(tick 4)" in screen.nodes["mailbox asle.cblv.level"].label.plain
        text = text_of(screen.query_one("#op-changes"))
        assert text.index("cblv.level") < text.index("bclp.level")  # newest first

        await pilot.press("c")  # collapse everything but the changed fields
        await pilot.pause()
        tree = screen.query_one("#op-tree", Tree)
        header = next(n for n in tree.root.children if n.data == "header")
        assert not header.is_expanded


async def test_live_tree_opregion_changes_and_device_removal_and_return(tmp_path, clock):
    cap = demo.guest_capture()  # i915 bound: the OpRegion is read from debugfs, each tick
    root = build_tree(cap, tmp_path)
    src = LiveSource(FakeRoot(root), use_udev=False)
    app = make_app(src, clock=clock, interval=3600, start="opregion")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.error is None and app.snapshot.host.capture.blobs["opregion"].source == "debugfs"
        path = root / "sys/kernel/debug/dri/0/i915_opregion"
        data = bytearray(path.read_bytes())
        data[BCLP : BCLP + 4] = (0x800000FF).to_bytes(4, "little")
        path.write_bytes(bytes(data))
        await tick(pilot)
        assert app.snapshot.opregion_changes["mailbox asle.bclp.level"].new == 255
        assert "(tick 2)" in app.screen.nodes["mailbox asle.bclp.level"].label.plain

        await pilot.press("1")
        await settle(pilot)
        link = root / "sys/bus/pci/devices/0000:00:02.0"
        target = os.readlink(link)
        link.unlink()  # the IGD disappears (unplugged, or removed from the bus)
        await tick(pilot)
        snap = app.snapshot
        assert list(snap.gone) == ["0000:00:02.0"] and snap.gone["0000:00:02.0"].tick == 4
        assert "0000:00:02.0 is gone since" in text_of(app.screen.query_one("#banner"))
        assert "GONE since" in text_of(app.screen.query_one("#ov-devices"))
        assert any("0000:00:02.0 is gone" in e["reason"] for e in snap.host.capture.errors)
        await tick(pilot)
        assert app.snapshot.gone["0000:00:02.0"].tick == 4  # gone since the first tick it was missing

        os.symlink(target, link)  # and comes back, without a restart
        await tick(pilot)
        snap = app.snapshot
        assert snap.gone == {} and snap.error is None
        assert not app.screen.query_one("#banner").display
        assert "GONE" not in text_of(app.screen.query_one("#ov-devices"))
        assert snap.host.capture.device("igd").driver == "i915"


async def test_driver_unbind_is_a_full_read(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path)
    src = LiveSource(FakeRoot(root), use_udev=False)
    app = make_app(src, clock=clock, interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.host.capture.device("igd").driver == "vfio-pci"
        (root / "sys/devices/pci0000:00/0000:00:02.0/driver").unlink()
        await tick(pilot)
        assert app.snapshot.host.capture.device("igd").driver is None
        assert "vfio-pci" not in text_of(app.screen.query_one("#ov-devices")).split("Host bridge")[1].split("LPC")[0]


async def test_no_intel_display_is_shown_and_the_app_waits(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path)
    for d in cap.devices:
        (root / "sys/bus/pci/devices" / d.bdf).unlink()
    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=clock, interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "no Intel display device" in text_of(app.screen.query_one("#banner"))
        assert "Waiting for it to appear" in text_of(app.screen.query_one("#banner"))
        for d in cap.devices:
            os.symlink(f"../../../devices/pci0000:00/{d.bdf}", root / "sys/bus/pci/devices" / d.bdf)
        await tick(pilot)
        assert app.snapshot.error is None
        assert "CFL" in text_of(app.screen.query_one("#ov-machine"))


class SlowSource(Source):
    """Counts how many reads run at once."""

    live = True
    label = "slow"

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.reads = 0
        self.lock = threading.Lock()
        self.cap = demo.host_capture()

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.reads += 1
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return Reading(self.cap)


async def test_refreshes_never_overlap_and_extra_requests_coalesce(clock):
    src = SlowSource()
    app = make_app(src, clock=clock, interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert src.reads == 1
        for _ in range(5):  # five ticks while a read is running
            app.refresh_now()
        await settle(pilot, rounds=5)
        assert src.most == 1
        assert src.reads == 3  # the running one, then one more for all that were asked meanwhile


async def test_polling_interval_is_visible_adjustable_and_pausable(clock):
    app = make_app(ChangingSource(), clock=clock, interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.screen.query_one("#status")
        assert "every 1 s" in text_of(status)
        await pilot.press("plus")
        await pilot.pause()
        assert app.interval == 2.0 and "every 2 s" in text_of(status)
        await pilot.press("minus", "minus")
        await pilot.pause()
        assert app.interval == 0.5 and app._timer is not None and app._timer._interval == 0.5
        await pilot.press("p")
        await pilot.pause()
        assert app.paused and "paused" in text_of(status)
        seq = app.snapshot.seq
        await pilot.pause(1.2)  # two intervals, no refresh while paused
        await settle(pilot)
        assert app.snapshot.seq == seq
        await pilot.press("p")
        await pilot.pause(0.8)
        await settle(pilot)
        assert app.snapshot.seq > seq  # the timer refreshes again
        app.paused = True
        await settle(pilot)


async def test_udev_events_ask_for_a_full_read(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path)
    src = LiveSource(FakeRoot(root), use_udev=False)
    app = make_app(src, clock=clock, interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.udev_status and "polling only" in app.udev_status  # not the real root: no monitor
        calls = []
        orig = src._full
        src._full = lambda: calls.append(1) or orig()  # type: ignore[method-assign]
        src.request_full()
        app.post_message(app.UdevEvent("unbind", "0000:00:02.0"))
        await settle(pilot)
        assert calls  # the event led to a full read


async def test_opregion_tree_says_what_values_mean_and_follows_changes(clock):
    src = ChangingSource()
    app = make_app(src, clock=clock, interval=3600, start="opregion")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.nodes["mailbox acpi.drdy"].label.plain == "drdy: 1 — driver ready"
        assert screen.nodes["mailbox acpi.didl[0]"].label.plain.endswith("— VGA, index 0")
        assert screen.branches["mailbox acpi.didl"][0].label.plain == "didl [8] — 3 display IDs"
        bclp = screen.branches["mailbox asle.bclp"][0]
        assert bclp.label.plain == "bclp — level 0 of 255 (0%), not valid"
        src.poke(BCLP, 0x80000080)  # the guest driver asks for backlight level 128
        await tick(pilot)
        assert bclp.label.plain == "bclp — level 128 of 255 (50%)"
        screen.query_one("#op-tree", Tree).move_cursor(screen.nodes["mailbox acpi.drdy"])
        await pilot.pause()
        assert [line.strip() for line in text_of(screen.query_one("#op-detail")).splitlines() if line.strip()] == ["mailbox acpi.drdy", "1", "driver ready"]


def test_the_live_source_reads_through_sources_live(tmp_path, monkeypatch):
    """LiveSource only adapts: its full reads are live.collect's, its per-tick reads live.read_light's."""
    from igdscope.sources import live

    root = build_tree(demo.guest_capture(), tmp_path)
    calls, made = [], []

    def spy(name, real):
        def call(*args, **kw):
            calls.append(name)
            made.append(real(*args, **kw))
            return made[-1]
        return call

    monkeypatch.setattr(live, "collect", spy("collect", live.collect))
    monkeypatch.setattr(live, "read_light", spy("read_light", live.read_light))
    src = LiveSource(FakeRoot(root), use_udev=False)
    watch = frozenset({"devices", "opregion"})
    first = src.read(watch)
    assert calls == ["collect"] and first.host is made[0]
    path = root / "sys/kernel/debug/dri/0/i915_opregion"
    data = bytearray(path.read_bytes())
    data[BCLP : BCLP + 4] = (0x800000FF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    second = src.read(watch)
    assert calls == ["collect", "read_light"] and second.host is made[1].capture
    assert second.host.blobs["opregion"].data[BCLP : BCLP + 4] == (0x800000FF).to_bytes(4, "little")
    src.request_full()
    src.read(watch)
    assert calls == ["collect", "read_light", "collect"]


def test_ggtt_changes_are_counted_across_ticks(tmp_path):
    from igdscope.tui.sources import Refresher

    root = build_tree(demo.guest_capture(), tmp_path)
    refresher = Refresher(LiveSource(FakeRoot(root), use_udev=False), clock=iter(range(100)).__next__)
    watch = frozenset({"devices", "gtt"})
    first = refresher.build(watch)
    assert (first.gtt_changes, first.gtt_last_change) == (0, None)
    resource0 = root / "sys/devices/pci0000:00/0000:00:02.0/resource0"
    with open(resource0, "r+b") as f:  # PTEs 7 and 9 of the GGTT half (BAR0 + 8 MiB) change
        for index in (7, 9):
            f.seek((8 << 20) + 8 * index)
            f.write((0xABC000 | index << 12 | 1).to_bytes(8, "little"))
    second = refresher.build(watch)
    assert second.gtt_changes == 2 and (second.gtt_last_change.tick, second.gtt_last_change.new) == (2, 2)
    third = refresher.build(watch)  # nothing new: the count stays, the last change is still tick 2's
    assert third.gtt_changes == 2 and third.gtt_last_change.tick == 2
    assert third.host.gtt.count("changed") == 2
