"""Two captures side by side: a list of differences ``{path, a, b, label?, why?, breaks?,
context?}`` as :mod:`igdscope.analysis.diff` gives them.

The widget only styles and groups; what differs and whether it is expected is decided by the
comparison (``unexpected`` sorts first and is marked, ``expected`` last and dimmed, anything else
in between). Rows can hide expected differences; the highlighted row's why, what it breaks and the
decoded context of both sides are shown below the table."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from igdscope.textsafe import printable
from igdscope.tui.widgets.common import TableView


def _text(v: Any, path: str) -> str:
    """A compared value as one line of text, escaped (it is a capture's)."""
    from igdscope.analysis.diff import fmt_value

    return printable(v if isinstance(v, str) else fmt_value(v, path))


def _cut(text: str, limit: int) -> str:
    """One table cell: the first line, at most ``limit`` characters (the detail below has it all)."""
    text = text.split("\n", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"

ORDER = {"unexpected": 0, None: 1, "expected": 3}


def _rank(label: str | None) -> tuple[int, str]:
    return ORDER.get(label, 2), label or ""


class DiffView(Vertical):
    COMPONENT_CLASSES = {"diffview--unexpected", "diffview--expected", "diffview--other", "diffview--section"}
    DEFAULT_CSS = """
    DiffView { height: 1fr; }
    DiffView > .diffview--unexpected { color: $error; text-style: bold; }
    DiffView > .diffview--expected { color: $text-muted; }
    DiffView > .diffview--other { color: $warning; }
    DiffView > .diffview--section { color: $accent; text-style: bold; }
    DiffView #diff-summary { height: auto; padding: 0 1; }
    DiffView DataTable { height: 1fr; }
    DiffView #diff-detail { height: auto; min-height: 3; max-height: 8; padding: 0 1; background: $boost; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[dict[str, Any]] = []
        self.titles = ("a", "b")
        self.hide_expected = False
        self.header: Any = ""  # lines above the counts (what was compared, by which rules)
        self.rows: list[dict[str, Any] | None] = []  # table row -> item (None: a section row)

    def compose(self) -> ComposeResult:
        yield Static("", id="diff-summary", markup=False)
        table: DataTable = TableView(id="diff-table", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static("", id="diff-detail", markup=False)

    def set_items(self, items: list[dict[str, Any]], a_title: str = "a", b_title: str = "b", header: Any = "") -> None:
        self.items = list(items)
        self.titles = (a_title, b_title)
        self.header = header
        self._fill()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def _detail(self, row: int) -> None:
        detail = self.query_one("#diff-detail", Static)
        it = self.rows[row] if 0 <= row < len(self.rows) else None
        if it is None:
            detail.update("")
            return
        a, b = self.titles
        text = Text()
        text.append(printable(str(it["path"])), style="bold")
        if it.get("label"):
            text.append(f" — {it['label']}", style=self._style(it.get("label")) or "")
        ctx = it.get("context") or {}
        for side, title in (("a", a), ("b", b)):
            text.append(f"\n{title}: ", style="bold")
            text.append(_text(it.get(side), str(it["path"])) if it.get(side) is not None else "(none)")
            if ctx.get(side):
                text.append(f"  [{printable(str(ctx[side]))}]", style="italic")
        if it.get("why"):
            text.append("\nwhy: ", style="bold")
            text.append(printable(str(it["why"])))
        if it.get("breaks"):
            text.append("\nbreaks: ", style="bold")
            text.append(printable(str(it["breaks"])))
        detail.update(text)

    def toggle_expected(self) -> None:
        self.hide_expected = not self.hide_expected
        self._fill()

    def _style(self, label: str | None) -> Any:
        key = "unexpected" if label == "unexpected" else "expected" if label == "expected" else "other" if label else None
        return self.get_component_rich_style(f"diffview--{key}", partial=True) if key else None

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        a, b = self.titles
        table.add_columns("path", a, b, "label", "why")
        groups: dict[str | None, list[dict]] = {}
        for it in self.items:
            groups.setdefault(it.get("label"), []).append(it)
        counts = {k: len(v) for k, v in groups.items()}
        parts = [f"{len(self.items)} difference{'s' if len(self.items) != 1 else ''}"]
        for label in sorted(groups, key=_rank):
            parts.append(f"{counts[label]} {label or 'unlabelled'}")
        if self.hide_expected and "expected" in groups:
            parts.append("expected ones hidden (t shows them)")
        counts_line = " · ".join(parts) if self.items else f"no differences between the {a} and the {b}"
        self.query_one("#diff-summary", Static).update(Text("\n").join([Text(self.header), Text(counts_line)]) if self.header else counts_line)
        self.rows = []
        section = self.get_component_rich_style("diffview--section", partial=True)
        many = len(groups) > 1
        for label in sorted(groups, key=_rank):
            if self.hide_expected and label == "expected":
                continue
            if many:
                table.add_row(Text(f"── {label or 'unlabelled'} ({counts[label]})", style=section), "", "", "", "", key=f"section:{label}")
                self.rows.append(None)
            style = self._style(label)
            for i, it in enumerate(groups[label]):
                mark = "! " if label == "unexpected" else ""
                path = str(it["path"])
                va = "-" if it.get("a") is None else _text(it["a"], path)
                vb = "-" if it.get("b") is None else _text(it["b"], path)
                table.add_row(
                    Text(mark + printable(path), style=style or ""),
                    Text(_cut(va, 32), style=style or ""),
                    Text(_cut(vb, 32), style=style or ""),
                    Text(str(label or ""), style=style or ""),
                    Text(_cut(printable(str(it.get("why") or "")), 90), style=style or ""),
                    key=f"{label}:{i}:{it['path']}",
                )
                self.rows.append(it)
        self._detail(table.cursor_row)
