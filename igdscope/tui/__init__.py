"""The Textual TUI: ``igdscope tui`` (live, on this machine or ``--root``), ``igdscope tui
CAPTURE`` (offline), ``igdscope tui HOST.json --guest GUEST.json`` (diff mode) and ``igdscope demo``
(the built-in demo machine, host and guest).

Importing this package does not import textual; :func:`make_app` and :func:`run` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from igdscope.tui.app import IgdscopeApp
    from igdscope.tui.sources import Source

__all__ = ["make_app", "run", "source_for"]


def make_app(source: Source, **options: Any) -> IgdscopeApp:
    """The one factory the CLI and the tests use. ``source`` gives Captures (see
    :mod:`igdscope.tui.sources`); options: ``clock``, ``interval``, ``backup_dir``, ``start``."""
    from igdscope.tui.app import IgdscopeApp

    return IgdscopeApp(source, **options)


def source_for(capture_path: str | None = None, *, root: str = "/", guest_path: str | None = None, demo: bool = False, gtt: bool = True) -> Source:
    """The source the command line asks for. Raises :class:`igdscope.errors.BadInput` for a
    combination that makes no sense or a root without ``sys/``."""
    from igdscope.errors import BadInput
    from igdscope.tui import sources

    if demo:
        return sources.demo_source()
    if guest_path and not capture_path:
        raise BadInput("--guest needs a host capture too: igdscope tui HOST.json --guest GUEST.json")
    if capture_path and guest_path:
        return sources.DiffSource(sources.file_source(capture_path), sources.file_source(guest_path), f"{capture_path} ⇄ {guest_path}")
    if capture_path:
        return sources.file_source(capture_path)
    from igdscope.sources.sysfs import Root

    r = Root(root)
    if not r.path("sys").is_dir():
        raise BadInput(f"{r.path('sys')} does not exist: --root must name a tree with sys/ (and proc/)")
    return sources.LiveSource(r, gtt=gtt)


def run(capture_path: str | None = None, *, root: str = "/", guest_path: str | None = None, demo: bool = False, interval: float = 1.0,
        vm: Any = None, qemu_version: str | None = None) -> int:
    """Run the TUI until the user quits; returns the exit code. A capture that cannot be loaded
    raises :class:`igdscope.errors.BadInput` before the screen opens (the CLI prints it). ``vm``
    (an :class:`igdscope.analysis.vmconfig.VmConfig`) and ``qemu_version`` are what the Checks and Diff
    screens judge by."""
    src = source_for(capture_path, root=root, guest_path=guest_path, demo=demo)
    if src.live:
        from igdscope.sources.sysfs import guard_process

        guard_process()  # live reads run in worker threads: a fatal signal must not leave a ROM switched on
    if vm is not None:
        src.vm = vm
    if qemu_version is not None:
        from igdscope.analysis import qemu
        from igdscope.errors import BadInput

        if qemu.version(qemu_version) is None:
            raise BadInput(f"QEMU version {qemu_version!r} is not X.Y")
        src.qemu_version = qemu_version
    if capture_path and not demo:
        for s in (getattr(src, "host", None), getattr(src, "guest", None), src):
            load = getattr(s, "_load", None)
            if load is not None:
                load()  # fail early and plainly on a bad file
    app = make_app(src, interval=interval)
    result = app.run()
    return int(result or app.return_code or 0)
