"""Pilot tests of the readiness verdicts (Overview), the Checks screen and the labelled host/guest
Diff screen, and of the command-line options that feed them."""

from __future__ import annotations

import dataclasses

from textual.widgets import DataTable

from igdscope.cli import main
from igdscope.capture import Blob, Capture
from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.sources import DiffSource, StaticSource, demo_source
from tests.support.tui import SIZE, settle, text_of


def rows(table: DataTable, col: int = 1) -> list[str]:
    return [str(table.get_row_at(i)[col]) for i in range(table.row_count)]


async def test_checks_screen_lists_rules_with_evidence_fix_filter_and_palette():
    app = make_app(demo_source(), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert type(screen).__name__ == "ChecksScreen"
        verdicts = text_of(screen.query_one("#checks-verdicts"))
        assert "legacy mode    WORKS    the VM's mode" in verdicts and "machine pc-i440fx-9.0" in verdicts
        table = screen.query_one("#checks-table", DataTable)
        statuses = rows(table, 0)
        assert statuses[:2] == ["WARN", "WARN"] and set(statuses[2:]) == {"PASS"}  # problems first
        assert set(rows(table)) >= {"own.i915_loaded", "qemu.gms", "kernel.asls", "rom.device_id", "vm.1f0"}
        detail = text_of(screen.query_one("#checks-detail"))
        assert "own.i915_loaded" in detail and "evidence: i915 is loaded" in detail and "fix: blacklist i915" in detail
        await pilot.press("f")
        await settle(pilot)
        assert rows(table) == ["own.i915_loaded", "qemu.gms"]
        cmds = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Check: own.driver (pass)" in cmds and "Screen: Checks (7)" in cmds
        await cmds["Check: iommu.group (pass)"].callback()  # a hidden rule: passing ones come back
        await settle(pilot)
        assert table.row_count > 2 and rows(table)[table.cursor_row] == "iommu.group"
        assert "group 2: 0000:00:02.0 only" in text_of(screen.query_one("#checks-detail"))


def _host_on_i915() -> Capture:
    cap = demo.host_capture().builder()
    cap.replace_device("igd", driver="i915")
    return cap.build()


async def test_overview_shows_failing_verdicts_and_checks_screen_the_failing_rule():
    app = make_app(StaticSource(_host_on_i915(), "host on i915"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        box = text_of(app.screen.query_one("#ov-readiness"))
        assert "legacy mode    FAILS" in box and "failing: own.driver" in box and "unknown: vm.config" in box
        assert "no VM configuration given" in box
        await pilot.press("7")
        await settle(pilot)
        table = app.screen.query_one("#checks-table", DataTable)
        assert rows(table, 0)[0] == "FAIL" and rows(table)[0] == "own.driver"
        assert "fix:" in text_of(app.screen.query_one("#checks-detail"))


async def test_checks_on_a_guest_capture_say_why_not():
    app = make_app(StaticSource(demo.guest_capture(), "guest"), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "inside a guest" in text_of(app.screen.query_one("#checks-notice"))
        assert app.screen.query_one("#checks-table", DataTable).row_count == 0
        await pilot.press("1")
        await settle(pilot)
        assert "inside a guest" in text_of(app.screen.query_one("#ov-readiness"))


def _guest_without_asls() -> Capture:
    cap = demo.guest_capture()
    d = cap.device("igd")
    raw = bytearray(cap.blobs[d.config_blob].data)
    raw[0xFC:0x100] = bytes(4)  # QEMU did not emulate the OpRegion address
    return dataclasses.replace(cap, blobs={**cap.blobs, d.config_blob: Blob(bytes(raw), "test")})


async def test_diff_screen_puts_unexpected_first_with_what_it_breaks():
    src = DiffSource(StaticSource(demo.host_capture(), "host"), StaticSource(_guest_without_asls(), "guest"), "host ⇄ broken guest")
    app = make_app(src, start="diff")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        summary = text_of(screen.query_one("#diff-summary"))
        assert "compared with QEMU 9.0" in summary and "missing in the guest: " in summary and "igd.registers.ASLS.base" in summary
        assert "1 unexpected difference" in summary
        table = screen.query_one("#diff-table", DataTable)
        paths = rows(table, 0)
        assert paths[:2] == ["── unexpected (1)", "! igd.registers.ASLS.base"]
        table.move_cursor(row=1)
        await settle(pilot)
        detail = text_of(screen.query_one("#diff-detail"))
        assert "unexpected" in detail and "host: 0x8a0dc018" in detail and "guest: 0" in detail and "breaks:" in detail
        n = table.row_count
        await pilot.press("t")  # hide the expected ones
        await settle(pilot)
        assert table.row_count < n and not any(p.startswith("── expected") for p in rows(table, 0))


async def test_qemu_version_option_changes_the_rules_the_diff_uses():
    src = demo_source()
    src.qemu_version = "10.1"
    app = make_app(src, start="diff")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "compared with QEMU 10.1" in text_of(app.screen.query_one("#diff-summary"))


def test_tui_command_line_feeds_the_vm_config_and_refuses_a_bad_version(capsys):
    args = main._parser().parse_args(["tui", "host.json", "--vm-args", "-M q35 -device vfio-pci,host=00:02.0,addr=02.0"])
    vm = main.vm_from_args(args)
    assert vm.machine_family == "q35" and vm.igd.guest_slot == 2
    assert main.main(["tui", "--qemu-version", "nine", "host.json"]) == 3
    assert "QEMU version 'nine' is not X.Y" in capsys.readouterr().err


async def test_checks_screen_escapes_capture_text():
    # A capture comes from a stranger: its kernel and QEMU version strings reach the Checks
    # screen's context line and rule evidence. Control characters show as \xNN escapes (an ESC
    # would otherwise start a terminal escape sequence) and brackets stay text, not markup.
    cap = demo.host_capture()
    hostile = "6.8[/bold]\x1b[2J\x9b"
    cap = dataclasses.replace(cap, host={**cap.host, "kernel_release": hostile, "qemu_version": hostile})
    app = make_app(StaticSource(cap, "stranger's capture"), start="checks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        from textual.widgets import Static

        shown = "\n".join(str(w.render()) for w in app.screen.query(Static))
        assert "kernel 6.8[/bold]\\x1b[2J\\x9b" in shown
        assert not [c for c in shown if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]
