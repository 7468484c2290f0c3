"""``igdscope diff``: what differs between two captures (host and guest, two hosts, two moments) or
two files of one kind (VBT, OpRegion, option ROM, config space, lspci dump), and whether it should.

Host versus guest, the comparison knows what QEMU's IGD assignment does in each version
(``../shared/reference/qemu-igd.md`` §1-§4, ``opregion.md`` §10, ``gtt.md`` §5):

- it **copies** the host bridge's revision/prog-if and subsystem IDs into its own 00:00.0
  (i440FX 8086:1237 or Q35 8086:29C0) and the LPC bridge identity (VID, DID, RID/prog-if,
  subsystem IDs) into a ``vfio-pci-igd-lpc-bridge`` at 00:1f.0 (legacy mode, ``x-igd-lpc``);
- it **emulates** ASLS (0xFC) and BDSM (0x5C, or the 64-bit 0xC0 of gen 11+ from 9.2), which the
  guest firmware writes; GMCH (0x50) per version (GMS cleared up to 9.1, the host's value from 9.2,
  passed through from 10.1 unless ``x-igd-gms``); the BAR0 mirrors of GGC/DSMBASE (9.2+/10.0+);
  the BAR addresses, MSI and the command register (generic vfio-pci);
- it **passes through** the OpRegion as the kernel's vfio region shows it (Linux 5.16+ reports a
  2.0 OpRegion with an extended VBT as 2.1 with RVDA 0x2000) and the GGTT (BAR0), whose entries
  then hold guest-physical addresses.

Each difference is labelled ``expected`` (with why), ``unexpected`` (with what it breaks) or
``info``; things missing in the guest (ASLS 0, no OpRegion at ASLS, BDSM 0, a wrong identity at
00:1f.0 or 00:00.0, a GGTT still holding host-physical addresses) are unexpected even when the
host has the same value. Between two captures of one role, or two files, differences are ``info``
unless the second side lost something the first had (an OpRegion, a VBT, ASLS, BDSM, a device, a
VBT block), which is ``unexpected``.

Differences are reported field by field in decoded terms (register bit fields, OpRegion mailbox
fields, VBT block and child-device fields, ROM image headers), and as byte runs with the decoded
context (the register, capability, mailbox field or VBT block they sit in) where no field names
them. Pure functions of the captures; :func:`run` is the command's I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from igdscope import platforms
from igdscope.analysis import qemu
from igdscope.capture import Capture
from igdscope.decode.devices import capture_platform, decode_config, role_of
from igdscope.decode.firmware import rom_summary, vbt_decode, vbt_in_sections
from igdscope.errors import BadInput
from igdscope.schemas.opregion import leaves as op_leaves

MiB = 1 << 20
LABELS = ("unexpected", "expected", "info")
ICH9_LPC = (0x8086, 0x2918)  # q35's built-in LPC bridge at 00:1f.0 (read from QEMU 7.2 over qtest)
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


# -- config spaces -----------------------------------------------------------------------------------

HEADER_SKIP = frozenset({"vendor_id", "device_id", "revision_id", "prog_if", "subclass", "base_class", "subsystem_vendor_id", "subsystem_id", "header_type", "bar", "reserved"})
CAP_SIZES = {0x01: 8, 0x05: 24, 0x10: 60, 0x11: 12, 0x12: 8, 0x13: 6}  # PM, MSI (64-bit, masking), PCIe, MSI-X, SATA, AF


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "unknown"


@dataclass
class _Cfg:
    """One decoded config space and its leaves."""

    raw: bytes
    dec: dict[str, Any]
    leaves: dict[str, Any]
    meanings: dict[str, str]
    covered: list[tuple[int, int]]
    caps: list[tuple[int, int, str, int]]  # (start, end, name, id) of every capability, both spaces


def _cfg(raw: bytes, dec: dict[str, Any]) -> _Cfg:
    leaves: dict[str, Any] = {}
    meanings: dict[str, str] = {}
    ident = dec.get("identity") or {}
    for k, v in ident.items():
        if k != "class_name":
            leaves[f"identity.{k}"] = v
    meanings["identity.class"] = ident.get("class_name", "")
    hdr = {k: v for k, v in (dec.get("header") or {}).items() if k not in HEADER_SKIP}
    _flatten(hdr, "header", leaves)
    for b in dec.get("bars") or []:
        leaves[f"bars.BAR{b['bar']}.address"] = b.get("address")
        leaves[f"bars.BAR{b['bar']}.kind"] = b.get("kind")
        if "prefetchable" in b:
            leaves[f"bars.BAR{b['bar']}.prefetchable"] = b["prefetchable"]
    covered = [(0, 0x40)]
    for r in dec.get("registers") or []:
        name = r["name"]
        covered.append((r["offset"], r["offset"] + r["size"]))
        if r.get("raw") is None:
            leaves[f"registers.{name}"] = None
            continue
        if r.get("fields"):
            for f in r["fields"]:
                p = f"registers.{name}.{f['name']}"
                leaves[p] = f["value"]
                if f.get("meaning") and f["meaning"] not in ("set", "clear", f"{f['value']:#x}"):
                    meanings[p] = f["meaning"]
        else:
            leaves[f"registers.{name}"] = r["raw"]
    caps: list[tuple[int, int, str, int]] = []
    std = sorted(dec.get("capabilities") or [], key=lambda c: c["offset"])
    for i, c in enumerate(std):
        size = c.get("length") or CAP_SIZES.get(c["id"], 4)
        caps.append((c["offset"], c["offset"] + size, c.get("name") or f"capability {c['id']:#x}", c["id"]))
    ext = sorted(dec.get("extended_capabilities") or [], key=lambda c: c["offset"])
    for i, c in enumerate(ext):
        nxt = ext[i + 1]["offset"] if i + 1 < len(ext) and ext[i + 1]["offset"] > c["offset"] else min(c["offset"] + 0x40, 0x1000)
        caps.append((c["offset"], nxt, c.get("name") or f"extended capability {c['id']:#x}", 0x10000 | c["id"]))
    return _Cfg(raw, dec, leaves, meanings, covered, caps)


def _cap_key(c: dict, ext: bool) -> str:
    return ("extended_capabilities." if ext else "capabilities.") + _slug(c.get("name") or f"id_{c['id']:#x}")


def _cap_sets(dec: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for ext, key in ((False, "capabilities"), (True, "extended_capabilities")):
        for c in dec.get(key) or []:
            k = _cap_key(c, ext)
            n = 2
            while k in out:
                k = f"{_cap_key(c, ext)}#{n}"
                n += 1
            out[k] = c
    return out


def _cap_at(off: int, x: _Cfg | None, y: _Cfg | None) -> tuple[int, int, str, int] | None:
    """The capability (either side's) holding config byte ``off``: (start, end, name, id)."""
    best = None
    for side in (x, y):
        if side is None:
            continue
        for cap in side.caps:
            if cap[0] <= off < cap[1] and (best is None or cap[0] > best[0]):
                best = cap
    return best


def _piece(cur: list[Any]) -> tuple[int, int, str, int | None]:
    """(start, end, where, capability id) of a run of differing config bytes."""
    s, e, cap, _ = cur
    if cap is None:
        where = "device-specific config bytes the decoders do not name" if s < 0x100 else "extended config space outside any capability"
        return s, e, where, None
    start, _, name, cid = cap
    if cid < 0x10000 and (s, e) == (start + 1, start + 2):
        return s, e, f"next-capability pointer of {name} at {start:#x}", cid
    return s, e, f"{name} capability at {start:#x}, bytes +{s - start:#x}..+{e - 1 - start:#x}", cid


# A labeller takes (path, x, y) and gives (label, why, breaks), or None to leave the leaf out; a
# byte labeller takes (where, capability id) for a run of bytes no field names.
Labeller = Any


def _diff_config(out: _Out, prefix: str, x: _Cfg, y: _Cfg, labeller: Labeller, byte_labeller: Labeller, *, byte_runs: bool = True) -> None:
    keys = list(dict.fromkeys([*x.leaves, *y.leaves]))
    for k in keys:
        vx, vy = x.leaves.get(k), y.leaves.get(k)
        if vx == vy:
            continue
        res = labeller(k, vx, vy)
        if res is None:
            continue
        label, why, breaks = res
        ctx = {"x": x.meanings.get(k), "y": y.meanings.get(k)}
        out.add(f"{prefix}.{k}", vx, vy, label, why, breaks, context=ctx if any(ctx.values()) else None)
    # capabilities: presence and decoded bodies
    cx, cy = _cap_sets(x.dec), _cap_sets(y.dec)
    for k in dict.fromkeys([*cx, *cy]):
        a, b = cx.get(k), cy.get(k)
        if a is not None and b is not None:
            for sub in ("offset", "data", "version"):
                if a.get(sub) != b.get(sub):
                    res = labeller(f"{k}.{sub}", a.get(sub), b.get(sub))
                    if res is not None:
                        out.add(f"{prefix}.{k}.{sub}", a.get(sub), b.get(sub), *res)
            continue
        res = labeller(k, a, b)
        if res is not None:
            desc_a = None if a is None else f"{a.get('name')} at {a['offset']:#x}"
            desc_b = None if b is None else f"{b.get('name')} at {b['offset']:#x}"
            out.missing(f"{prefix}.{k}", desc_a, desc_b, *res)
    if not byte_runs:
        return
    # bytes no field names, with the decoded context they sit in: one piece per capability
    n = min(len(x.raw), len(y.raw))
    covered = x.covered + y.covered
    offs = [o for s, e in _byte_runs(x.raw, y.raw, 0x40, n) for o in range(s, e) if not any(a <= o < b for a, b in covered)]
    pieces: list[tuple[int, int, str, int | None]] = []
    cur: list[Any] = []
    for o in offs:
        cap = _cap_at(o, x, y)
        key = cap[0] if cap else None
        if cur and cur[3] == key and (key is not None or o - cur[1] <= 4):
            cur[1] = o + 1
            continue
        if cur:
            pieces.append(_piece(cur))
        cur = [o, o + 1, cap, key]
    if cur:
        pieces.append(_piece(cur))
    for s, e, where, cid in pieces[:MAX_BYTE_RUNS]:
        label, why, breaks = byte_labeller(where, cid)
        out.add(f"{prefix}.config[{s:#x}:{e:#x}]", _hex_slice(x.raw, s, e), _hex_slice(y.raw, s, e), label, f"{where}: {why}", breaks)
    if len(pieces) > MAX_BYTE_RUNS:
        rest = pieces[MAX_BYTE_RUNS:]
        label = "unexpected" if any(byte_labeller(w, c)[0] == "unexpected" for _, _, w, c in rest) else "info"
        out.add(f"{prefix}.config[{rest[0][0]:#x}:{rest[-1][1]:#x}]", f"{len(rest)} more runs", f"{sum(e - s for s, e, _, _ in rest)} bytes", label,
                "further differing byte runs, not listed one by one", "see the runs above" if label == "unexpected" else None)
    if len(x.raw) != len(y.raw):
        longer = x if len(x.raw) > len(y.raw) else y
        extra = [c[2] for c in longer.caps if c[0] >= n]
        res = labeller("config_size", len(x.raw), len(y.raw))
        if res is not None:
            what = f"{len(longer.raw) - n} bytes past {n:#x}" + (f" (extended capabilities: {', '.join(extra)})" if extra else "")
            out.add(f"{prefix}.config[{n:#x}:{len(longer.raw):#x}]", what if longer is x else None, what if longer is y else None, *res)


def _decode_cfg(raw: bytes, role: str | None, plat: platforms.Platform | None, size: int | None, bdf: str | None, name: str) -> _Cfg:
    try:
        dec = decode_config(raw, role, plat, size, bdf)
    except BadInput as exc:
        raise BadInput(f"{name}: {exc}") from None
    return _cfg(raw, dec)


# -- OpRegion ----------------------------------------------------------------------------------------

# Fields the OS driver and ACPI code write while running (kernel intel_opregion.c, opregion.md §4-§6):
# a snapshot taken at another moment, or the guest's own copy after its driver ran, differs there.
OPREGION_RUNTIME = (
    "mailboxes.acpi.",
    "mailboxes.swsci.",
    "mailboxes.backlight_3x.bcl1", "mailboxes.backlight_3x.bcl2", "mailboxes.backlight_3x.cbl1", "mailboxes.backlight_3x.cbl2",
    "mailboxes.asle.ardy", "mailboxes.asle.aslc", "mailboxes.asle.tche", "mailboxes.asle.alsi", "mailboxes.asle.bclp",
    "mailboxes.asle.pfit", "mailboxes.asle.cblv", "mailboxes.asle.cpfm", "mailboxes.asle.epfm", "mailboxes.asle.iuer",
    "mailboxes.asle.stat", "mailboxes.asle.srot",
    "header.driver_ver",
)
def _vfio_expected(hf: dict) -> tuple[str, int]:
    """(version text minus revision, RVDA) vfio-pci's region shows for a host OpRegion with these facts."""
    ext = hf["major"] >= 2 and hf["rvda"] != 0 and hf["rvds"] != 0
    major, minor = hf["major"], hf["minor"]
    if ext and (major, minor) == (2, 0):
        minor = 1
    return f"{major}.{minor}", 0x2000 if ext else 0


def _diff_opregion(out: _Out, prefix: str, dx: bytes, dy: bytes, *, host_guest: bool, vbt_handled: bool = False) -> None:
    """Field-by-field OpRegion comparison. ``host_guest``: y is the guest's copy of x."""
    lx, fx = op_leaves(dx)
    ly, fy = op_leaves(dy)
    if not fy["signature_ok"]:
        out.add(f"{prefix}.header.signature", lx.get("header.signature", (None,))[0], ly.get("header.signature", (None,))[0], "unexpected",
                "no 'IntelGraphicsMem' signature" + (" at the guest's ASLS" if host_guest else " in b"),
                BREAKS_NO_VBT if host_guest else "i915 ignores an OpRegion without its signature: no VBT, no ACPI display notifications")
        return
    exp_version, exp_rvda = _vfio_expected(fx)
    vfio_rule = ("vfio-pci (Linux 5.16+) presents an OpRegion 2.0 with an extended VBT as 2.1 with RVDA 0x2000, the VBT "
                 "right after the 8 KiB OpRegion (RVDA reads 0 without an extended VBT); QEMU copies that view into "
                 "fw_cfg etc/igd-opregion")
    for k in dict.fromkeys([*lx, *ly]):
        (vx, ox, _), (vy, oy, _) = lx.get(k, (None, 0, 0)), ly.get(k, (None, 0, 0))
        if vx == vy and not (host_guest and vy is not None and _vfio_differs(k, vy, exp_version, exp_rvda)):
            continue
        at = f"OpRegion offset {(ox or oy):#x}"
        path = f"{prefix}.{k}"
        if vy is None or vx is None:
            short = "b" if vy is None else "a"
            label = "unexpected" if vy is None and host_guest else "info"
            out.add(path, vx, vy, label, f"{at} lies past the end of {short}'s OpRegion dump ({(fy if vy is None else fx)['bytes']} bytes)",
                    "the guest's OpRegion is shorter than the OpRegion i915 maps (8 KiB)" if label == "unexpected" else None)
            continue
        if k == "header.version":
            if vy.rsplit(".", 1)[0] == exp_version and exp_version != vx.rsplit(".", 1)[0]:
                out.add(path, vx, vy, "expected", f"{at}: {vfio_rule}")
            elif host_guest:
                out.add(path, vx, vy, "unexpected", f"{at}: the guest's copy should read {exp_version} (the vfio view of this host's {vx})",
                        "i915 reads RVDA as absolute (2.0) or relative (2.1+) by this version: a wrong version makes it miss the extended VBT (no VBT in the guest)")
            else:
                out.add(path, vx, vy, "info", f"{at}: OpRegion structure version")
            continue
        if k == "mailboxes.asle.rvda":
            if vy == exp_rvda:
                out.add(path, vx, vy, "expected", f"{at}: {vfio_rule}")
            elif host_guest:
                out.add(path, vx, vy, "unexpected", f"{at}: the vfio view of this host's OpRegion reads RVDA {exp_rvda:#x}", BREAKS_NO_VBT)
            else:
                out.add(path, vx, vy, "info", f"{at}: raw (extended) VBT address")
            continue
        runtime = any(k == r or (r.endswith(".") and k.startswith(r)) or k.startswith(r + ".") or k.startswith(r + "[") for r in OPREGION_RUNTIME)
        if runtime:
            label = "expected" if host_guest else "info"
            why = (f"{at}: written at run time by the OS driver and ACPI code; the guest's copy is a snapshot of the host's at VM start, "
                   "then its own driver writes it") if host_guest else f"{at}: written at run time by the OS driver and ACPI code"
            out.add(path, vx, vy, label, why)
            continue
        is_bytes = isinstance(vx, (bytes, bytearray))
        reserved = ".rsvd" in k or k.endswith("reserved_bits")
        if is_bytes and (len(vx) > 16 or reserved):
            for s, e in _byte_runs(bytes(vx), bytes(vy), gap=8)[:MAX_BYTE_RUNS]:
                label = "info" if reserved or not host_guest else "unexpected"
                out.add(f"{path}[{s:#x}:{e:#x}]", _hex_slice(vx, s, e), _hex_slice(vy, s, e), label,
                        f"OpRegion offset {ox + s:#x}, inside {k}" + (" (reserved)" if reserved else ""),
                        "the guest's OpRegion is not a copy of this host's" if label == "unexpected" else None)
            continue
        if reserved or not host_guest:
            out.add(path, vx, vy, "info", f"{at}" + (" (reserved)" if reserved else ""))
            continue
        breaks = {
            "header.mboxes": "i915 uses only the mailboxes the MBOX bitmap advertises (and follows RVDA only with mailbox 3)",
            "mailboxes.asle.rvds": BREAKS_NO_VBT,
            "header.size": "vfio-pci sizes its OpRegion region from this field; the guest firmware copies that many bytes",
            "mailboxes.asle_ext.bddc": "i915 takes the eDP panel's EDID from mailbox 5: a different panel mode or none",
            "mailboxes.asle_ext.phed": "i915 takes the eDP panel's EDID from mailbox 5: a different panel mode or none",
        }
        brk = next((v for kk, v in breaks.items() if k.startswith(kk)), "the guest's OpRegion is not a copy of this host's: its platform data (backlight tables, versions, panel data) differ")
        out.add(path, vx, vy, "unexpected", f"{at}: QEMU passes the host OpRegion through unchanged except version and RVDA", brk)
    # mailbox 4: the VBT
    from igdscope.schemas import opregion as op

    mx = bytes(dx[op.VBT_OFFSET : op.ASLE_EXT_OFFSET])
    my = bytes(dy[op.VBT_OFFSET : op.ASLE_EXT_OFFSET])
    if mx != my:
        has_x, has_y = mx[:4] == b"$VBT", my[:4] == b"$VBT"
        path = f"{prefix}.mailboxes.vbt"
        if has_x and not has_y:
            out.missing(path, f"VBT ({int.from_bytes(mx[0x18:0x1A], 'little')} bytes)", None, "unexpected",
                        "mailbox 4 (0x400) holds a VBT in a but not in b", BREAKS_NO_VBT)
        elif has_x and has_y and not vbt_handled:
            _diff_vbt(out, path, mx, my, host_guest=host_guest)
        elif has_x and has_y:
            out.add(path, f"VBT, {int.from_bytes(mx[0x18:0x1A], 'little')} bytes", f"VBT, {int.from_bytes(my[0x18:0x1A], 'little')} bytes",
                    "unexpected" if host_guest else "info", "mailbox 4 (0x400) holds a different VBT: its fields are compared under vbt.*", BREAKS_VBT if host_guest else None)
        elif not has_x and has_y:
            out.missing(path, None, "VBT", "info", "mailbox 4 holds a VBT in b only")
        else:
            for s, e in _byte_runs(mx, my, gap=8)[:MAX_BYTE_RUNS]:
                out.add(f"{path}[{s:#x}:{e:#x}]", _hex_slice(mx, s, e), _hex_slice(my, s, e), "info", f"OpRegion offset {0x400 + s:#x}, mailbox 4 (no VBT on either side)")
    # an extended VBT carried inside the data (relative RVDA)
    ex, ey = _ext_vbt(dx, fx), _ext_vbt(dy, fy)
    if ex is not None and ey is not None and ex != ey and not vbt_handled:
        _diff_vbt(out, f"{prefix}.extended_vbt", ex, ey, host_guest=host_guest)
    elif ex is not None and ey is None and len(dy) > op.OPREGION_SIZE:
        out.missing(f"{prefix}.extended_vbt", f"VBT, {len(ex)} bytes", None, "unexpected" if host_guest else "info",
                    "the extended VBT (RVDA/RVDS) is in a's data but not in b's", BREAKS_NO_VBT if host_guest else None)


def _vfio_differs(k: str, guest_value: Any, exp_version: str, exp_rvda: int) -> bool:
    """The guest's copy equals the host's where vfio-pci would have rewritten it."""
    if k == "header.version":
        return str(guest_value).rsplit(".", 1)[0] != exp_version
    if k == "mailboxes.asle.rvda":
        return guest_value != exp_rvda
    return False


def _ext_vbt(data: bytes, facts: dict) -> bytes | None:
    loc = facts.get("extended")
    if loc is None or loc.get("kind") != "relative":
        return None
    off, size = loc["offset"], loc["size"]
    if off + 4 > len(data) or data[off : off + 4] != b"$VBT":
        return None
    return bytes(data[off : off + size])


# -- VBT -----------------------------------------------------------------------------------------------

VBT_SKIP = frozenset({"meaning", "findings", "unparsed"})


def _vbt_tree(data: bytes) -> dict[str, Any] | None:
    try:
        return vbt_decode(data)
    except BadInput:
        return None


def _block_keys(blocks: list[dict]) -> dict[str, dict]:
    """Blocks by key: ``block42`` for the first block of an id, ``block42#2`` ... for later copies."""
    out: dict[str, dict] = {}
    copies: dict[int, int] = {}
    for b in blocks:
        n = copies[b["id"]] = copies.get(b["id"], 0) + 1
        out[f"block{b['id']}" if n == 1 else f"block{b['id']}#{n}"] = b
    return out


def _diff_vbt(out: _Out, prefix: str, vx: bytes, vy: bytes, *, host_guest: bool, lost_is_unexpected: bool = True) -> None:
    """Field-by-field VBT comparison: headers, blocks present, every decoded block field (block 2's
    child devices as ``child[i]``), raw bytes with the block as context where no decoder exists."""
    tx, ty = _vbt_tree(vx), _vbt_tree(vy)
    diff_label = "unexpected" if host_guest else "info"
    if tx is None or ty is None:
        if tx is not None and ty is None:
            out.missing(prefix, "VBT", None, "unexpected" if lost_is_unexpected else "info", "b has no decodable VBT ('$VBT' header)", BREAKS_NO_VBT)
        elif ty is not None:
            out.missing(prefix, None, "VBT", "info", "a has no decodable VBT")
        return
    why_hg = "QEMU passes the host's OpRegion (and so its VBT) through unchanged"
    for part, key in (("header", "vbt_header"), ("bdb", "bdb_header")):
        la: dict[str, Any] = {}
        lb: dict[str, Any] = {}
        _flatten(tx.get(key) or {}, "", la)
        _flatten(ty.get(key) or {}, "", lb)
        for k in dict.fromkeys([*la, *lb]):
            if la.get(k) != lb.get(k):
                ignorable = k in ("vbt_checksum",)
                out.add(f"{prefix}.{part}.{k}", la.get(k), lb.get(k), "info" if ignorable else diff_label,
                        f"VBT {part} field" + (f"; {why_hg}" if host_guest else ""), BREAKS_VBT if diff_label == "unexpected" and not ignorable else None)
    okx, oky = (tx.get("checksum") or {}).get("ok"), (ty.get("checksum") or {}).get("ok")
    if okx != oky:
        out.add(f"{prefix}.checksum_ok", okx, oky, "info", "the VBT checksum (i915 and igt do not check it)")
    bx, by = _block_keys(tx.get("blocks") or []), _block_keys(ty.get("blocks") or [])
    for k in dict.fromkeys([*bx, *by]):
        a, b = bx.get(k), by.get(k)
        if a is None or b is None:
            present = a or b
            desc = f"block {present['id']} ({present.get('name') or 'unknown'}), {present.get('size')} bytes"
            if b is None:
                out.missing(f"{prefix}.{k}", desc, None, "unexpected" if (host_guest or lost_is_unexpected) else "info",
                            "the block is in a's VBT but not in b's", BREAKS_VBT)
            else:
                out.missing(f"{prefix}.{k}", None, desc, diff_label, "the block is in b's VBT but not in a's", BREAKS_VBT if host_guest else None)
            continue
        name = a.get("name") or b.get("name") or "unknown block"
        if "fields" in a and "fields" in b:
            fa, fb = dict(a["fields"]), dict(b["fields"])
            ma: dict[str, Any] = {}
            mb: dict[str, Any] = {}
            if "devices" in fa or "devices" in fb:
                fa["child"] = fa.pop("devices", [])
                fb["child"] = fb.pop("devices", [])
            la, lb = {}, {}
            _flatten(fa, "", la, VBT_SKIP)
            _flatten(fb, "", lb, VBT_SKIP)
            _vbt_meanings(fa, ma)
            _vbt_meanings(fb, mb)
            for f in dict.fromkeys([*la, *lb]):
                if la.get(f) != lb.get(f):
                    ctx = {"x": ma.get(f), "y": mb.get(f)}
                    out.add(f"{prefix}.{k}.{f}", la.get(f), lb.get(f), diff_label,
                            f"block {a['id']} ({name})" + (f"; {why_hg}" if host_guest else ""), BREAKS_VBT if host_guest else None,
                            context=ctx if any(ctx.values()) else None)
            if a.get("size") != b.get("size"):
                out.add(f"{prefix}.{k}.size", a.get("size"), b.get("size"), diff_label, f"block {a['id']} ({name}) data size", BREAKS_VBT if host_guest else None)
        else:
            ra = bytes.fromhex(a.get("raw") or "") if "raw" in a else b""
            rb = bytes.fromhex(b.get("raw") or "") if "raw" in b else b""
            if ra == rb and a.get("size") == b.get("size"):
                continue
            runs = _byte_runs(ra, rb, gap=4)
            if len(ra) != len(rb):
                runs.append((min(len(ra), len(rb)), max(len(ra), len(rb))))
            why = "a later copy of the block, which i915 and igt do not read" if "#" in k else "no field decoder for this block"
            for s, e in runs[:MAX_BYTE_RUNS]:
                out.add(f"{prefix}.{k}.bytes[{s:#x}:{e:#x}]", _hex_slice(ra, s, e) or None, _hex_slice(rb, s, e) or None, diff_label,
                        f"block {a['id']} ({name}), data bytes {s:#x}-{e - 1:#x} ({why})", BREAKS_VBT if host_guest else None)


def _vbt_meanings(fields: dict[str, Any], out: dict[str, Any]) -> None:
    """Field meanings VBT decoders put under ``meaning`` (per block and per child device)."""
    m = fields.get("meaning")
    if isinstance(m, dict):
        for k, v in m.items():
            out[k] = _meaning_text(v)
    for i, child in enumerate(fields.get("child") or []):
        cm = child.get("meaning") if isinstance(child, dict) else None
        if isinstance(cm, dict):
            for k, v in cm.items():
                out[f"child[{i}].{k}"] = _meaning_text(v)


def _meaning_text(v: Any) -> str | None:
    if isinstance(v, dict):
        if v.get("name"):
            return str(v["name"])
        return json.dumps(_plain(v), separators=(",", ":"), default=str)[:120]
    return None if v is None else str(v)


# -- option ROM ------------------------------------------------------------------------------------


def _diff_rom(out: _Out, prefix: str, rx: bytes, ry: bytes, *, label: str, why: str) -> None:
    sx, sy = rom_summary(rx), rom_summary(ry)
    la: dict[str, Any] = {}
    lb: dict[str, Any] = {}
    skip = frozenset({"findings", "vbt_offset"})
    _flatten({k: v for k, v in sx.items() if k not in skip}, "", la)
    _flatten({k: v for k, v in sy.items() if k not in skip}, "", lb)
    for k in dict.fromkeys([*la, *lb]):
        if la.get(k) != lb.get(k):
            lab = label
            brk = None
            if k in ("has_legacy", "has_efi") and la.get(k) and not lb.get(k):
                lab = "unexpected"
                brk = ("legacy BIOS guests (SeaBIOS) get no VBIOS: no boot screen, QEMU legacy mode needs a ROM" if k == "has_legacy"
                       else "UEFI guests get no GOP driver from this ROM: no boot screen")
            out.add(f"{prefix}.{k}", la.get(k), lb.get(k), lab, f"option ROM {k.replace('_', ' ')}; {why}", brk)
    vx, vy = _rom_vbt(rx, sx), _rom_vbt(ry, sy)
    vbt_spans: list[tuple[int, int]] = []
    if vx is not None and vy is not None and vx != vy:
        _diff_vbt(out, f"{prefix}.vbt", vx, vy, host_guest=False)
        vbt_spans = [(sx["vbt_offset"], sx["vbt_offset"] + len(vx)), (sy["vbt_offset"], sy["vbt_offset"] + len(vy))]
    if rx != ry:
        # bytes outside the VBT: with the image (header, PCIR, body) they sit in as context
        runs = [(s, e) for s, e in _byte_runs(rx, ry, gap=16) if not any(a <= s and e <= b for a, b in vbt_spans)]
        if vbt_spans and sx.get("vbt_offset") != sy.get("vbt_offset"):
            runs = []  # the VBT moved: every byte after it shifted, the decoded fields above say what changed
        for s, e in runs[:MAX_BYTE_RUNS]:
            out.add(f"{prefix}.bytes[{s:#x}:{e:#x}]", _hex_slice(rx, s, e), _hex_slice(ry, s, e), label, f"{_rom_where(s, sx, vx)}; {why}")
        if len(runs) > MAX_BYTE_RUNS:
            out.add(f"{prefix}.bytes", f"{len(runs) - MAX_BYTE_RUNS} more runs", None, label, f"further differing byte runs; {why}")
        if len(rx) != len(ry) and "size" not in {k for k in la if la.get(k) != lb.get(k)}:
            out.add(f"{prefix}.length", len(rx), len(ry), label, f"ROM length; {why}")


def _rom_vbt(data: bytes, summary: dict) -> bytes | None:
    off = summary.get("vbt_offset")
    if off is None:
        return None
    size = int.from_bytes(data[off + 0x18 : off + 0x1A], "little")
    return bytes(data[off : off + max(size, 0x30)])


def _rom_where(off: int, summary: dict, vbt: bytes | None) -> str:
    vo = summary.get("vbt_offset")
    if vo is not None and vbt is not None and vo <= off < vo + len(vbt):
        return f"ROM offset {off:#x}, inside the VBT at {vo:#x}"
    for img in summary.get("images") or []:
        start, length = img.get("offset", 0), img.get("length") or 0
        if start <= off < start + length:
            part = "PCIR" if img.get("pcir_offset") is not None and start + img["pcir_offset"] <= off < start + img["pcir_offset"] + 0x18 else "body"
            return f"ROM offset {off:#x}, image {img.get('index')} ({img.get('kind')}) {part}"
    return f"ROM offset {off:#x}, past the last image"


# -- captures: host versus guest ---------------------------------------------------------------------


@dataclass
class _HG:
    host: Capture
    guest: Capture
    qemu: tuple[int, int] | None
    qemu_source: str
    plat: platforms.Platform | None
    out: _Out

    @property
    def era(self) -> str | None:
        return qemu.era(self.qemu)

    @property
    def v(self) -> str:
        return qemu.text(self.qemu)

    def qgen(self) -> int | None:
        igd = self.host.device("igd") or self.guest.device("igd")
        if igd is None or self.era is None:
            return None
        return platforms.qemu_gen(igd.device, self.era)


def _dev_cfg(cap: Capture, role: str, plat: platforms.Platform | None) -> _Cfg | None:
    d = cap.device(role)
    raw = cap.config(role)
    if d is None or raw is None:
        return None
    return _decode_cfg(raw, role, plat if role != "display" else None, d.config_size, d.bdf, f"{cap.machine} {role} {d.bdf}")


def _gmch_rule(hg: _HG) -> str:
    return qemu.gmch_behaviour(hg.qemu)


def _gms_label(hg: _HG, h: int, g: int) -> tuple[str, str, str | None]:
    brk = ("the guest driver's stolen-memory size no longer matches the region the guest firmware reserved (etc/igd-bdsm-size): "
           "i915 can use memory past it; the Windows driver can stop with Code 43")
    ok, why = qemu.guest_gms(hg.qemu, hg.qgen() if hg.qemu is not None else None, g)
    return ("expected", why, None) if ok else ("unexpected", why, brk)


def _bdsm_emulated(hg: _HG) -> tuple[bool | None, str]:
    """Does this QEMU emulate the platform's BDSM register (0x5C or 0xC0)?"""
    loc = hg.plat.bdsm if hg.plat else None
    return qemu.bdsm_emulation(hg.qemu, hg.qgen() if hg.qemu is not None else None, loc)


def _igd_labeller(hg: _HG, hcfg: _Cfg, gcfg: _Cfg, guest_hb_did: int | None):
    conventional = guest_hb_did == 0x1237
    bdsm_emul, bdsm_why = _bdsm_emulated(hg)

    def lab(k: str, x: Any, y: Any):
        if k.startswith("identity."):
            f = k.split(".", 1)[1]
            if f in ("vendor", "device"):
                return "unexpected", "vfio-pci passes the IGD's IDs through unchanged (unless x-pci-vendor-id/x-pci-device-id)", "i915 platform detection: the driver matches the device ID, a different one picks another platform or none; the Windows driver may not load"
            if f == "revision":
                return "unexpected", "vfio-pci passes the revision through", "i915 picks stepping workarounds by revision"
            if f == "class":
                return "unexpected", "vfio-pci passes the class code through (unless x-pci-class-code)", "QEMU legacy mode needs class 0x0300 (VGA); a 0x0380 IGD is no boot display"
            if f in ("subsystem_vendor", "subsystem_device"):
                return "info", "vfio-pci passes the subsystem IDs through; a difference means x-pci-sub-vendor-id/x-pci-sub-device-id was set", None
            return "info", "header field", None
        if k == "config_size":
            if conventional and y == 256:
                return "expected", "QEMU's i440FX is conventional PCI: the guest sees 256 bytes of config space, no extended capabilities", None
            return "info", "config space size", None
        if k.startswith("header.command"):
            return "expected", "the command register holds what each side's OS enabled (vfio-pci virtualizes it)", None
        if k.startswith("header.status"):
            return "info", "status bits are run-time state", None
        if k in ("header.cache_line_size", "header.latency_timer", "header.interrupt_line", "header.expansion_rom"):
            return "expected", "set by each side's firmware or OS (vfio-pci virtualizes it)", None
        if k == "header.capabilities_pointer":
            return "expected", "QEMU builds the guest's capability list itself", None
        if k.startswith("header."):
            return "info", "header field", None
        if k.startswith("bars."):
            if k.endswith(".address"):
                return "expected", "the guest firmware assigns guest-physical BAR addresses; vfio-pci maps them onto the host BARs", None
            return "unexpected", "vfio-pci passes BAR types through", "the guest driver maps the BAR with the wrong width or caching"
        if k.startswith("registers.GGC."):
            f = k.rsplit(".", 1)[1]
            if f == "GMS":
                return _gms_label(hg, x or 0, y or 0)
            if f in ("lock", "VAMEN"):
                return "info", _gmch_rule(hg), None
            brk = {"GGMS": "the guest driver sizes the GGTT from GGMS: a wrong size maps the wrong entries (GPU hangs, a black screen)",
                   "IVD": "VGA decode differs from the host's: QEMU 10.2 refuses legacy mode with IVD set, and the VBIOS boot screen depends on it"}.get(f)
            return "unexpected", f"{_gmch_rule(hg)}: only GMS may differ", brk
        if k.startswith("registers.BDSM."):
            if bdsm_emul:
                return "expected", bdsm_why, None
            if bdsm_emul is False and k.endswith(".base") and y != x:
                return "info", f"{bdsm_why}; something else wrote the guest's value", None
            return "info", bdsm_why, None
        if k.startswith("registers.ASLS"):
            return "expected", ("QEMU emulates ASLS (legacy mode or x-igd-opregion; always from 10.1); the guest firmware (SeaBIOS, or OVMF "
                                "with IgdAssignmentDxe) wrote the guest-physical address of its copy of etc/igd-opregion"), None
        if k.startswith("registers."):
            return "info", "run-time register written by the OS driver or ACPI code (passed through)", None
        if k.startswith("capabilities.") or k.startswith("extended_capabilities."):
            if x is not None and y is not None:
                return "info", "capability contents", None
            if k.startswith("extended_capabilities.") and conventional and y is None:
                return None  # folded into the config size entry
            if k == "capabilities.PCI_Express" and y is None and conventional:
                return "expected", "QEMU hides the PCI Express capability of a device on a conventional PCI bus (i440FX)", None
            return "info", "capability present on one side only", None
        return "info", "field", None

    def bytes_lab(where: str, cid: int | None):
        if where.startswith("next-capability pointer"):
            return "expected", "QEMU relinks the capability list around the capabilities it hides", None
        if cid == 0x05:
            return "expected", "MSI address and data are programmed by each side's OS (QEMU virtualizes MSI)", None
        if cid == 0x10 and conventional:
            return "expected", "QEMU hides the PCI Express capability on a conventional PCI bus (i440FX)", None
        if cid == 0x01:
            return "info", "power-management state", None
        return "info", "bytes no decoder names", None

    return lab, bytes_lab


def _hg_igd(hg: _HG) -> None:
    out = hg.out
    hdev, gdev = hg.host.device("igd"), hg.guest.device("igd")
    if gdev is None:
        disp = hg.guest.device("display")
        if disp is not None and disp.vendor == 0x8086:
            out.add("igd.bdf", "00:02.0", disp.bdf, "unexpected", f"the guest has the Intel display device at {disp.bdf}, not 00:02.0",
                    "QEMU legacy mode needs the IGD at guest 00:02.0; the VBIOS and the Windows driver expect it there (Code 43 elsewhere)")
            gdev = disp
        else:
            out.missing("igd", hdev.bdf if hdev else "IGD", None, "unexpected", "the guest capture has no Intel display device", "the guest has no IGD to drive")
            return
    if hdev is None:
        return
    hcfg = _dev_cfg(hg.host, "igd", hg.plat)
    gcfg = _dev_cfg(hg.guest, gdev.role, hg.plat)
    if gdev.role == "display" and hg.guest.config("display") is not None:
        gcfg = _decode_cfg(hg.guest.config("display"), "igd", hg.plat, gdev.config_size, gdev.bdf, "guest display")
    if hcfg is None or gcfg is None:
        out.add("igd.config", "captured" if hcfg else None, "captured" if gcfg else None, "info", "the IGD's config space is missing from one capture")
        return
    hb = hg.guest.device("host_bridge")
    lab, blab = _igd_labeller(hg, hcfg, gcfg, hb.device if hb else None)
    _diff_config(out, "igd", hcfg, gcfg, lab, blab)
    _hg_must_haves(hg, hcfg, gcfg)
    _hg_resources(hg, hdev, gdev)


def _reg(cfg: _Cfg, name: str, fld: str) -> int | None:
    v = cfg.leaves.get(f"registers.{name}.{fld}")
    return v if isinstance(v, int) else None


def _hg_must_haves(hg: _HG, hcfg: _Cfg, gcfg: _Cfg) -> None:
    """ASLS and BDSM in the guest: missing (0) or not emulated (still the host's) are unexpected
    even where no difference shows."""
    out = hg.out
    ha, ga = _reg(hcfg, "ASLS", "base"), _reg(gcfg, "ASLS", "base")
    if ga is not None:
        if ga in (0, 0xFFFFFFFF):
            host_note = " (the host publishes none either: ASLS is 0 there too)" if ha in (0, 0xFFFFFFFF) else ""
            why = (f"ASLS is {ga:#x} in the guest: no OpRegion for the guest driver{host_note}. QEMU sets it up only in legacy mode or with "
                   "x-igd-opregion=on (default from 10.1), and the guest firmware must copy etc/igd-opregion and write ASLS "
                   "(SeaBIOS does; upstream OVMF needs IgdAssignmentDxe)")
            _replace_or_add(out, "igd.registers.ASLS.base", ha, ga, "unexpected", why, BREAKS_NO_VBT, missing=True)
        elif ga == ha:
            _replace_or_add(out, "igd.registers.ASLS.base", ha, ga, "unexpected",
                            "ASLS in the guest still holds the host's physical OpRegion address: QEMU did not emulate it",
                            "the guest driver maps guest memory at that address, not the OpRegion: no VBT in the guest, garbage mailbox contents")
    loc = hg.plat.bdsm if hg.plat else None
    if loc in ("0x5c", "0xc0"):
        hb_, gb_ = _reg(hcfg, "BDSM", "base"), _reg(gcfg, "BDSM", "base")
        emulated, why_rule = _bdsm_emulated(hg)
        brk = ("the guest driver finds its stolen memory at the wrong guest-physical address: i915 warns and runs without stolen "
               "memory, the Windows driver stops with Code 43, the firmware framebuffer in stolen memory shows nothing (black screen)")
        if gb_ == 0:
            _replace_or_add(out, "igd.registers.BDSM.base", hb_, gb_, "unexpected",
                            f"BDSM is 0 in the guest: the guest firmware reserved no stolen memory (SeaBIOS writes 0x5C only for 00:02.0 and only when "
                            f"etc/igd-bdsm-size is non-zero; upstream OVMF never does). {why_rule}", brk, missing=True)
        elif gb_ is not None and gb_ == hb_ and hb_:
            label = "unexpected"
            _replace_or_add(out, "igd.registers.BDSM.base", hb_, gb_, label,
                            f"BDSM in the guest still holds the host-physical stolen base {hb_:#x}: {why_rule}", brk)


def _replace_or_add(out: _Out, path: str, x: Any, y: Any, label: str, why: str, breaks: str | None, missing: bool = False) -> None:
    """Put the entry for ``path`` in place of any earlier one; ``missing``: the right side (guest,
    b) lacks it in meaning though a value (0) was read."""
    out.diffs = [d for d in out.diffs if d["path"] != path]
    out.add(path, x, y, label, why, breaks)
    if missing:
        (out.missing_in_a if out.flip else out.missing_in_b).append(path)


def _hg_resources(hg: _HG, hdev: Any, gdev: Any) -> None:
    hs = {r["bar"]: r["size"] for r in hdev.resources}
    gs = {r["bar"]: r["size"] for r in gdev.resources}
    for bar in sorted(set(hs) & set(gs)):
        if hs[bar] != gs[bar]:
            if bar == 6:
                hg.out.add("igd.resources.ROM.size", hs[bar], gs[bar], "info", "the guest's ROM BAR is sized for the ROM QEMU exposes (the host's or romfile=)")
            else:
                hg.out.add(f"igd.resources.BAR{bar}.size", hs[bar], gs[bar], "unexpected", "vfio-pci gives the guest BARs of the host's sizes",
                           "the guest driver sizes the GGTT/MMIO (BAR0) or the aperture (BAR2) from these: a smaller BAR loses registers or graphics memory")


def _hb_id_labeller(hg: _HG, which: str, gcfg: _Cfg, hcfg: _Cfg):
    """Identity labels at guest 00:00.0 or 00:1f.0."""
    g_vendor = gcfg.leaves.get("identity.vendor")
    g_device = gcfg.leaves.get("identity.device")
    q35 = (hg.guest.device("host_bridge") is not None and hg.guest.device("host_bridge").device == 0x29C0)
    q35_note = " On q35, 00:1f.0 holds ICH9's LPC, so QEMU cannot set up the copy (use the pc/i440fx machine)." if q35 else ""

    def copied(what: str, value: Any) -> tuple[str, str, str]:
        default = ""
        if which == "host_bridge" or which == "lpc":
            default = f" ({fmt_value(value, 'identity')} is QEMU's own value)"
        if which == "lpc" and (g_vendor, g_device) == ICH9_LPC:
            return "unexpected", (f"the {what} at 00:1f.0 ({fmt_value(value, 'identity')}) is q35's ICH9 LPC bridge's own, not the host "
                                  "LPC bridge's, which QEMU copies into a vfio-pci-igd-lpc-bridge only where 00:1f.0 is free (pc/i440fx)"), BREAKS_PCH
        if which == "host_bridge":
            return "unexpected", (f"QEMU copies the host bridge's {what} into its own 00:00.0 in legacy mode and with x-igd-lpc; "
                                  f"this one was not copied{default}.{q35_note}"), BREAKS_HB
        return "unexpected", (f"QEMU's vfio-pci-igd-lpc-bridge at 00:1f.0 carries the host LPC bridge's {what} (legacy mode, "
                              f"x-igd-lpc); this one was not copied{default}.{q35_note}"), BREAKS_PCH

    def lab(k: str, x: Any, y: Any):
        if not k.startswith("identity."):
            return None  # the rest is QEMU's own device: one grouped entry
        f = k.split(".", 1)[1]
        if which == "host_bridge":
            if f == "device":
                if qemu.host_bridge_name(y) and g_vendor == 0x8086:
                    return "expected", f"{qemu.host_bridge_name(y)} sits at guest 00:00.0; legacy mode copies only its revision, prog-if and subsystem IDs", None
                return "unexpected", f"wrong identity at 00:00.0: {fmt_value(g_vendor, 'identity')}:{fmt_value(y, 'identity')} is neither the host's bridge nor QEMU's", BREAKS_HB
            if f == "vendor":
                return "unexpected", "wrong vendor at 00:00.0", BREAKS_HB
            if f == "class":
                if (x or 0) >> 8 == (y or 0) >> 8:
                    return copied("prog-if", (y or 0) & 0xFF)
                return "unexpected", "00:00.0 is not a host bridge in the guest", BREAKS_HB
            if f == "revision":
                return copied("revision", y)
            if f in ("subsystem_vendor", "subsystem_device"):
                return copied(f.replace("_", " ") + " ID", y)
            return None
        # the LPC bridge at 00:1f.0
        if f in ("vendor", "device"):
            if (g_vendor, g_device) == ICH9_LPC:
                return "unexpected", ("wrong identity at 00:1f.0: q35's ICH9 LPC bridge (8086:2918) occupies it, so QEMU cannot place the "
                                      "vfio-pci-igd-lpc-bridge there ('cannot support legacy mode due to existing devices at address 1f.0')"), BREAKS_PCH
            if g_vendor == 0 and g_device == 0:
                return "unexpected", ("the ISA bridge at 00:1f.0 has IDs 0000:0000: a vfio-pci-igd-lpc-bridge whose identity was never copied "
                                      "(QEMU fills it from the kernel's LPC region only when legacy mode or x-igd-lpc sets it up)"), BREAKS_PCH
            return "unexpected", f"wrong identity at 00:1f.0: {fmt_value(g_vendor, 'identity')}:{fmt_value(g_device, 'identity')} is not the host's LPC bridge", BREAKS_PCH
        if f == "class":
            if (x or 0) >> 8 == (y or 0) >> 8:
                return copied("prog-if", (y or 0) & 0xFF)
            return "unexpected", "00:1f.0 is not an ISA bridge in the guest", BREAKS_PCH
        if f == "revision":
            return copied("revision", y)
        if f in ("subsystem_vendor", "subsystem_device"):
            return copied(f.replace("_", " ") + " ID", y)
        return None

    return lab


def _hg_bridge(hg: _HG, role: str) -> None:
    out = hg.out
    bdf = "00:00.0" if role == "host_bridge" else "00:1f.0"
    hdev, gdev = hg.host.device(role), hg.guest.device(role)
    if hdev is None:
        return
    if gdev is None or hg.guest.config(role) is None:
        if role == "lpc":
            out.missing("lpc", f"{hdev.vendor:04x}:{hdev.device:04x} at {bdf}", None, "unexpected",
                        "nothing at guest 00:1f.0: QEMU created no vfio-pci-igd-lpc-bridge (legacy mode not entered, x-igd-lpc off, "
                        "or the kernel's LPC region missing)", BREAKS_PCH)
        else:
            out.missing("host_bridge", f"{hdev.vendor:04x}:{hdev.device:04x} at {bdf}", None, "info", "the guest capture has no 00:00.0")
        return
    hcfg = _dev_cfg(hg.host, role, hg.plat)
    gcfg = _dev_cfg(hg.guest, role, hg.plat)
    if hcfg is None:
        return
    lab = _hb_id_labeller(hg, role, gcfg, hcfg)
    _diff_config(out, role, hcfg, gcfg, lab, lambda w, c: ("expected", "", None), byte_runs=False)
    # everything but the identity is QEMU's own device: one entry
    ident = {k for k in hcfg.leaves if k.startswith("identity.")}
    other = [k for k in dict.fromkeys([*hcfg.leaves, *gcfg.leaves]) if k not in ident and hcfg.leaves.get(k) != gcfg.leaves.get(k)]
    nbytes = len(_byte_runs(hcfg.raw, gcfg.raw, 0x40))
    if other or nbytes or len(hcfg.raw) != len(gcfg.raw):
        regs = {r["name"]: r["raw"] for r in hcfg.dec.get("registers") or [] if r.get("raw") is not None}
        what = "QEMU's i440FX/Q35 bridge" if role == "host_bridge" else "QEMU's vfio-pci-igd-lpc-bridge (or the machine's own device)"
        why = (f"apart from the copied identity, guest {bdf} is {what}: its header fields, registers and size are QEMU's"
               + ("; the guest reads GGC/BDSM from the IGD, not from here" if role == "host_bridge" else ""))
        out.add(f"{role}.config", {"differing_fields": len(other), "differing_byte_runs": nbytes, "bytes": len(hcfg.raw), **({"registers": sorted(regs)} if regs else {})},
                {"differing_fields": len(other), "bytes": len(gcfg.raw)}, "expected", why)
    # the copied identity, when it is right, is recorded as checked
    g, h = gcfg.leaves, hcfg.leaves
    fields = {"revision": "identity.revision", "subsystem_vendor": "identity.subsystem_vendor", "subsystem_device": "identity.subsystem_device"}
    if role == "lpc":
        fields = {"vendor": "identity.vendor", "device": "identity.device", **fields}
    same = {f: g.get(p) for f, p in fields.items() if g.get(p) == h.get(p)}
    prog_if_same = ((g.get("identity.class") or 0) & 0xFF) == ((h.get("identity.class") or 0) & 0xFF)
    if len(same) == len(fields) and prog_if_same:
        out.checked.append({"path": f"{role}.identity", "value": {**same, "prog_if": (g.get("identity.class") or 0) & 0xFF},
                            "what": f"the host's {'host bridge' if role == 'host_bridge' else 'LPC bridge'} identity fields QEMU copies are there at guest {bdf}"})


def _hg_opregion(hg: _HG) -> None:
    out = hg.out
    ho, go = hg.host.blob("opregion"), hg.guest.blob("opregion")
    gcfg_raw = hg.guest.config("igd")
    asls = int.from_bytes(gcfg_raw[0xFC:0x100], "little") if gcfg_raw is not None and len(gcfg_raw) >= 0x100 else None
    if go is None:
        if ho is None and asls in (None, 0, 0xFFFFFFFF):
            return  # nothing to compare; ASLS 0 is reported with the registers
        tried = (hg.guest.sources.get("opregion") or {}).get("tried") or []
        reasons = "; ".join(f"{t.get('source')}: {t.get('result')}" for t in tried if isinstance(t, dict) and not str(t.get("result", "")).startswith("read "))
        at = f" at ASLS {asls:#x}" if asls not in (None, 0, 0xFFFFFFFF) else ""
        out.missing("opregion", f"OpRegion, {len(ho)} bytes" if ho else "OpRegion", None, "unexpected",
                    f"no OpRegion{at} in the guest capture" + (f" ({reasons})" if reasons else ""), BREAKS_NO_VBT)
        return
    if ho is None:
        out.missing("opregion", None, f"OpRegion, {len(go)} bytes", "info", "the host capture holds no OpRegion to compare with (dump it with --vfio, on a host where i915 owns the IGD, or --allow-devmem)")
        return
    if ho[:16] != b"IntelGraphicsMem":
        out.add("opregion.header.signature", ho[:16], go[:16], "info", "the host capture's OpRegion has no 'IntelGraphicsMem' signature: nothing to compare the guest's with")
        return
    if go[:16] != b"IntelGraphicsMem":
        at = f" at ASLS {asls:#x}" if asls not in (None, 0, 0xFFFFFFFF) else ""
        out.add("opregion.header.signature", ho[:16], go[:16], "unexpected", f"no OpRegion{at}: the guest's bytes there do not start with 'IntelGraphicsMem'", BREAKS_NO_VBT)
        return
    before = len(out.diffs)
    _diff_opregion(out, "opregion", ho, go, host_guest=True, vbt_handled=True)
    if not any(d["label"] == "unexpected" for d in out.diffs[before:]):
        hf = op_leaves(ho)[1]
        out.checked.append({"path": "opregion", "value": {"version": f"{hf['major']}.{hf['minor']}", "bytes": len(go)},
                            "what": "the guest's OpRegion is the host's as vfio-pci presents it (static fields equal; version and RVDA as the vfio rules give)"})


def _capture_vbt(cap: Capture) -> tuple[bytes | None, str]:
    """The VBT a driver on that machine would use, and where it was."""
    from igdscope.schemas import opregion as op
    from igdscope.schemas import vbt as vbtmod

    for key, where in (("vbt/debugfs", "debugfs i915_vbt"), ("opregion/rvda", "the extended VBT at RVDA")):
        raw = cap.blob(key)
        if raw is not None and raw[:4] == b"$VBT":
            return raw, where
    o = cap.blob("opregion")
    if o is not None:
        raw, where = op.vbt_bytes(o)
        if raw is not None:
            return raw, f"OpRegion {where}"
    rom = cap.blob("rom")
    if rom is not None:
        off = vbtmod.find_vbt(rom)
        if off is not None:
            size = int.from_bytes(rom[off + 0x18 : off + 0x1A], "little")
            return rom[off : off + max(size, 0x30)], f"option ROM at {off:#x}"
    return None, "no VBT"


def _hg_vbt(hg: _HG) -> None:
    hv, hwhere = _capture_vbt(hg.host)
    gv, gwhere = _capture_vbt(hg.guest)
    if hv is None:
        return
    if gv is None:
        hg.out.missing("vbt", f"VBT from {hwhere}", None, "unexpected", "the guest capture holds no VBT (no debugfs i915_vbt, none in its OpRegion or ROM)", BREAKS_NO_VBT)
        return
    if hv != gv:
        _diff_vbt(hg.out, "vbt", hv, gv, host_guest=True)
    else:
        hg.out.checked.append({"path": "vbt", "value": {"bytes": len(gv), "host": hwhere, "guest": gwhere}, "what": "the guest's VBT is byte for byte the host's"})


def _hg_rom(hg: _HG) -> None:
    hr, gr = hg.host.blob("rom"), hg.guest.blob("rom")
    if hr is None or gr is None:
        if hr is not None:
            hg.out.missing("rom", f"option ROM, {len(hr)} bytes", None, "info", "the guest capture has no option ROM (rombar=0, or the guest could not read it)")
        return
    if hr != gr:
        _diff_rom(hg.out, "rom", hr, gr, label="info", why="QEMU exposes the host ROM or the romfile= image")


def _iomem_ranges(cap: Capture, name: str) -> list[tuple[int, int]]:
    out = []
    for line in cap.host.get("iomem") or []:
        m = re.match(r"\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*:\s*(.+)$", str(line))
        if m and m.group(3).strip() == name:
            out.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    return out


def _hg_gtt(hg: _HG, hcfg: _Cfg | None, gcfg: _Cfg | None) -> None:
    import numpy as np

    from igdscope.decode import gtt as gttmod
    from igdscope.schemas.gtt import format_for

    out = hg.out
    hgt, ggt = hg.host.blob("gtt"), hg.guest.blob("gtt")
    if ggt is None:
        if hgt is not None:
            out.missing("gtt", f"GGTT, {len(hgt)} bytes", None, "info", "the guest capture has no GGTT (dump --gtt in the guest)")
        return
    fmt = format_for(hg.plat)
    if fmt is None:
        out.add("gtt", None, None, "info", "PTE format unknown for this platform: GGTTs not compared")
        return
    g = gttmod.as_array(ggt, fmt)
    gp = gttmod.present(g, fmt)
    gidx = np.flatnonzero(gp)
    gaddr = gttmod.addresses(g[gidx], fmt)
    hsum = hcfg.dec.get("summary", {}) if hcfg else {}
    gsum = gcfg.dec.get("summary", {}) if gcfg else {}
    hbase, hsize = hsum.get("bdsm"), hsum.get("dsm_bytes")
    if not hbase:
        hb = hg.host.device("host_bridge")
        hbcfg = _dev_cfg(hg.host, "host_bridge", hg.plat) if hb else None
        hbase = (hbcfg.dec.get("summary", {}) if hbcfg else {}).get("bdsm")
    v = hg.v
    zeroing = f" QEMU {v} legacy mode also zeroes the first GGMS/4 KiB entries at VM start." if hg.qemu is not None and qemu.zeroes_ggtt_at_start(hg.qemu) else ""
    breaks = ("the IGD follows these entries to host-physical stolen memory through the guest's IOMMU mapping: DMAR faults, "
              "corrupted or black output")
    if hbase and hsize:
        inside = (gaddr >= np.uint64(hbase)) & (gaddr < np.uint64(hbase + hsize))
        gbase = gsum.get("bdsm")
        if gbase:
            gsize = max(gsum.get("dsm_bytes") or 0, hsize)
            inside &= ~((gaddr >= np.uint64(gbase)) & (gaddr < np.uint64(gbase + gsize)))
        hits = gidx[inside]
        if len(hits):
            ram = [r for r in _iomem_ranges(hg.guest, "System RAM") if r[0] < hbase + hsize and hbase < r[1]]
            first = int(hits[0])
            b = {"entries": int(len(hits)), "first_index": first, "first_address": int(gaddr[inside][0])}
            rng = f"{hbase:#x}-{hbase + hsize - 1:#x}"
            if ram:
                out.add("gtt.host_stolen_entries", f"host data stolen memory {rng}", b, "info",
                        f"{len(hits)} guest GGTT entries point into the range of the host's stolen memory, but the guest has RAM there "
                        f"(its iomem lists System RAM over it), so they can be ordinary guest pages.{zeroing}")
            else:
                out.add("gtt.host_stolen_entries", f"host data stolen memory {rng}", b, "unexpected",
                        f"{len(hits)} guest GGTT entries still point into the host's data stolen memory (host-physical addresses): the guest's "
                        f"own entries hold guest-physical addresses and its stolen memory is the region at guest BDSM.{zeroing}", breaks)
    if hgt is not None:
        h = gttmod.as_array(hgt, fmt)
        n = min(len(h), len(g))
        if n:
            hp = gttmod.present(h[:n], fmt)
            same = (h[:n] == g[:n]) & hp & gp[:n]
            # the scratch page each side fills unused entries with does not count
            gscratch = gttmod.summary(ggt[: n * fmt.size], fmt, max_runs=1).get("scratch_value")
            if gscratch is not None:
                same &= g[:n] != gscratch
            idx = np.flatnonzero(same)
            if len(idx) >= STALE_GTT_MIN:
                out.add("gtt.host_entries", {"entries": int(len(idx)), "first_index": int(idx[0]), "first_value": int(h[idx[0]])},
                        {"entries": int(len(idx)), "first_index": int(idx[0]), "first_value": int(g[idx[0]])}, "unexpected",
                        f"{len(idx)} guest GGTT entries are identical to the host's at the same index: the table still holds the host driver's "
                        f"host-physical mappings (nothing rewrote them since the host's i915 ran).{zeroing}", breaks)
        if hgt != ggt:
            def brief(data: bytes) -> dict[str, Any]:
                s = gttmod.summary(data, fmt, max_runs=1)
                return {k: s.get(k) for k in ("entries", "present", "mapped_entries", "scratch_value")}
            out.add("gtt.entries", brief(hgt), brief(ggt), "expected",
                    "BAR0 is passed through, so both sides read the same physical GGTT at different moments; while the VM runs its entries "
                    f"hold guest-physical addresses (the IOMMU translates them) and its own scratch page.{zeroing}")


def _host_guest(host: Capture, guest: Capture, qemu_version: str | None, flip: bool) -> dict[str, Any]:
    if qemu_version:
        qv, src = qemu.version(qemu_version), "given"
    elif host.host.get("qemu_version"):
        qv, src = qemu.version(host.host.get("qemu_version")), "the host capture"
    elif guest.host.get("qemu_version"):
        qv, src = qemu.version(guest.host.get("qemu_version")), "the guest capture"
    else:
        qv, src = None, "unknown"
    plat = capture_platform(host) or capture_platform(guest)
    hg = _HG(host, guest, qv, src, plat, _Out(flip=flip))
    _hg_igd(hg)
    _hg_bridge(hg, "host_bridge")
    _hg_bridge(hg, "lpc")
    _hg_opregion(hg)
    _hg_vbt(hg)
    _hg_rom(hg)
    hcfg = _dev_cfg(host, "igd", plat) if host.device("igd") else None
    gcfg = _dev_cfg(guest, "igd", plat) if guest.device("igd") else None
    _hg_gtt(hg, hcfg, gcfg)
    era_text = qemu.era_text(hg.qemu) or "unknown"
    extra = {
        "qemu_version": f"{qv[0]}.{qv[1]}" if qv else None,
        "qemu_version_from": src,
        "qemu_rules": era_text,
        "platform": plat.platform if plat else None,
        "compared_against": "QEMU legacy-mode IGD assignment (identities copied, ASLS/BDSM/GMCH emulated, OpRegion passed through)",
    }
    sides = {"host": _side(host), "guest": _side(guest)}
    a, b = (sides["guest"], sides["host"]) if flip else (sides["host"], sides["guest"])
    return _result("host-guest", hg.out, a, b, extra)


def _side(cap: Capture) -> dict[str, Any]:
    igd = cap.device("igd")
    return {"kind": "capture", "machine": cap.machine, "created": cap.created,
            "igd": f"{igd.vendor:04x}:{igd.device:04x}" if igd else None, "kernel": cap.host.get("kernel_release")}


# -- captures: same role (two hosts, two moments) -------------------------------------------------------


def _same_role(a: Capture, b: Capture) -> dict[str, Any]:
    out = _Out()
    plat_a = capture_platform(a)
    plat_b = capture_platform(b)
    for role in ("igd", "host_bridge", "lpc"):
        da, db = a.device(role), b.device(role)
        if da is None and db is None:
            continue
        if db is None:
            out.missing(role, f"{da.vendor:04x}:{da.device:04x} at {da.bdf}", None, "unexpected", f"b has no {role.replace('_', ' ')}",
                        "a device the assignment depends on is gone" if role != "host_bridge" else None)
            continue
        if da is None:
            out.missing(role, None, f"{db.vendor:04x}:{db.device:04x} at {db.bdf}", "info", f"a has no {role.replace('_', ' ')}")
            continue
        for f in ("bdf", "driver", "iommu_group", "boot_vga", "config_size"):
            va, vb = getattr(da, f), getattr(db, f)
            if va != vb:
                out.add(f"{role}.{f}", va, vb, "info", f"device fact: {f.replace('_', ' ')}")
        if sorted(da.iommu_group_members) != sorted(db.iommu_group_members):
            out.add(f"{role}.iommu_group_members", da.iommu_group_members, db.iommu_group_members, "info", "devices sharing the IOMMU group")
        ca, cb = _dev_cfg(a, role, plat_a), _dev_cfg(b, role, plat_b)
        if ca is None or cb is None:
            if ca is not None:
                out.missing(f"{role}.config", "captured", None, "info", "b holds no config space for it")
            continue

        def lab(k: str, x: Any, y: Any, role=role):
            if k.startswith("extended_capabilities.") and (x is None or y is None):
                return "info", "extended capability present on one side only", None
            return "info", "differs between the two captures", None

        _diff_config(out, role, ca, cb, lab, lambda w, c: ("info", "differs", None))
        if role == "igd":
            for reg, fld in (("ASLS", "base"), ("BDSM", "base")):
                va, vb = _reg(ca, reg, fld), _reg(cb, reg, fld)
                if va not in (None, 0, 0xFFFFFFFF) and vb in (0, 0xFFFFFFFF):
                    brk = (BREAKS_NO_VBT + "; vfio-pci creates no IGD regions without ASLS") if reg == "ASLS" else "no stolen memory base: the driver runs without stolen memory, Windows stops with Code 43"
                    _replace_or_add(out, f"igd.registers.{reg}.{fld}", va, vb, "unexpected", f"{reg} was {va:#x} in a and is {vb:#x} in b", brk)
        hs = {r["bar"]: r["size"] for r in da.resources}
        hb = {r["bar"]: r["size"] for r in db.resources}
        for bar in sorted(set(hs) | set(hb)):
            if hs.get(bar) != hb.get(bar):
                out.add(f"{role}.resources.{'ROM' if bar == 6 else f'BAR{bar}'}.size", hs.get(bar), hb.get(bar), "info", "BAR size")
    # host facts
    for k in ("kernel_release", "cmdline", "qemu_version", "vfio_pci_disable_vga"):
        va, vb = a.host.get(k), b.host.get(k)
        if va != vb:
            out.add(f"host.{k}", va, vb, "info", "host fact")
    ma, mb = a.host.get("modules") or {}, b.host.get("modules") or {}
    for m in dict.fromkeys([*ma, *mb]):
        la: dict[str, Any] = {}
        lb: dict[str, Any] = {}
        _flatten(ma.get(m) or {}, "", la)
        _flatten(mb.get(m) or {}, "", lb)
        for k in dict.fromkeys([*la, *lb]):
            if la.get(k) != lb.get(k):
                out.add(f"host.modules.{m}.{k}", la.get(k), lb.get(k), "info", "kernel module state")
    # firmware blobs
    oa, ob = a.blob("opregion"), b.blob("opregion")
    if oa is not None and ob is None:
        out.missing("opregion", f"OpRegion, {len(oa)} bytes", None, "unexpected", "a holds an OpRegion, b none", BREAKS_NO_VBT)
    elif oa is None and ob is not None:
        out.missing("opregion", None, f"OpRegion, {len(ob)} bytes", "info", "b holds an OpRegion, a none")
    elif oa is not None and ob is not None and oa != ob:
        if oa[:16] == b"IntelGraphicsMem":
            _diff_opregion(out, "opregion", oa, ob, host_guest=False, vbt_handled=True)
    va, wa = _capture_vbt(a)
    vb, wb = _capture_vbt(b)
    if va is not None and vb is None:
        out.missing("vbt", f"VBT from {wa}", None, "unexpected", "b has no VBT", BREAKS_NO_VBT)
    elif va is not None and vb is not None and va != vb:
        _diff_vbt(out, "vbt", va, vb, host_guest=False)
    ra, rb = a.blob("rom"), b.blob("rom")
    if ra is not None and rb is None:
        out.missing("rom", f"option ROM, {len(ra)} bytes", None, "info", "b has no option ROM")
    elif ra is not None and rb is not None and ra != rb:
        _diff_rom(out, "rom", ra, rb, label="info", why="differs between the two captures")
    ga, gb = a.blob("gtt"), b.blob("gtt")
    if ga is not None and gb is not None and ga != gb:
        from igdscope.decode import gtt as gttmod
        from igdscope.schemas.gtt import format_for

        fmt = format_for(plat_a or plat_b)
        if fmt is not None:
            ch = gttmod.changed(ga, gb, fmt, limit=0)
            out.add("gtt.changed", {"entries": ch["entries_compared"]}, {"changed": ch["changed"], "runs": ch["runs"][:8]}, "info",
                    "GGTT entries that differ between the two reads")
    for k in sorted(set(a.blobs) - set(b.blobs)):
        if k.startswith("config/") or k in ("opregion", "rom", "gtt") or f"{k}" in out.missing_in_b:
            continue
        out.missing(f"blobs.{k}", f"{len(a.blobs[k].data)} bytes", None, "info", "captured in a only")
    for k in sorted(set(b.blobs) - set(a.blobs)):
        if k.startswith("config/") or k in ("opregion", "rom", "gtt"):
            continue
        out.missing(f"blobs.{k}", None, f"{len(b.blobs[k].data)} bytes", "info", "captured in b only")
    return _result("same-role", out, _side(a), _side(b), {"platform": (plat_a or plat_b).platform if (plat_a or plat_b) else None})


# -- public API -----------------------------------------------------------------------------------------


def diff(a: Capture, b: Capture, *, qemu_version: str | None = None) -> dict[str, Any]:
    """Compare two captures. One guest and one other (host or unknown): host versus guest, by the
    rules of ``qemu_version`` (else the host capture's ``host.qemu_version``). Otherwise same-role."""
    if qemu_version is not None and qemu.version(qemu_version) is None:
        raise BadInput(f"QEMU version {qemu_version!r} is not X.Y")
    if b.machine == "guest" and a.machine != "guest":
        return _host_guest(a, b, qemu_version, flip=False)
    if a.machine == "guest" and b.machine != "guest":
        return _host_guest(b, a, qemu_version, flip=True)
    return _same_role(a, b)


def diff_files(data_a: bytes, data_b: bytes, kind: str, names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
    """Compare two raw files of one ``kind`` (vbt, opregion, rom, config, lspci, capture); ``names``
    (the paths) are what errors about either file call it."""
    na, nb = names
    out = _Out()
    a_desc = {"kind": kind, "bytes": len(data_a)}
    b_desc = {"kind": kind, "bytes": len(data_b)}
    if kind == "capture":
        from igdscope import capture as capmod

        return diff(capmod.loads(data_a, na), capmod.loads(data_b, nb))
    if kind == "vbt":
        from igdscope.schemas import vbt as vbtmod

        def locate(name: str, data: bytes) -> tuple[bytes, int, str | None]:
            """The bytes from the VBT on, its offset, and the compressed section it is in (a BIOS image)."""
            off = vbtmod.find_vbt(data, limit=len(data))
            if off is not None:
                return bytes(data[off:]), off, None
            try:
                inner, at, container = vbt_in_sections(data, "the file")
            except BadInput as exc:
                raise BadInput(f"{name}: {exc}") from None
            return inner[at:], at, container

        (va, oa, ca), (vb, ob, cb) = locate(na, data_a), locate(nb, data_b)
        if data_a != data_b:
            _diff_vbt(out, "vbt", va, vb, host_guest=False)
            if ca != cb:
                out.add("vbt.container", ca, cb, "info", "the compressed section of the image the VBT was found in")
            if oa != ob:
                out.add("vbt.file_offset", oa, ob, "info", "where the '$VBT' starts in the file (in the section's output when in one)")
    elif kind == "opregion":
        for name, d in ((na, data_a), (nb, data_b)):
            if len(d) < 0x100:
                raise BadInput(f"{name}: {len(d)} bytes is too short for an OpRegion header (256 bytes)")
        if bytes(data_a[:16]) != b"IntelGraphicsMem":
            raise BadInput(f"{na}: does not start with 'IntelGraphicsMem'")
        if data_a != data_b:
            _diff_opregion(out, "opregion", data_a, data_b, host_guest=False)
            if len(data_a) != len(data_b):
                out.add("opregion.size", len(data_a), len(data_b), "info", "dump length (debugfs i915_opregion is 8 KiB; the vfio region adds the extended VBT)")
    elif kind == "rom":
        for name, d in ((na, data_a), (nb, data_b)):
            if d[:2] != b"\x55\xaa":
                raise BadInput(f"{name}: not an option ROM (no 0x55AA signature)")
        if data_a != data_b:
            _diff_rom(out, "rom", data_a, data_b, label="info", why="differs between the two ROMs")
    elif kind == "config":
        ca, cb = _file_cfg(data_a, na), _file_cfg(data_b, nb)
        _diff_cfg_files(out, "config", ca, cb)
        a_desc["device"] = f"{ca.leaves.get('identity.vendor', 0):04x}:{ca.leaves.get('identity.device', 0):04x}"
        b_desc["device"] = f"{cb.leaves.get('identity.vendor', 0):04x}:{cb.leaves.get('identity.device', 0):04x}"
    elif kind == "lspci":
        from igdscope.decode import lspci

        da = {d.bdf: d for d in lspci.parse(data_a.decode("utf-8", "replace"))}
        db = {d.bdf: d for d in lspci.parse(data_b.decode("utf-8", "replace"))}
        if not da or not db:
            raise BadInput(f"{na if not da else nb}: no lspci hex rows (use lspci -xxx or -xxxx)")
        pa, pb = _lspci_platform(da), _lspci_platform(db)
        for bdf in dict.fromkeys([*da, *db]):
            x, y = da.get(bdf), db.get(bdf)
            if x is None or y is None:
                out.missing(bdf, None if x is None else x.description, None if y is None else y.description,
                            "unexpected" if y is None else "info", f"{bdf} is in {'a' if y is None else 'b'} only")
                continue
            _diff_cfg_files(out, bdf, _file_cfg(x.data, f"{na} {bdf}", bdf, pa), _file_cfg(y.data, f"{nb} {bdf}", bdf, pb))
    else:
        raise BadInput(f"cannot diff files of kind {kind!r}")
    return _result(kind, out, a_desc, b_desc)


def _file_cfg(data: bytes, name: str, bdf: str | None = None, plat: platforms.Platform | None = None) -> _Cfg:
    """A config space from a file; ``plat`` (the IGD's, from the same dump) decodes a host bridge."""
    if len(data) < 16:
        raise BadInput(f"{name}: config space of {len(data)} bytes is too short for a PCI header")
    vendor = int.from_bytes(data[0:2], "little")
    did = int.from_bytes(data[2:4], "little")
    cls = int.from_bytes(data[9:12], "little") if len(data) >= 12 else 0
    role = role_of(vendor, cls, bdf)
    if role in ("igd", "display"):
        plat = platforms.lookup(did)
    elif role != "host_bridge":
        plat = None
    return _decode_cfg(bytes(data), role if role != "other" else None, plat, None, bdf, name)


def _lspci_platform(devs: dict[str, Any]) -> platforms.Platform | None:
    for d in devs.values():
        if len(d.data) >= 12:
            vendor = int.from_bytes(d.data[0:2], "little")
            cls = int.from_bytes(d.data[9:12], "little")
            if role_of(vendor, cls, d.bdf) == "igd":
                return platforms.lookup(int.from_bytes(d.data[2:4], "little"))
    return None


def _diff_cfg_files(out: _Out, prefix: str, ca: _Cfg, cb: _Cfg) -> None:
    def lab(k: str, x: Any, y: Any):
        return "info", "differs between the two config spaces", None

    _diff_config(out, prefix, ca, cb, lab, lambda w, c: ("info", "differs", None))
    for reg in ("ASLS", "BDSM"):
        va, vb = _reg(ca, reg, "base"), _reg(cb, reg, "base")
        if va not in (None, 0, 0xFFFFFFFF) and vb in (0, 0xFFFFFFFF):
            brk = BREAKS_NO_VBT if reg == "ASLS" else "no stolen memory base: the driver runs without stolen memory, Windows stops with Code 43"
            _replace_or_add(out, f"{prefix}.registers.{reg}.base", va, vb, "unexpected", f"{reg} was {va:#x} in a and is {vb:#x} in b", brk)


# -- the command ----------------------------------------------------------------------------------------



def headline(res: dict[str, Any]) -> str:
    """One line: what was compared with what, by which rules."""
    s, mode = res["summary"], res["mode"]
    if mode == "host-guest":
        qv = s.get("qemu_version")
        return (f"host versus guest, compared with QEMU {qv} ({s.get('qemu_version_from')}; rules of QEMU {s.get('qemu_rules')})" if qv
                else "host versus guest, QEMU version unknown (give --qemu-version X.Y): version-dependent items are judged loosely")
    if mode == "same-role":
        return "two captures of the same role: differences are information, except what b lost"
    return f"two {mode} files: differences are information, except what b lost"


