"""The UEFI decompression algorithm, for EFI images in PCI option ROMs with CompressionType 1, and
its Tiano variant, for compressed sections of firmware images (:mod:`igdscope.decode.sections`).

An option ROM's EFI image may be stored compressed (EDK2 ``EfiRom -ec``); the firmware's PCI bus
driver then runs it through ``EFI_DECOMPRESS_PROTOCOL`` before loading it. Without decompressing,
nothing inside the driver can be seen: not its PE header, not the GOP protocol GUID.

The format (UEFI specification, "Compression Algorithm Specification"; EDK2
``MdePkg/Library/BaseUefiDecompressLib``, checked there):

- an 8-byte header: ``CompSize`` (u32, bytes of bit stream behind the header) and ``OrigSize``
  (u32, bytes of output); EDK2 refuses the data when ``CompSize + 8`` exceeds what it was given,
  and returns at once when ``OrigSize`` is 0;
- then a bit stream, most significant bit first, read only ``CompSize`` bytes far and continued
  with zero bits after that (igdscope stops instead: a block header that does not fit in the data
  or a match that starts past it comes from a ``CompSize`` or ``OrigSize`` that lies);
- blocks, each: a 16-bit symbol count; the code lengths of the 19-symbol extra set (count in 5
  bits, each length in 3 bits or as ``111`` followed by 1s and a 0; after the third a 2-bit run of
  zeros); the code lengths of the 510-symbol char&len set (count in 9 bits, each coded with the
  extra set: 0 = one zero, 1 = 3 + 4 bits zeros, 2 = 20 + 9 bits zeros, n = length n - 2); the
  code lengths of the position set (count in 4 bits for this version, 1, and in 5 bits for the
  Tiano variant, version 2 -- EDK2's ``UefiTianoDecompress`` sets ``mPBit`` from the version and
  changes nothing else --, coded like the extra set without the zero run). A count of 0 means one symbol, given in
  the count's width, coded with no bits at all;
- codes are canonical Huffman codes (shorter first, then by symbol); EDK2 rejects a set of
  lengths that does not fill the code space exactly (``MakeTable``'s check);
- a symbol below 256 is a literal byte; 256 + n copies n + 3 bytes from ``pos + 1`` bytes back,
  where a position symbol p is pos = p for p < 2, else 2^(p-1) plus p - 1 more bits.

:func:`decompress` returns plain data and never raises for bad content. The work is bounded:
at most ``limit`` bytes of output (``MAX_OUTPUT`` by default) and at most ``MAX_BLOCKS`` blocks
(``stopped`` says which ended the work; ``complete`` is then False), so a hostile image costs at
most about a second, whatever its header claims.
"""

from __future__ import annotations

from typing import Any

MAX_OUTPUT = 2 << 20  # a GOP driver is 100-300 KiB; its GUID and PE header are far below this
MAX_BLOCKS = 2048  # EDK2's EfiCompress wrote one block per 10-25 KiB of output on real drivers

NC = 510  # char&len set: 256 literals + match lengths 3..256
NT = 19  # extra set (code lengths of the char&len set)
MAXNP = 31  # position set, as EDK2 sizes it
NPT = 31  # room for the extra / position code lengths
CBIT = 9
TBIT = 5
PBIT = 4  # UEFI (EFI 1.1) variant, version 1
PBIT_BY_VERSION = {1: PBIT, 2: 5}  # 2: Tiano (EDK2's TianoCompress, the Tiano GUID-defined section)


class Corrupt(Exception):
    """The bit stream cannot be decoded (EDK2 returns EFI_INVALID_PARAMETER or misbehaves)."""


class _Bits:
    """MSB-first bit reader over ``data``; zero bits after its end, as EDK2's ``FillBuf``."""

    __slots__ = ("data", "pos", "acc", "n")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.acc, self.n = data, 0, 0, 0

    def fill(self, want: int) -> None:
        while self.n < want:
            chunk = self.data[self.pos : self.pos + 4]
            self.pos += 4
            self.acc = (self.acc << 32) | (int.from_bytes(chunk, "big") << (8 * (4 - len(chunk))))
            self.n += 32

    def peek(self, k: int) -> int:
        if self.n < k:
            self.fill(k)
        return self.acc >> (self.n - k)

    def skip(self, k: int) -> None:
        self.n -= k
        self.acc &= (1 << self.n) - 1

    def get(self, k: int) -> int:
        if k == 0:
            return 0
        v = self.peek(k)
        self.skip(k)
        return v

    def bit_offset(self) -> int:
        return 8 * self.pos - self.n


class _Code:
    """A canonical Huffman code as a lookup table of ``bits``-bit prefixes (entry: symbol << 5 |
    length), with codes longer than ``bits`` in a small dict; or one symbol coded with no bits."""

    __slots__ = ("bits", "table", "long", "single_symbol")

    def __init__(self, lengths: list[int], bits: int, what: str) -> None:
        count = [0] * 17
        for ln in lengths:
            if ln > 16:
                raise Corrupt(f"{what}: a code length of {ln} (at most 16)")
            count[ln] += 1
        space = sum(count[ln] << (16 - ln) for ln in range(1, 17))
        if space != 1 << 16:
            raise Corrupt(f"{what}: the code lengths {'overfill' if space > 1 << 16 else 'do not fill'} the code space")
        self.bits, self.single_symbol = bits, False
        table = [-1] * (1 << bits)
        self.long: dict[tuple[int, int], int] = {}
        code, prev = 0, 0
        for ln, sym in sorted((ln, sym) for sym, ln in enumerate(lengths) if ln):
            code <<= ln - prev  # canonical: each longer length continues from the shorter codes
            prev = ln
            if ln <= bits:
                span = 1 << (bits - ln)
                start = code << (bits - ln)
                table[start : start + span] = [sym << 5 | ln] * span
            else:
                self.long[(ln, code)] = sym
            code += 1
        self.table = table

    @classmethod
    def single(cls, sym: int, bits: int) -> _Code:
        self = cls.__new__(cls)
        self.bits, self.table, self.long, self.single_symbol = bits, [sym << 5] * (1 << bits), {}, True
        return self

    def read(self, br: _Bits) -> int:
        e = self.table[br.peek(self.bits)]
        if e >= 0:
            br.skip(e & 31)
            return e >> 5
        for ln in range(self.bits + 1, 17):
            sym = self.long.get((ln, br.peek(ln)))
            if sym is not None:
                br.skip(ln)
                return sym
        raise Corrupt("a code that is in no table")  # cannot happen for a complete code


def _count(br: _Bits, nbit: int, nn: int, table_bits: int, what: str) -> tuple[int, _Code | None]:
    """A set's count of code lengths; a count of 0 is followed by the set's only symbol, which is
    then the whole code."""
    number = br.get(nbit)
    if number:
        return number, None
    sym = br.get(nbit)
    if sym >= nn:
        raise Corrupt(f"{what}: the only symbol is {sym}, beyond the {nn} of the set")
    return 0, _Code.single(sym, table_bits)


def _read_pt(br: _Bits, nn: int, nbit: int, special: int, what: str) -> _Code:
    number, only = _count(br, nbit, nn, 8, what)
    if only is not None:
        return only
    lengths = [0] * NPT
    i = 0
    while i < number and i < NPT:
        c = br.get(3)
        if c == 7:  # 7 and more: 111, a 1 for each length above 7, then a 0
            while br.get(1):
                c += 1
                if c > 16:
                    raise Corrupt(f"{what}: a code length over 16")
        lengths[i] = c
        i += 1
        if i == special:
            for _ in range(br.get(2)):
                if i < NPT:
                    lengths[i] = 0
                    i += 1
    return _Code(lengths[:nn], 8, what)


def _read_c(br: _Bits, t: _Code) -> _Code:
    number, only = _count(br, CBIT, NC, 12, "char&len set")
    if only is not None:
        return only
    lengths = [0] * NC
    i = 0
    while i < number and i < NC:
        c = t.read(br)
        if c <= 2:
            run = 1 if c == 0 else br.get(4) + 3 if c == 1 else br.get(CBIT) + 20
            i = min(i + run, NC)  # the lengths are already 0; EDK2 would write past the array
        else:
            lengths[i] = c - 2
            i += 1
    return _Code(lengths, 12, "char&len set")


def header(data: bytes) -> tuple[int, int] | None:
    """(CompSize, OrigSize) from the 8-byte header, or None when there are fewer than 8 bytes."""
    if len(data) < 8:
        return None
    return int.from_bytes(data[0:4], "little"), int.from_bytes(data[4:8], "little")


def decompress(data: bytes, limit: int | None = None, version: int = 1, max_blocks: int | None = None) -> dict[str, Any]:
    """Decompress UEFI-compressed ``data`` (header and bit stream); ``version`` 2 reads the Tiano
    variant. At most ``max_blocks`` blocks are read (default ``MAX_BLOCKS``).

    Returns ``{"comp_size", "orig_size", "data" (bytes), "complete" (all ``orig_size`` bytes were
    produced), "blocks", "error" (None, or why EDK2 would refuse or fail the data and where),
    "stopped" (None, or which of igdscope's bounds ended the work early)}``. ``data`` holds at
    most ``limit`` bytes (default ``MAX_OUTPUT``); on an error, the bytes decoded before it.
    """
    limit = MAX_OUTPUT if limit is None else limit
    pbit = PBIT_BY_VERSION[version]
    max_blocks = MAX_BLOCKS if max_blocks is None else max_blocks
    # the shortest block header: count (16 bits), then each set as one symbol (count 0 and the symbol)
    min_block_header_bits = 16 + 2 * TBIT + 2 * CBIT + 2 * pbit
    data = bytes(data)
    hdr = header(data)
    out = bytearray()
    res: dict[str, Any] = {"comp_size": None, "orig_size": None, "data": b"", "complete": False, "blocks": 0, "error": None, "stopped": None}
    if hdr is None:
        res["error"] = f"{len(data)} bytes, shorter than the 8-byte compression header"
        return res
    comp, orig = hdr
    res["comp_size"], res["orig_size"] = comp, orig
    if comp + 8 > len(data):
        res["error"] = f"CompSize {comp} + 8 header bytes exceeds the {len(data)} bytes present (EDK2 refuses it)"
        return res
    if orig == 0:
        res["complete"] = True
        return res
    want = min(orig, limit)
    br = _Bits(data[8 : 8 + comp])
    end_bits = 8 * comp
    past_end = (f"the compressed data ends ({comp} bytes) before OrigSize {orig} is reached: EDK2 would decode "
                "zero bits for the rest, igdscope stops")
    blocks = 0
    left = 0
    c_code = p_code = None
    try:
        while len(out) < want:
            if left == 0:
                if br.bit_offset() + min_block_header_bits > end_bits:
                    res["stopped"] = past_end
                    break
                if blocks >= max_blocks:
                    res["stopped"] = f"igdscope reads at most {max_blocks} blocks"
                    break
                blocks += 1
                left = br.get(16) or 0x10000  # a count of 0 reads as 65536 symbols, as EDK2's UINT16
                where = f"block {blocks} (bit {br.bit_offset() - 16} of the stream)"
                try:
                    t_code = _read_pt(br, NT, TBIT, 3, "extra set")
                    c_code = _read_c(br, t_code)
                    p_code = _read_pt(br, MAXNP, pbit, -1, "position set")
                except Corrupt as exc:
                    raise Corrupt(f"{where}: {exc}") from None
                ctab, cbits, ptab = c_code.table, c_code.bits, p_code.table
                only = ctab[0] >> 5 if c_code.single_symbol else None
                if only is not None and only < 256:  # one literal, coded with no bits: a run
                    n = min(left, want - len(out))
                    out += bytes((only,)) * n
                    left -= n
                    continue
            left -= 1
            # the char&len symbol, inline (the hot path): table lookup on the next cbits bits
            if br.n < cbits:
                br.fill(cbits)
            e = ctab[br.acc >> (br.n - cbits)]
            if e >= 0:
                br.n -= e & 31
                br.acc &= (1 << br.n) - 1
                sym = e >> 5
            else:
                sym = c_code.read(br)
            if sym < 256:
                out.append(sym)
                continue
            if 8 * br.pos - br.n > end_bits:  # a match from bits past the data: bound what zeros can make
                res["stopped"] = past_end
                break
            # the position, inline like the symbol: 8-bit table, then its extra bits
            if br.n < 8:
                br.fill(8)
            e = ptab[br.acc >> (br.n - 8)]
            if e >= 0:
                br.n -= e & 31
                br.acc &= (1 << br.n) - 1
                p = e >> 5
            else:
                p = p_code.read(br)
            if p > 1:
                k = p - 1
                if br.n < k:
                    br.fill(k)
                br.n -= k
                dist = (1 << k) + (br.acc >> br.n) + 1
                br.acc &= (1 << br.n) - 1
            else:
                dist = p + 1
            start = len(out) - dist
            if start < 0:
                raise Corrupt(f"at output byte {len(out)}: a match {dist} bytes back reaches before the start")
            length = min(sym - 253, want - len(out))
            if dist >= length:
                out += out[start : start + length]
            else:  # overlapping: the copy repeats the last dist bytes
                piece = out[start:]
                out += (piece * (length // dist + 1))[:length]
    except Corrupt as exc:
        res["error"] = str(exc)
    res["data"] = bytes(out[:want])
    res["complete"] = res["error"] is None and len(res["data"]) == orig
    if want < orig and res["error"] is None and res["stopped"] is None:
        res["stopped"] = f"igdscope decompresses at most {limit} bytes"
    res["blocks"] = blocks
    return res
