"""A small encoder for the UEFI compression format, for tests: it writes exactly the streams the
decompressor must read (tokens chosen by the test, Huffman code lengths from their counts), so the
tests can reach every path -- single-symbol sets, zero runs in the code lengths, long codes,
overlapping matches, several blocks -- without a third-party compressor.

``pbit`` 5 writes the Tiano variant (the position set's count in 5 bits instead of 4).

Tokens: an int is a literal byte; ``(length, distance)`` copies ``length`` (3..256) bytes from
``distance`` (1..2^14) bytes back.
"""

from __future__ import annotations

import heapq
from collections import Counter

NC, NT, MAXNP, TBIT, CBIT, PBIT = 510, 19, 31, 5, 9, 4


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def put(self, value: int, width: int) -> None:
        if width:
            assert 0 <= value < 1 << width, (value, width)
            self.bits.append(format(value, f"0{width}b"))

    def put_str(self, s: str) -> None:
        self.bits.append(s)

    def data(self) -> bytes:
        s = "".join(self.bits)
        s += "0" * (-len(s) % 8)
        return bytes(int(s[i : i + 8], 2) for i in range(0, len(s), 8))


def huffman_lengths(freq: dict[int, int]) -> dict[int, int]:
    """Code lengths of an optimal code for ``freq`` (at least two symbols)."""
    assert len(freq) >= 2
    heap = [(f, i, (s,)) for i, (s, f) in enumerate(sorted(freq.items()))]
    heapq.heapify(heap)
    depth = Counter()
    n = len(heap)
    while len(heap) > 1:
        fa, _, a = heapq.heappop(heap)
        fb, _, b = heapq.heappop(heap)
        for s in a + b:
            depth[s] += 1
        heapq.heappush(heap, (fa + fb, n, a + b))
        n += 1
    assert max(depth.values()) <= 16, "test data gives a code longer than 16 bits"
    return dict(depth)


def canonical(lengths: dict[int, int]) -> dict[int, str]:
    codes, code, prev = {}, 0, 0
    for ln, sym in sorted((ln, s) for s, ln in lengths.items() if ln):
        code <<= ln - prev
        prev = ln
        codes[sym] = format(code, f"0{ln}b")
        code += 1
    return codes


def _put_pt_length(w: BitWriter, ln: int) -> None:
    if ln < 7:
        w.put(ln, 3)
    else:
        w.put_str("111" + "1" * (ln - 7) + "0")


def write_pt(w: BitWriter, lengths: dict[int, int] | int, nbit: int, special: int) -> None:
    """A set's code lengths (or, given one symbol as an int, the no-bits single-symbol form)."""
    if isinstance(lengths, int):
        w.put(0, nbit)
        w.put(lengths, nbit)
        return
    n = max(lengths) + 1
    w.put(n, nbit)
    i = 0
    while i < n:
        _put_pt_length(w, lengths.get(i, 0))
        i += 1
        if i == special:
            run = 0
            while run < 3 and i + run < n and lengths.get(i + run, 0) == 0:
                run += 1
            w.put(run, 2)
            i += run


def _c_length_tokens(lengths: dict[int, int]) -> list[tuple[int, int, int]]:
    """The char&len code lengths as extra-set symbols: (symbol, extra value, extra width)."""
    n = max(lengths) + 1
    out, i = [], 0
    while i < n:
        if lengths.get(i, 0):
            out.append((lengths[i] + 2, 0, 0))
            i += 1
            continue
        run = 0
        while i + run < n and not lengths.get(i + run, 0):
            run += 1
        if run >= 20:
            k = min(run, 20 + 511)
            out.append((2, k - 20, CBIT))
        elif run >= 3:
            k = min(run, 18)
            out.append((1, k - 3, 4))
        else:
            k = 1
            out.append((0, 0, 0))
        i += k
    return out


def _p_symbol(distance: int) -> tuple[int, int, int]:
    pos = distance - 1
    if pos < 2:
        return pos, 0, 0
    p = pos.bit_length()
    return p, pos - (1 << (p - 1)), p - 1


def write_block(w: BitWriter, tokens: list, count: int | None = None, pbit: int = PBIT) -> None:
    c_syms = [t if isinstance(t, int) else 253 + t[0] for t in tokens]
    p_syms = [_p_symbol(t[1]) for t in tokens if not isinstance(t, int)]
    w.put(len(tokens) if count is None else count, 16)
    cfreq = Counter(c_syms)
    if len(cfreq) == 1:
        write_pt(w, 0, TBIT, 3)  # the extra set is read but unused
        write_pt(w, next(iter(cfreq)), CBIT, -1)
        ccodes = {next(iter(cfreq)): ""}
    else:
        clen = huffman_lengths(cfreq)
        ttoks = _c_length_tokens(clen)
        tfreq = Counter(s for s, _, _ in ttoks)
        if len(tfreq) == 1:
            write_pt(w, next(iter(tfreq)), TBIT, 3)
            tcodes = {next(iter(tfreq)): ""}
        else:
            tlen = huffman_lengths(tfreq)
            write_pt(w, tlen, TBIT, 3)
            tcodes = canonical(tlen)
        w.put(max(clen) + 1, CBIT)
        for s, extra, width in ttoks:
            w.put_str(tcodes[s])
            w.put(extra, width)
        ccodes = canonical(clen)
    pfreq = Counter(p for p, _, _ in p_syms)
    if len(pfreq) <= 1:
        only = next(iter(pfreq), 0)
        write_pt(w, only, pbit, -1)
        pcodes = {only: ""}
    else:
        plen = huffman_lengths(pfreq)
        write_pt(w, plen, pbit, -1)
        pcodes = canonical(plen)
    ps = iter(p_syms)
    for t, c in zip(tokens, c_syms):
        w.put_str(ccodes[c])
        if not isinstance(t, int):
            p, extra, width = next(ps)
            w.put_str(pcodes[p])
            w.put(extra, width)


def expand(blocks: list[list]) -> bytes:
    """What the tokens decode to."""
    out = bytearray()
    for block in blocks:
        for t in block:
            if isinstance(t, int):
                out.append(t)
            else:
                length, dist = t
                for _ in range(length):
                    out.append(out[-dist])
    return bytes(out)


def encode(blocks: list[list], orig_size: int | None = None, comp_size: int | None = None, pbit: int = PBIT) -> bytes:
    """Header and bit stream for ``blocks`` of tokens; the sizes can be made to lie."""
    w = BitWriter()
    for block in blocks:
        write_block(w, block, pbit=pbit)
    body = w.data()
    orig = len(expand(blocks)) if orig_size is None else orig_size
    comp = len(body) if comp_size is None else comp_size
    return comp.to_bytes(4, "little") + orig.to_bytes(4, "little") + body


def literals(data: bytes, block: int = 4000) -> list[list]:
    """``data`` as literal-only blocks of at most ``block`` bytes."""
    return [list(data[i : i + block]) for i in range(0, len(data), block)] or [[]]


def lz(data: bytes, window: int = 1 << 13, block: int = 6000) -> list[list]:
    """``data`` as tokens with greedy matches (the last position of each 3-byte string within
    ``window``), in blocks of at most ``block`` tokens: streams like a real compressor's."""
    tokens: list = []
    last: dict[bytes, int] = {}
    i = 0
    while i < len(data):
        key = data[i : i + 3]
        j = last.get(key)
        last[key] = i
        if j is not None and len(key) == 3 and i - j <= window:
            n = 3
            while n < 256 and i + n < len(data) and data[j + n] == data[i + n]:
                n += 1
            tokens.append((n, i - j))
            for k in range(i + 1, i + n):
                last[data[k : k + 3]] = k
            i += n
        else:
            tokens.append(data[i])
            i += 1
    return [tokens[k : k + block] for k in range(0, len(tokens), block)] or [[]]
