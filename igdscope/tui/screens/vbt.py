"""VBT: every copy the capture holds (debugfs, OpRegion mailbox 4 or RVDA, option ROM) selectable;
the headers and BDB blocks as a tree of decoded fields (panel timings included); the child
devices as a table; the raw bytes linked both ways (a block or child device highlights its bytes,
a byte selects its block)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static, Tree
from textual.widgets.tree import TreeNode

from igdscope.tui.model import Snapshot, VbtCopy, View, is_leaf, printable, value_text
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice, TableView, TextTree
from igdscope.tui.widgets.hexview import HexView

CHILD_COLUMNS = (
    ("handle", "handle"), ("device_type", "type"), ("dvo_port", "port"), ("ddc_pin", "DDC"), ("aux_channel", "AUX"),
    ("hdmi_support", "HDMI"), ("dp_support", "DP"), ("tmds_support", "DVI"), ("lspcon", "LSPCON"), ("hdmi_level_shifter_value", "HDMI lvl"),
    ("dp_max_link_rate", "DP rate"),
)
GENERAL_DEFINITIONS = 2
GENERAL_DEFINITIONS_HEADER = 5  # crt_ddc_gmbus_pin, dpms bits, boot_display[2], child_dev_size


def _cell(dev: dict, key: str) -> str:
    m = (dev.get("meaning") or {}).get(key)
    if isinstance(m, dict) and m.get("name") is not None:
        return printable(str(m["name"]))
    if key not in dev:
        return ""
    v = dev[key]
    if isinstance(v, dict):
        return value_text(v, 16)
    if isinstance(v, bool):
        return "yes" if v else ""
    return f"{v:#x}" if isinstance(v, int) and v > 9 else printable(str(v))


class VbtScreen(DataScreen):
    SCREEN_TITLE = "VBT"
    BINDINGS = [Binding("v", "next_copy", "Next copy")]

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[VbtCopy] = []
        self.copy: VbtCopy | None = None
        self.ranges: dict[str, tuple[int, int]] = {}
        self.block_nodes: dict[str, TreeNode] = {}
        self.child_rows: list[tuple[int, int, int]] = []  # table row -> (device index, start, end)
        self._copies_key: tuple | None = None
        self._pending: str | None = None
        self._link: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        yield Select([], id="vbt-copy", allow_blank=True, prompt="VBT copy")
        yield Notice(id="vbt-notice")
        with Horizontal(id="vbt-main"):
            yield TextTree("VBT", id="vbt-tree")
            with Vertical(id="vbt-side"):
                table = TableView(id="vbt-children", cursor_type="row")
                table.border_title = "child devices (block 2)"
                yield table
                hexv = HexView(id="vbt-hex")
                hexv.border_title = "raw bytes"
                yield hexv
                yield Static("", id="vbt-detail", markup=False)

    def on_mount(self) -> None:
        self.query_one("#vbt-children", DataTable).add_columns("#", *(t for _, t in CHILD_COLUMNS))
        super().on_mount()

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        sel = self.query_one("#vbt-copy", Select)
        if view is None:
            notice.say(snap.error or "no data")
            return
        copies = view.vbt_copies
        key = tuple((c.where, len(c.raw), id(c)) for c in copies)
        if key == self._copies_key:
            return
        self._copies_key = key
        self.copies = copies
        if not copies:
            sel.set_options([])
            sources = view.capture.sources.get("opregion") or {}
            tried = "; ".join(f"{printable(t['source'])}: {printable(t['result'])}" for t in sources.get("tried", []))
            notice.say("No VBT copy in this capture: no debugfs i915_vbt, no OpRegion with a VBT and no option ROM with a $VBT."
                       + (f"\nOpRegion sources: {tried}" if tried else "")
                       + "\nWhat to do: as root with i915 bound, debugfs has i915_vbt; or capture the option ROM / OpRegion (igdscope dump as root).")
            self.query_one("#vbt-tree", Tree).clear()
            self.query_one(HexView).set_data(b"")
            return
        notice.say("")
        where = self.copy.where if self.copy is not None else None
        sel.set_options([(f"{c.where} ({len(c.raw)} bytes{', ' + printable(c.error) if c.error else ''})", i) for i, c in enumerate(copies)])
        index = next((i for i, c in enumerate(copies) if c.where == where), 0)
        sel.value = index
        self._load(index)

    @on(Select.Changed, "#vbt-copy")
    def _copy_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and 0 <= event.value < len(self.copies) and self.copies[event.value] is not self.copy:
            self._load(event.value)

    def action_next_copy(self) -> None:
        if self.copies:
            i = self.copies.index(self.copy) if self.copy in self.copies else -1
            self.query_one("#vbt-copy", Select).value = (i + 1) % len(self.copies)

    # -- one copy --------------------------------------------------------------------------
    def _load(self, index: int) -> None:
        c = self.copies[index]
        self.copy = c
        tree = self.query_one("#vbt-tree", Tree)
        tree.clear()
        self.block_nodes = {}
        self.ranges = {k: (a, b) for k, a, b in c.block_ranges()}
        hexv = self.query_one(HexView)
        hexv.set_data(c.raw)
        hexv.border_title = f"raw bytes · {c.where} · {len(c.raw)} bytes"
        notice = self.query_one(Notice)
        if c.error or not c.decoded:
            notice.say(f"{c.where}: {printable(c.error or 'not decoded')}")
            tree.root.set_label(f"VBT from {c.where}: not decoded")
            self._children(None)
            return
        d = c.decoded
        notice.say("\n".join(f"! {printable(f)}" for f in d.get("findings") or []))
        ck = d.get("checksum") or {}
        tree.root.set_label(f"VBT from {c.where} · BDB version {d.get('bdb_version')} · checksum {'ok' if ck.get('ok') else 'mismatch'}")
        tree.root.data = None
        self.block_nodes["vbt_header"] = self._branch(tree.root, "VBT header", d.get("vbt_header") or {}, "vbt_header")
        if d.get("bdb_header"):
            self.block_nodes["bdb_header"] = self._branch(tree.root, "BDB header", d["bdb_header"], "bdb_header")
        general = None
        for i, b in enumerate(d.get("blocks") or []):
            key = f"block{i}"
            label = f"block {b['id']} {b.get('name') or 'unknown'} · {b.get('size')} bytes at {b['offset']:#x}"
            if "fields" in b:
                node = self._branch(tree.root, label, b["fields"], key)
            else:
                node = tree.root.add(Text(label), data=key)
                node.add_leaf(Text(f"error: {printable(b['error'])}") if "error" in b else Text(f"raw: {value_text(b.get('raw', ''), 120)}"), data=key)
            for f in b.get("findings") or []:
                node.add_leaf(Text(f"! {printable(f)}"), data=key)
            self.block_nodes[key] = node
            if b["id"] == GENERAL_DEFINITIONS and general is None:
                general = (b, key)
        tree.root.expand()
        self._children(general)
        if self._pending:
            what, self._pending = self._pending, None
            self.select(what)

    def _branch(self, parent: TreeNode, label: str, node: Any, key: str) -> TreeNode:
        branch = parent.add(Text(label), data=key)  # Text: a str label would be read as markup
        self._fill(branch, node, key)
        return branch

    def _fill(self, parent: TreeNode, node: Any, key: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            name = str(k) if isinstance(node, dict) else f"[{k}]"
            if (isinstance(v, dict) and not is_leaf(v)) or (isinstance(v, list) and not is_leaf(v)):
                child = parent.add(Text(name + (f" [{len(v)}]" if isinstance(v, list) else "")), data=key)
                self._fill(child, v, key)
            else:
                parent.add_leaf(Text.assemble((name, "bold"), ": " + value_text(v, 96)), data=key)

    def _children(self, general: tuple[dict, str] | None) -> None:
        table = self.query_one("#vbt-children", DataTable)
        table.clear()
        self.child_rows = []
        if general is None:
            table.border_title = "child devices: no block 2 in this VBT"
            return
        b, _ = general
        fields = b.get("fields") or {}
        size = fields.get("child_dev_size") or 0
        first = b["offset"] + 3 + GENERAL_DEFINITIONS_HEADER
        devices = fields.get("devices") or []
        shown = 0
        for i, dev in enumerate(devices):
            if not isinstance(dev, dict) or not dev.get("device_type"):
                continue
            table.add_row(str(i), *(_cell(dev, k) for k, _ in CHILD_COLUMNS), key=f"child{i}")
            self.child_rows.append((i, first + i * size, first + (i + 1) * size))
            shown += 1
        table.border_title = f"child devices (block 2): {shown} of {len(devices)} entries in use, {size} bytes each"

    # -- linking ---------------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#vbt-tree")
    def _node(self, event: Tree.NodeHighlighted) -> None:
        key = event.node.data
        if key is None or key not in self.ranges:
            return
        a, b = self.ranges[key]
        label = event.node.label
        self.query_one("#vbt-detail", Static).update(f"{getattr(label, 'plain', label)}\nbytes {a:#x}–{b - 1:#x} of the copy ({b - a} bytes)")
        if self._link.get("tree") == key:
            self._link.pop("tree")
            return  # selected from the hex view: keep its cursor and marks
        self.query_one(HexView).mark((a, b))

    @on(DataTable.RowHighlighted, "#vbt-children")
    def _child(self, event: DataTable.RowHighlighted) -> None:
        row = event.cursor_row
        if not 0 <= row < len(self.child_rows):
            return
        i, a, b = self.child_rows[row]
        self.query_one("#vbt-detail", Static).update(f"child device {i}: bytes {a:#x}–{b - 1:#x}")
        if self._link.get("child") == row:
            self._link.pop("child")
            return
        region = next((r for k, r in self.ranges.items() if r[0] <= a < r[1] and k.startswith("block")), None)
        self.query_one(HexView).mark(region, (a, b))

    @on(HexView.CursorMoved, "#vbt-hex")
    def _byte(self, event: HexView.CursorMoved) -> None:
        off = event.offset
        hit = [(k, r) for k, r in self.ranges.items() if r[0] <= off < r[1]]
        hexv = self.query_one(HexView)
        self._link = {}
        if not hit:
            hexv.mark(None, None, cursor=off, scroll=False)
            self.query_one("#vbt-detail", Static).update(f"byte {off:#x}: outside the headers and blocks")
            return
        key, region = min(hit, key=lambda kr: kr[1][1] - kr[1][0])
        child = next(((row, a, b) for row, (_, a, b) in enumerate(self.child_rows) if a <= off < b), None)
        hexv.mark(region, (child[1], child[2]) if child else None, cursor=off, scroll=False)
        tree = self.query_one("#vbt-tree", Tree)
        node = self.block_nodes.get(key)
        if node is not None and tree.cursor_node is not node:
            self._link["tree"] = key
            tree.move_cursor(node)
        table = self.query_one("#vbt-children", DataTable)
        if child is not None and table.cursor_row != child[0]:
            self._link["child"] = child[0]
            table.move_cursor(row=child[0], animate=False)

    def select(self, what: str) -> None:
        """``block:ID`` from the command palette."""
        if not self.copy or not self.copy.decoded:
            self._pending = what
            return
        _, _, ident = what.partition(":")
        for i, b in enumerate(self.copy.decoded.get("blocks") or []):
            if str(b["id"]) == ident:
                node = self.block_nodes.get(f"block{i}")
                if node is not None:
                    tree = self.query_one("#vbt-tree", Tree)
                    node.expand()
                    tree.move_cursor(node)
                    tree.scroll_to_node(node, animate=False)
                    tree.focus()
                return
