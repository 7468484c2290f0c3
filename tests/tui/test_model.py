"""The TUI's plain parts: views of a capture, the host/guest comparison and the checks the screens
show, the diff widget, jump targets,
import hygiene (the write path and textual stay out of what does not need them)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from textual.app import App, ComposeResult

from igdscope.capture import Blob
from igdscope.sources import demo
from igdscope.tui.model import View, check_result, diff_result, flatten, value_text
from igdscope.tui.screens.gtt import parse_target
from igdscope.tui.sources import export_path
from igdscope.tui.widgets.diffview import DiffView
from igdscope.analysis.vmconfig import parse_qemu_cmdline
from tests.support.tui import settle


def test_flatten_splits_short_lists_and_keeps_coded_values():
    tree = {"a": {"b": 1, "didl": [1, 2, 3], "c": {"value": 3, "name": "HDMI"}}, "big": list(range(40))}
    flat = flatten(tree)
    assert flat["a.didl[1]"] == 2 and flat["a.c"] == {"value": 3, "name": "HDMI"} and flat["big"] == list(range(40))
    assert value_text({"value": 3, "name": "HDMI"}) == "HDMI (0x3)" and value_text(True) == "yes" and value_text(255) == "255 (0xff)"
    # a meaning with no code (a field this BDB version lacks), a code with no meaning, nothing at all
    assert value_text({"value": None, "name": "not in this BDB version"}) == "not in this BDB version"
    assert value_text({"value": 6, "name": None}) == "0x6" and value_text({"value": None, "name": None}) == "-" and value_text(None) == "-"


def test_register_rows_cover_header_capabilities_and_device_registers():
    v = View(demo.host_capture())
    rows = {r.name: r for r in v.registers("igd")}
    assert rows["VID"].raw == 0x8086 and rows["GGC"].group == "device"
    gms = next(f for f in rows["GGC"].fields if f.name == "GMS")
    assert (gms.start, gms.end, gms.value) == (0x51, 0x52, 2)
    assert "CAP PCI Express" in rows and "ECAP Address Translation Services" in rows
    assert [r.name for r in v.registers("lpc")][:3] == ["VID", "DID", "PCICMD"]  # header only, still shown


def test_diff_result_labels_what_legacy_mode_changes_and_what_breaks():
    host, guest = View(demo.host_capture()), View(demo.guest_capture())
    res = diff_result(host, guest)
    items = {i["path"]: i for i in res["differences"]}
    d = items["host_bridge.identity.device"]
    assert (d["a"], d["b"], d["label"]) == (demo.HB_DID, 0x1237, "expected") and "i440FX" in d["why"]
    assert items["igd.registers.ASLS.base"]["b"] == demo.GUEST_ASLS and items["igd.registers.ASLS.base"]["label"] == "expected"
    assert res["summary"]["unexpected"] == 0 and res["summary"]["qemu_version"] == "9.0"
    assert diff_result(host, guest) is res  # one comparison per pair of views
    # a guest whose OpRegion address was not emulated: unexpected, with what it breaks
    cap = demo.guest_capture()
    d = cap.device("igd")
    raw = bytearray(cap.blobs[d.config_blob].data)
    raw[0xFC:0x100] = bytes(4)
    cap = dataclasses.replace(cap, blobs={**cap.blobs, d.config_blob: Blob(bytes(raw), "test")})
    bad = diff_result(host, View(cap), "9.0")
    asls = next(i for i in bad["differences"] if i["path"] == "igd.registers.ASLS.base")
    assert asls["label"] == "unexpected" and asls["b"] == 0 and asls["breaks"]
    assert bad["differences"][0]["label"] == "unexpected"  # unexpected ones first
    assert "error" in diff_result(host, guest, "nine")  # a bad version is said, not raised


def test_check_result_judges_the_host_with_the_vm_config():
    host = View(demo.host_capture())
    res = check_result(host, parse_qemu_cmdline(demo.VM_ARGS))
    assert res["requested_mode"] == "legacy" and res["verdicts"]["legacy"]["verdict"] == "works"
    assert {r["id"]: r["status"] for r in res["rules"]}["vm.address"] == "pass"
    bare = check_result(host)  # no VM config: the VM's side is unknown for legacy mode
    assert bare["verdicts"]["legacy"] == {"verdict": "unknown", "failing": [], "unknown": ["vm.config"]}
    assert check_result(host) is bare and check_result(host, parse_qemu_cmdline(demo.VM_ARGS)) is not bare
    cap = demo.host_capture().builder()
    cap.replace_device("igd", driver="i915")
    cap = cap.build()
    failing = check_result(View(cap), parse_qemu_cmdline(demo.VM_ARGS))
    assert failing["verdicts"]["legacy"]["verdict"] == "fails" and "own.driver" in failing["verdicts"]["legacy"]["failing"]
    guest = check_result(View(demo.guest_capture()))
    assert "inside a guest" in guest["error"] and guest["rules"] == []


def test_parse_target():
    m = View(demo.host_capture()).gtt
    assert parse_target("4096", m) == (4096, None) and parse_target("0x1000", m) == (4096, None)
    assert parse_target("ga:0x1000000", m) == (0x1000, None)
    assert parse_target("pa:0x24a105123", m) == (0x1005, None)
    assert parse_target("pa:0x1000", m)[1].startswith("no present entry maps")
    assert "outside the table" in parse_target(str(1 << 20), m)[1]
    assert "not a number" in parse_target("zz", m)[1]


def test_export_path_is_named_after_the_capture():
    assert str(export_path(demo.host_capture())) == "igdscope-host-20261123-120000.json"


class DiffApp(App):
    def compose(self) -> ComposeResult:
        yield DiffView(id="d")


async def test_diff_view_groups_unexpected_first_and_hides_expected():
    items = [
        {"path": "igd.BDSM", "a": "0x8b800000", "b": "0x7f600000", "label": "expected", "why": "SeaBIOS writes the guest's BDSM"},
        {"path": "opregion", "a": "present", "b": None, "label": "unexpected", "why": "no OpRegion copy: x-igd-opregion off", "breaks": "the guest driver finds no VBT"},
        {"path": "igd.driver", "a": "vfio-pci", "b": "i915"},
    ]
    app = DiffApp()
    async with app.run_test() as pilot:
        view = app.query_one(DiffView)
        view.set_items(items, "host", "guest")
        await settle(pilot)
        table = view.query_one("#diff-table")
        first = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert first == ["── unexpected (1)", "! opregion", "── unlabelled (1)", "igd.driver", "── expected (1)", "igd.BDSM"]
        assert [str(c.label) for c in table.columns.values()][:3] == ["path", "host", "guest"]
        table.move_cursor(row=1)
        await settle(pilot)
        detail = str(view.query_one("#diff-detail").render())
        assert "guest: (none)" in detail and "breaks: the guest driver finds no VBT" in detail and "why: no OpRegion copy" in detail
        view.toggle_expected()
        await settle(pilot)
        assert table.row_count == 4
        assert "expected ones hidden" in str(view.query_one("#diff-summary").render())


def test_imports_stay_narrow():
    code = (
        "import sys\n"
        "import igdscope.tui\n"
        "assert 'textual' not in sys.modules, 'igdscope.tui imports textual'\n"
        "import igdscope.tui.app\n"
        "assert 'igdscope.analysis.invalidate' not in sys.modules, 'the write path is imported by a read path'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class HexApp(App):
    def compose(self) -> ComposeResult:
        from igdscope.tui.widgets.hexview import HexView

        yield HexView(bytes(range(256)) * 16, id="h")


async def test_hex_view_scrolls_the_least_that_shows_the_cursor():
    from igdscope.tui.widgets.hexview import HexView

    app = HexApp()
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        hexv = app.query_one(HexView)
        hexv.focus()
        height = hexv.scrollable_content_region.height
        for _ in range(height):  # one line past the bottom: the view moves one line, not a page
            await pilot.press("down")
        await settle(pilot)
        assert hexv.cursor == height * 16 and int(hexv.scroll_y) == 1
        await pilot.press("end")
        await settle(pilot)
        assert hexv.cursor == 4095 and int(hexv.scroll_y) == 256 - height
        hexv.mark((0x20, 0x40))  # a region above the view: its first line at the top
        await settle(pilot)
        assert int(hexv.scroll_y) == 2 and hexv.cursor == 0x20
