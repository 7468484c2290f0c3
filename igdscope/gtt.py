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


def field(ptes: np.ndarray, fmt: PteFormat, name: str) -> np.ndarray:
    m = masks(fmt)[name]
    return (ptes.astype(np.uint64) >> np.uint64(m.shift)) & np.uint64(m.mask)


def addresses(ptes: np.ndarray, fmt: PteFormat) -> np.ndarray:
    ms = masks(fmt)
    p = ptes.astype(np.uint64)
    out = np.zeros(len(p), dtype=np.uint64)
    for name, shift in fmt.address:
        m = ms[name]
        out |= ((p >> np.uint64(m.shift)) & np.uint64(m.mask)) << np.uint64(shift)
    return out


def present(ptes: np.ndarray, fmt: PteFormat) -> np.ndarray:
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
    physical pages, entries pointing into data stolen memory (``dsm`` = (base, size)), occupancy."""
    ptes = as_array(data, fmt)
    n = len(ptes)
    pres = present(ptes, fmt)
    addr = addresses(ptes, fmt)
    out: dict[str, Any] = {"format": fmt.name, "entries": n, "pte_size": fmt.size, "aperture_bytes": n * PAGE, "present": int(pres.sum())}
    if n == 0:
        return out
    values, counts = np.unique(ptes, return_counts=True)
    top = int(np.argmax(counts))
    scratch_value = int(values[top])
    # the scratch page: the one value repeated far more than any mapping could be (a run of
    # identical present entries), or nothing when the most common value is 0 / not present
    scratch = None
    if counts[top] > 1 and scratch_value != 0:
        scratch = scratch_value
    out["most_common_value"] = scratch_value
    out["most_common_count"] = int(counts[top])
    out["scratch_value"] = scratch
    is_scratch = ptes == scratch if scratch is not None else np.zeros(n, dtype=bool)
    mapped = pres & ~is_scratch
    out["scratch_entries"] = int(is_scratch.sum())
    out["mapped_entries"] = int(mapped.sum())
    out["occupancy"] = round(float(mapped.sum()) / n, 6)
    # contiguous runs: consecutive mapped entries whose addresses step by one page
    step = np.zeros(n, dtype=bool)
    if n > 1:
        step[1:] = mapped[1:] & mapped[:-1] & (addr[1:] == addr[:-1] + np.uint64(PAGE))
    starts = mapped & ~step
    run_id = np.cumsum(starts) - 1
    run_lengths = np.bincount(run_id[mapped], minlength=int(starts.sum())) if mapped.any() else np.zeros(0, dtype=np.int64)
    start_idx = np.flatnonzero(starts)
    order = np.argsort(-run_lengths, kind="stable")[:max_runs]
    out["mapped_runs"] = int(len(start_idx))
    out["largest_runs"] = [{"first": int(start_idx[i]), "entries": int(run_lengths[i]), "address": int(addr[start_idx[i]])} for i in order]
    out["scratch_runs"] = [{"first": s, "entries": ln} for s, ln in _runs(is_scratch)[:max_runs]]
    out["empty_entries"] = int((~pres).sum())
    if dsm is not None and dsm[1]:
        base, size = dsm
        in_dsm = mapped & (addr >= np.uint64(base)) & (addr < np.uint64(base + size))
        out["stolen"] = {"base": base, "size": size, "entries": int(in_dsm.sum()), "runs": [{"first": s, "entries": ln} for s, ln in _runs(in_dsm)[:max_runs]]}
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
