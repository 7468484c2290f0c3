"""Two captures side by side: a generic list of differences ``{path, a, b, label?, why?}``.

The widget only styles and groups; what differs and whether it is expected is decided elsewhere
(labels are free text; ``unexpected`` sorts first and is marked, ``expected`` last and dimmed,
anything else in between). Rows can hide expected differences."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from igdscope.tui.widgets.common import TableView

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
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[dict[str, Any]] = []
        self.titles = ("a", "b")
        self.hide_expected = False

    def compose(self) -> ComposeResult:
        yield Static("", id="diff-summary", markup=False)
        table: DataTable = TableView(id="diff-table", cursor_type="row", zebra_stripes=False)
        yield table

    def set_items(self, items: list[dict[str, Any]], a_title: str = "a", b_title: str = "b") -> None:
        self.items = list(items)
        self.titles = (a_title, b_title)
        self._fill()

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
        self.query_one("#diff-summary", Static).update(" · ".join(parts) if self.items else f"no differences between the {a} and the {b}")
        section = self.get_component_rich_style("diffview--section", partial=True)
        many = len(groups) > 1
        for label in sorted(groups, key=_rank):
            if self.hide_expected and label == "expected":
                continue
            if many:
                table.add_row(Text(f"── {label or 'unlabelled'} ({counts[label]})", style=section), "", "", "", "", key=f"section:{label}")
            style = self._style(label)
            for i, it in enumerate(groups[label]):
                mark = "! " if label == "unexpected" else ""
                table.add_row(
                    Text(mark + str(it["path"]), style=style or ""),
                    Text(str(it.get("a", "-")), style=style or ""),
                    Text(str(it.get("b", "-")), style=style or ""),
                    Text(str(label or ""), style=style or ""),
                    Text(str(it.get("why") or ""), style=style or ""),
                    key=f"{label}:{i}:{it['path']}",
                )
