"""``igdscope gtt show --watch``: read the live GGTT at a fixed interval and report what changed.

Reads only: ``resource0``'s GGTT half is mapped read-only once and copied on every tick; the
mapping is dropped when the device goes away (``resource0`` missing or replaced) and made again
when it comes back. Ticks run on fixed slots (start + k * interval): a tick that runs past the
next slot does not make the following ones pile up, it skips to the first slot still ahead and
is counted as an overrun.

Events are plain dicts (``event``: start, change, gone, back, stop) so that the command line can
print them as text lines or as JSON Lines; :func:`text` gives the text form.
"""

from __future__ import annotations

import datetime as _dt
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from igdscope.decode import gtt as gttmod
from igdscope.schemas.gtt import PteFormat
from igdscope.sources import live
from igdscope.sources.sysfs import Root

RUNS_LISTED = 64  # index ranges listed in a JSON event
DECODED = 8  # changes of at most this many entries list every entry, old and new value decoded

# how the watch waits; the tests replace it (and the clock) to change the fake device between ticks
SLEEP: Callable[[float], None] = time.sleep
CLOCK: Callable[[], float] = time.monotonic


class _Stop(Exception):
    """A stop signal arrived while the watch was waiting for its next slot."""


@dataclass
class Stats:
    ticks: int = 0
    changes: int = 0  # ticks (and device returns) that found entries changed
    changed_entries: int = 0
    slowest: float = 0.0  # seconds
    overruns: int = 0  # ticks that ended after the next slot had begun
    skipped: int = 0  # slots skipped because of overruns
    seconds: float = 0.0
    reason: str = ""


class Watch:
    """Watch the GGTT of the device at ``site`` under ``root``: entries ``first:stop`` (default
    all) every ``interval`` seconds, ``count`` ticks at most (None: until a signal). ``emit``
    receives every event."""

    def __init__(self, root: Root, site: live.GttSite, fmt: PteFormat, interval: float, emit: Callable[[dict[str, Any]], None], *,
                 count: int | None = None, first: int = 0, stop: int | None = None, platform: str | None = None):
        self.root, self.site, self.fmt = root, site, fmt
        self.interval, self.count, self.emit = interval, count, emit
        self.platform = platform
        entries = site.size // fmt.size
        self.first = min(first, entries)
        self.stop_at = entries if stop is None else min(stop, entries)
        words = (self.stop_at - self.first) * fmt.size // 4
        self.old = np.empty(words, dtype="<u4")  # the last good read
        self.new = np.empty(words, dtype="<u4")
        self.differ = np.empty((self.stop_at - self.first), dtype=bool)
        self.mapping: live.GttMapping | None = None
        self.stats = Stats()
        self.started = 0.0
        self._stopping: str | None = None
        self._waiting = False

    # -- one tick ------------------------------------------------------------------------------

    def _open(self) -> str | None:
        """Map the GGTT; None when done, else why it cannot be."""
        try:
            site = live.gtt_site(self.root, self.site.bdf)
        except (live.GttUnavailable, live.NoIntelDisplay) as exc:
            return str(exc)
        if (site.size, site.offset, site.device_id) != (self.site.size, self.site.offset, self.site.device_id):
            self._stopping = "device changed"  # not the table the watch compares with: stop
            return f"{site.bdf} is back as another device or with its GGTT elsewhere ({site.device_id:04x}, {site.size:#x} bytes at BAR0+{site.offset:#x}); start the watch again"
        try:
            self.mapping = live.GttMapping(self.root, site)
        except live.GttUnavailable as exc:
            return str(exc)
        return None

    def _close(self) -> None:
        if self.mapping is not None:
            self.mapping.close()
            self.mapping = None

    def _read(self) -> None:
        assert self.mapping is not None
        self.mapping.read_into(self.new, self.first * self.fmt.size // 4)

    def _compare(self) -> dict[str, Any] | None:
        """The change from ``old`` to ``new`` as an event body (None: no entry differs); then
        ``new`` becomes ``old``."""
        dt = "<u8" if self.fmt.size == 8 else "<u4"
        a, b = self.old.view(dt), self.new.view(dt)
        np.not_equal(a, b, out=self.differ)
        n = int(np.count_nonzero(self.differ))
        body = None
        if n:
            starts, stops = gttmod.true_runs(self.differ)
            body = {
                "changed": n,
                "runs": [{"first": int(s) + self.first, "entries": int(e - s)} for s, e in zip(starts[:RUNS_LISTED], stops[:RUNS_LISTED])],
                "runs_total": int(len(starts)),
                "entries": self._decoded(a, b) if n <= DECODED else [],
            }
        self.old, self.new = self.new, self.old
        return body

    def _decoded(self, a: np.ndarray, b: np.ndarray) -> list[dict[str, Any]]:
        idx = np.flatnonzero(self.differ)
        olds, news = a[idx], b[idx]
        oa, na = gttmod.addresses(olds, self.fmt), gttmod.addresses(news, self.fmt)
        old_p, new_p = gttmod.present(olds, self.fmt), gttmod.present(news, self.fmt)
        return [{"index": int(i) + self.first, "old": int(olds[k]), "new": int(news[k]), "old_address": int(oa[k]), "old_present": bool(old_p[k]),
                 "new_address": int(na[k]), "new_present": bool(new_p[k])} for k, i in enumerate(idx)]

    def _event(self, kind: str, **body: Any) -> None:
        now = _dt.datetime.now().astimezone()
        self.emit({"event": kind, "time": now.isoformat(timespec="milliseconds"), "elapsed": round(CLOCK() - self.started, 3), "tick": self.stats.ticks, **body})

    def begin(self) -> None:
        """Map the GGTT and take the first read, which the next one is compared with (tick 1)."""
        self.mapping = live.GttMapping(self.root, self.site)
        try:
            self._read()
        except BaseException:
            self._close()
            raise
        self.old, self.new = self.new, self.old
        self.stats.ticks = 1

    def tick(self) -> None:
        """One read of the GGTT and what it found."""
        self.stats.ticks += 1
        if self.mapping is not None:
            why = self.mapping.gone()
            if why is not None:
                self._close()
                self._event("gone", reason=why)
                return
            self._read()
            body = self._compare()
            if body is not None:
                self.stats.changes += 1
                self.stats.changed_entries += body["changed"]
                self._event("change", **body)
            return
        why = self._open()
        if why is not None and self._stopping == "device changed":
            self._event("gone", reason=why)
        elif why is None:  # the device is back: compare with the last read before it went
            self._read()
            body = self._compare()
            if body is not None:
                self.stats.changes += 1
                self.stats.changed_entries += body["changed"]
            self._event("back", **(body or {"changed": 0, "runs": [], "runs_total": 0, "entries": []}))

    # -- the loop ------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._stopping = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
        if self._waiting:
            raise _Stop()

    def run(self) -> Stats:
        """Tick until ``count`` ticks are done or SIGINT/SIGTERM arrives; then emit the ``stop``
        event and return the statistics. Raises :class:`live.GttUnavailable` when the GGTT
        cannot be mapped at the start."""
        self.started = start = CLOCK()
        self.begin()
        old_handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: --count (or the caller) stops the watch
                pass
        try:
            self.stats.slowest = CLOCK() - start
            self._event("start", device=self.site.bdf, device_id=self.site.device_id, platform=self.platform, format=self.fmt.name,
                        first=self.first, entries=self.stop_at - self.first, interval=self.interval, path=str(self.root.path(self.site.path)))
            self._loop(start)
        except _Stop:
            pass
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            self._close()
        s = self.stats
        s.reason = s.reason or self._stopping or "count"
        s.seconds = CLOCK() - start
        self.emit({"event": "stop", "reason": s.reason, "ticks": s.ticks, "changes": s.changes, "changed_entries": s.changed_entries,
                   "slowest_tick_ms": round(s.slowest * 1e3, 3), "overruns": s.overruns, "skipped_slots": s.skipped, "seconds": round(s.seconds, 3)})
        return s

    def _loop(self, start: float) -> None:
        slot = 0
        while not self._stopping:
            if self.count is not None and self.stats.ticks >= self.count:
                self.stats.reason = "count"
                return
            slot += 1
            due = start + slot * self.interval
            now = CLOCK()
            if now > due:  # the last tick ran past this slot: on to the first slot still ahead
                late = int((now - due) // self.interval) + 1
                self.stats.overruns += 1
                self.stats.skipped += late
                slot += late
                due = start + slot * self.interval
            self._waiting = True
            try:
                if self._stopping:
                    return
                SLEEP(due - now)
            finally:
                self._waiting = False
            if self._stopping:
                return
            t = CLOCK()
            self.tick()
            self.stats.slowest = max(self.stats.slowest, CLOCK() - t)


# -- text ------------------------------------------------------------------------------------------


