"""Pilot tests of the plan view the Checks screen opens (c): the plan for the marked mode in each
format, as igdscope plan renders it; an infeasible mode's failing rules; saving exactly the shown
text to the typed path, and refusing a symlink; the layout at 80x24."""

from __future__ import annotations

import os
import re

from textual.widgets import Input

from igdscope.analysis import plan as P
from igdscope.analysis import qemu
from igdscope.capture import Blob
from igdscope.cli import plan as C
from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.sources import StaticSource, demo_source
from tests.support.tui import SIZE, settle, text_of

SMALL = (80, 24)
DEMO_QEMU = qemu.version(demo.host_capture().host["qemu_version"])  # what the plan uses when the app was given no version


def shown(app) -> str:
    """The plan text as the view shows it (its Static's content)."""
    return str(app.screen.query_one("#plan-text").content)


def screen_rows(app) -> list[str]:
    """Every row of the terminal as the user sees it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def mtl_host():
    """The demo host with a Meteor Lake IGD (7d55): under QEMU 10.0 no configuration gives the
    guest the OpRegion (QEMU 10.0 does not know the generation)."""
    b = demo.host_capture().builder()
    igd = b.device("igd")
    cfg = bytearray(b.blobs[igd.config_blob].data)
    b.replace_device("igd", device=0x7D55)
    cfg[2:4] = (0x7D55).to_bytes(2, "little")
    b.blobs[igd.config_blob] = Blob(bytes(cfg), "demo", "")
    return b.build()


async def open_plan(pilot, presses_of_m: int = 0) -> None:
    for _ in range(presses_of_m):
        await pilot.press("m")
    await pilot.press("c")
    await settle(pilot)


async def test_every_mode_and_format_shows_what_igdscope_plan_renders():
    cap = demo.host_capture()
    app = make_app(demo_source(), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        checks = app.screen
        box = text_of(checks.query_one("#checks-verdicts"))
        assert "▸ legacy mode    WORKS    the VM's mode" in box  # the VM's mode is marked first
        assert "plan for legacy mode" in box
        await open_plan(pilot)
        for mode in P.MODES:
            view = app.screen
            assert type(view).__name__ == "PlanScreen" and view.mode == mode
            for fmt in C.FORMATS:
                want = C.render(P.plan(cap, mode, DEMO_QEMU, "seabios"), fmt)
                assert view.fmt == fmt and view.text == want
                assert shown(app) == want.rstrip("\n")
                bar = text_of(view.query_one("#plan-bar"))
                assert "WORKS" in bar and {"qemu": "QEMU arguments", "libvirt": "libvirt XML", "proxmox": "Proxmox lines"}[fmt] in bar
                await pilot.press("f")
                await settle(pilot)
            assert view.fmt == "qemu"  # three presses come back round
            await pilot.press("m")
            await settle(pilot)
        # the firmware: the VM's (SeaBIOS), b for OVMF
        assert app.screen.mode == "legacy"
        await pilot.press("b")
        await settle(pilot)
        want = C.render(P.plan(cap, "legacy", DEMO_QEMU, "ovmf"), "qemu")
        assert shown(app) == want.rstrip("\n") and "if=pflash" in want
        # Escape: back on the Checks screen, the mode last planned still marked; m moves the mark
        await pilot.press("m", "escape")
        await settle(pilot)
        assert app.screen is checks and checks.mode == "upt"
        assert "▸ UPT " in text_of(checks.query_one("#checks-verdicts"))
        await pilot.press("m")
        await settle(pilot)
        assert checks.mode == "upt_opregion" and "▸ UPT + OpRegion" in text_of(checks.query_one("#checks-verdicts"))
        await pilot.press("c")
        await settle(pilot)
        assert app.screen.mode == "upt_opregion" and "x-igd-opregion=on" in shown(app)


async def test_an_infeasible_mode_shows_the_failing_rules_and_what_would_make_it_possible():
    src = StaticSource(mtl_host(), "Meteor Lake host")
    src.qemu_version = "10.0"  # as igdscope tui --qemu-version 10.0 gives it
    app = make_app(src, start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        checks = app.screen
        assert "UPT + OpRegion FAILS" in text_of(checks.query_one("#checks-verdicts"))
        marked = checks.mode
        await open_plan(pilot, (P.MODES.index("upt_opregion") - P.MODES.index(marked)) % len(P.MODES))
        view = app.screen
        assert view.mode == "upt_opregion" and not view.plan.feasible
        want = C.render(P.plan(mtl_host(), "upt_opregion", (10, 0), "seabios"), "qemu")
        text = shown(app)
        assert text == want.rstrip("\n")
        assert "FAIL qemu.opregion: QEMU gives the guest the OpRegion" in text and "What would make it possible:" in text
        assert "10.1" in text and "-device" not in text  # no configuration, only the way out
        assert "FAILS" in text_of(view.query_one("#plan-bar"))
        await pilot.press("f")
        await settle(pilot)
        assert view.fmt == "libvirt" and shown(app) == text and "<hostdev" not in text  # every format refuses alike
        await pilot.press("m")  # legacy mode: Meteor Lake is not a generation QEMU 10.0 does legacy mode for
        await settle(pilot)
        assert view.mode == "legacy" and "FAIL qemu.generation" in shown(app)


async def test_a_guest_capture_has_no_plan():
    app = make_app(StaticSource(demo.guest_capture(), "guest"), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert type(app.screen).__name__ == "ChecksScreen"  # nothing opened
        assert any("inside a guest" in str(n.message) for n in app._notifications)


async def save(pilot, path: str) -> None:
    await pilot.press("w")
    await settle(pilot)
    inp = pilot.app.screen.query_one(Input)
    inp.value = ""
    await pilot.press(*path, "enter")
    await settle(pilot)


async def test_save_writes_exactly_the_shown_text_and_refuses_a_symlink(tmp_path):
    cap = demo.host_capture()
    app = make_app(demo_source(), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_plan(pilot, 1)  # UPT
        await pilot.press("f", "f")  # Proxmox
        await settle(pilot)
        view = app.screen
        await pilot.press("w")
        await settle(pilot)
        assert app.screen.query_one(Input).value == "igdscope-plan-upt-proxmox.conf"  # the default name
        await pilot.press("escape")  # cancelled: nothing written, no result line
        await settle(pilot)
        assert app.screen is view and not view.query_one("#plan-result").display

        target = tmp_path / "upt.conf"
        await save(pilot, str(target))
        want = C.render(P.plan(cap, "upt", DEMO_QEMU, "seabios"), "proxmox")
        assert target.read_text() == want == view.text
        result = text_of(view.query_one("#plan-result")).strip()
        assert result == f"wrote {target} ({len(want.encode()):,} bytes)"
        assert sorted(os.listdir(tmp_path)) == ["upt.conf"]  # no temporary file left beside it

        # a symlink at the path: refused, in one line, and nothing written through it
        victim = tmp_path / "victim"
        victim.write_text("keep\n")
        link = tmp_path / "link.conf"
        link.symlink_to(victim)
        await save(pilot, str(link))
        line = str(view.query_one("#plan-result").content)
        assert line == f"refusing to write {link}: it is a symbolic link (give the path of a regular file)"
        assert view.query_one("#plan-result").has_class("error")
        assert victim.read_text() == "keep\n" and link.is_symlink()
        dangling = tmp_path / "dangling.conf"
        dangling.symlink_to(tmp_path / "nowhere")
        await save(pilot, str(dangling))
        assert "symbolic link" in str(view.query_one("#plan-result").content) and not (tmp_path / "nowhere").exists()
        # the file system says no: one line too
        await save(pilot, str(tmp_path / "missing" / "x.conf"))
        assert str(view.query_one("#plan-result").content) == f"cannot write {tmp_path / 'missing' / 'x.conf'}: the directory does not exist"
        assert sorted(os.listdir(tmp_path)) == ["dangling.conf", "link.conf", "upt.conf", "victim"]
        # then a good path again: the result line says so, no longer in the error colour
        await save(pilot, str(tmp_path / "again.conf"))
        assert (tmp_path / "again.conf").read_text() == want and not view.query_one("#plan-result").has_class("error")


def _squeeze(s: str) -> str:
    return re.sub(r"\s+", "", s)


async def test_80x24_shows_the_first_lines_whole_and_the_keys():
    app = make_app(demo_source(), start="checks")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "c Plan" in screen_rows(app)[-1]  # the Checks footer offers it at 80 columns
        await open_plan(pilot)
        for fmt in C.FORMATS:
            rows = screen_rows(app)
            assert len(rows) == 24 and all(len(r) == 80 for r in rows)
            assert rows[1].startswith(" legacy mode · ") and "WORKS" in rows[1]
            footer = rows[-1]
            for key in ("esc Close", "m Mode", "f Format", "b Firmware", "w Save", "? Keys", "q Quit"):
                assert key in footer, (key, footer)
            # the text area: rows 2..22; the first lines of the plan are there whole (folded, never cropped)
            area = _squeeze("".join(rows[2:23]))
            lines = app.screen.text.splitlines()
            first = "".join(_squeeze(x) for x in lines[:5])
            assert area.startswith(first), (fmt, rows[2:8])
            assert lines[0].startswith("# igdscope plan: legacy mode for IGD 3e92 (CFL), QEMU 9.0")
            await pilot.press("f")
            await settle(pilot)
        # the longest line is folded over several rows, every character kept
        longest = max(app.screen.text.splitlines(), key=len)
        assert len(longest) > 80
        folded = text_of(app.screen.query_one("#plan-text"))
        assert _squeeze(longest) in _squeeze(folded)
        # the help lists the view's keys
        await pilot.press("question_mark")
        await settle(pilot)
        assert app.screen.query("HelpPanel")
        helptext = "\n".join(screen_rows(app))
        assert "Format" in helptext and "Save" in helptext and "Firmware" in helptext
