"""The TUI's plain parts: views of a capture, the generic diff list and its widget, jump targets,
import hygiene (the write path and textual stay out of what does not need them)."""

from __future__ import annotations

import subprocess
import sys

from textual.app import App, ComposeResult

from igdscope.sources import demo
from igdscope.tui.model import View, diff_items, flatten, value_text
from igdscope.tui.screens.gtt import parse_target
from igdscope.tui.sources import export_path
from igdscope.tui.widgets.diffview import DiffView
from tests.tui.conftest import settle


def test_flatten_splits_short_lists_and_keeps_coded_values():
    tree = {"a": {"b": 1, "didl": [1, 2, 3], "c": {"value": 3, "name": "HDMI"}}, "big": list(range(40))}
    flat = flatten(tree)
    assert flat["a.didl[1]"] == 2 and flat["a.c"] == {"value": 3, "name": "HDMI"} and flat["big"] == list(range(40))
    assert value_text({"value": 3, "name": "HDMI"}) == "HDMI (0x3)" and value_text(True) == "yes" and value_text(255) == "255 (0xff)"


def test_register_rows_cover_header_capabilities_and_device_registers():
    v = View(demo.host_capture())
    rows = {r.name: r for r in v.registers("igd")}
    assert rows["VID"].raw == 0x8086 and rows["GGC"].group == "device"
    gms = next(f for f in rows["GGC"].fields if f.name == "GMS")
    assert (gms.start, gms.end, gms.value) == (0x51, 0x52, 2)
    assert "CAP PCI Express" in rows and "ECAP Address Translation Services" in rows
    assert [r.name for r in v.registers("lpc")][:3] == ["VID", "DID", "PCICMD"]  # header only, still shown


def test_diff_items_name_what_legacy_mode_changes():
    items = {i["path"]: i for i in diff_items(View(demo.host_capture()), View(demo.guest_capture()))}
    assert items["host_bridge.DID"]["a"] == "0x3ec2" and items["host_bridge.DID"]["b"] == "0x1237"
    assert items["host_bridge.GGC"]["b"] == "not decoded: QEMU's i440FX"
    assert items["igd.GGC.GMS"]["b"].startswith("data stolen memory 0")
    assert items["igd.ASLS.base"]["b"] == "0x7ffdc000"
    assert items["igd.driver"] == {"path": "igd.driver", "a": "vfio-pci", "b": "i915"}
    assert "lpc.DID" not in items  # the LPC identity is copied


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
        {"path": "opregion", "a": "present", "b": "-", "label": "unexpected", "why": "no OpRegion copy: x-igd-opregion off"},
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
        "assert 'igdscope.gtt_write' not in sys.modules, 'the write path is imported by a read path'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
