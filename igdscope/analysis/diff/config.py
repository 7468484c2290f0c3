"""Config spaces compared: header, BARs, capabilities and registers field by field, and byte runs
with the register or capability they sit in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from igdscope import platforms
from igdscope.analysis.diff.core import (
    BREAKS_NO_VBT,
    MAX_BYTE_RUNS,
    Labeller,
    _byte_runs,
    _flatten,
    _hex_slice,
    _Out,
    _replace_or_add,
    _slug,
)
from igdscope.decode.devices import decode_config, role_of
from igdscope.errors import BadInput

# -- config spaces -----------------------------------------------------------------------------------

HEADER_SKIP = frozenset({"vendor_id", "device_id", "revision_id", "prog_if", "subclass", "base_class", "subsystem_vendor_id", "subsystem_id", "header_type", "bar", "reserved"})
CAP_SIZES = {0x01: 8, 0x05: 24, 0x10: 60, 0x11: 12, 0x12: 8, 0x13: 6}  # PM, MSI (64-bit, masking), PCIe, MSI-X, SATA, AF


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


def _reg(cfg: _Cfg, name: str, fld: str) -> int | None:
    v = cfg.leaves.get(f"registers.{name}.{fld}")
    return v if isinstance(v, int) else None


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
