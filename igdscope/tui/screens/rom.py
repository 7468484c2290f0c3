"""ROM: the option ROM's image chain (legacy VBIOS, EFI GOP, ...), each image's PCIR and header
decoded, the VBT inside, and the raw bytes linked to the chain."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static, Tree

from igdscope.tui.model import Snapshot, View, is_leaf, printable, value_text
from igdscope.tui.screens.base import DataScreen
from igdscope.tui.widgets.common import Notice, TableView, TextTree
from igdscope.tui.widgets.hexview import HexView


class RomScreen(DataScreen):
    SCREEN_TITLE = "Option ROM"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, int, int, dict]] = []  # (title, start, end, detail)
        self._rom: Any = None
        self._from_hex: int | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="rom-summary", markup=False)
        yield Notice(id="rom-notice")
        with Horizontal(id="rom-main"):
            with Vertical(id="rom-left"):
                table = TableView(id="rom-images", cursor_type="row")
                table.border_title = "image chain"
                yield table
                yield TextTree("image", id="rom-tree")
            hexv = HexView(id="rom-hex")
            hexv.border_title = "raw bytes"
            yield hexv

    def on_mount(self) -> None:
        self.query_one("#rom-images", DataTable).add_columns("#", "offset", "kind", "PCIR id", "class", "code type", "bytes", "last", "checksum")
        super().on_mount()

    def show(self, snap: Snapshot, view: View | None) -> None:
        notice = self.query_one(Notice)
        summary = self.query_one("#rom-summary", Static)
        if view is None:
            notice.say(snap.error or "no data")
            return
        blob = view.capture.blobs.get("rom")
        if blob is self._rom and blob is not None:
            return
        self._rom = blob
        table = self.query_one("#rom-images", DataTable)
        table.clear()
        self.items = []
        hexv = self.query_one(HexView)
        rom = view.rom
        if blob is None or rom is None:
            why = "; ".join(printable(e["reason"]) for e in view.errors_for("rom")) or "the capture has no option ROM"
            summary.update("")
            notice.say(f"No option ROM: {why}.\nWhat to do: as root, igdscope reads /sys/bus/pci/devices/<IGD>/rom (enabling it for the read); UEFI-only systems have no shadowed VBIOS.")
            hexv.set_data(b"")
            self.query_one("#rom-tree", Tree).clear()
            return
        hexv.set_data(blob.data)
        hexv.border_title = Text(f"raw bytes · {len(blob.data):,} bytes from {printable(blob.source)} {printable(blob.path)}")  # Text: a str is markup
        if "error" in rom:
            notice.say(f"The option ROM cannot be decoded: {printable(rom['error'])}")
            return
        gop = rom.get("gop") or {}
        v = rom.get("vbt") or {}
        summary.update(Text.assemble(
            (f"{rom['size']:,} bytes, {len(rom.get('images', []))} image(s)", "bold"),
            f" · legacy {'yes' if rom.get('has_legacy') else 'no'} · EFI {'yes' if rom.get('has_efi') else 'no'}",
            f" · VBT {'at ' + hex(rom['vbt_offset']) if rom.get('vbt_offset') is not None else 'not found'}",
            f" · GOP: {gop.get('how') or ('present' if gop.get('present') else 'none')}" if gop else "",
            f" · walk ended: {rom.get('walk_ended')}" if rom.get("walk_ended") else "",
        ))
        notice.say("\n".join(f"! {printable(f)}" for f in rom.get("findings") or []))
        for img in rom.get("images", []):
            p = img.get("pcir") or {}
            ct = p.get("code_type")
            ck = img.get("checksum") or {}
            table.add_row(
                str(img.get("index")), f"{img['offset']:#x}", img.get("kind", "?"),
                f"{p['vendor_id']:04x}:{p['device_id']:04x}" if p else "-", f"{p.get('class_code', 0):06x}" if p else "-",
                value_text(ct, 20) if ct is not None else "-", f"{img.get('length', 0):,}", "yes" if img.get("last") else "",
                ck.get("state", "ok" if img.get("checksum_ok") else "-") if ck or "checksum_ok" in img else "-",
            )
            self.items.append((f"image {img.get('index')} ({img.get('kind', '?')})", img["offset"], img["offset"] + max(img.get("length", 0), 1), img))
        if v.get("offset") is not None:
            table.add_row("VBT", f"{v['offset']:#x}", "VBT", "-", "-", "-", f"{v.get('vbt_size', 0):,}", "", "complete" if v.get("complete") else "cut")
            self.items.append(("VBT", v["offset"], v["offset"] + max(v.get("vbt_size") or 0, 1), v))
        if self.items:
            table.move_cursor(row=0, animate=False)
            self._mark(0)

    def _mark(self, row: int, cursor: int | None = None) -> None:
        if not 0 <= row < len(self.items):
            return
        title, a, b, detail = self.items[row]
        field = None
        if "pcir_offset" in detail and detail.get("pcir"):
            start = a + detail["pcir_offset"]
            field = (start, start + (detail["pcir"].get("length") or 24))
        self.query_one(HexView).mark((a, b), field, cursor=cursor if cursor is not None else a, scroll=cursor is None)
        tree = self.query_one("#rom-tree", Tree)
        tree.clear()
        tree.root.set_label(f"{title}: bytes {a:#x}–{b - 1:#x}" + (f" · PCIR at {field[0]:#x}" if field else ""))
        self._fill(tree.root, detail)
        tree.root.expand_all()

    def _fill(self, parent: Any, node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            name = str(k) if isinstance(node, dict) else f"[{k}]"
            if (isinstance(v, dict) and not is_leaf(v)) or (isinstance(v, list) and not is_leaf(v)):
                self._fill(parent.add(Text(name)), v)  # Text: a str label would be read as markup
            else:
                parent.add_leaf(Text.assemble((name, "bold"), ": " + value_text(v, 80)))

    @on(DataTable.RowHighlighted, "#rom-images")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        cursor, self._from_hex = self._from_hex, None
        self._mark(event.cursor_row, cursor)

    @on(HexView.CursorMoved, "#rom-hex")
    def _byte(self, event: HexView.CursorMoved) -> None:
        off = event.offset
        hits = [(b - a, row) for row, (_, a, b, _) in enumerate(self.items) if a <= off < b]
        if not hits:
            self.query_one(HexView).mark(None, None, cursor=off, scroll=False)
            return
        row = min(hits)[1]
        table = self.query_one("#rom-images", DataTable)
        if table.cursor_row == row:
            self._mark(row, off)
        else:
            self._from_hex = off
            table.move_cursor(row=row, animate=False)
