"""The GGTT invalidation confirmation: the dry-run plan, where the backup goes, and progress while
it runs. This screen only presents; the work (and the one import of the write path) belongs to the
GTT screen's invalidate action, which hands in ``run``."""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from igdscope.tui.widgets.common import kv_table

Runner = Callable[[str, Callable[[int, int], None]], dict[str, Any]]


class InvalidateScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: dict[str, Any], backup: str, run: Runner | None, refused: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.backup = backup
        self.run = run
        self.refused = refused
        self.result: dict[str, Any] | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        p = self.plan
        with Vertical(id="invalidate"):
            yield Label(f"Invalidate the GGTT of {p.get('device')}?", id="inv-title")
            yield Static(kv_table([
                ("device", f"{p.get('device')} ({p.get('platform')}, {p.get('format')} PTEs)"),
                ("entries", f"{p.get('entries', 0):,} ({p.get('bytes', 0):,} bytes) through {p.get('method')}"),
                ("value written", f"{p.get('value', 0):#x}: {p.get('why_zero', '')}"),
                ("then", p.get("tlb_flush", "")),
                ("driver", p.get("driver") or "none"),
                ("holders", "; ".join(p.get("holders") or []) or "none"),
            ]), id="inv-plan")
            yield Label("Backup of every entry to a new file (never replacing one), written and fsync'ed before anything is written (restore: igdscope gtt restore FILE):")
            yield Input(self.backup, id="inv-backup")
            yield Static(Text(f"Refused: {self.refused}", style="bold") if self.refused else "", id="inv-refused")
            yield ProgressBar(total=p.get("entries") or 1, show_eta=False, id="inv-progress")
            yield Static("", id="inv-result", markup=False)
            with Horizontal(id="inv-buttons"):
                yield Button("Invalidate", id="inv-confirm", variant="error", disabled=bool(self.refused) or self.run is None)
                yield Button("Cancel", id="inv-cancel")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one("#inv-refused").display = bool(self.refused)
        inp = self.query_one(Input)
        if self.app.is_headless:
            inp.cursor_blink = False
        self.query_one("#inv-cancel", Button).focus()

    @on(Button.Pressed, "#inv-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(self.result)

    @on(Button.Pressed, "#inv-confirm")
    def _confirm(self) -> None:
        if self.running or self.result is not None or self.run is None or self.refused:
            return
        self.running = True
        self.query_one("#inv-confirm", Button).disabled = True
        self.query_one("#inv-cancel", Button).disabled = True
        self.query_one(Input).disabled = True
        self.query_one(ProgressBar).display = True
        self.query_one("#inv-result", Static).update("backing up every entry…")
        self._work(self.query_one(Input).value.strip() or self.backup)

    @work(thread=True, exclusive=True, group="invalidate")
    def _work(self, path: str) -> None:
        assert self.run is not None

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)

        from igdscope.errors import IgdscopeError

        try:
            result = self.run(path, progress)
        except IgdscopeError as exc:  # refused, or the backup could not be written: nothing was written to the device
            result = {"error": str(exc), "backup": None}
        except Exception as exc:  # shown in the dialog: the backup path says how to undo
            result = {"error": f"{type(exc).__name__}: {exc}", "backup": path}
        self.app.call_from_thread(self._done, result)

    def _progress(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#inv-result", Static).update(f"writing and verifying: {done:,} of {total:,} entries")

    def _done(self, result: dict[str, Any]) -> None:
        self.running = False
        self.result = result
        if "error" in result:
            text = f"Failed: {result['error']}" + (f". Backup: {result['backup']}" if result.get("backup") else "")
        elif result.get("nothing_to_do"):
            text = f"Every one of the {result['total']:,} entries is already 0: nothing written, no backup made."
        elif result.get("interrupted"):
            text = f"Interrupted by {result['interrupted']} after {result['written']:,} of {result['total']:,} entries; restore with: igdscope gtt restore {result['backup']}"
        elif result.get("mismatches"):
            text = f"{len(result['mismatches'])} entries did not read back as written; restore with: igdscope gtt restore {result['backup']}"
        else:
            text = f"Wrote and verified {result['written']:,} entries{', flushed the GGTT TLBs' if result.get('flushed') else ''}. Backup: {result['backup']}"
        self.query_one("#inv-result", Static).update(text)
        cancel = self.query_one("#inv-cancel", Button)
        cancel.label = "Close"
        cancel.disabled = False
        cancel.focus()
