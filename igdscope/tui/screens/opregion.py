"""OpRegion: the header and every mailbox as a tree of fields. Live, each field that changed is
highlighted with when it changed (the newest changes strongest) and listed beside the tree — watch
ASLE/SWSCI requests, backlight (BCLP/CBLV) and DIDL/CADL as a guest driver uses them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from igdscope.tui.model import Change, Snapshot, View, is_leaf, printable, value_text
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice, TextTree, when_text


class OpRegionScreen(DataScreen):
    SCREEN_TITLE = "OpRegion"
    WATCH = frozenset({"devices", "opregion"})
    COMPONENT_CLASSES = {"opregion--changed", "opregion--fresh", "opregion--key"}
    BINDINGS = [
        Binding("c", "only_changed", "Expand changed"),
        Binding("E", "expand_all", "Expand all", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, TreeNode] = {}
        self.values: dict[str, Any] = {}
        self.keys: dict[str, str] = {}
        self.marked: dict[str, Change] = {}
        self.fresh: set[str] = set()
        self._blob: Any = None
        self._meanings: dict[str, dict[str, str]] = {}
        self.branches: dict[str, tuple[TreeNode, str, str | None]] = {}  # path -> node, text, meaning shown

    def compose_body(self) -> ComposeResult:
        yield Notice(id="op-notice")
        with Horizontal(id="op-main"):
            tree: Tree[str] = TextTree("OpRegion", id="op-tree")  # labels escaped: the root's quotes the capture
            tree.show_root = True
            yield tree
            with Vertical(id="op-side"):
                yield Static("Select a field: its path, value, and when it last changed.", id="op-detail", markup=False)
                with VerticalScroll(id="op-changes-box"):
                    yield Static("", id="op-changes", markup=False)

    def restyle(self) -> None:
        self.nodes = {}  # rebuild the tree: its labels carry the old theme's styles

    def show_key(self, snap: Snapshot) -> tuple:
        fresh = any(c.tick == snap.tick for c in snap.opregion_changes.values())
        return (*super().show_key(snap), len(snap.opregion_changes), fresh, snap.tick if fresh else None)

    # -- building --------------------------------------------------------------------------
    def _meaning(self, path: str) -> str | None:
        """What the field at ``path`` means (``parse_opregion``'s ``meanings``), if anything."""
        if path.startswith("header."):
            section, field = "header", path[len("header.") :]
        elif path.startswith("mailbox "):
            section, _, field = path[len("mailbox ") :].partition(".")
        else:
            return None
        return (self._meanings.get(section) or {}).get(field)

    def _branch(self, parent: TreeNode, text: str, path: str) -> TreeNode:
        meaning = self._meaning(path)
        node = parent.add(self._branch_label(text, meaning), data=path, expand=False)
        self.branches[path] = (node, text, meaning)
        return node

    @staticmethod
    def _branch_label(text: str, meaning: str | None) -> Text:
        t = Text(text)  # Text: a str label would be read as markup
        if meaning:
            t.append(f" — {meaning}", style="dim")
        return t

    def _label(self, key: str, path: str, value: Any, snap: Snapshot | None) -> Text:
        t = Text()
        t.append(key, style=self.get_component_rich_style("opregion--key", partial=True))
        t.append(": " + value_text(value))
        meaning = self._meaning(path)
        if meaning:
            t.append(f" — {meaning}", style="dim")
        c = snap.opregion_changes.get(path) if snap is not None else None
        if c is not None:
            fresh = snap is not None and c.tick == snap.tick
            style = self.get_component_rich_style("opregion--fresh" if fresh else "opregion--changed", partial=True)
            t.stylize(style)
            t.append(f"  ← changed {when_text(c)}", style=style)
        return t

    def _add(self, parent: TreeNode, key: str, node: Any, path: str, snap: Snapshot | None) -> None:
        if isinstance(node, dict) and not is_leaf(node):
            branch = self._branch(parent, key, path)
            for k, v in node.items():
                self._add(branch, str(k), v, f"{path}.{k}" if path else str(k), snap)
        elif isinstance(node, list) and not is_leaf(node):
            branch = self._branch(parent, f"{key} [{len(node)}]", path)
            for i, v in enumerate(node):
                self._add(branch, f"[{i}]", v, f"{path}[{i}]", snap)
        else:
            leaf = parent.add_leaf(self._label(key, path, node, snap), data=path)
            self.nodes[path] = leaf
            self.values[path] = node
            self.keys[path] = key

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        tree = self.query_one("#op-tree", Tree)
        if view is None:
            notice.say(snap.error or "no data")
            return
        op = view.opregion
        if op is None or "error" in op:
            src = view.capture.sources.get("opregion") or {}
            lines = ["OpRegion not captured." if op is None else f"OpRegion cannot be decoded: {printable(op['error'])}"]
            lines += [f"  {printable(t['source'])}: {printable(t['result'])}" for t in src.get("tried", [])]
            lines += [f"  {printable(e['reason'])}" for e in view.errors_for("opregion") if op is not None or not src.get("tried")]
            if op is None:
                lines.append("What to do: as root, with i915 bound it comes from debugfs; with vfio-pci bound pass --vfio to dump; or --allow-devmem to read it at ASLS.")
            notice.say("\n".join(lines))
            tree.clear()
            self.nodes, self.values, self.branches, self._blob = {}, {}, {}, None
            return
        fields = view.opregion_fields
        self._meanings = op.get("meanings") or {}
        problems = [f"! {printable(f)}" for f in op.get("findings", [])]
        notice.say("\n".join(problems))
        blob = view.capture.blobs.get("opregion")
        if set(fields) == set(self.nodes) and self.nodes:
            self._update(snap, fields)
        else:
            self._rebuild(snap, view, op)
        self._blob = blob
        self._changes(snap)

    def _rebuild(self, snap: Snapshot, view: View, op: dict) -> None:
        tree = self.query_one("#op-tree", Tree)
        expanded = {n.data for n in self._walk(tree.root) if n.is_expanded and n.data is not None} if self.nodes else None
        tree.clear()
        self.nodes, self.values, self.keys, self.branches = {}, {}, {}, {}
        blob = view.capture.blobs["opregion"]
        tree.root.set_label(f"OpRegion {op.get('version')} · {len(blob.data)} bytes from {blob.source} · mailboxes {', '.join(op.get('mailboxes_present') or [])}")
        tree.root.data = ""
        self._add(tree.root, "header", op.get("header") or {}, "header", snap)
        from igdscope.schemas.opregion import MAILBOXES

        for name, mb in (op.get("mailboxes") or {}).items():
            where = MAILBOXES.get(name)
            label = f"{where[3]} at {where[0]:#06x}" if where else f"mailbox {name}"
            self._add(tree.root, label, mb, f"mailbox {name}", snap)
        tree.root.expand()
        for n in self._walk(tree.root):
            if n.data is None or n is tree.root:
                continue
            top = n.parent is tree.root
            if (expanded is None and top) or (expanded is not None and n.data in expanded):
                n.expand()
        self.marked = dict(snap.opregion_changes)
        self.fresh = {p for p, c in self.marked.items() if c.tick == snap.tick}
        self._expand_to(self.marked)

    def _update(self, snap: Snapshot, fields: dict[str, Any]) -> None:
        newly: dict[str, Change] = {}
        now_fresh = {p for p, c in snap.opregion_changes.items() if c.tick == snap.tick}
        for path, value in fields.items():
            c = snap.opregion_changes.get(path)
            if value != self.values.get(path) or c != self.marked.get(path) or path in now_fresh or path in self.fresh:
                self.nodes[path].set_label(self._label(self.keys[path], path, value, snap))
                self.values[path] = value
                if c is not None and c != self.marked.get(path):
                    newly[path] = c
        for path, (node, text, shown) in list(self.branches.items()):  # a list's count or a flag set's words
            meaning = self._meaning(path)
            if meaning != shown:
                node.set_label(self._branch_label(text, meaning))
                self.branches[path] = (node, text, meaning)
        self.fresh = now_fresh
        self.marked = dict(snap.opregion_changes)
        self._expand_to(newly)

    def _expand_to(self, paths: dict[str, Change]) -> None:
        for path in paths:
            node = self.nodes.get(path)
            while node is not None and node.parent is not None:
                node = node.parent
                node.expand()

    def _walk(self, node: TreeNode) -> list[TreeNode]:
        out = [node]
        for c in node.children:
            out.extend(self._walk(c))
        return out

    def _changes(self, snap: Snapshot) -> None:
        box = self.query_one("#op-changes", Static)
        if not snap.live:
            box.update("Changes appear here in live mode (igdscope tui): each field a guest driver or the firmware writes, with when.")
            return
        items = sorted(snap.opregion_changes.items(), key=lambda kv: (-kv[1].tick, kv[0]))
        if not items:
            box.update(f"No field changed since the first read (tick 1). Watching every {self.app.interval:g} s.")  # type: ignore[attr-defined]
            return
        t = Text(f"{len(items)} field(s) changed since the first read, newest first:\n")
        for path, c in items[:200]:
            t.append(f"{when_text(c)}  ", style="bold")
            t.append(f"{path}: {value_text(c.old, 24)} → {value_text(c.new, 24)}\n")
        box.update(t)

    # -- interaction -----------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#op-tree")
    def _node(self, event: Tree.NodeHighlighted) -> None:
        path = event.node.data
        snap = self.snapshot
        if path is None or snap is None:
            return
        detail = Text(path or "OpRegion", style="bold")
        if path in self.values:
            detail.append(f"\n{value_text(self.values[path], 400)}")
            meaning = self._meaning(path)
            if meaning:
                detail.append(f"\n{meaning}")
            c = snap.opregion_changes.get(path)
            if c is not None:
                detail.append(f"\nchanged {when_text(c)}: {value_text(c.old, 60)} → {value_text(c.new, 60)}")
        self.query_one("#op-detail", Static).update(detail)

    def action_only_changed(self) -> None:
        tree = self.query_one("#op-tree", Tree)
        for n in self._walk(tree.root):
            if n is not tree.root:
                n.collapse()
        self._expand_to(self.marked)

    def action_expand_all(self) -> None:
        self.query_one("#op-tree", Tree).root.expand_all()
