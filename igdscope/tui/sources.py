"""Where the TUI's Captures come from, and the refresh step that turns them into Snapshots.

A source gives Captures: a static one (a capture file, the demo machine, or host + guest for diff
mode) once; a live one first in full, then cheaply each tick, only what the current screen
watches (:class:`igdscope.sources.live.LiveReader` does the reading and says what it did not
re-read; :class:`igdscope.sources.udev.Monitor` asks for a full read on bind, unbind, add and
remove). Nothing here reads the machine or imports textual: the App runs
:meth:`Refresher.build` in a thread worker and posts the Snapshot it returns.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from igdscope.capture import Capture, Device
from igdscope.errors import BadInput
from igdscope.sources.live import WATCH_CONFIG, WATCH_DEVICES, WATCH_GTT, WATCH_OPREGION  # noqa: F401  (what screens watch)
from igdscope.tui.model import Change, Snapshot, View, track_changes, with_shared_blobs


@dataclass
class Reading:
    host: Capture | None
    guest: Capture | None = None
    error: str | None = None
    gone: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


class Source:
    """The seam between the TUI and where Captures come from."""

    live = False
    label = "capture"
    root: Any = None  # the Root of a live source
    vm: Any = None  # the VM configuration the Checks screen judges (igdscope.vmconfig.VmConfig)
    qemu_version: str | None = None  # the QEMU version checks and the host/guest diff assume

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:  # pragma: no cover - interface
        raise NotImplementedError

    def start_monitor(self, notify: Callable[[str, str], None]) -> str | None:
        return None

    def stop_monitor(self) -> None:
        return None


class StaticSource(Source):
    """One capture, loaded once (in the refresh worker, so a slow load never blocks the screen)."""

    def __init__(self, loader: Callable[[], Capture] | Capture, label: str):
        self._loader = loader
        self.label = label
        self._cap: Capture | None = loader if isinstance(loader, Capture) else None

    def _load(self) -> Capture:
        if self._cap is None:
            self._cap = self._loader()  # type: ignore[operator]
        return self._cap

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        try:
            return Reading(self._load())
        except BadInput as exc:
            return Reading(None, error=str(exc))


class DiffSource(Source):
    """A host capture and a guest capture side by side."""

    def __init__(self, host: StaticSource, guest: StaticSource, label: str):
        self.host, self.guest, self.label = host, guest, label

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        a, b = self.host.read(watch), self.guest.read(watch)
        err = "; ".join(e for e in (a.error, b.error) if e) or None
        return Reading(a.host, b.host, err)


def file_source(path: str) -> StaticSource:
    from igdscope import capture

    return StaticSource(lambda: capture.load(path), f"capture {path}")


def demo_source(guest: bool = True) -> Source:
    from igdscope.analysis import vmconfig
    from igdscope.sources import demo

    host = StaticSource(demo.host_capture, "demo host")
    src: Source = host if not guest else DiffSource(host, StaticSource(demo.guest_capture, "demo guest"), "demo machine (host and guest)")
    src.vm = vmconfig.parse_qemu_cmdline(demo.VM_ARGS)
    return src


class LiveSource(Source):
    """This machine (or a tree under ``root``): a thin adapter over
    :class:`igdscope.sources.live.LiveReader` (a full read, then the cheap per-tick read) and
    :class:`igdscope.sources.udev.Monitor` (a full read on bind, unbind, add and remove)."""

    live = True

    def __init__(self, root: Any = "/", *, gtt: bool = True, use_udev: bool | None = None, root_cls: type | None = None):
        from igdscope.sources import live, udev
        from igdscope.sources.sysfs import Root

        self.root = root if isinstance(root, Root) else (root_cls or Root)(root)
        self.gtt = gtt
        self.use_udev = use_udev
        self.label = "live " + ("this machine" if self.root.is_live else str(self.root.root))
        self.reader = live.LiveReader(self.root, gtt=gtt, use_udev=use_udev)
        self.monitor = udev.Monitor(self.root, use_udev)
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def request_full(self) -> None:
        self.reader.request_full()

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        with self._lock:
            if full or self.reader.full_needed or self.reader.base is None:
                return self._full()
            return self._light(watch)

    def _full(self) -> Reading:
        return _reading(self.reader.read_full())

    def _light(self, watch: frozenset[str]) -> Reading:
        return _reading(self.reader.read_watched(watch))

    # -- udev ------------------------------------------------------------------------------
    def start_monitor(self, notify: Callable[[str, str], None]) -> str | None:
        def event(action: str, name: str) -> None:
            self.request_full()
            notify(action, name)

        return self.monitor.start(event)

    def stop_monitor(self) -> None:
        self.monitor.stop()


def _reading(r: Any) -> Reading:
    return Reading(r.capture, error=r.error, gone=set(r.gone), notes=list(r.notes))


# -- the refresh step ------------------------------------------------------------------------------


class Refresher:
    """Builds the next Snapshot from the source and the previous Snapshot. Called from one thread
    worker at a time (the App never starts a refresh while one runs)."""

    def __init__(self, source: Source, clock: Callable[[], float] | None = None):
        self.source = source
        self.clock = clock or time.time
        self.prev: Snapshot | None = None
        self.seq = 0
        self.tick = 0
        self.notes: list[str] = []
        self._gtt_mask: Any = None
        self._gone: dict[str, Change] = {}
        self._lock = threading.Lock()

    def build(self, watch: frozenset[str] = frozenset(), full: bool = False) -> Snapshot:
        with self._lock:
            return self._build(watch, full)

    def _build(self, watch: frozenset[str], full: bool) -> Snapshot:
        src = self.source
        reading = src.read(watch, full)
        self.seq += 1
        prev = self.prev
        when = None
        if src.live:
            self.tick += 1
            when = self.clock()
        gone: dict[str, Change] = {}
        for bdf in sorted(reading.gone):
            gone[bdf] = self._gone.get(bdf) or Change(self.tick, when, "present", "gone")
        self._gone = gone
        common = {"live": src.live, "tick": self.tick, "when": when, "gone": gone, "notes": self.notes + reading.notes, "vm": src.vm, "qemu_version": src.qemu_version}
        if reading.host is None:
            # the whole source failed: keep the last good data, say why where the data would be
            kept = {}
            if prev is not None:
                kept = {"host": prev.host, "guest": prev.guest, "opregion_changes": prev.opregion_changes, "gtt_changes": prev.gtt_changes, "gtt_last_change": prev.gtt_last_change}
            self.prev = Snapshot(self.seq, src.label, error=reading.error or "no data", **kept, **common)
            return self.prev
        old = prev.host if prev is not None else None
        cap = reading.host
        if old is not None:
            cap = with_shared_blobs(old.capture, cap)
        gtt_changed = None
        gtt_changes, gtt_last_change = (prev.gtt_changes, prev.gtt_last_change) if prev is not None else (0, None)
        if old is not None and src.live:
            a, b = old.capture.blobs.get("gtt"), cap.blobs.get("gtt")
            if a is not None and b is not None and a is not b and len(a.data) == len(b.data):
                delta = self._gtt_delta(old, a.data, b.data, when)
                if delta is not None:
                    gtt_changed, gtt_changes, last = delta
                    gtt_last_change = last or gtt_last_change
        if gtt_changed is None and self._gtt_mask is not None and old is not None and old.capture.blobs.get("gtt") is not cap.blobs.get("gtt"):
            gtt_changed = self._gtt_mask
        if old is not None and gtt_changed is None and _unchanged(old.capture, cap):
            view = old  # nothing read differs: the screens keep what they show
        else:
            view = View(cap, old if old is not None and old.capture.machine == cap.machine else None, gtt_changed)
        opregion_changes: dict[str, Change] = {}
        if prev is not None:
            opregion_changes = prev.opregion_changes
            if old is not None and old.capture.blobs.get("opregion") is not cap.blobs.get("opregion"):
                opregion_changes = track_changes(old.opregion_fields, view.opregion_fields, prev.opregion_changes, self.tick, when)
        if WATCH_GTT in watch:
            _ = view.gtt  # build the GGTT model here, off the UI thread
        if WATCH_OPREGION in watch:
            _ = view.opregion_fields
        if old is not None and old is not view:
            old.forget_prev()  # keep one View back, not the whole history
        guest = None
        if reading.guest is not None:
            g_old = prev.guest if prev is not None else None
            guest = g_old if g_old is not None and g_old.capture is reading.guest else View(reading.guest)
        self.prev = Snapshot(self.seq, src.label, host=view, guest=guest, error=reading.error, opregion_changes=opregion_changes,
                             gtt_changes=gtt_changes, gtt_last_change=gtt_last_change, **common)
        return self.prev

    def _gtt_delta(self, old: View, a: bytes, b: bytes, when: float | None) -> tuple[Any, int, Change | None] | None:
        """The entries changed since the source started (a mask), how many, and this tick's
        change (None when this tick changed nothing); None when the PTE format is unknown."""
        import numpy as np

        from igdscope.decode.devices import capture_platform
        from igdscope.schemas.gtt import format_for

        fmt = format_for(capture_platform(old.capture))
        if fmt is None:
            return None
        from igdscope.decode import gtt

        pa, pb = gtt.as_array(a, fmt), gtt.as_array(b, fmt)
        diff = pa != pb
        if self._gtt_mask is None or len(self._gtt_mask) != len(diff):
            self._gtt_mask = np.zeros(len(diff), dtype=bool)
        n = int(np.count_nonzero(diff))
        last = None
        if n:
            self._gtt_mask = self._gtt_mask | diff
            last = Change(self.tick, when, None, n)
        return self._gtt_mask, int(np.count_nonzero(self._gtt_mask)), last


def _unchanged(a: Capture, b: Capture) -> bool:
    """The same devices, errors and blob objects (after :func:`with_shared_blobs`)."""
    return (a.machine == b.machine and a.devices == b.devices and a.errors == b.errors and a.blobs.keys() == b.blobs.keys()
            and all(a.blobs[k] is b.blobs[k] for k in a.blobs))


def export_path(cap: Capture, directory: str | Path = ".") -> Path:
    """A default file name for an export: the machine and when the capture was taken."""
    stamp = (cap.created or "").replace("-", "").replace(":", "").replace("T", "-").rstrip("Z")
    stamp = "".join(c for c in stamp if c.isascii() and (c.isalnum() or c in "+-._")) or "now"  # a capture's text: no path or terminal control
    return Path(directory) / f"igdscope-{cap.machine}-{stamp}.json"


def export(cap: Capture, path: str | Path) -> Path:
    """Write ``cap`` as ``igdscope dump --json`` does (raw bytes plus the decoded courtesy view),
    as every output file is written (:func:`igdscope.outfile.write_file`: never through a
    symlink, never onto a device, FIFO or directory). Returns the absolute path written."""
    from igdscope import outfile
    from igdscope.decode.model import decode_capture

    return outfile.write_file(Path(path), cap.to_json(decode_capture(cap))).absolute()


def device_title(d: Device) -> str:
    from igdscope.tui.model import ROLE_TITLES

    return f"{ROLE_TITLES.get(d.role, d.role)} {d.bdf}"
