"""Regenerate screenshots/: one SVG per TUI screen from the built-in demo machine (host and guest
captures), the plan the Checks screen opens, plus the OpRegion screen live, with a simulated guest
driver changing the backlight.

Run from the repository root:  python scripts/screenshots.py [--size 140x42] [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from igdscope.capture import Blob, Capture  # noqa: E402
from igdscope.sources import demo  # noqa: E402
from igdscope.tui import make_app  # noqa: E402
from igdscope.tui.sources import Reading, Source, demo_source  # noqa: E402
from igdscope.tui.widgets import common  # noqa: E402

SCREENS = [("overview", "1-overview"), ("registers", "2-registers"), ("opregion", "3-opregion"), ("vbt", "4-vbt"),
           ("rom", "5-rom"), ("gtt", "6-gtt"), ("checks", "7-checks"), ("diff", "8-diff")]


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    last = None
    for _ in range(50):  # until two pictures in a row agree: nothing left to lay out
        await pilot.pause()
        shot = pilot.app.export_screenshot()
        if shot == last:
            return
        last = shot
        await pilot.pause(0.02)


class SimulatedGuest(Source):
    """The demo guest, live-like, whose guest driver writes the ASLE backlight mailbox."""

    live = True
    label = "demo guest, live (simulated: a guest driver sets the backlight)"

    def __init__(self) -> None:
        self.cap = demo.guest_capture()
        self.op = bytearray(self.cap.blobs["opregion"].data)

    def poke(self, offset: int, value: int) -> None:
        self.op[offset : offset + 4] = value.to_bytes(4, "little")

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        c = self.cap
        blobs = dict(c.blobs)
        old = blobs["opregion"]
        blobs["opregion"] = Blob(bytes(self.op), old.source, old.path, old.note)
        return Reading(Capture(machine=c.machine, created=c.created, tool_version=c.tool_version, host=c.host, devices=c.devices, blobs=blobs, sources=c.sources, errors=list(c.errors)))


async def shoot(app, path: Path, size: tuple[int, int], before=None) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        if before is not None:
            await before(pilot)
            await settle(pilot)
        app.save_screenshot(filename=path.name, path=str(path.parent))


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="140x42", help="terminal size, COLUMNSxROWS")
    ap.add_argument("--out", default=str(ROOT / "screenshots"))
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for screen, name in SCREENS:
        await shoot(make_app(demo_source(), start=screen), out / f"{name}.svg", (w, h))
        print(f"wrote {out / name}.svg")

    async def plan(pilot) -> None:  # the Checks screen's plan for the VM's mode, as QEMU arguments
        await pilot.press("c")

    await shoot(make_app(demo_source(), start="checks"), out / "9-plan.svg", (w, h), plan)
    print(f"wrote {out / '9-plan'}.svg")

    common.localtime = time.gmtime  # the same picture in every time zone
    t = iter(range(1_795_000_000, 1_795_100_000))
    src = SimulatedGuest()

    async def backlight(pilot) -> None:
        for level, at in ((0x80000080, 0x310), (0x80000032, 0x318), (0x800000C8, 0x310)):
            src.poke(at, level)
            pilot.app.refresh_now()
            await settle(pilot)
        await pilot.press("c")  # collapse all but the changed fields
        screen = pilot.app.screen
        tree = screen.query_one("#op-tree")
        node = screen.nodes["mailbox asle.bclp.level"]
        tree.move_cursor(node)
        tree.scroll_to_node(node, animate=False)
        tree.focus()

    await shoot(make_app(src, start="opregion", interval=60.0, clock=lambda: float(next(t))), out / "3-opregion-live.svg", (w, h), backlight)
    print(f"wrote {out / '3-opregion-live'}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
