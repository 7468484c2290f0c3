"""The plan for one mode (``igdscope plan`` in the TUI), opened from the Checks screen: the
configuration that makes the mode work on the host of the capture, as QEMU arguments, libvirt
domain XML or Proxmox lines, each line with its reason; or, when no configuration can, the failing
rules and what would make it possible. The text is the command line's own rendering
(:func:`igdscope.cli.plan.render`), and saving writes exactly that text, through
:func:`igdscope.outfile.write_file`, to the path the user types."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from igdscope.analysis.check import MODES
from igdscope.analysis.plan import FIRMWARES
from igdscope.cli import plan as plancli
from igdscope.textsafe import printable, printable_lines
from igdscope.tui.model import View, plan_for
from igdscope.tui.screens.prompt import PromptScreen

FORMATS = plancli.FORMATS
MODE_TITLES = {"legacy": "legacy mode", "upt": "UPT", "upt_opregion": "UPT + OpRegion"}
FORMAT_TITLES = {"qemu": "QEMU arguments", "libvirt": "libvirt XML", "proxmox": "Proxmox lines"}
FIRMWARE_TITLES = {"seabios": "SeaBIOS", "ovmf": "OVMF"}
VERDICT_TONE = {"fails": "error", "unknown": "warning", "works": "success"}


def plan_text(plan: Any, fmt: str) -> str:
    """What the screen shows and saves: the command line's rendering of ``plan`` in ``fmt``, or
    the line saying why there is no plan."""
    return plancli.render(plan, fmt) if not isinstance(plan, str) else plan + "\n"


class PlanScreen(Screen[str]):
    """One mode's plan; ``m`` the next mode, ``f`` the next format, ``b`` the other firmware,
    ``w`` save to a file, Escape back to the Checks screen."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("m", "next_mode", "Mode"),
        Binding("f", "next_format", "Format"),
        Binding("b", "next_firmware", "Firmware"),
        Binding("w", "save", "Save"),
    ]
    # the App's keys that do not act on a plan (export a capture, re-read, host/guest, polling):
    # off here, so the footer shows this view's keys whole at 80 columns
    APP_ACTIONS_OFF = ("export", "reload", "side", "pause", "interval")

    def __init__(self, view: View, mode: str, *, qemu_version: str | None = None, firmware: str = "seabios", fmt: str = "qemu", vm: Any = None) -> None:
        super().__init__()
        self.view = view
        self.mode = mode
        self.qemu_version = qemu_version
        self.firmware = firmware
        self.fmt = fmt
        self.vm = vm
        self.plan: Any = None
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="plan-bar")
        with VerticalScroll(id="plan-scroll"):
            yield Static("", id="plan-text")
        yield Static("", id="plan-result", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Plan"
        self.query_one("#plan-result").display = False
        self._show()
        self.query_one("#plan-scroll").focus()

    def _tone(self, name: str) -> str:
        return self.app.theme_variables.get(name, "")

    def _show(self) -> None:
        self.plan = plan_for(self.view, self.mode, self.qemu_version, self.firmware, self.vm)
        self.text = plan_text(self.plan, self.fmt)
        bar = Text()
        bar.append(MODE_TITLES[self.mode], style="bold")
        bar.append(f" · {FORMAT_TITLES[self.fmt]} · {FIRMWARE_TITLES[self.firmware]} · ")
        if isinstance(self.plan, str):
            bar.append("no plan", style=f"bold {self._tone('error')}")
        else:
            bar.append(self.plan.verdict.upper(), style=f"bold {self._tone(VERDICT_TONE[self.plan.verdict])}")
            if not self.plan.feasible:
                bar.append(" (no configuration can: the failing rules)")
        self.query_one("#plan-bar", Static).update(bar)
        self.query_one("#plan-text", Static).update(self.styled())
        self.query_one("#plan-scroll", VerticalScroll).scroll_home(animate=False)

    def styled(self) -> Text:
        """The text as shown: folded, not cropped (every line is seen whole at 80 columns), escaped
        like every text that quotes a capture; reasons dimmed so the lines to write stand out,
        failing rules in the error colour."""
        out = Text(overflow="fold")
        for i, line in enumerate(printable_lines(self.text.rstrip("\n")).split("\n")):
            if i:
                out.append("\n")
            body = line.lstrip()
            if body.startswith("FAIL "):
                style = f"bold {self._tone('error')}"
            elif body.startswith(("#", "<!--")):
                style = "dim"
            else:
                style = "bold"
            out.append(line, style=style)
        return out

    def say(self, line: str, error: bool = False) -> None:
        """The one-line result of a save (the written path, or why not)."""
        result = self.query_one("#plan-result", Static)
        result.set_class(error, "error")
        result.update(printable(line))
        result.display = True

    def action_close(self) -> None:
        self.dismiss(self.mode)

    def action_next_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._show()

    def action_next_format(self) -> None:
        self.fmt = FORMATS[(FORMATS.index(self.fmt) + 1) % len(FORMATS)]
        self._show()

    def action_next_firmware(self) -> None:
        self.firmware = FIRMWARES[(FIRMWARES.index(self.firmware) + 1) % len(FIRMWARES)]
        self._show()

    def default_path(self) -> str:
        ext = {"libvirt": "xml", "proxmox": "conf"}.get(self.fmt, "txt")
        return f"igdscope-plan-{self.mode.replace('_', '-')}-{self.fmt}.{ext}"

    def action_save(self) -> None:
        text = self.text  # what is shown now is what is written

        def chosen(path: str | None) -> None:
            if path:
                self.save(path, text)

        self.app.push_screen(PromptScreen(f"Save this plan ({MODE_TITLES[self.mode]}, {FORMAT_TITLES[self.fmt]}) to a file",
                                          self.default_path(), help="Enter writes the file (never through a symlink), Escape cancels"), chosen)

    def save(self, path: str, text: str) -> None:
        from igdscope import outfile
        from igdscope.errors import IgdscopeError

        try:
            written = outfile.write_file(path, text)
        except IgdscopeError as exc:  # one line: refused (a symlink, a directory, ...) or the OS said no
            self.say(str(exc), error=True)
            return
        self.say(f"wrote {written.absolute()} ({len(text.encode()):,} bytes)")
