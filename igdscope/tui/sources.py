"""Where the TUI's Captures come from, and the refresh step that turns them into Snapshots.

A source gives Captures: a static one (a capture file, the demo machine, or host + guest for diff
mode) once; a live one (``live.collect`` on a Root) first in full, then cheaply each tick —
only what the current screen watches is re-read (device presence and driver always; config space,
the debugfs OpRegion or the GGTT when a screen shows them), a config read is skipped while the
device is runtime-suspended (it would wake it), and the vfio OpRegion is never re-read (opening
the vfio device resets the IGD). A pyudev monitor (on the real root only) asks for a full read on
bind, unbind, add and remove. Nothing here imports textual: the App runs :meth:`Refresher.build`
in a thread worker and posts the Snapshot it returns.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from igdscope.capture import Blob, Capture, Device
from igdscope.errors import BadInput
from igdscope.tui.model import Change, Snapshot, View, share_blobs, track_changes

WATCH_DEVICES = "devices"
WATCH_CONFIG = "config"
WATCH_OPREGION = "opregion"
WATCH_GTT = "gtt"


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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class LiveSource(Source):
    """This machine (or a tree under ``root``), read by :func:`igdscope.sources.live.collect`."""

    live = True

    def __init__(self, root: Any = "/", *, gtt: bool = True, use_udev: bool | None = None, root_cls: type | None = None):
        from igdscope.sources.sysfs import Root

        self.root = root if isinstance(root, Root) else (root_cls or Root)(root)
        self.gtt = gtt
        self.use_udev = use_udev
        self.label = "live " + ("this machine" if self.root.is_live else str(self.root.root))
        self._base: Capture | None = None  # the last full read
        self._gone: set[str] = set()
        self._full_needed = True
        self._observer: Any = None
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def request_full(self) -> None:
        self._full_needed = True

    def read(self, watch: frozenset[str], full: bool = False) -> Reading:
        with self._lock:
            if full or self._full_needed or self._base is None:
                return self._full()
            return self._light(watch)

    def _full(self) -> Reading:
        from igdscope.sources import live
        from igdscope.sources.sysfs import PCI_DEVICES, os_reason

        self._full_needed = False
        try:
            cap = live.collect(self.root, gtt=self.gtt, use_udev=self.use_udev)
        except live.NoIntelDisplay as exc:
            gone: set[str] = set()
            if self._base is not None:  # what left the bus; at least the IGD, which discovery no longer finds
                gone = {d.bdf for d in self._base.devices if not self.root.exists(f"{PCI_DEVICES}/{d.bdf}")}
                igd = self._base.device("igd")
                if igd is not None:
                    gone.add(igd.bdf)
            self._gone = gone
            self._full_needed = True
            return Reading(None, error=f"{exc}. Waiting for it to appear (bind it, or rescan the PCI bus); 'igdscope demo' shows the demo machine.", gone=gone)
        except OSError as exc:
            self._full_needed = True
            return Reading(None, error=f"{self.root.path(PCI_DEVICES)}: {os_reason(exc)}")
        self._base = cap
        self._gone = set()
        return Reading(cap)

    def _light(self, watch: frozenset[str]) -> Reading:
        from igdscope.sources import live
        from igdscope.sources.sysfs import PCI_DEVICES, os_reason

        base = self._base
        assert base is not None
        root = self.root
        gone = {d.bdf for d in base.devices if not root.exists(f"{PCI_DEVICES}/{d.bdf}")}
        if self._gone and not gone:
            return self._full()  # everything is back: read it all again
        for d in base.devices:
            if d.bdf not in gone and root.readlink_name(f"{PCI_DEVICES}/{d.bdf}/driver") != d.driver:
                return self._full()  # bound or unbound between udev events (or without udev)
        self._gone = gone
        cap = Capture(machine=base.machine, created=_now(), tool_version=base.tool_version, host=base.host,
                      devices=list(base.devices), blobs=dict(base.blobs), sources=base.sources, errors=list(base.errors))
        notes: list[str] = []
        for bdf in sorted(gone):
            cap.error("live", f"{bdf} is gone from {root.path(PCI_DEVICES)} (removed or unbound from the bus); the data shown is the last read")
        if WATCH_CONFIG in watch:
            for d in cap.devices:
                if d.bdf in gone or d.config_blob is None:
                    continue
                base_dir = f"{PCI_DEVICES}/{d.bdf}"
                if root.read_attr(f"{base_dir}/power/runtime_status") == "suspended":
                    notes.append(f"{d.bdf} is runtime-suspended: config space not re-read (a read would wake it)")
                    continue
                try:
                    data = root.read_bytes(f"{base_dir}/config", 4096)
                except OSError as exc:
                    cap.error(f"config {d.bdf}", os_reason(exc))
                    continue
                old = base.blobs.get(d.config_blob)
                cap.blobs[d.config_blob] = Blob(data, "sysfs", f"/{base_dir}/config", old.note if old and len(old.data) == len(data) else "")
        igd = cap.device("igd")
        if WATCH_OPREGION in watch and igd is not None and igd.bdf not in gone:
            blob = cap.blobs.get("opregion")
            if blob is not None and blob.source == "debugfs":
                try:
                    data = root.read_bytes(blob.path.lstrip("/"), len(blob.data) or 8192)
                except OSError as exc:
                    cap.error("opregion", f"{blob.path}: {os_reason(exc)}")
                else:
                    cap.blobs["opregion"] = Blob(data, blob.source, blob.path, blob.note)
            elif blob is not None:
                notes.append(f"OpRegion from {blob.source} is not re-read live (only debugfs is: the vfio region resets the IGD when opened)")
        if WATCH_GTT in watch and self.gtt and igd is not None and igd.bdf not in gone:
            cap.blobs.pop("gtt", None)
            cap.errors = [e for e in cap.errors if e["source"] != "gtt"]
            live.read_gtt(root, cap, igd)
        self._base = Capture(machine=base.machine, created=base.created, tool_version=base.tool_version, host=base.host,
                             devices=base.devices, blobs={**base.blobs, **{k: v for k, v in cap.blobs.items()}}, sources=base.sources, errors=base.errors)
        return Reading(cap, gone=gone, notes=notes)

    # -- udev ------------------------------------------------------------------------------
    def start_monitor(self, notify: Callable[[str, str], None]) -> str | None:
        if not self.root.is_live or self.use_udev is False:
            return "udev monitor off (not the real root): polling only"
        try:
            import pyudev

            ctx = pyudev.Context()
            mon = pyudev.Monitor.from_netlink(ctx)
            mon.filter_by(subsystem="pci")

            def event(device: Any) -> None:
                if device.action in ("add", "remove", "bind", "unbind", "change"):
                    self.request_full()
                    notify(device.action, device.sys_name)

            self._observer = pyudev.MonitorObserver(mon, callback=event, name="igdscope-udev")
            self._observer.start()
        except Exception as exc:  # no libudev, no netlink in a container: polling still works
            self._observer = None
            return f"udev monitor unavailable ({type(exc).__name__}: {exc}): polling only"
        return "udev monitor on"

    def stop_monitor(self) -> None:
        obs, self._observer = self._observer, None
        if obs is not None:
            try:
                obs.send_stop()
            except Exception:  # the observer thread is already gone
                pass


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
        snap = Snapshot(self.seq, src.label, live=src.live, tick=self.tick, when=when, gone=gone, notes=self.notes + reading.notes, vm=src.vm, qemu_version=src.qemu_version)
        if reading.host is None:
            # the whole source failed: keep the last good data, say why where the data would be
            snap.error = reading.error or "no data"
            if prev is not None:
                snap.host, snap.guest = prev.host, prev.guest
                snap.opregion_changes, snap.gtt_changes, snap.gtt_last_change = prev.opregion_changes, prev.gtt_changes, prev.gtt_last_change
            self.prev = snap
            return snap
        snap.error = reading.error
        old = prev.host if prev is not None else None
        cap = reading.host
        if old is not None:
            share_blobs(old.capture, cap)
        gtt_changed = None
        if old is not None and src.live:
            a, b = old.capture.blobs.get("gtt"), cap.blobs.get("gtt")
            if a is not None and b is not None and a is not b and len(a.data) == len(b.data):
                gtt_changed = self._gtt_delta(old, a.data, b.data, snap)
        if prev is not None:
            snap.gtt_changes, snap.gtt_last_change = prev.gtt_changes, prev.gtt_last_change
            if gtt_changed is None and self._gtt_mask is not None and old is not None and old.capture.blobs.get("gtt") is not cap.blobs.get("gtt"):
                gtt_changed = self._gtt_mask
        if old is not None and gtt_changed is None and _unchanged(old.capture, cap):
            view = old  # nothing read differs: the screens keep what they show
        else:
            view = View(cap, old if old is not None and old.capture.machine == cap.machine else None, gtt_changed)
        if prev is not None:
            snap.opregion_changes = prev.opregion_changes
            if old is not None and old.capture.blobs.get("opregion") is not cap.blobs.get("opregion"):
                snap.opregion_changes = track_changes(old.opregion_fields, view.opregion_fields, prev.opregion_changes, self.tick, when)
        if WATCH_GTT in watch:
            _ = view.gtt  # build the GGTT model here, off the UI thread
        if WATCH_OPREGION in watch:
            _ = view.opregion_fields
        if old is not None and old is not view:
            old.forget_prev()  # keep one View back, not the whole history
        snap.host = view
        if reading.guest is not None:
            g_old = prev.guest if prev is not None else None
            snap.guest = g_old if g_old is not None and g_old.capture is reading.guest else View(reading.guest)
        self.prev = snap
        return snap

    def _gtt_delta(self, old: View, a: bytes, b: bytes, snap: Snapshot) -> Any:
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
        if n:
            self._gtt_mask = self._gtt_mask | diff
            snap.gtt_last_change = Change(self.tick, snap.when, None, n)
        snap.gtt_changes = int(np.count_nonzero(self._gtt_mask))
        return self._gtt_mask


def _unchanged(a: Capture, b: Capture) -> bool:
    """The same devices, errors and blob objects (after :func:`share_blobs`)."""
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
