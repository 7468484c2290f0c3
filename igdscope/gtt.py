"""The GGTT at full speed: whole tables decoded with numpy, masks and shifts derived from the
construct layouts in :mod:`igdscope.schemas.gtt`; summaries (runs, scratch page, occupancy,
stolen-memory entries), changes between two reads, and which entries map a given page.

Pure functions of bytes plus explicit context; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from igdscope.schemas.gtt import PteFormat, bit_fields

PAGE = 4096


@dataclass(frozen=True)
class FieldMask:
    name: str
    shift: int
    mask: int  # after shifting


def masks(fmt: PteFormat) -> dict[str, FieldMask]:
    return {name: FieldMask(name, lo, (1 << (hi - lo + 1)) - 1) for name, hi, lo in bit_fields(fmt)}


def as_array(data: bytes | memoryview, fmt: PteFormat) -> np.ndarray:
    """The PTEs of ``data`` as an array of unsigned little-endian integers (no copy)."""
    n = len(data) // fmt.size
    return np.frombuffer(data, dtype="<u8" if fmt.size == 8 else "<u4", count=n)


def _u64(ptes: np.ndarray) -> np.ndarray:
    return ptes if ptes.dtype == np.uint64 else ptes.astype(np.uint64)


def field(ptes: np.ndarray, fmt: PteFormat, name: str) -> np.ndarray:
    m = masks(fmt)[name]
    return (_u64(ptes) >> np.uint64(m.shift)) & np.uint64(m.mask)


def addresses(ptes: np.ndarray, fmt: PteFormat) -> np.ndarray:
    """Physical addresses from the format's recipe; a field already in place is one AND."""
    ms = masks(fmt)
    p = _u64(ptes)
    out = None
    for name, shift in fmt.address:
        m = ms[name]
        if m.shift == shift:
            part = p & np.uint64(m.mask << m.shift)
        else:
            part = ((p >> np.uint64(m.shift)) & np.uint64(m.mask)) << np.uint64(shift)
        out = part if out is None else out | part
    return out if out is not None else np.zeros(len(p), dtype=np.uint64)


def present(ptes: np.ndarray, fmt: PteFormat) -> np.ndarray:
    m = masks(fmt)[fmt.present]
    if m.mask == 1 and m.shift < 8 and ptes.dtype.byteorder in ("<", "=", "|") and ptes.flags.c_contiguous:
        low = ptes.view(np.uint8)[:: ptes.itemsize]  # the byte holding the bit, no conversion
        return (low & np.uint8(1 << m.shift)) != 0
    return field(ptes, fmt, fmt.present).astype(bool)


def decode_table(data: bytes, fmt: PteFormat, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Every field of entries ``start:stop`` plus ``address`` and ``index`` as arrays."""
    ptes = as_array(data, fmt)[start:stop]
    out = {name: field(ptes, fmt, name) for name, _, _ in bit_fields(fmt)}
    out["address"] = addresses(ptes, fmt)
    out["index"] = np.arange(start, start + len(ptes), dtype=np.int64)
    out["raw"] = ptes
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in ``mask``."""
    if not len(mask):
        return []
    m = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(s), int(e - s)) for s, e in zip(edges[0::2], edges[1::2])]


def summary(data: bytes, fmt: PteFormat, *, dsm: tuple[int, int] | None = None, max_runs: int = 64) -> dict[str, Any]:
    """The shape of a GGTT: present entries, the scratch value and its runs, runs of contiguous
    physical pages, entries pointing into data stolen memory (``dsm`` = (base, size)), occupancy.

    Full-table passes are kept to a few (present bit, scratch compare); everything about mappings
    is computed on the mapped entries only, so a sparse table costs little more than a copy."""
    ptes = as_array(data, fmt)
    n = len(ptes)
    out: dict[str, Any] = {"format": fmt.name, "entries": n, "pte_size": fmt.size, "aperture_bytes": n * PAGE}
    if n == 0:
        out["present"] = 0
        return out
    pres = present(ptes, fmt)
    # the scratch page: the value most entries hold. Its candidate comes from a strided sample
    # (a sort of the whole table would cost more than everything else together); its count is exact.
    sample = ptes[:: max(1, n // 4096)]
    values, counts = np.unique(sample, return_counts=True)
    candidate = values[int(np.argmax(counts))]
    is_candidate = ptes == candidate
    count = int(np.count_nonzero(is_candidate))
    scratch = int(candidate) if count > 1 and int(candidate) != 0 else None
    is_scratch = is_candidate if scratch is not None else np.zeros(n, dtype=bool)
    mapped = pres & ~is_scratch
    n_mapped = int(np.count_nonzero(mapped))
    dense = n_mapped > n // 2
    # work in entry space when most entries are mapped (no gather), else on the mapped ones only
    if dense:
        idx = None
        addr = addresses(ptes, fmt)
        cont = mapped[:-1] & mapped[1:] & (np.diff(addr) == np.uint64(PAGE))
    else:
        idx = np.flatnonzero(mapped)
        addr = addresses(ptes[idx], fmt)
        cont = (np.diff(idx) == 1) & (np.diff(addr) == np.uint64(PAGE))
    n_present = int(np.count_nonzero(pres))
    out.update({
        "present": n_present,
        "most_common_value": int(candidate),
        "most_common_count": count,
        "scratch_value": scratch,
        "scratch_entries": int(count if scratch is not None else 0),
        "mapped_entries": n_mapped,
        "occupancy": round(n_mapped / n, 6),
        "empty_entries": n - n_present,
    })
    # contiguous runs: a run of k > 1 entries is a stretch of k - 1 True in ``cont``; every other
    # mapped entry is a run of its own. Only the longest are listed, so single entries are
    # looked at only when there are fewer long runs than that.
    long_runs = [(s_, ln + 1) for s_, ln in _runs(cont)]
    out["mapped_runs"] = n_mapped - int(np.count_nonzero(cont))
    long_runs.sort(key=lambda r: (-r[1], r[0]))
    chosen = long_runs[:max_runs]
    if len(chosen) < max_runs and n_mapped:
        in_long = np.zeros(len(cont) + 1, dtype=bool)
        for s_, ln in long_runs:
            in_long[s_ : s_ + ln] = True
        singles = np.flatnonzero(~in_long if idx is not None else (mapped & ~in_long))
        chosen += [(int(p), 1) for p in singles[: max_runs - len(chosen)]]
    first = (lambda p: int(idx[p])) if idx is not None else int
    out["largest_runs"] = [{"first": first(p), "entries": ln, "address": int(addr[p])} for p, ln in chosen]
    if dsm is not None and dsm[1]:
        base, size = dsm
        in_dsm = (addr >= np.uint64(base)) & (addr < np.uint64(base + size))
        if idx is None:
            in_dsm &= mapped
        if idx is not None:  # stolen entries must also be consecutive entries, not only consecutive mapped ones
            hits = idx[in_dsm]
            brk = np.flatnonzero(np.diff(hits) != 1)
            st = np.concatenate(([0], brk + 1)) if len(hits) else np.zeros(0, dtype=np.int64)
            en = np.concatenate((brk, [len(hits) - 1])) if len(hits) else np.zeros(0, dtype=np.int64)
            runs = [{"first": int(hits[a]), "entries": int(b - a + 1)} for a, b in zip(st[:max_runs], en[:max_runs])]
            total = int(len(hits))
        else:
            runs = [{"first": s_, "entries": ln} for s_, ln in _runs(in_dsm)[:max_runs]]
            total = int(np.count_nonzero(in_dsm))
        out["stolen"] = {"base": base, "size": size, "entries": total, "runs": runs}
    out["scratch_runs"] = [{"first": s, "entries": ln} for s, ln in _runs(is_scratch)[:max_runs]] if scratch is not None else []
    return out


def changed(old: bytes, new: bytes, fmt: PteFormat, limit: int = 1 << 20) -> dict[str, Any]:
    """Entries that differ between two reads of the same GGTT."""
    a, b = as_array(old, fmt), as_array(new, fmt)
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return {
        "entries_compared": int(n),
        "changed": int(len(diff)),
        "runs": [{"first": s, "entries": ln} for s, ln in _runs(a[:n] != b[:n])[:64]],
        "indices": diff[:limit].tolist(),
        "length_differs": len(a) != len(b),
    }


def entries_mapping(data: bytes, fmt: PteFormat, address: int, limit: int = 64) -> list[int]:
    """Indices of present entries that map the 4 KiB page holding ``address``."""
    ptes = as_array(data, fmt)
    page = np.uint64(address & ~(PAGE - 1))
    hit = present(ptes, fmt) & (addresses(ptes, fmt) == page)
    return np.flatnonzero(hit)[:limit].tolist()
