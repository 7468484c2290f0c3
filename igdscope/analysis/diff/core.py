"""The diff engine's parts every area shares: the result being built (entries labelled expected /
unexpected / info), flattening decoded trees into leaves, byte runs, value text, and what a
difference breaks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from igdscope.analysis.qemu import machine
from igdscope.capture import Capture

MiB = 1 << 20
LABELS = ("unexpected", "expected", "info")
ICH9_LPC = machine.chipset("q35")["00:1f.0"][:2]  # q35's built-in LPC bridge at 00:1f.0 (vendor, device)
QEMU_SUBSYSTEM = (0x1AF4, 0x1100)  # the subsystem IDs QEMU gives its own devices
MAX_BYTE_RUNS = 16  # byte runs reported per area before the rest are counted in one entry
STALE_GTT_MIN = 8  # guest GGTT entries equal to the host's at the same index before they count

BREAKS_PCH = ("guest drivers look for the PCH at 00:1f.0: the Windows IGD driver stops with Code 43; "
              "i915 in a VM falls back to guessing the PCH from the IGD (intel_virt_detect_pch) and can pick the wrong one")
BREAKS_HB = ("the guest IGD drivers read the host bridge's revision and subsystem IDs (QEMU copies them for that reason): "
             "the Windows IGD driver can stop with Code 43")
BREAKS_NO_VBT = ("no VBT in the guest: i915 falls back to default outputs (ports missing or wrong), "
                 "the Windows driver can fail with Code 43; typically a black screen")
BREAKS_VBT = "the guest driver configures its outputs from a different VBT than the host firmware's: missing or wrong ports, a black screen"


# -- result building ---------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if not str(k).startswith("_")}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@dataclass
class _Out:
    """Collects differences. ``x`` / ``y`` are the left/right sides in the comparison's own order
    (host/guest); ``flip`` swaps them into the caller's a/b order."""

    flip: bool = False
    diffs: list[dict[str, Any]] = field(default_factory=list)
    missing_in_a: list[str] = field(default_factory=list)
    missing_in_b: list[str] = field(default_factory=list)
    checked: list[dict[str, Any]] = field(default_factory=list)  # things compared and found as they should be

    def add(self, path: str, x: Any, y: Any, label: str, why: str, breaks: str | None = None, context: dict | None = None) -> None:
        assert label in LABELS, label
        a, b = (y, x) if self.flip else (x, y)
        entry: dict[str, Any] = {"path": path, "a": _plain(a), "b": _plain(b), "label": label, "why": why}
        if label == "unexpected":
            entry["breaks"] = breaks or "the guest does not see what a working assignment gives it"
        if context:
            ca, cb = context.get("x"), context.get("y")
            if self.flip:
                ca, cb = cb, ca
            entry["context"] = {k: v for k, v in (("a", ca), ("b", cb)) if v}
            if not entry["context"]:
                del entry["context"]
        self.diffs.append(entry)

    def missing(self, path: str, x: Any, y: Any, label: str, why: str, breaks: str | None = None) -> None:
        """Something present on one side only: ``y is None`` = missing on the right (guest, b)."""
        self.add(path, x, y, label, why, breaks)
        right_missing = y is None
        if right_missing != self.flip:
            self.missing_in_b.append(path)
        else:
            self.missing_in_a.append(path)


def _result(mode: str, out: _Out, a: dict, b: dict, extra: dict | None = None) -> dict[str, Any]:
    counts = {lab: sum(1 for d in out.diffs if d["label"] == lab) for lab in LABELS}
    summary: dict[str, Any] = {**counts, "differences": len(out.diffs)}
    if extra:
        summary.update(extra)
    if counts["unexpected"]:
        summary["verdict"] = f"{counts['unexpected']} unexpected difference{'s' if counts['unexpected'] != 1 else ''}"
    elif out.diffs:
        summary["verdict"] = "nothing unexpected differs"
    else:
        summary["verdict"] = "no differences"
    order = {lab: i for i, lab in enumerate(LABELS)}
    diffs = sorted(out.diffs, key=lambda d: order[d["label"]])  # stable: field order kept inside a label
    return {"mode": mode, "a": a, "b": b, "differences": diffs, "missing_in_b": out.missing_in_b, "missing_in_a": out.missing_in_a,
            "checked": _plain(out.checked), "summary": summary}


# -- generic helpers ---------------------------------------------------------------------------------


def _flatten(obj: Any, prefix: str, out: dict[str, Any], skip: frozenset = frozenset()) -> None:
    """Leaves of plain data: dicts by key, lists by index; ``{"value", "name"}`` enums stay whole."""
    if isinstance(obj, dict) and not (set(obj) <= {"value", "name", "bits"} and "value" in obj):
        for k, v in obj.items():
            if k in skip or str(k).startswith("_"):
                continue
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, skip)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}[{i}]", out, skip)
    else:
        out[prefix] = obj


def _byte_runs(a: bytes, b: bytes, start: int = 0, end: int | None = None, gap: int = 0) -> list[tuple[int, int]]:
    """(start, end) of the runs of differing bytes in the common length; runs closer than ``gap`` merge."""
    n = min(len(a), len(b)) if end is None else min(len(a), len(b), end)
    if n <= start or a[start:n] == b[start:n]:
        return []
    import numpy as np

    x = np.frombuffer(a, dtype=np.uint8, count=n)[start:]
    y = np.frombuffer(b, dtype=np.uint8, count=n)[start:]
    idx = np.flatnonzero(x != y)
    if not len(idx):
        return []
    brk = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.concatenate(([0], brk + 1))
    ends = np.concatenate((brk, [len(idx) - 1]))
    return [(start + int(idx[s]), start + int(idx[e]) + 1) for s, e in zip(starts, ends)]


def _hex_slice(data: bytes, s: int, e: int, limit: int = 32) -> str:
    part = data[s : min(e, s + limit)].hex()
    return part + ("…" if e - s > limit else "")


def fmt_value(v: Any, path: str = "") -> str:
    """A compared value as text: hex for addresses, IDs and registers, ``value (name)`` for coded
    fields, JSON for structures (cut at 160 characters), quoted strings."""
    if v is None:
        return "(none)"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        hexy = v > 255 or any(t in path for t in ("registers", "identity", "address", "bars", "rvda", "vendor", "device", "bytes"))
        return f"{v:#x}" if hexy and v > 9 else str(v)
    if isinstance(v, dict):
        if set(v) <= {"value", "name", "bits"} and "value" in v:
            return f"{fmt_value(v['value'], path)} ({v['name']})" if v.get("name") else fmt_value(v["value"], path)
        return json.dumps(v, separators=(",", ":"), default=str)[:160]
    if isinstance(v, list):
        return json.dumps(v, separators=(",", ":"), default=str)[:160]
    text = str(v)
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "unknown"


# A labeller takes (path, x, y) and gives (label, why, breaks), or None to leave the leaf out; a
# byte labeller takes (where, capability id) for a run of bytes no field names.
Labeller = Any


def _replace_or_add(out: _Out, path: str, x: Any, y: Any, label: str, why: str, breaks: str | None, missing: bool = False) -> None:
    """Put the entry for ``path`` in place of any earlier one; ``missing``: the right side (guest,
    b) lacks it in meaning though a value (0) was read."""
    out.diffs = [d for d in out.diffs if d["path"] != path]
    out.add(path, x, y, label, why, breaks)
    if missing:
        (out.missing_in_a if out.flip else out.missing_in_b).append(path)


def _side(cap: Capture) -> dict[str, Any]:
    igd = cap.device("igd")
    return {"kind": "capture", "machine": cap.machine, "created": cap.created,
            "igd": f"{igd.vendor:04x}:{igd.device:04x}" if igd else None, "kernel": cap.host.get("kernel_release")}
