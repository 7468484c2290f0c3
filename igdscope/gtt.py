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
    idx = np.flatnonzero(mapped)
    addr = addresses(ptes[idx], fmt)
    n_present = int(np.count_nonzero(pres))
    out.update({
        "present": n_present,
        "most_common_value": int(candidate),
        "most_common_count": count,
        "scratch_value": scratch,
        "scratch_entries": int(count if scratch is not None else 0),
        "mapped_entries": int(len(idx)),
        "occupancy": round(len(idx) / n, 6),
        "empty_entries": n - n_present,
    })
    # contiguous runs among mapped entries: next entry and next page
    if len(idx):
        cont = (np.diff(idx) == 1) & (np.diff(addr) == np.uint64(PAGE))
        breaks = np.flatnonzero(~cont)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [len(idx) - 1]))
        lengths = ends - starts + 1
        if len(lengths) > max_runs:  # the longest runs only: a partition, not a full sort
            top = np.argpartition(-lengths, max_runs - 1)[:max_runs]
            order = top[np.lexsort((starts[top], -lengths[top]))]
        else:
            order = np.argsort(-lengths, kind="stable")
        out["mapped_runs"] = int(len(starts))
        out["largest_runs"] = [{"first": int(idx[starts[i]]), "entries": int(lengths[i]), "address": int(addr[starts[i]])} for i in order]
    else:
        out["mapped_runs"] = 0
        out["largest_runs"] = []
    out["scratch_runs"] = [{"first": s, "entries": ln} for s, ln in _runs(is_scratch)[:max_runs]] if scratch is not None else []
    if dsm is not None and dsm[1]:
        base, size = dsm
        in_dsm = (addr >= np.uint64(base)) & (addr < np.uint64(base + size))
        hits = idx[in_dsm]
        runs = []
        if len(hits):
            brk = np.flatnonzero(np.diff(hits) != 1)
            st = np.concatenate(([0], brk + 1))
            en = np.concatenate((brk, [len(hits) - 1]))
            runs = [{"first": int(hits[a]), "entries": int(b - a + 1)} for a, b in zip(st[:max_runs], en[:max_runs])]
        out["stolen"] = {"base": base, "size": size, "entries": int(len(hits)), "runs": runs}
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
