"""What the screens show, computed off the UI thread from frozen Captures.

A :class:`View` is one Capture decoded once (the decoders' plain data plus the pieces only the TUI
needs: every VBT copy with its bytes, the OpRegion as a flat field table, the register rows of the
standard header, the GGTT as numpy arrays). A :class:`Snapshot` is what the App hands to its
screens: the host view (and the guest view in diff mode), the live state (tick, gone devices,
source error) and the changes seen since the source started. Nothing here imports textual.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from igdscope.capture import Blob, Capture
from igdscope.decode.devices import ROLE_TITLES  # noqa: F401  (the screens take it from here)
from igdscope.errors import BadInput
from igdscope.schemas import pci
from igdscope.textsafe import (
    printable,  # control characters as \xNN escapes; the screens take it from here
)

ROLE_ORDER = {"host_bridge": 0, "igd": 1, "display": 2, "lpc": 3}


# -- value text ------------------------------------------------------------------------------------


def value_text(v: Any, limit: int = 72) -> str:
    """One decoded leaf as people read it: yes/no, decimal and hex, name (code); control
    characters in text escaped (see :func:`printable`)."""
    if isinstance(v, dict) and "value" in v and "name" in v:
        val = v["value"]
        code = f"{val:#x}" if isinstance(val, int) and not isinstance(val, bool) else ("" if val is None else printable(str(val)))
        if v.get("name") is None:
            return code or "-"
        return f"{printable(str(v['name']))} ({code})" if code else printable(str(v["name"]))
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v} ({v:#x})" if v > 9 or v < 0 else str(v)
    if v is None:
        return "-"
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).hex()
    s = printable(str(v))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def is_leaf(v: Any) -> bool:
    if isinstance(v, dict):
        return set(v) <= {"value", "name", "note"} and "value" in v
    if isinstance(v, list):
        return not v or all(not isinstance(x, (dict, list)) for x in v) and len(v) > 16
    return True


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested plain data as {path: leaf}. Lists of up to 16 scalars are split per element (DIDL
    and CADL entries change one at a time); longer scalar lists stay one leaf."""
    out: dict[str, Any] = {}
    if isinstance(node, dict) and not is_leaf(node):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(node, list) and not is_leaf(node):
        for i, v in enumerate(node):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = node
    return out


# -- the standard header as registers --------------------------------------------------------------

F = pci.Field
R = pci.Register


def _flags(enum: Any) -> tuple[pci.Field, ...]:
    out = []
    for name, mask in sorted(enum.flags.items(), key=lambda kv: -kv[1]):
        bit = mask.bit_length() - 1
        out.append(F(name, bit, bit, "", "flag"))
    return tuple(out)


def _bar(i: int) -> pci.Register:
    return R(f"BAR{i}", 0x10 + 4 * i, 4, f"base address register {i}", (
        F("base", 31, 4, "address bits 31:4 (memory) / 31:2 (I/O)", "addr"),
        F("prefetchable", 3, 3, "memory: prefetchable", "flag"),
        F("type", 2, 1, "memory: 0 = 32-bit, 2 = 64-bit (the next BAR holds the high dword)", "int", ((0, "32-bit"), (2, "64-bit"))),
        F("io", 0, 0, "1 = I/O space BAR", "flag"),
    ))


HEADER_REGISTERS: tuple[pci.Register, ...] = (
    R("VID", 0x00, 2, "vendor ID", (F("VID", 15, 0, "vendor", "int", ((0x8086, "Intel"),)),)),
    R("DID", 0x02, 2, "device ID", (F("DID", 15, 0, "device"),)),
    R("PCICMD", 0x04, 2, "command", _flags(pci.Command)),
    R("PCISTS", 0x06, 2, "status", _flags(pci.Status)),
    R("RID", 0x08, 1, "revision ID", (F("RID", 7, 0, "revision"),)),
    R("CC", 0x09, 1, "class code: programming interface", (F("PI", 7, 0, "programming interface"),)),
    R("SCC", 0x0A, 1, "class code: subclass", (F("SCC", 7, 0, "subclass"),)),
    R("BCC", 0x0B, 1, "class code: base class", (F("BCC", 7, 0, "base class", "int", ((3, "display"), (6, "bridge"))),)),
    R("CLS", 0x0C, 1, "cache line size"),
    R("MLT", 0x0D, 1, "master latency timer"),
    R("HDR", 0x0E, 1, "header type", (F("multi_function", 7, 7, "multi-function device", "flag"), F("layout", 6, 0, "0 = type 0, 1 = PCI bridge"))),
    R("BIST", 0x0F, 1, "built-in self test"),
    *(_bar(i) for i in range(6)),
    R("SVID", 0x2C, 2, "subsystem vendor ID", (F("SVID", 15, 0, "subsystem vendor"),)),
    R("SID", 0x2E, 2, "subsystem ID", (F("SID", 15, 0, "subsystem"),)),
    R("ROMBAR", 0x30, 4, "expansion ROM base address", (F("base", 31, 11, "address", "addr"), F("enable", 0, 0, "ROM decode enabled", "flag"))),
    R("CAPPTR", 0x34, 1, "capabilities pointer", (F("CAPPTR", 7, 0, "offset of the first capability"),)),
    R("INTRLINE", 0x3C, 1, "interrupt line"),
    R("INTRPIN", 0x3D, 1, "interrupt pin", (F("INTRPIN", 7, 0, "pin", "int", ((0, "none"), (1, "INTA#"), (2, "INTB#"), (3, "INTC#"), (4, "INTD#"))),)),
)


@dataclass(frozen=True)
class FieldRow:
    name: str
    bits: str
    value: int | None
    meaning: str
    doc: str
    start: int  # first config byte the field occupies
    end: int  # one past the last


@dataclass(frozen=True)
class RegRow:
    name: str
    offset: int
    size: int
    raw: int | None
    doc: str
    group: str  # header, capability, device
    fields: tuple[FieldRow, ...] = ()
    missing: str = ""


def _field_bytes(offset: int, bits: str) -> tuple[int, int]:
    hi, _, lo = bits.partition(":")
    hi_i = int(hi)
    lo_i = int(lo) if lo else hi_i
    return offset + lo_i // 8, offset + hi_i // 8 + 1


def _row(d: dict, group: str) -> RegRow:
    fields = tuple(
        FieldRow(f["name"], f["bits"], f["value"], f.get("meaning") or "", f.get("doc") or "", *_field_bytes(d["offset"], f["bits"]))
        for f in d.get("fields") or []
    )
    return RegRow(d["name"], d["offset"], d["size"], d.get("raw"), d.get("doc") or "", group, fields, d.get("missing", ""))


def register_rows(cfg: bytes, dec: dict) -> list[RegRow]:
    """The standard header, the capability headers and the role's registers, by offset."""
    rows = [_row(pci.decode_register(r, cfg), "header") for r in HEADER_REGISTERS]
    for c in dec.get("capabilities") or []:
        reg = R(f"CAP {c['name']}", c["offset"], 2, f"capability {c['id']:#04x} ({c['name']}), next at {c['next']:#04x}",
                (F("next", 15, 8, "next capability"), F("id", 7, 0, "capability ID")))
        rows.append(_row(pci.decode_register(reg, cfg), "capability"))
    for c in dec.get("extended_capabilities") or []:
        reg = R(f"ECAP {c['name']}", c["offset"], 4, f"extended capability {c['id']:#06x} ({c['name']}) v{c['version']}",
                (F("next", 31, 20, "next capability"), F("version", 19, 16, "version"), F("id", 15, 0, "capability ID")))
        rows.append(_row(pci.decode_register(reg, cfg), "capability"))
    rows += [_row(r, "device") for r in dec.get("registers") or []]
    rows.sort(key=lambda r: (r.offset, {"header": 0, "capability": 1, "device": 2}[r.group]))
    return rows


# -- VBT copies ------------------------------------------------------------------------------------


@dataclass
class VbtCopy:
    where: str
    raw: bytes
    decoded: dict | None = None
    error: str | None = None

    def block_ranges(self) -> list[tuple[str, int, int]]:
        """(tree key, start, end) of the headers and every block, in the copy's bytes."""
        d = self.decoded or {}
        out = []
        vh = d.get("vbt_header") or {}
        out.append(("vbt_header", 0, vh.get("header_size") or 48))
        bh = d.get("bdb_header")
        if bh:
            at = vh.get("bdb_offset") or 0
            out.append(("bdb_header", at, at + (bh.get("header_size") or 22)))
        for i, b in enumerate(d.get("blocks") or []):
            out.append((f"block{i}", b["offset"], b["offset"] + 3 + (b.get("size") or 0)))
        return out


def vbt_copies(cap: Capture) -> list[VbtCopy]:
    """Every VBT the capture holds, with its bytes (the same list and order as
    :func:`igdscope.formats.vbt_copies`)."""
    from igdscope.decode.firmware import vbt_decode, vbt_sources

    found = vbt_sources(cap)
    out = []
    for where, raw in found:
        c = VbtCopy(where, bytes(raw))
        try:
            c.decoded = vbt_decode(c.raw)
            size = (c.decoded.get("vbt_header") or {}).get("vbt_size")
            if size and size < len(c.raw):
                c.raw = c.raw[:size]
        except (BadInput, ValueError) as exc:
            c.error = str(exc)
        out.append(c)
    return out


# -- the GGTT --------------------------------------------------------------------------------------

EMPTY, SCRATCH, MAPPED, STOLEN, CHANGED = 0, 1, 2, 3, 4
CATEGORY_NAMES = {EMPTY: "not present", SCRATCH: "scratch page", MAPPED: "mapped", STOLEN: "stolen memory", CHANGED: "changed"}
FILTERS = ("all", "present", "mapped", "changed")


class GttModel:
    """The GGTT of one capture as numpy arrays: categories per entry for the occupancy picture,
    index lists for the filters, and entries decoded in chunks on demand (the list asks for a
    screenful at a time)."""

    CHUNK = 256

    def __init__(self, data: bytes, fmt: Any, dsm: tuple[int, int] | None, changed: Any = None):
        import numpy as np

        from igdscope.decode import gtt

        self.np = np
        self.data = data
        self.fmt = fmt
        self.ptes = gtt.as_array(data, fmt)
        self.n = len(self.ptes)
        self.dsm = dsm
        self.summary = gtt.summary(data, fmt, dsm=dsm, max_runs=8)
        self.scratch = self.summary.get("scratch_value")
        present = gtt.present(self.ptes, fmt)
        cat = present.astype(np.uint8) * np.uint8(MAPPED)
        if self.scratch is not None:
            cat[self.ptes == self.ptes.dtype.type(self.scratch)] = SCRATCH
        if dsm and dsm[1]:
            mapped = np.flatnonzero(cat == MAPPED)
            if fmt.stolen_relative:
                hit = mapped[gtt.field(self.ptes[mapped], fmt, "dm") != 0]
            else:
                addr = gtt.addresses(self.ptes[mapped], fmt)
                hit = mapped[(addr >= np.uint64(dsm[0])) & (addr < np.uint64(dsm[0] + dsm[1]))]
            cat[hit] = STOLEN
        self.changed_mask = changed
        if changed is not None and len(changed) == self.n:
            cat[changed] = CHANGED
        self.categories = cat
        self._rows: dict[str, Any] = {}
        self._chunks: dict[int, dict] = {}
        self._lock = threading.Lock()
        self.field_names = [name for name, _, _ in gtt_fields(fmt)]

    def rows(self, which: str):
        """Entry indices for a filter (None: every entry, row == index)."""
        np = self.np
        if which == "all":
            return None
        if which not in self._rows:
            if which == "present":
                self._rows[which] = np.flatnonzero(self.categories != EMPTY)
            elif which == "mapped":
                self._rows[which] = np.flatnonzero(self.categories >= MAPPED)
            elif which == "changed":
                self._rows[which] = np.flatnonzero(self.changed_mask) if self.changed_mask is not None and len(self.changed_mask) == self.n else np.zeros(0, dtype=np.int64)
        return self._rows[which]

    def count(self, which: str) -> int:
        r = self.rows(which)
        return self.n if r is None else len(r)

    def entry(self, index: int) -> dict[str, int]:
        """Every field of one entry, its address and its category."""
        from igdscope.decode import gtt

        chunk = index // self.CHUNK
        with self._lock:
            dec = self._chunks.get(chunk)
            if dec is None:
                if len(self._chunks) > 64:
                    self._chunks.clear()
                start = chunk * self.CHUNK
                dec = gtt.decode_table(self.data, self.fmt, start, min(start + self.CHUNK, self.n))
                dec = {k: v.tolist() for k, v in dec.items()}
                self._chunks[chunk] = dec
        i = index - chunk * self.CHUNK
        out = {k: v[i] for k, v in dec.items()}
        out["category"] = int(self.categories[index])
        return out

    def occupancy(self, cells: int):
        """The category of ``cells`` equal slices of the table (the highest category in each)."""
        np = self.np
        if self.n == 0 or cells <= 0:
            return np.zeros(0, dtype=np.uint8)
        cells = min(cells, self.n)
        edges = (np.arange(cells, dtype=np.int64) * self.n) // cells
        return np.maximum.reduceat(self.categories, edges)

    def find_address(self, address: int) -> int | None:
        from igdscope.decode import gtt

        hits = gtt.entries_mapping(self.data, self.fmt, address, limit=1)
        return hits[0] if hits else None


def gtt_fields(fmt: Any) -> list[tuple[str, int, int]]:
    from igdscope.schemas.gtt import bit_fields

    return [(n, hi, lo) for n, hi, lo in bit_fields(fmt) if not n.startswith("ignored")]


# -- one capture, decoded --------------------------------------------------------------------------


class View:
    """One Capture decoded for the screens. Pieces are computed on first use and carried over
    from the previous View of the same source when their bytes did not change."""

    def __init__(self, capture: Capture, prev: View | None = None, gtt_changed: Any = None):
        from igdscope.decode.model import decode

        self.capture = capture
        self.prev = prev
        self._gtt_changed = gtt_changed
        same = prev is not None and _same_configs(prev.capture, capture)
        if same and prev is not None:
            self.decoded = prev.decoded
        else:
            self.decoded = decode(capture, with_gtt_summary=False)
        self._lock = threading.Lock()

    def _carry(self, name: str, *keys: str) -> Any:
        """The previous View's cached ``name`` when the blobs ``keys`` are the very same objects."""
        p = self.prev
        if p is None or name not in p.__dict__:
            return None
        if all(p.capture.blobs.get(k) is self.capture.blobs.get(k) for k in keys):
            return p.__dict__[name]
        return None

    def forget_prev(self) -> None:
        self.prev = None

    @property
    def machine(self) -> str:
        return self.capture.machine

    @property
    def platform(self) -> Any:
        return self.decoded.platform

    def device_decoded(self, role: str) -> Any:
        """The decoder's data of the device of ``role`` (read-only), None when not captured."""
        d = self.decoded.device(role)
        return d.plain if d is not None else None

    def errors_for(self, *sources: str) -> list[dict[str, str]]:
        return [e for e in self.capture.errors if any(e["source"] == s or e["source"].startswith(s + " ") for s in sources)]

    @cached_property
    def opregion(self) -> dict | None:
        """The whole OpRegion decoded, or {"error": ...}; None when not captured."""
        carried = self._carry("opregion", "opregion")
        if carried is not None:
            return carried
        data = self.capture.blob("opregion")
        if data is None:
            return None
        from igdscope.decode.firmware import opregion_decode

        try:
            return opregion_decode(data)
        except (BadInput, ValueError) as exc:
            return {"error": str(exc)}

    @cached_property
    def opregion_fields(self) -> dict[str, Any]:
        """The OpRegion's header and mailboxes as {path: leaf}."""
        carried = self._carry("opregion_fields", "opregion")
        if carried is not None:
            return carried
        op = self.opregion
        if not op or "error" in op:
            return {}
        tree = {"header": op.get("header") or {}, **{f"mailbox {k}": v for k, v in (op.get("mailboxes") or {}).items()}}
        return flatten(tree)

    @cached_property
    def vbt_copies(self) -> list[VbtCopy]:
        carried = self._carry("vbt_copies", "vbt/debugfs", "opregion/rvda", "opregion", "rom")
        if carried is not None:
            return carried
        return vbt_copies(self.capture)

    @cached_property
    def rom(self) -> dict | None:
        carried = self._carry("rom", "rom")
        if carried is not None:
            return carried
        data = self.capture.blob("rom")
        if data is None:
            return None
        from igdscope.decode.firmware import rom_summary

        try:
            return rom_summary(data)
        except (BadInput, ValueError) as exc:
            return {"error": str(exc)}

    def registers(self, role: str) -> list[RegRow]:
        with self._lock:
            cache = self.__dict__.setdefault("_regs", {})
            if role not in cache:
                cfg = self.capture.config(role)
                dec = self.device_decoded(role)
                cache[role] = register_rows(cfg, dec) if cfg is not None and dec is not None and "error" not in dec else []
            return cache[role]

    @cached_property
    def gtt(self) -> GttModel | str | None:
        """The GGTT model, a sentence saying why there is none, or None when not captured."""
        blob = self.capture.blobs.get("gtt")
        if blob is None:
            return None
        p = self.prev
        if p is not None and "gtt" in p.__dict__ and p.capture.blobs.get("gtt") is blob and self._gtt_changed is None:
            return p.__dict__["gtt"]
        from igdscope.decode.devices import capture_platform
        from igdscope.schemas.gtt import format_for

        plat = capture_platform(self.capture)
        fmt = format_for(plat)
        if fmt is None:
            return "platform unknown or before gen6: the PTE format is not known"
        return GttModel(blob.data, fmt, self.decoded.stolen.dsm, self._gtt_changed)


def _same_configs(a: Capture, b: Capture) -> bool:
    if len(a.devices) != len(b.devices):
        return False
    for x, y in zip(a.devices, b.devices):
        if (x.bdf, x.role, x.device, x.config_blob, x.config_size) != (y.bdf, y.role, y.device, y.config_blob, y.config_size):
            return False
        if x.config_blob and a.blobs.get(x.config_blob) is not b.blobs.get(y.config_blob):
            return False
    return True


def with_shared_blobs(prev: Capture | None, cap: Capture) -> Capture:
    """``cap``, reusing ``prev``'s Blob objects where the bytes are equal (so Views carry their
    decoded pieces over): ``cap`` itself when there is nothing to share, else a copy."""
    if prev is None:
        return cap
    shared = {}
    for key, blob in cap.blobs.items():
        old = prev.blobs.get(key)
        if old is not None and old is not blob and old.data == blob.data and old.source == blob.source:
            shared[key] = old
    if not shared:
        return cap
    return dataclasses.replace(cap, blobs={**cap.blobs, **shared})


# -- changes over time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    tick: int
    when: float | None
    old: Any
    new: Any


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What the screens show, frozen: built by the refresh worker, replaced as a whole."""

    seq: int
    source: str  # one line: where the data comes from
    live: bool = False
    host: View | None = None
    guest: View | None = None
    error: str | None = None  # the whole source failed: what and what to do
    gone: dict[str, Change] = field(default_factory=dict)  # bdf -> when it went
    tick: int = 0
    when: float | None = None
    opregion_changes: dict[str, Change] = field(default_factory=dict)
    gtt_changes: int = 0
    gtt_last_change: Change | None = None
    notes: list[str] = field(default_factory=list)  # e.g. udev state
    vm: Any = None  # the VM configuration checks judge (igdscope.vmconfig.VmConfig), if given
    qemu_version: str | None = None  # the QEMU version checks and diff assume, if given

    def view(self, side: str = "host") -> View | None:
        return self.guest if side == "guest" and self.guest is not None else self.host

    @property
    def diff_mode(self) -> bool:
        return self.host is not None and self.guest is not None

    @property
    def diff(self) -> dict[str, Any] | None:
        """The host and guest compared by :mod:`igdscope.analysis.diff` (None outside diff mode; cached
        on the host View, so a tick that read nothing new reuses it)."""
        if self.host is None or self.guest is None:
            return None
        return diff_result(self.host, self.guest, self.qemu_version)

    @property
    def checks(self) -> dict[str, Any] | None:
        """The host capture checked by :mod:`igdscope.analysis.check` against ``vm`` (None: no data;
        cached on the host View)."""
        if self.host is None:
            return None
        return check_result(self.host, self.vm, self.qemu_version)


def track_changes(old: dict[str, Any], new: dict[str, Any], prev: dict[str, Change], tick: int, when: float | None) -> dict[str, Change]:
    """Carry ``prev`` forward and record every path whose value differs between the two tables."""
    if old is new or not old:
        return prev
    out = dict(prev)
    for path, value in new.items():
        if path in old and old[path] != value:
            out[path] = Change(tick, when, old[path], value)
    return out


# -- host and guest, compared; the host checked ----------------------------------------------------


def diff_result(host: View, guest: View, qemu_version: str | None = None) -> dict[str, Any]:
    """:func:`igdscope.analysis.diff.diff` of the two captures: every difference labelled expected /
    unexpected / info with why (and what an unexpected one breaks), or ``{"error": ...}``."""
    from igdscope.analysis import diff
    from igdscope.errors import BadInput

    key = ("diff", id(guest), qemu_version)
    cache = host.__dict__.setdefault("_results", {})
    if key not in cache:  # one comparison per pair of Views (a live tick that read nothing new reuses it)
        try:
            cache[key] = diff.diff(host.capture, guest.capture, qemu_version=qemu_version)
        except (BadInput, ValueError) as exc:
            cache[key] = {"error": str(exc), "differences": [], "summary": {}}
    return cache[key]


def check_result(view: View, vm: Any = None, qemu_version: str | None = None) -> dict[str, Any]:
    """:func:`igdscope.analysis.check.run_checks` for a host capture (rules with evidence and fix, the
    verdict per mode), or ``{"error": ...}`` saying why there is nothing to check."""
    from igdscope.analysis import check
    from igdscope.errors import BadInput

    if view.capture.machine == "guest":
        return {"error": "checks judge the host a VM is given the IGD from; this capture was taken inside a guest", "rules": [], "verdicts": {}}
    key = ("check", id(vm), qemu_version)
    cache = view.__dict__.setdefault("_results", {})
    if key not in cache:
        try:
            cache[key] = check.run_checks(view.capture, vm, qemu_version, decoded=view.decoded)
        except (BadInput, ValueError) as exc:
            cache[key] = {"error": str(exc), "rules": [], "verdicts": {}}
    return cache[key]


def blob_of(cap: Capture, key: str) -> Blob | None:
    return cap.blobs.get(key)


def plan_for(view: View, mode: str, qemu_version: str | None = None, firmware: str = "seabios", vm: Any = None) -> Any:
    """:func:`igdscope.analysis.plan.plan` for a host capture and ``mode`` (a
    :class:`~igdscope.analysis.plan.Plan`, cached on the View), or one line saying why there is
    none. The QEMU version is ``qemu_version`` (the one the app was given), else the capture's,
    else the one the VM configuration names, as the checks take it."""
    from igdscope.analysis import plan, qemu
    from igdscope.errors import BadInput

    if view.capture.machine == "guest":
        return "a plan is for the host a VM is given the IGD from; this capture was taken inside a guest"
    qv = qemu_version or view.capture.host.get("qemu_version") or (getattr(vm, "qemu_version_hint", None) if vm is not None else None)
    version = qemu.version(qv) if qv else None
    key = ("plan", mode, version, firmware)
    cache = view.__dict__.setdefault("_results", {})
    if key not in cache:
        try:
            cache[key] = plan.plan(view.capture, mode, version, firmware)
        except (BadInput, ValueError) as exc:
            cache[key] = f"no plan: {exc}"
    return cache[key]
