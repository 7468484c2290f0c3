"""Pilot tests of the TUI on the demo machine: screens, keys, palette entries, linked views,
jumping and filtering in the GGTT, exporting, and sources that fail."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Select, Tree

from igdscope import capture
from igdscope.sources import demo
from igdscope.tui import make_app, source_for
from igdscope.tui.sources import StaticSource, demo_source, file_source
from igdscope.tui.widgets.gttlist import GttList
from igdscope.tui.widgets.hexview import HexView
from tests.support.tui import SIZE, settle, text_of

SCREENS = {"1": "OverviewScreen", "2": "RegistersScreen", "3": "OpRegionScreen", "4": "VbtScreen", "5": "RomScreen", "6": "GttScreen", "7": "ChecksScreen", "8": "DiffScreen"}


async def test_number_keys_switch_every_screen_and_each_shows_data():
    app = make_app(demo_source())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "OverviewScreen"
        assert "CFL" in text_of(app.screen.query_one("#ov-machine"))
        assert "vfio-pci" in text_of(app.screen.query_one("#ov-devices"))
        assert "64 MiB" in text_of(app.screen.query_one("#ov-memory"))
        for key, name in SCREENS.items():
            await pilot.press(key)
            await settle(pilot)
            assert type(app.screen).__name__ == name
        diff = app.screen.query_one("#diff-table", DataTable)
        paths = [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)]
        assert "host_bridge.identity.device" in paths  # QEMU's i440FX in the guest
        assert "igd.registers.GGC.GMS" in paths  # QEMU 9.0 gives the guest GMS 0
        assert "gtt.entries" in paths
        assert "nothing unexpected differs" in text_of(app.screen.query_one("#diff-summary"))


async def test_diff_screen_only_in_diff_mode(tmp_path):
    path = tmp_path / "host.json"
    path.write_text(demo.host_capture().to_json())
    app = make_app(file_source(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "diff" not in app.modes
        await pilot.press("8")
        await settle(pilot)
        assert type(app.screen).__name__ == "OverviewScreen"
        assert app.check_action("pause", ()) is False  # no polling for a capture
        assert app.check_action("side", ()) is False
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any("Host ⇄ guest" in t for t in titles)


async def test_palette_has_every_screen_register_and_block():
    app = make_app(demo_source())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cmds = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in ("Overview", "Registers", "OpRegion", "VBT", "Option ROM", "GGTT", "Host ⇄ guest"):
            assert any(t.startswith(f"Screen: {title}") for t in cmds), title
        assert "Register: IGD GGC" in cmds and "Register: Host bridge TOLUD" in cmds
        assert any(t.startswith("VBT block 2:") for t in cmds)
        assert any("theme" in t.lower() for t in cmds)  # Textual's own entries stay
        await cmds["Register: IGD ASLS"].callback()
        await settle(pilot)
        screen = app.screen
        assert type(screen).__name__ == "RegistersScreen"
        table = screen.query_one("#reg-table", DataTable)
        assert str(table.get_row_at(table.cursor_row)[0]) == "ASLS"
        assert screen.query_one(HexView).marked_region == (0xFC, 0x100)
        await next(c for t, c in cmds.items() if t.startswith("VBT block 2:")).callback()
        await settle(pilot)
        tree = app.screen.query_one("#vbt-tree", Tree)
        assert "block 2 general_definitions" in str(tree.cursor_node.label)


async def test_keys_panel_and_theme():
    app = make_app(demo_source())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        app.theme = "textual-light"
        await settle(pilot)
        assert "CFL" in text_of(app.screen.query_one("#ov-machine"))


async def test_register_table_and_hex_view_are_linked_both_ways():
    app = make_app(demo_source(), start="registers")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#reg-table", DataTable)
        hexv = screen.query_one(HexView)
        assert len(hexv.data) == 4096  # the IGD's config space
        # a field selects its bytes
        row = next(i for i, (ri, fi) in enumerate(screen.keys) if fi is not None and screen.rows[ri].name == "GGC" and screen.rows[ri].fields[fi].name == "GMS")
        table.move_cursor(row=row)
        await settle(pilot)
        assert hexv.marked_region == (0x50, 0x52)
        assert hexv.marked_field == (0x51, 0x52)  # GMS is bits 15:8
        # a byte selects its field: click BDSM's first byte (0x5c) in the hex view
        hexv.focus()
        await pilot.pause()
        x = hexv.offset_width + 2 + (0x5C % 16) * 3 + 1  # the byte column (after the 8-byte gap)
        await pilot.click(HexView, offset=(x + 1, 0x5C // 16 + 1))  # +1: the border
        await settle(pilot)
        assert hexv.cursor == 0x5C
        ri, fi = screen.keys[table.cursor_row]
        assert screen.rows[ri].name == "BDSM" and screen.rows[ri].fields[fi].name == "lock"
        # keys move the byte cursor, and the table follows
        await pilot.press("right", "right", "right", "right")
        await settle(pilot)
        assert hexv.cursor == 0x60
        # another device
        await pilot.press("escape")
        table.focus()
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.role == "host_bridge"
        assert any(r.name == "TOLUD" for r in screen.rows)


async def test_vbt_copies_are_selectable_and_blocks_link_to_bytes():
    app = make_app(demo_source(), start="vbt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        sel = screen.query_one("#vbt-copy", Select)
        assert [c.where for c in screen.copies] == ["OpRegion mailbox 4", "option ROM at 0x27d"]
        assert screen.copy.where == "OpRegion mailbox 4"
        await pilot.press("v")
        await settle(pilot)
        assert sel.value == 1 and screen.copy.where == "option ROM at 0x27d"
        children = screen.query_one("#vbt-children", DataTable)
        assert children.row_count == 3
        assert [str(children.get_row_at(i)[3]) for i in range(3)] == ["HDMI-B", "DP-C", "DP-D"]
        tree = screen.query_one("#vbt-tree", Tree)
        block2 = screen.block_nodes["block1"]
        tree.move_cursor(block2)
        await settle(pilot)
        hexv = screen.query_one(HexView)
        assert hexv.marked_region == (0x4E, 0x4E + 3 + 317)
        hexv.focus()
        hexv._set_cursor(0x47)  # inside block 1
        await settle(pilot)
        assert tree.cursor_node is screen.block_nodes["block0"]
        hexv._set_cursor(0x4E + 3 + 5 + 39 + 2)  # inside the second child device
        await settle(pilot)
        assert children.cursor_row == 1
        assert hexv.marked_field == (0x4E + 8 + 39, 0x4E + 8 + 78)
        assert hexv.cursor == 0x4E + 3 + 5 + 39 + 2


async def test_gtt_jump_filter_and_occupancy():
    app = make_app(demo_source(), start="gtt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        lst = screen.query_one(GttList)
        assert lst.row_count == 1 << 20
        lst.focus()
        await pilot.press("pagedown")
        await settle(pilot)
        assert lst.cursor > 0 and lst.scroll_y > 0
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"0x1000", "enter")
        await settle(pilot)
        assert lst.current_index == 0x1000
        assert "0x24a100000" in text_of(screen.query_one("#gtt-detail"))
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"pa:0x24a105000", "enter")
        await settle(pilot)
        assert lst.current_index == 0x1005
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"ga:0x2000000", "enter")
        await settle(pilot)
        assert lst.current_index == 0x2000
        await pilot.press("f")  # present: every entry of the demo is present (scratch included)
        await settle(pilot)
        assert screen.filter == "present" and lst.row_count == 1 << 20
        await pilot.press("f")  # mapped: not the scratch page
        await settle(pilot)
        assert screen.filter == "mapped"
        assert lst.row_count == screen.model.summary["mapped_entries"]
        assert lst.current_index >= 0x2000  # kept its place (the next mapped entry)
        await pilot.press("f")  # changed: nothing changes in a capture
        await settle(pilot)
        assert lst.row_count == 0
        await pilot.press("f")
        await settle(pilot)
        assert screen.filter == "all"
        occ = screen.query_one("#gtt-occupancy")
        await pilot.click("#gtt-occupancy", offset=(1 + occ.size.width // 2, 1 + 2))
        await settle(pilot)
        assert lst.current_index > 0x40000


async def test_export_writes_a_capture_that_loads(tmp_path):
    app = make_app(demo_source())
    out = tmp_path / "exported.json"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")  # the guest side
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        inp = app.screen.query_one("#prompt-input")
        assert inp.value == "igdscope-guest-20261123-120000.json"
        inp.value = str(out)
        await pilot.press("enter")
        await settle(pilot)
    cap = capture.load(out)
    assert cap.machine == "guest"
    assert cap.blobs["opregion"].data == demo.guest_capture().blobs["opregion"].data
    doc = json.loads(out.read_text())
    assert doc["format"] == "igdscope-capture" and "decoded" in doc


async def test_export_refuses_a_symlink_and_says_where_it_wrote(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "planted.json").symlink_to(victim)
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []
    app = make_app(demo_source())
    real_notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, **kw: (notes.append(message), real_notify(message, **kw)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for name in ("planted.json", "relative.json"):
            await pilot.press("e")
            await pilot.pause()
            app.screen.query_one("#prompt-input").value = name
            await pilot.press("enter")
            await settle(pilot)
            await app.workers.wait_for_complete()
            await settle(pilot)
    assert victim.read_text() == "precious" and (tmp_path / "planted.json").is_symlink()
    assert any("refusing to write planted.json: it is a symbolic link" in n for n in notes), notes
    assert any(n.startswith(f"wrote {tmp_path / 'relative.json'} (") for n in notes), notes  # the absolute path
    assert capture.load(tmp_path / "relative.json").machine == "host"


async def test_a_bad_capture_is_shown_where_the_data_would_be(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "igdscope-capture", "version": 99}')
    app = make_app(file_source(str(bad)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "capture format version 99" in text_of(app.screen.query_one("#banner"))
        await pilot.press("6")
        await settle(pilot)
        assert "capture format version 99" in text_of(app.screen.query_one("#gtt-notice"))


async def test_missing_blobs_say_what_to_do():
    cap = demo.host_capture().builder()
    for key in ("opregion", "rom", "gtt"):
        del cap.blobs[key]
    cap.error("gtt", "sys/bus/pci/devices/0000:00:02.0/resource0: permission denied (run as root)")
    cap.sources["opregion"] = {"used": None, "tried": [{"source": "vfio", "result": "not tried: opening the vfio device resets the IGD (as QEMU does at VM start); pass --vfio"}]}
    cap = cap.build()
    app = make_app(StaticSource(cap, "stripped capture"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert "pass --vfio" in text_of(app.screen.query_one("#op-notice"))
        await pilot.press("5")
        await settle(pilot)
        assert "No option ROM" in text_of(app.screen.query_one("#rom-notice"))
        await pilot.press("6")
        await settle(pilot)
        assert "permission denied (run as root)" in text_of(app.screen.query_one("#gtt-notice"))
        await pilot.press("4")
        await settle(pilot)
        assert "No VBT copy" in text_of(app.screen.query_one("#vbt-notice"))


def test_source_for_refuses_nonsense(tmp_path):
    from igdscope.errors import BadInput

    with pytest.raises(BadInput, match="--guest needs a host"):
        source_for(guest_path="g.json")
    with pytest.raises(BadInput, match="sys/"):
        source_for(root=str(tmp_path))
    assert source_for(demo=True).label.startswith("demo machine")
