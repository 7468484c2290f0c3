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
    """Every field's shift and mask (read off the construct layout once per format)."""
    got = _MASKS.get(fmt)
    if got is None:
        got = _MASKS[fmt] = {name: FieldMask(name, lo, (1 << (hi - lo + 1)) - 1) for name, hi, lo in bit_fields(fmt)}
    return dict(got)


_MASKS: dict[PteFormat, dict[str, FieldMask]] = {}


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
    out = np.empty(len(ptes), dtype=bool)
    _present_into(ptes, fmt, out)
    return out


def decode_table(data: bytes, fmt: PteFormat, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Every field of entries ``start:stop`` plus ``address`` and ``index`` as arrays."""
    ptes = as_array(data, fmt)[start:stop]
    out = {name: field(ptes, fmt, name) for name, _, _ in bit_fields(fmt)}
    out["address"] = addresses(ptes, fmt)
    out["index"] = np.arange(start, start + len(ptes), dtype=np.int64)
    out["raw"] = ptes
    return out


CHUNK = 1 << 16  # entries per block of the summary pass: its scratch arrays stay in the CPU's caches


class _Edges:
    """Where a boolean sequence, fed block by block, switches between False and True: the runs of
    True as (start, stop) positions. With ``limit`` only the first ``limit`` runs are kept (and
    looked for)."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.parts: list[np.ndarray] = []
        self.found = 0
        self.last = False

    @property
    def done(self) -> bool:
        return self.limit is not None and self.found >= 2 * self.limit

    def feed(self, b: np.ndarray, start: int, count: int | None = None) -> None:
        """``b`` holds positions ``start:start + len(b)``; ``count``, when known, is how many are True."""
        if self.done:
            return
        if count == 0 or count == len(b):  # no switch inside the block
            if bool(count) != self.last:
                self.parts.append(np.array([start], dtype=np.int64))
                self.found += 1
            self.last = bool(count)
            return
        e = np.flatnonzero(b[1:] != b[:-1])
        e += start + 1
        if bool(b[0]) != self.last:
            e = np.concatenate(([start], e))
        self.last = bool(b[-1])
        if len(e):
            self.parts.append(e)
            self.found += len(e)

    def runs(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        e = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int64)
        if len(e) % 2:
            e = np.append(e, stop)
        if self.limit is not None:
            e = e[: 2 * self.limit]
        return e[0::2], e[1::2]


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of True in a boolean array."""
    e = _Edges()
    if len(mask):
        e.feed(mask, 0)
    return e.runs(len(mask))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in ``mask``."""
    starts, stops = true_runs(mask)
    return [(int(s), int(t - s)) for s, t in zip(starts, stops)]


def _addresses_into(p: np.ndarray, fmt: PteFormat, out: np.ndarray, tmp: np.ndarray) -> None:
    """:func:`addresses` of ``p`` written into the uint64 array ``out`` (``tmp``: same length)."""
    ms = masks(fmt)
    for i, (name, shift) in enumerate(fmt.address):
        m = ms[name]
        dst = out if i == 0 else tmp
        if m.shift == shift:
            np.bitwise_and(p, np.uint64(m.mask << m.shift), out=dst)
        else:
            np.right_shift(p, np.uint64(m.shift), out=dst)
            dst &= np.uint64(m.mask)
            dst <<= np.uint64(shift)
        if i:
            out |= tmp
    if not fmt.address:
        out[:] = 0


def _present_into(p: np.ndarray, fmt: PteFormat, out: np.ndarray) -> None:
    """:func:`present` of ``p`` written into the bool array ``out``."""
    m = masks(fmt)[fmt.present]
    if m.mask == 1 and m.shift < 8:
        low = out.view(np.uint8)
        np.copyto(low, p, casting="unsafe")  # the low byte of each entry
        low &= np.uint8(1 << m.shift)
        if m.shift:
            np.not_equal(low, 0, out=out)
    else:
        out[:] = field(p, fmt, fmt.present) != 0


def _count(ptes: np.ndarray, value: np.integer, hits: np.ndarray, enough: int) -> int:
    """How many entries hold ``value``, counted block by block; stops once ``enough`` are found."""
    seen = 0
    for s in range(0, len(ptes), len(hits)):
        block = ptes[s : s + len(hits)]
        seen += int(np.count_nonzero(np.equal(block, value, out=hits[: len(block)])))
        if seen >= enough:
            break
    return seen


def summary(data: bytes, fmt: PteFormat, *, dsm: tuple[int, int] | None = None, max_runs: int = 64) -> dict[str, Any]:
    """The shape of a GGTT: present entries, the scratch value and its runs, runs of contiguous
    physical pages, entries pointing into data stolen memory (``dsm`` = (base, size)), occupancy.

    One pass over the table in blocks of :data:`CHUNK` entries, with a handful of scratch arrays
    of that size reused for every block (no table-sized temporaries: the pass runs in cache and
    costs a few copies of the table whether it is mostly scratch or every entry is mapped).
    Runs are kept as the positions where a mask switches, carried from one block to the next;
    blocks without a mapped entry skip the address work."""
    ptes = as_array(data, fmt)
    n = len(ptes)
    out: dict[str, Any] = {"format": fmt.name, "entries": n, "pte_size": fmt.size, "aperture_bytes": n * PAGE}
    if n == 0:  # no whole entry: the same keys as for any table, every count 0
        out.update({"present": 0, "most_common_value": None, "most_common_count": 0, "scratch_value": None, "scratch_entries": 0,
                    "mapped_entries": 0, "occupancy": 0.0, "empty_entries": 0, "mapped_runs": 0, "largest_runs": [], "scratch_runs": []})
        if dsm is not None and dsm[1]:
            out["stolen"] = {"base": dsm[0], "size": dsm[1], "entries": 0, "runs": []}
        return out
    # the scratch page: the value most entries hold. Its candidate comes from a strided sample
    # (a sort of the whole table would cost more than everything else together); its count is exact.
    sample = ptes[:: max(1, n // 4096)]
    values, counts = np.unique(sample, return_counts=True)
    candidate = values[int(np.argmax(counts))]
    size = min(CHUNK, n) + 1
    pres, cand, cont, flags = (np.empty(size, dtype=bool) for _ in range(4))
    addr, work = np.empty(size, dtype=np.uint64), np.empty(size, dtype=np.uint64)
    # it is the scratch page when two entries or more hold it: seen in the sample, or else looked
    # for in the table (stopping at the second; a table of distinct entries is scanned only here)
    n_candidate = None  # not known yet: counted in the pass
    if int(candidate) == 0:
        scratch = None
    elif counts.max() > 1:
        scratch = int(candidate)
    else:
        seen = _count(ptes, candidate, cand, 2)
        scratch = int(candidate) if seen > 1 else None
        n_candidate = None if seen > 1 else seen
    count_candidate = n_candidate is None
    n_candidate = n_candidate or 0
    mapped = np.empty(size, dtype=bool) if scratch is not None else pres  # present, not scratch
    stolen = dsm is not None and bool(dsm[1])
    base, dsm_size = (np.uint64(dsm[0]), np.uint64(dsm[1])) if stolen else (None, None)
    n_present = n_mapped = n_cont = n_stolen = 0
    long_edges, stolen_edges, scratch_edges = _Edges(), _Edges(max_runs), _Edges(max_runs)
    singles: list[int] = []
    cont_before = False  # whether the previous block's last entry continues into this block
    for s in range(0, n, CHUNK):
        e = min(s + CHUNK, n)
        ln, la = e - s, min(e + 1, n) - s  # this block, and with the next block's first entry
        p = ptes[s : s + la]
        _present_into(p, fmt, pres[:la])
        n_present += int(np.count_nonzero(pres[:ln]))
        if count_candidate:
            np.equal(p, candidate, out=cand[:la])
            k = int(np.count_nonzero(cand[:ln]))
            n_candidate += k
        if scratch is not None:
            scratch_edges.feed(cand[:ln], s, k)
            np.greater(pres[:la], cand[:la], out=mapped[:la])  # bools: present and not scratch
        k = int(np.count_nonzero(mapped[:ln]))
        n_mapped += k
        if k == 0:
            long_edges.feed(mapped[:ln], s, 0)
            stolen_edges.feed(mapped[:ln], s, 0)
            cont_before = False
            continue
        # c[i]: entries s + i and s + i + 1 are both mapped and map consecutive pages
        _addresses_into(p, fmt, addr[:la], work[:la])
        c = cont[:ln]
        np.subtract(addr[1:la], addr[: la - 1], out=work[: la - 1])
        np.equal(work[: la - 1], np.uint64(PAGE), out=cont[: la - 1])
        if la == ln:
            c[-1] = False  # the table's last entry continues into nothing
        c &= mapped[:ln]
        c[: la - 1] &= mapped[1:la]
        k = int(np.count_nonzero(c))
        n_cont += k
        long_edges.feed(c, s, k)
        if len(singles) < max_runs:  # mapped entries in no long run (listed when long runs are few)
            one = flags[:ln]
            np.greater(mapped[:ln], c, out=one)
            np.greater(one[1:], c[:-1], out=one[1:])
            if cont_before:
                one[0] = False
            singles += (np.flatnonzero(one)[: max_runs - len(singles)] + s).tolist()
        cont_before = bool(c[-1])
        if stolen:
            hit = flags[:ln]
            np.subtract(addr[:ln], base, out=work[:ln])  # below the base wraps round: one compare
            np.less(work[:ln], dsm_size, out=hit)
            hit &= mapped[:ln]
            k = int(np.count_nonzero(hit))
            n_stolen += k
            stolen_edges.feed(hit, s, k)
    out.update({
        "present": n_present,
        "most_common_value": int(candidate),
        "most_common_count": n_candidate,
        "scratch_value": scratch,
        "scratch_entries": n_candidate if scratch is not None else 0,
        "mapped_entries": n_mapped,
        "occupancy": round(n_mapped / n, 6),
        "empty_entries": n - n_present,
    })
    # contiguous runs: a run of k > 1 entries is a stretch of k - 1 True in ``cont``; every other
    # mapped entry is a run of its own. Listed longest first (ties: lowest entry first).
    out["mapped_runs"] = n_mapped - n_cont
    starts, stops = long_edges.runs(n)
    lengths = stops - starts + 1
    if max_runs <= 0:
        top = np.zeros(0, dtype=np.int64)
    elif len(lengths) > max_runs:  # the k-th longest by partition, then at most k runs sorted
        cut = np.partition(lengths, len(lengths) - max_runs)[len(lengths) - max_runs]
        longer = np.flatnonzero(lengths > cut)
        top = np.concatenate((longer, np.flatnonzero(lengths == cut)[: max_runs - len(longer)]))
    else:
        top = np.arange(len(lengths))
    top = top[np.lexsort((starts[top], -lengths[top]))]
    chosen = [(int(starts[i]), int(lengths[i])) for i in top]
    chosen += [(i, 1) for i in singles[: max(0, max_runs - len(chosen))]]
    firsts = np.array([f for f, _ in chosen], dtype=np.int64)
    where = addresses(ptes[firsts], fmt) if len(firsts) else []
    out["largest_runs"] = [{"first": f, "entries": ln, "address": int(a)} for (f, ln), a in zip(chosen, where)]
    if stolen:
        st, sp = stolen_edges.runs(n)
        out["stolen"] = {"base": dsm[0], "size": dsm[1], "entries": n_stolen, "runs": [{"first": int(a), "entries": int(b - a)} for a, b in zip(st, sp)]}
    if scratch is not None:
        st, sp = scratch_edges.runs(n)
        out["scratch_runs"] = [{"first": int(a), "entries": int(b - a)} for a, b in zip(st, sp)]
    else:
        out["scratch_runs"] = []
    return out


def changed(old: bytes, new: bytes, fmt: PteFormat, limit: int = 1 << 20) -> dict[str, Any]:
    """Entries that differ between two reads of the same GGTT."""
    a, b = as_array(old, fmt), as_array(new, fmt)
    n = min(len(a), len(b))
    differ = a[:n] != b[:n]
    starts, stops = true_runs(differ)
    return {
        "entries_compared": int(n),
        "changed": int(np.count_nonzero(differ)),
        "runs": [{"first": int(s), "entries": int(e - s)} for s, e in zip(starts[:64], stops[:64])],
        "indices": np.flatnonzero(differ)[:limit].tolist(),
        "length_differs": len(a) != len(b),
    }


def entries_mapping(data: bytes, fmt: PteFormat, address: int, limit: int = 64) -> list[int]:
    """Indices of present entries that map the 4 KiB page holding ``address``."""
    if not 0 <= address < 1 << 64:  # no PTE holds an address wider than 64 bits (a log may)
        return []
    ptes = as_array(data, fmt)
    page = np.uint64(address & ~(PAGE - 1))
    hit = present(ptes, fmt) & (addresses(ptes, fmt) == page)
    return np.flatnonzero(hit)[:limit].tolist()
