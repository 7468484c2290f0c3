"""The VBT screen on unusual VBTs the decoders accept (built here from the demo VBT's blocks)."""

from __future__ import annotations

from textual.geometry import Region
from textual.widgets import Tree

from igdscope.capture import Blob
from igdscope.schemas import vbt as vbtschema
from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.sources import StaticSource
from tests.support.tui import SIZE, settle


def demo_blocks() -> list[tuple[int, bytes]]:
    raw = demo.vbt()
    return [(b["id"], raw[b["offset"] + 3 : b["offset"] + 3 + b["size"]]) for b in vbtschema.walk_blocks(raw)["blocks"]]


def host_with_vbt(vbt: bytes):
    cap = demo.host_capture().builder()
    cap.blobs["vbt/debugfs"] = Blob(vbt, "test", "/sys/kernel/debug/dri/0/i915_vbt")
    return cap.build()


def shown(widget) -> str:
    region = Region(0, 0, widget.outer_size.width, widget.outer_size.height)
    return "\n".join(strip.text for strip in widget.render_lines(region))


async def test_control_characters_in_vbt_text_are_escaped_not_sent_to_the_terminal():
    # Text fields decode as latin-1, any byte included: old child devices carry device_id strings
    # like "\x03SI-1362-A"; here the signature holds NUL, ETX, ESC (a clear-screen sequence) and CSI.
    vbt = vbtschema.build_vbt(vbtschema.DEMO_BDB_VERSION, demo_blocks(), signature="$VBT \x00\x03\x1b[2J\x9b1m")
    assert vbtschema.walk_blocks(vbt)["vbt_header"]["signature"].startswith("$VBT \x00\x03\x1b[2J\x9b1m")
    app = make_app(StaticSource(host_with_vbt(vbt), "test capture"), start="vbt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.copy.where == "debugfs i915_vbt"
        tree = screen.query_one("#vbt-tree", Tree)
        header = screen.block_nodes["vbt_header"]
        header.expand()
        tree.move_cursor(header)
        tree.focus()
        await settle(pilot)
        text = shown(tree)
        assert r"signature: $VBT \x00\x03\x1b[2J\x9b1m" in text
        assert not [c for c in text if ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0]


async def test_block_error_text_is_shown_literally_not_read_as_markup(monkeypatch):
    # A block that does not decode shows its error under the block; the error text can quote
    # bytes of the file, so square brackets in it are text, not Rich markup (an unmatched closing
    # tag would otherwise raise while the tree is built).
    from igdscope.binary import DecodeError

    real = vbtschema.decode_block

    def failing(block_id, raw, version, context=None):
        if block_id == 2:
            raise DecodeError("BDB block 2", "expected b'[/bold]' but parsed b'[red]x'")
        return real(block_id, raw, version, context)

    monkeypatch.setattr(vbtschema, "decode_block", failing)
    app = make_app(StaticSource(host_with_vbt(demo.vbt()), "test capture"), start="vbt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        tree = screen.query_one("#vbt-tree", Tree)
        key = next(k for k, n in screen.block_nodes.items() if str(n.label).startswith("block 2 "))
        node = screen.block_nodes[key]
        node.expand()
        tree.move_cursor(node)
        tree.focus()
        await settle(pilot)
        assert [str(c.label) for c in node.children] == ["error: BDB block 2: expected b'[/bold]' but parsed b'[red]x'"]
        line = next(l for l in shown(tree).splitlines() if "error: " in l)
        assert "error: BDB block 2: expected b'[/bold]'" in line, line


async def test_a_blocks_findings_are_listed_under_the_block():
    short12 = bytes(15)  # block 12 (driver features) cut short: its findings say which bytes read as zero
    findings = vbtschema.decode_block(12, short12, vbtschema.DEMO_BDB_VERSION)["findings"]
    assert findings
    vbt = vbtschema.build_vbt(vbtschema.DEMO_BDB_VERSION, [*demo_blocks(), (12, short12)])
    app = make_app(StaticSource(host_with_vbt(vbt), "test capture"), start="vbt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        node = next(n for n in screen.block_nodes.values() if str(n.label).startswith("block 12 "))
        assert [str(c.label) for c in node.children if str(c.label).startswith("! ")] == [f"! {f}" for f in findings]
