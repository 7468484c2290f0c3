"""Benchmark of the TUI (headless), as absolute numbers and as ratios against baselines measured
in the same run:

  launch            process start to the first painted Overview of the demo machine      target <= 1.0 s
                    baseline: an empty Textual app (one Static) to its first paint
  GTT open          switching to the GGTT screen (first time: mount, build the numpy model
                    of 1,048,576 entries, show) to its first paint                        target <= 0.5 s
                    baseline: switching to the Overview (already built) to its paint
  GTT PageDown      median of PageDown's action to the repaint of the new page           target <= 30 ms
                    baseline: a repaint of the list that moves nothing
                    also: rendering every visible line after a page move (the Line API's own cost)
  GTT memory        resident set after opening and paging                                target <= 250 MB
                    baseline: the same process before the demo was loaded (Textual imported)
  live at 1 Hz      CPU of the whole process (all threads) / wall time, on a fake sysfs tree
                    of the demo host (Overview, GGTT screens) and guest (OpRegion)       target <= 10 %
                    baseline: the same app on the demo capture, refreshed at 1 Hz (no reads)

Run: python tests/bench/bench_tui.py [--seconds 10] [--pages 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZE = (140, 42)

LAUNCH = r"""
import time
t0 = time.perf_counter()
import sys
mode = sys.argv[1]
if mode == "empty":
    from textual.app import App
    from textual.widgets import Static

    class Empty(App):
        def compose(self):
            yield Static("hello")

        def on_mount(self):
            self.call_after_refresh(lambda: self.exit(time.perf_counter() - t0))

    app = Empty()
else:
    from igdscope.tui import make_app
    from igdscope.tui.sources import demo_source

    app = make_app(demo_source())

    def check():
        s = app.screen
        if app.snapshot is not None and getattr(s, "_shown", None) is not None:
            timer.stop()
            app.call_after_refresh(lambda: app.exit(time.perf_counter() - t0))

    def start():
        global timer
        timer = app.set_interval(0.002, check)

    app.call_later(start)
print(app.run(headless=True, size=(140, 42)))
"""


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def launch(mode: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LAUNCH, mode], capture_output=True, text=True, cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def painted(app) -> float:
    """Wait for the next screen refresh (the paint) and return when it happened."""
    fut = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: fut.done() or fut.set_result(time.perf_counter()))
    return await fut


async def gtt_bench(pages: int) -> dict:
    from igdscope.tui import make_app
    from igdscope.tui.sources import demo_source
    from igdscope.tui.widgets.gttlist import GttList

    before = rss_mb()
    app = make_app(demo_source())
    out: dict = {"rss_before_mb": before}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.switch_mode("registers")  # build another screen first, so the Overview is a switch to a built one
        await settle(pilot)
        t = time.perf_counter()
        await app.switch_mode("overview")
        out["switch_s"] = await painted(app) - t
        await settle(pilot)
        t = time.perf_counter()
        await app.switch_mode("gtt")  # mounts the screen; it builds the GGTT model and shows the first page
        lst = app.screen.query_one(GttList)
        out["open_s"] = await painted(app) - t
        assert lst.row_count == 1 << 20, lst.row_count
        await settle(pilot)
        lst.focus()
        await settle(pilot)
        noop, page = [], []
        for _ in range(pages):
            t = time.perf_counter()
            lst.refresh()  # a repaint that moves nothing
            noop.append(await painted(app) - t)
            t = time.perf_counter()
            lst.action_page(1)  # what PageDown runs, then the repaint of the new page
            page.append(await painted(app) - t)
        out["noop_ms"] = statistics.median(noop) * 1000
        out["pagedown_ms"] = statistics.median(page) * 1000
        out["pagedown_max_ms"] = max(page) * 1000
        t = time.perf_counter()
        await pilot.press("pagedown")  # and once through the key binding, for the record
        out["pagedown_key_ms"] = (time.perf_counter() - t) * 1000
        render = []
        for _ in range(pages):  # the Line API's own cost: a page move, then every visible line drawn
            lst.action_page(1)
            t = time.perf_counter()
            for y in range(lst.size.height):
                lst.render_line(y)
            render.append(time.perf_counter() - t)
        out["render_page_ms"] = statistics.median(render) * 1000
        out["position"] = lst.current_index
        out["rss_mb"] = rss_mb()
    return out


async def cpu_of(app, seconds: float, screen: str, poll: bool = False) -> float:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if poll:  # a static source refreshed at 1 Hz: the refresh machinery without any reading
            app.set_interval(1.0, app.refresh_now)
        await pilot.press(screen)
        await settle(pilot)
        await asyncio.sleep(1.5)  # let the first ticks of this screen pass
        c0, w0, n0 = time.process_time(), time.perf_counter(), app.snapshot.seq
        await asyncio.sleep(seconds)
        c1, w1, n1 = time.process_time(), time.perf_counter(), app.snapshot.seq
    return (c1 - c0) / (w1 - w0), n1 - n0


async def live_bench(seconds: float) -> dict:
    from igdscope.sources import demo
    from igdscope.tui import make_app
    from igdscope.tui.sources import LiveSource, demo_source
    from tests.support.fakesys import FakeRoot, build_tree

    out = {}
    out["idle_static"], out["idle_static_ticks"] = await cpu_of(make_app(demo_source()), seconds, "1", poll=True)
    with tempfile.TemporaryDirectory() as tmp:
        host = build_tree(demo.host_capture(), Path(tmp) / "host")
        guest = build_tree(demo.guest_capture(), Path(tmp) / "guest")
        for key, root, screen in (("overview", host, "1"), ("gtt", host, "6"), ("opregion", guest, "3"), ("registers", host, "2")):
            app = make_app(LiveSource(FakeRoot(root), use_udev=False), interval=1.0)
            out[key], out[key + "_ticks"] = await cpu_of(app, seconds, screen)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="how long each live measurement runs")
    ap.add_argument("--pages", type=int, default=60, help="PageDown presses")
    ap.add_argument("--runs", type=int, default=5, help="launches of each kind")
    args = ap.parse_args()

    empty = launch("empty", args.runs)
    demo_launch = launch("demo", args.runs)
    print(f"launch: empty Textual app {empty:.3f} s; demo Overview painted {demo_launch:.3f} s = {demo_launch / empty:.1f}x the empty app (target <= 1.0 s: {'ok' if demo_launch <= 1.0 else 'MISSED'})")

    g = asyncio.run(gtt_bench(args.pages))
    print(f"GTT open: {g['open_s'] * 1000:.0f} ms (target <= 500 ms: {'ok' if g['open_s'] <= 0.5 else 'MISSED'}); switching to a built screen {g['switch_s'] * 1000:.1f} ms; ratio {g['open_s'] / g['switch_s']:.1f}x")
    print(f"GTT PageDown: median {g['pagedown_ms']:.1f} ms, max {g['pagedown_max_ms']:.1f} ms (target <= 30 ms: {'ok' if g['pagedown_ms'] <= 30 else 'MISSED'}); "
          f"a repaint that moves nothing {g['noop_ms']:.1f} ms; ratio {g['pagedown_ms'] / g['noop_ms']:.1f}x; drawing a page of lines {g['render_page_ms']:.2f} ms (at entry {g['position']:,}); one PageDown key through the Pilot {g['pagedown_key_ms']:.0f} ms")
    print(f"GTT memory: RSS {g['rss_mb']:.0f} MB (target <= 250 MB: {'ok' if g['rss_mb'] <= 250 else 'MISSED'}); before the demo {g['rss_before_mb']:.0f} MB; ratio {g['rss_mb'] / g['rss_before_mb']:.1f}x")

    lv = asyncio.run(live_bench(args.seconds))
    base = lv["idle_static"]
    print(f"live at 1 Hz ({args.seconds:g} s each): baseline, the demo capture refreshed at 1 Hz (no reads): {base * 100:.2f}% of a core over {lv['idle_static_ticks']} refreshes")
    for key in ("overview", "registers", "opregion", "gtt"):
        v = lv[key]
        print(f"  {key:<10} {v * 100:5.1f}% of a core over {lv[key + '_ticks']} refreshes (target <= 10%: {'ok' if v <= 0.10 else 'MISSED'}); {v / base if base else float('inf'):.1f}x the idle baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
