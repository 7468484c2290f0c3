"""The panel blocks: LFP options (40), LFP data table pointers (41), LFP data (42), LFP backlight
(43), LFP power conservation (44), and the SDVO LVDS options (22) and DTDs (23).

Names follow the kernel's ``intel_vbt_defs.h`` (``struct bdb_lfp_options``, ``bdb_lfp_data_ptrs``,
``fp_timing``, ``bdb_edid_pnp_id``, ``bdb_lfp_data_tail``, ``bdb_lfp_backlight``,
``bdb_lfp_power``, ``bdb_sdvo_lvds_options``, ``bdb_sdvo_lvds_dtd``); what i915 does with them
follows ``intel_bios.c`` (``get_panel_type()``, ``generate_lfp_data_ptrs()``,
``validate_lfp_data_ptrs()``, ``parse_lfp_data()``, ``parse_lfp_backlight()``,
``parse_power_conservation_features()``, ``parse_sdvo_lvds_data()``).

Per-panel data. The kernel packs one value per panel into bit masks (``(mask >> panel * bits) &
((1 << bits) - 1)``) or arrays of 16; each block here is decoded into ``panels``: 16 dicts, one
per panel index, with the kernel member names as keys, and ``selected: true`` on the panel i915
uses (``selected_lfp2: true`` on the one of a child device with handle LFP2); ``selected_panel``
(and ``selected_panel2``) name them at block level. The rule that picks them is the one of every
per-panel block: :func:`igdscope.schemas.vbtblocks.panel.panel_selection`.

Version gates and short blocks. A field the BDB version does not define is left out (or, when
its bits are not zero, moved to ``not_valid_for_bdb``, so nothing is lost). A field the version
defines but the block is too short to hold is left out too, and a finding names it (i915 reads
such fields as zeros: it copies every block into a zero-filled buffer of the full struct size).

The pointers of block 41 are offsets from the start of the BDB header; ``data_offset`` is the
same pointer counted from the start of block 42's data (what igt prints). Block 42 is decoded
through them, with the rules i915 applies (``lfp_data_ptrs()``): when block 41 is missing and
the BDB version is 155 or later, the pointers are generated for 16 entries of 38 + 18 + 10 bytes.
Bytes are only ever read where they are: a pointer or count is never trusted for a read or an
allocation beyond the block it points into.

Context. ``post`` hooks get the other blocks of the VBT as ``{id: raw bytes}``: block 40 gives
the panel index, block 2 whether an LFP2 child exists, block 41/42 each other, block 22 the SDVO
panel. Block positions are not in it; see :func:`lfp_data_ptrs` for what that means for the
block 41 checks.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from itertools import product
from operator import itemgetter
from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build
from igdscope.schemas.common import Text, merge_values, zero_value
from igdscope.schemas.vbtblocks.base import BlockSpec, FlatStruct, Tables, ZeroFilled, gate, invalid_names, is_zero
from igdscope.schemas.vbtblocks.dtd import DTD_SIZE, EdidDtd, dtd_at, dtd_findings, dtd_plain
from igdscope.schemas.vbtblocks.panel import (
    PANELS,
    panel_marks,
    panel_selection,
    selection_fields,
)

FP_TIMING_GENERATED_SIZE = 38  # what i915 and igt assume when they generate the pointers (BDB 155+)
PNP_ID_SIZE = 10
PANEL_NAME_SIZE = 13

Gates = dict[str, tuple[int, "int | None"]]


# -- helpers ------------------------------------------------------------------------------------


def _in_range(version: int, gate: tuple[int, int | None] | None) -> bool:
    if gate is None:
        return True
    lo, hi = gate
    return version >= lo and (hi is None or version <= hi)


def _offsets(struct: cs.Construct) -> dict[str, tuple[int, int]]:
    """(byte offset, byte size) of each named member of a fixed-size struct; the members of an
    unnamed bit-field byte get that byte's offset and size."""
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    for sc in struct.subcons:
        size = sc.sizeof()
        if sc.name:
            out[sc.name] = (pos, size)
        else:
            inner = getattr(getattr(sc, "subcon", None), "subcons", None) or []
            for member in inner:
                if member.name:
                    out[member.name] = (pos, size)
        pos += size
    return out


def _bits(word: int, panel: int, bits: int) -> int:
    return (word >> (panel * bits)) & ((1 << bits) - 1)


def _coded(value: int, names: dict[int, str]) -> dict[str, Any]:
    return {"value": value, "name": names.get(value)}


def _drop_zero(fields: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in fields and is_zero(fields[name]):
            del fields[name]


def _unparsed(plain: dict[str, Any], full: int, findings: list[str], what: str = "") -> None:
    extra = plain.get("unparsed")
    if extra:
        findings.append(f"{len(extra) // 2} byte(s) beyond the {full}-byte struct{what}: not decoded")
    else:
        plain.pop("unparsed", None)


def _absent(names: list[str], size: int, findings: list[str]) -> None:
    if names:
        findings.append(f"the block ({size} bytes) ends before {', '.join(names)}: absent (i915 reads zeros)")


# -- per-panel dicts ----------------------------------------------------------------------------
#
# The blocks below build their 16 panel dicts column by column: a column is one member's values
# for the panels, read from the block once (a bit mask spread by the tables below, an array
# sliced); the panels are then assembled from the columns.

# the 16 per-panel values of 1- and 2-bit masks, a byte at a time (low bits: lower panel index)
_BYTE_FLAGS = tuple(bits[::-1] for bits in product((False, True), repeat=8))
_BYTE_BITS = tuple(bits[::-1] for bits in product((0, 1), repeat=8))
_BYTE_PAIRS = tuple(pairs[::-1] for pairs in product(range(4), repeat=4))


def _flags(word: int) -> tuple[bool, ...]:
    """The 16 one-bit flags of ``word`` (panel ``i``'s at bit ``i``) as bools."""
    return _BYTE_FLAGS[word & 0xFF] + _BYTE_FLAGS[word >> 8 & 0xFF]


def _field_values(word: int, bits: int) -> tuple[int, ...]:
    """``(word >> panel * bits) & ((1 << bits) - 1)`` for the 16 panels."""
    if bits == 1:
        return _BYTE_BITS[word & 0xFF] + _BYTE_BITS[word >> 8 & 0xFF]
    if bits == 2:
        return _BYTE_PAIRS[word & 0xFF] + _BYTE_PAIRS[word >> 8 & 0xFF] + _BYTE_PAIRS[word >> 16 & 0xFF] + _BYTE_PAIRS[word >> 24 & 0xFF]
    mask = (1 << bits) - 1
    return tuple(word >> i * bits & mask for i in range(PANELS))


def _coded_forms(names: dict[int, str], bits: int) -> tuple[dict[str, Any], ...]:
    """``_coded(v, names)`` for every value of ``bits`` bits, for :func:`_coded_column` to copy."""
    return tuple(_coded(v, names) for v in range(1 << bits))


def _coded_column(values: Any, forms: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """``[_coded(v, names) for v in values]``, from ``forms = _coded_forms(names, bits)``."""
    return [forms[v].copy() for v in values]


Column = tuple[str, Any]  # (member, values of panels 0, 1, ... as far as they have it) or (member, {panel: value})
OddColumn = tuple[int, str, Any, Any]  # (place in the gate table, member, values, which values are not zero)


def _panel_dicts(sel: dict[str, Any], columns: list[Column], odd: list[OddColumn] | None = None) -> list[dict[str, Any]]:
    """The 16 panel dicts of a block: ``panel``, ``selected`` (and ``selected_lfp2``) from the panel
    selection, then the members of the columns (:func:`_fill`) -- what gating each panel's entry
    with :func:`_gate` and putting the marks in front makes."""
    panels = [panel_marks(i, sel) for i in range(PANELS)]
    _fill(panels, columns, odd)
    return panels


def _fill(panels: list[dict[str, Any]], columns: list[Column], odd: list[OddColumn] | None = None) -> None:
    """Add one member per column to the panel dicts, in column order, then ``not_valid_for_bdb``
    with the members of the ``odd`` columns (those the BDB version does not define) that are not
    zero, in gate table order (as :func:`_gate` does). A column's values are a sequence from panel
    0 on (shorter when the block ends before the last panels' values) or a dict ``{panel:
    value}`` for members only some panels have."""
    for name, values in columns:
        if values.__class__ is dict:
            for i, value in values.items():
                panels[i][name] = value
        else:
            for entry, value in zip(panels, values):
                entry[name] = value
    if odd:
        odd.sort(key=lambda c: c[0])
        for _, name, values, truth in odd:
            if any(truth):
                for entry, value, nonzero in zip(panels, values, truth):
                    if nonzero:
                        bad = entry.get("not_valid_for_bdb")
                        if bad is None:
                            entry["not_valid_for_bdb"] = {name: value}
                        else:
                            bad[name] = value


def _gated(name: str, values: Any, truth: Any, invalid: tuple[str, ...], columns: list[Column], odd: list[OddColumn]) -> None:
    """Add a column to ``columns``, or to ``odd`` when its member is in ``invalid`` (the names the
    BDB version does not define, from :func:`invalid_names`); ``truth`` tells which values are not
    zero."""
    if name in invalid:
        odd.append((invalid.index(name), name, values, truth))
    else:
        columns.append((name, values))


def _panels(word_fields: list[tuple[str, int, dict[int, str] | None]], forms: dict[str, tuple[dict[str, Any], ...]],
            words: dict[str, int], present: set[str], gates: Gates, version: int, sel: dict[str, Any]) -> list[dict[str, Any]]:
    """16 per-panel dicts from bit-mask members (``(name, bits per panel, value names or None for
    a flag)``, ``forms`` their :func:`_coded_forms`), keeping the members in ``present`` and gating
    by version."""
    invalid = invalid_names(gates, version)
    columns: list[Column] = []
    odd: list[OddColumn] = []
    for name, bits, names in word_fields:
        if name in present:
            word = words[name]
            if names is None and bits == 1:
                column: Any = _flags(word)
                _gated(name, column, column, invalid, columns, odd)
                continue
            values = _field_values(word, bits)
            column = tuple(v != 0 for v in values) if names is None else _coded_column(values, forms[name])
            _gated(name, column, values, invalid, columns, odd)
    return _panel_dicts(sel, columns, odd)


# -- block 40: LFP options (struct bdb_lfp_options) ---------------------------------------------

LfpOptions = FlatStruct(
    "panel_type" / cs.Int8ul * "0-15; 0xFF: select by the panel's EDID PnP ID (block 42)",
    "panel_type2" / cs.Int8ul * "panel of a child with handle LFP2 (212+)",
    cs.BitStruct(
        "rsvd2" / cs.Flag,
        "lvds_edid" / cs.Flag * "up to 240",
        "pixel_dither" / cs.Flag,
        "pfit_ratio_auto" / cs.Flag,
        "pfit_gfx_mode_enhanced" / cs.Flag,
        "pfit_text_mode_enhanced" / cs.Flag,
        "pfit_mode" / cs.BitsInteger(2),
    ),
    "rsvd4" / cs.Int8ul,
    "lvds_panel_channel_bits" / cs.Int32ul * "2 bits/panel: 0 automatic, 1 single, 2 dual",
    "ssc_bits" / cs.Int16ul * "1 bit/panel",
    "ssc_freq" / cs.Int16ul * "1 bit/panel: default / alternate frequency",
    "ssc_ddt" / cs.Int16ul * "1 bit/panel: disable SSC in dual display twin",
    "panel_color_depth" / cs.Int16ul * "1 bit/panel: 0 18 bpp, 1 24 bpp",
    "dps_panel_type_bits" / cs.Int32ul * "2 bits/panel: 0 static DRRS, 1 D2PO, 2 seamless DRRS",
    "blt_control_type_bits" / cs.Int32ul * "2 bits/panel: 0 default, 1 CCFL, 2 LED (up to 240)",
    "lcdvcc_s0_enable" / cs.Int16ul * "1 bit/panel (200+)",
    "rotation" / cs.Int32ul * "2 bits/panel, x 90 degrees (228+)",
    "position" / cs.Int32ul * "2 bits/panel: 0 inside shell, 1 outside (240+)",
)
LFP_OPTIONS_SIZE = 34

LFP_OPTIONS_GATES: Gates = {
    "panel_type2": (212, None),
    "lvds_edid": (0, 240),
    "blt_control_type_bits": (0, 240),
    "lcdvcc_s0_enable": (200, None),
    "rotation": (228, None),
    "position": (240, None),
}

LFP_OPTIONS_PANEL_FIELDS: list[tuple[str, int, dict[int, str] | None]] = [
    ("lvds_panel_channel_bits", 2, {0: "automatic", 1: "single", 2: "dual", 3: "reserved"}),
    ("ssc_bits", 1, None),
    # MHz depend on the display generation: gen2 48/66, gen3-4 96/100, later 120/100
    ("ssc_freq", 1, {0: "default", 1: "alternate"}),
    ("ssc_ddt", 1, None),
    ("panel_color_depth", 1, {0: "18bpp", 1: "24bpp"}),
    ("dps_panel_type_bits", 2, {0: "static_drrs", 1: "d2po", 2: "seamless_drrs", 3: "reserved"}),
    ("blt_control_type_bits", 2, {0: "default", 1: "ccfl", 2: "led", 3: "reserved"}),
    ("lcdvcc_s0_enable", 1, None),
    ("rotation", 2, {0: "0 degrees", 1: "90 degrees", 2: "180 degrees", 3: "270 degrees"}),
    ("position", 2, {0: "inside_shell", 1: "outside_shell", 2: "reserved", 3: "reserved"}),
]
LFP_OPTIONS_OFFSETS = _offsets(LfpOptions)
LFP_OPTIONS_FORMS = {name: _coded_forms(names, bits) for name, bits, names in LFP_OPTIONS_PANEL_FIELDS if names is not None}
LFP_OPTIONS_HEAD_SIZE = min(LFP_OPTIONS_OFFSETS[name][0] for name, _, _ in LFP_OPTIONS_PANEL_FIELDS)  # 4: the members before the masks


def _post_lfp_options(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    ctx = dict(context)
    ctx[40] = raw
    sel = panel_selection(ctx, bdb_version)
    n = len(raw)
    present, absent = set(), []
    for name, _, _ in LFP_OPTIONS_PANEL_FIELDS:
        off, size = LFP_OPTIONS_OFFSETS[name]
        if off + size <= n:
            present.add(name)
        elif _in_range(bdb_version, LFP_OPTIONS_GATES.get(name)):
            absent.append(name)
    words = {name: plain.pop(name) for name, _, _ in LFP_OPTIONS_PANEL_FIELDS}
    if n < LFP_OPTIONS_HEAD_SIZE:  # a block of fewer than 4 bytes
        for name in [k for k in plain if k in LFP_OPTIONS_OFFSETS]:
            if LFP_OPTIONS_OFFSETS[name][0] >= n:
                plain.pop(name)
                if _in_range(bdb_version, LFP_OPTIONS_GATES.get(name)) and not name.startswith("rsvd"):
                    absent.insert(0, name)
    _drop_zero(plain, "rsvd2", "rsvd4")
    gate(plain, LFP_OPTIONS_GATES, bdb_version)
    _absent(absent, n, findings)
    if n < 16:
        findings.append(f"the block is {n} bytes, under 16: i915 skips the DRRS type (dps_panel_type_bits)")
    _unparsed(plain, LFP_OPTIONS_SIZE, findings)
    selection_fields(plain, sel, findings, own=True)
    plain["panels"] = _panels(LFP_OPTIONS_PANEL_FIELDS, LFP_OPTIONS_FORMS, words, present, LFP_OPTIONS_GATES, bdb_version, sel)
    plain["findings"] = findings
    return plain


# -- block 41: LFP data table pointers (struct bdb_lfp_data_ptrs) --------------------------------

LfpDataPtrTable = cs.Struct(
    "offset" / cs.Int16ul * "from the start of the BDB header",
    "table_size" / cs.Int8ul,
)
LfpDataPtr = cs.Struct(
    "fp_timing" / LfpDataPtrTable,
    "dvo_timing" / LfpDataPtrTable,
    "panel_pnp_id" / LfpDataPtrTable,
)
LfpDataPtrs = cs.Struct(
    "num_entries" / cs.Int8ul * "3: fp_timing, dvo_timing, panel_pnp_id",
    "ptr" / cs.Array(PANELS, LfpDataPtr),
    "panel_name" / LfpDataPtrTable * "13-byte names, 0 in old VBTs",
)
LFP_DATA_PTRS_SIZE = 148
LFP_DATA_PTRS_BLOCK = ZeroFilled(this._params.block_size, LfpDataPtrs)  # block 41's schema (the hooks unpack the same layout)
TABLES = ("fp_timing", "dvo_timing", "panel_pnp_id")


# One flat list stands for the 16 pointer entries and the panel names: entry i's fp_timing,
# dvo_timing and panel_pnp_id (offset, table_size) pairs at 6 * i, 6 * i + 2 and 6 * i + 4, the
# panel_name pair at NAME_AT.
NAME_AT = 6 * PANELS
_LFP_DATA_PTRS = struct.Struct("<B" + "HB" * (3 * PANELS + 1))  # struct bdb_lfp_data_ptrs
assert _LFP_DATA_PTRS.size == LFP_DATA_PTRS_SIZE
_GENERATED_ENTRY = FP_TIMING_GENERATED_SIZE + DTD_SIZE + PNP_ID_SIZE
_GENERATED = [v for i in range(PANELS) for v in (i * _GENERATED_ENTRY, FP_TIMING_GENERATED_SIZE, i * _GENERATED_ENTRY + FP_TIMING_GENERATED_SIZE,
                                                 DTD_SIZE, (i + 1) * _GENERATED_ENTRY - PNP_ID_SIZE, PNP_ID_SIZE)]


def _generate_ptrs(block_size: int) -> list[int] | None:
    """generate_lfp_data_ptrs(): 16 entries of fp_timing (38) + DTD (18) + PnP ID (10), names
    behind them if the block is large enough; offsets relative to block 42's data (a flat list)."""
    if _GENERATED_ENTRY * PANELS > block_size:
        return None
    name = [0, 0]
    if PANELS * (_GENERATED_ENTRY + PANEL_NAME_SIZE) <= block_size:
        name = [_GENERATED_ENTRY * PANELS, PANEL_NAME_SIZE]
    return _GENERATED + name


_ALL_FF = b"\xff" * PANELS


def _validate_ptrs(num_entries: int, ptr: list[int], data: bytes) -> tuple[str | None, int | None, int | None]:
    """validate_lfp_data_ptrs() on block-relative pointers (the flat list): (reason it fails or
    None, fp_timing size with the 6 hidden bytes, entry size)."""
    size = len(data)
    if size == 0:
        return "block 42 is empty", None, None
    if num_entries != 3:
        return f"num_entries is {num_entries}, not 3", None, None
    fp, dvo, pnp = ptr[1], ptr[3], ptr[5]
    name_size = ptr[NAME_AT + 1]
    if fp < 32 or dvo != DTD_SIZE or pnp != PNP_ID_SIZE:
        return f"table sizes fp_timing {fp} (needs 32 or more), dvo_timing {dvo} (needs 18), panel_pnp_id {pnp} (needs 10)", None, None
    if name_size not in (0, PANEL_NAME_SIZE):
        return f"panel_name table_size is {name_size}, not 0 or 13", None, None
    stride = ptr[6] - ptr[0]
    if PANELS * stride > size:
        return f"16 entries of {stride} bytes do not fit in block 42 ({size} bytes)", None, None
    offsets, sizes = ptr[0:NAME_AT:2], ptr[1:NAME_AT:2]
    if sizes != sizes[:3] * PANELS or offsets[3:] != [o + stride for o in offsets[:-3]]:  # the loop finds the first culprit
        for i in range(1, PANELS):
            for t, table in enumerate(TABLES):
                k = 6 * i + 2 * t
                if ptr[k + 1] != ptr[2 * t + 1]:
                    return f"panel {i} {table} table_size differs from panel 0's", None, None
                if ptr[k] - ptr[k - 6] != stride:
                    return f"panel {i} {table} is not {stride} bytes after panel {i - 1}'s (entries must be uniform)", None, None
    if fp + 6 + dvo + pnp == stride:
        fp += 6  # the 6 bytes real VBTs leave out of the fp_timing size (the terminator is in them)
    if fp + dvo + pnp != stride:
        return f"fp_timing {fp} + dvo_timing {dvo} + panel_pnp_id {pnp} is not the entry size {stride}", None, None
    if ptr[0] + fp != ptr[2] or ptr[2] + dvo != ptr[4] or ptr[4] + pnp != stride:
        return "panel 0's tables are not contiguous from the start of block 42", None, None
    # uniform entries: panel 15's tables end last (16 entries of stride bytes fit, so this holds)
    if ptr[NAME_AT - 6] + fp > size or ptr[NAME_AT - 4] + dvo > size or ptr[NAME_AT - 2] + pnp > size:
        for i in range(PANELS):
            for t, tsize in enumerate((fp, dvo, pnp)):
                if ptr[6 * i + 2 * t] + tsize > size:
                    return f"panel {i} {TABLES[t]} ends past block 42 ({size} bytes)", None, None
    if ptr[NAME_AT] + PANELS * name_size > size:
        return "the panel names end past block 42", None, None
    at = ptr[0] + fp - 2  # panel 0's terminator; the others follow every stride bytes (all inside the block)
    if data[at : at + PANELS * stride : stride] != _ALL_FF or data[at + 1 : at + 1 + PANELS * stride : stride] != _ALL_FF:
        for i in range(PANELS):
            at = ptr[6 * i] + fp - 2
            if data[at : at + 2] != b"\xff\xff":
                return f"panel {i} fp_timing has no 0xFFFF terminator at its end", None, None
    return None, fp, stride


class _Pointers:
    """What :func:`lfp_data_ptrs` returns, before it is spelled out as dicts: ``stored`` holds the
    pointers as block 41 has them (None when generated or absent), ``data`` the same relative to
    block 42's data (None without block 42 or pointers), both flat lists (see ``NAME_AT``)."""

    __slots__ = ("source", "valid", "reason", "num_entries", "block42_offset", "stored", "data", "fp_timing_size", "entry_size")

    def __init__(self) -> None:
        self.source: str | None = None
        self.valid = False
        self.reason: str | None = None
        self.num_entries: int | None = None
        self.block42_offset: int | None = None
        self.stored: list[int] | None = None
        self.data: list[int] | None = None
        self.fp_timing_size: int | None = None
        self.entry_size: int | None = None


def _pointers(context: dict[int, bytes], bdb_version: int, block42_offset: int | None = None) -> _Pointers:
    """The work of :func:`lfp_data_ptrs`, with the pointers as flat lists."""
    data = context.get(42)
    raw41 = context.get(41)
    res = _Pointers()
    if raw41 is None:
        if bdb_version < 155:
            res.reason = f"no block 41; i915 and igt generate the pointers only from BDB 155 on (this is {bdb_version})"
            return res
        if data is None:
            res.reason = "no block 41 and no block 42"
            return res
        gen = _generate_ptrs(len(data))
        if gen is None:
            res.reason = f"no block 41, and block 42 ({len(data)} bytes) is too small for 16 entries of 66 bytes: i915 generates no pointers"
            return res
        res.source = "generated"
        res.num_entries = 3
        ptr = res.data = gen
    else:
        # the block as its zero-filled schema (LFP_DATA_PTRS_BLOCK) reads it
        if len(raw41) >= LFP_DATA_PTRS_SIZE:
            values = _LFP_DATA_PTRS.unpack_from(raw41)
        else:
            values = _LFP_DATA_PTRS.unpack(bytes(raw41).ljust(LFP_DATA_PTRS_SIZE, b"\0"))
        res.source = "block 41"
        res.num_entries = values[0]
        stored = res.stored = list(values[1:])
        if data is None:
            res.reason = "no block 42 (LFP data) for the pointers to point into"
            return res
        base = block42_offset
        if base is None:
            base = stored[0]
        res.block42_offset = base
        ptr = res.data = stored[:]
        offsets = stored[0:NAME_AT:2]
        ptr[0:NAME_AT:2] = [o - base for o in offsets]
        if min(offsets) < base:
            k = next(k for k, o in enumerate(offsets) if o < base)
            res.reason = f"panel {k // 3} {TABLES[k % 3]} points to BDB offset {offsets[k]}, before block 42's data (at {base})"
        name_offset = stored[NAME_AT]
        if stored[NAME_AT + 1]:
            if name_offset < base and res.reason is None:
                res.reason = f"panel_name points to BDB offset {name_offset}, before block 42's data (at {base})"
            ptr[NAME_AT] = name_offset - base
        # else i915 leaves it unconverted
        if res.reason is not None:
            return res
    reason, fp_size, stride = _validate_ptrs(res.num_entries, ptr, data)
    res.reason, res.valid = reason, reason is None
    res.fp_timing_size, res.entry_size = fp_size, stride
    return res


def _pointer_dicts(res: _Pointers) -> list[dict[str, Any]]:
    """The 16 pointer entries and the panel_name pointer (last) as ``{"offset", "table_size",
    "data_offset"}`` dicts: ``offset`` as stored in block 41, ``data_offset`` when relative to
    block 42 is known."""
    stored, data = res.stored, res.data
    if stored is None:
        return [{"table_size": size, "data_offset": at} for at, size in zip(data[0::2], data[1::2])]
    if data is None:
        return [{"offset": off, "table_size": size} for off, size in zip(stored[0::2], stored[1::2])]
    return [{"offset": off, "table_size": size, "data_offset": at} for off, size, at in zip(stored[0::2], stored[1::2], data[0::2])]


def lfp_data_ptrs(context: dict[int, bytes], bdb_version: int, block42_offset: int | None = None) -> dict[str, Any]:
    """The LFP data table pointers as i915 ends up with them (``init_bdb_block()``: block 41, or
    generated when it is missing from BDB 155 on; then ``fixup_lfp_data_ptrs()`` and
    ``validate_lfp_data_ptrs()``).

    Returns ``{"source": "block 41" | "generated" | None, "valid", "reason", "num_entries",
    "block42_offset", "ptr": [16 x {fp_timing, dvo_timing, panel_pnp_id: {"offset",
    "table_size", "data_offset"}}], "panel_name", "fp_timing_size", "entry_size"}`` where
    ``offset`` is as stored (BDB-relative; absent for generated pointers) and ``data_offset``
    relative to block 42's data. ``valid`` False means i915 drops the pointers ("VBT has
    malformed LFP data table pointers") and with them every use of block 42.

    i915 converts the pointers with the BDB offset of block 42's data: pass it as
    ``block42_offset`` when known (from :func:`~igdscope.schemas.vbt.walk_blocks`: the block's
    ``offset`` + 3 - ``bdb_offset``). Block hooks only get ``{id: bytes}`` (where repeated blocks,
    common in old VBTs, hide the true positions), so without it panel 0's fp_timing pointer
    stands in: the one position i915's checks accept; pointers shifted as a whole are then caught
    only by the bounds and terminator checks.
    """
    res = _pointers(context, bdb_version, block42_offset)
    out: dict[str, Any] = {"source": res.source, "valid": res.valid, "reason": res.reason, "num_entries": res.num_entries,
                           "block42_offset": res.block42_offset, "ptr": None, "panel_name": None,
                           "fp_timing_size": res.fp_timing_size, "entry_size": res.entry_size}
    if res.source is not None:
        tables = _pointer_dicts(res)
        out["ptr"] = [dict(zip(TABLES, tables[k : k + 3])) for k in range(0, 3 * PANELS, 3)]
        out["panel_name"] = tables[-1]
    return out


def _ptrs_findings(res: _Pointers) -> list[str]:
    if res.valid:
        return []
    if res.source is None:
        return [f"no LFP data table pointers: {res.reason}"]
    return [f"i915 rejects the {'generated ' if res.source == 'generated' else ''}LFP data table pointers "
            f"(\"VBT has malformed LFP data table pointers\"): {res.reason}; it then uses no panel data from block 42"]


def _post_lfp_data_ptrs(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    ctx = dict(context)
    ctx[41] = raw
    sel = panel_selection(ctx, bdb_version)
    res = _pointers(ctx, bdb_version)  # from block 41: the values of ``plain``
    if len(raw) < LFP_DATA_PTRS_SIZE:
        findings.append(f"the block is {len(raw)} bytes: panel_name (bytes 145-147) absent, read as zero (no panel names)" if len(raw) >= 145
                        else f"the block is {len(raw)} bytes, shorter than the {LFP_DATA_PTRS_SIZE}-byte struct: the rest reads as zeros")
    _unparsed(plain, LFP_DATA_PTRS_SIZE, findings)
    out: dict[str, Any] = {"num_entries": plain["num_entries"]}
    tables = _pointer_dicts(res)
    ptrs = _panel_dicts(sel, [])
    for entry, fp_timing, dvo_timing, panel_pnp_id in zip(ptrs, tables[0::3], tables[1::3], tables[2::3]):
        entry["fp_timing"], entry["dvo_timing"], entry["panel_pnp_id"] = fp_timing, dvo_timing, panel_pnp_id
    out["ptr"] = ptrs
    out["panel_name"] = tables[-1]
    out["valid"] = res.valid
    if res.valid:
        out["fp_timing_size"] = res.fp_timing_size
        out["entry_size"] = res.entry_size
        stored_size = res.stored[1]
        if res.fp_timing_size != stored_size:
            findings.append(f"fp_timing table_size says {stored_size} but entries are {res.entry_size} bytes apart: "
                            f"fp_timing is {res.fp_timing_size} bytes (the 6 hidden bytes real VBTs have; i915 counts them)")
    if plain.get("unparsed"):
        out["unparsed"] = plain["unparsed"]
    findings.extend(_ptrs_findings(res))
    selection_fields(out, sel, findings)
    out["findings"] = findings
    return out


# -- block 42: LFP data (struct fp_timing, bdb_edid_dtd, bdb_edid_pnp_id, bdb_lfp_data_tail) -----

FpTiming = cs.Struct(
    "x_res" / cs.Int16ul,
    "y_res" / cs.Int16ul,
    "lvds_reg" / cs.Int32ul,
    "lvds_reg_val" / cs.Int32ul * "i915 keeps it when x_res/y_res match the DTD",
    "pp_on_reg" / cs.Int32ul,
    "pp_on_reg_val" / cs.Int32ul,
    "pp_off_reg" / cs.Int32ul,
    "pp_off_reg_val" / cs.Int32ul,
    "pp_cycle_reg" / cs.Int32ul,
    "pp_cycle_reg_val" / cs.Int32ul,
    "pfit_reg" / cs.Int32ul * "only in fp_timing tables of 46 bytes (gen4 and older)",
    "pfit_reg_val" / cs.Int32ul,
    "terminator" / cs.Int16ul * "0xFFFF, at the end of the table whatever its size",
)
FP_TIMING_OFFSETS = _offsets(FpTiming)
FP_TIMING_SIZE = FpTiming.sizeof()
FP_TIMING_FIELDS_END = FP_TIMING_OFFSETS["terminator"][0]  # 44

PnpId = cs.Struct(
    "mfg_name" / cs.Int16ul * "EDID manufacturer ID: big-endian 3 x 5-bit letters (read here little-endian, as the kernel's u16)",
    "product_code" / cs.Int16ul,
    "serial" / cs.Int32ul,
    "mfg_week" / cs.Int8ul,
    "mfg_year" / cs.Int8ul * "years since 1990",
)

LfpBlackBorder = cs.Struct(
    "top" / cs.Int8ul,  # 227+
    "bottom" / cs.Int8ul,  # 227+
    "left" / cs.Int8ul,  # 238+
    "right" / cs.Int8ul,  # 238+
)

LfpDataTail = cs.Struct(
    "panel_name" / cs.Array(PANELS, Text(PANEL_NAME_SIZE)),
    "scaling_enable" / cs.Int16ul * "1 bit/panel (187+)",
    "seamless_drrs_min_refresh_rate" / cs.Array(PANELS, cs.Int8ul) * "Hz (188+)",
    "pixel_overlap_count" / cs.Array(PANELS, cs.Int8ul) * "(208+)",
    "black_border" / cs.Array(PANELS, LfpBlackBorder) * "top/bottom 227+, left/right 238+",
    "dual_lfp_port_sync_enable" / cs.Int16ul * "1 bit/panel (231+)",
    "gpu_dithering_for_banding_artifacts" / cs.Int16ul * "1 bit/panel (245+)",
)
LFP_DATA_TAIL_SIZE = 310
LFP_DATA_TAIL_OFFSETS = _offsets(LfpDataTail)
LFP_DATA_TAIL_GATES: Gates = {
    "scaling_enable": (187, None),
    "seamless_drrs_min_refresh_rate": (188, None),
    "pixel_overlap_count": (208, None),
    "black_border": (227, None),
    "dual_lfp_port_sync_enable": (231, None),
    "gpu_dithering_for_banding_artifacts": (245, None),
}
BLACK_BORDER_GATES: Gates = {"top": (227, None), "bottom": (227, None), "left": (238, None), "right": (238, None)}

# The block is made of tables the pointers (block 41, or generated) point to: struct
# lfp_data_entry's three (fp_timing, dvo_timing, pnp_id) for each of the 16 panels, and the tail
# at the panel_name pointer. The parse parameters say where they are (:func:`_lfp_data_params`);
# a table that does not lie in the block is None.
_FP_TIMING_MEMBERS = cs.Struct(*FpTiming.subcons[:-1])  # all but the terminator
FpTimingTable = FlatStruct(
    # the members the table holds before its terminator (read as zeros beyond: dropped by the hook)
    ZeroFilled(this._params.fp_timing_body, _FP_TIMING_MEMBERS),
    "terminator" / cs.IfThenElse(this._params.fp_timing_size >= 2, cs.Int16ul, cs.Computed(None)) * "the table's last 2 bytes",
)
LfpData = cs.Struct(
    "fp_timing" / Tables(this._params.fp_timing_offsets, this._params.fp_timing_size, FpTimingTable)
    * "struct fp_timing of the pointers' size (block 41), per panel",
    "dvo_timing" / Tables(this._params.dvo_timing_offsets, DTD_SIZE, EdidDtd) * "struct bdb_edid_dtd, per panel",
    "pnp_id" / Tables(this._params.panel_pnp_id_offsets, PNP_ID_SIZE, PnpId) * "struct bdb_edid_pnp_id, per panel",
    "tail" / Tables(this._params.panel_name_offset, this._params.tail_size, ZeroFilled(this._params.tail_size, LfpDataTail))
    * "struct bdb_lfp_data_tail at the panel_name pointer (as much of it as the block holds)",
)


def _lfp_data_params(raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    """Where block 42's tables are (its parse parameters), from the pointers i915 uses."""
    ctx = dict(context)
    ctx[42] = raw
    return _table_params(_pointers(ctx, bdb_version), len(raw))


_NO_TABLES = {"fp_timing_size": 0, "fp_timing_body": 0, "fp_timing_offsets": (), "dvo_timing_offsets": (),
              "panel_pnp_id_offsets": (), "panel_name_offset": (), "tail_size": 0}


def _table_params(res: _Pointers, size: int) -> dict[str, Any]:
    ptr = res.data  # None exactly when there are no pointers
    if ptr is None:
        return dict(_NO_TABLES)
    fp_size = res.fp_timing_size or ptr[1]
    name_at = ptr[NAME_AT]
    tail = ptr[NAME_AT + 1] and 0 <= name_at < size
    return {"fp_timing_size": fp_size, "fp_timing_body": max(fp_size - 2, 0),
            "fp_timing_offsets": ptr[0:NAME_AT:6], "dvo_timing_offsets": ptr[2:NAME_AT:6], "panel_pnp_id_offsets": ptr[4:NAME_AT:6],
            "panel_name_offset": (name_at,) if tail else (), "tail_size": min(LFP_DATA_TAIL_SIZE, size - name_at) if tail else 0}


@lru_cache(maxsize=1024)
def pnp_mfg_id(mfg_name: int) -> str:
    """The three letters of an EDID manufacturer ID from the kernel's (little-endian) u16."""
    be = ((mfg_name & 0xFF) << 8) | (mfg_name >> 8)
    return "".join(chr(ord("@") + ((be >> s) & 0x1F)) for s in (10, 5, 0))


def _pnp_view(pnp: dict[str, Any]) -> dict[str, Any]:
    pnp["mfg_id"] = pnp_mfg_id(pnp["mfg_name"])
    pnp["year"] = 1990 + pnp["mfg_year"]
    return pnp


@lru_cache(maxsize=64)
def _fp_timing_held(size: int) -> tuple[str, ...]:
    """The members an fp_timing table of ``size`` bytes holds before its terminator (its last 2
    bytes): a prefix of :data:`FpTiming`'s, whose members follow each other from byte 0."""
    body = max(size - 2, 0)
    return tuple(name for name, (off, width) in FP_TIMING_OFFSETS.items() if name != "terminator" and off + width <= body)


def _fp_timing_view(table: dict[str, Any], size: int) -> dict[str, Any]:
    """An fp_timing table as parsed (members read as zeros past the table's body) cut to the
    members it holds, then the terminator, then bytes between them (``unparsed``)."""
    out = {name: table[name] for name in _fp_timing_held(size)}
    out["terminator"] = table["terminator"]
    if "unparsed" in table:
        out["unparsed"] = table["unparsed"]
    return out


def _panels_held(have: int, at: int, size: int) -> int:
    """How many of the 16 per-panel entries of ``size`` bytes from offset ``at`` lie in ``have`` bytes."""
    return max(0, min(PANELS, (have - at) // size))


BLACK_BORDER_MEMBERS = tuple(BLACK_BORDER_GATES)
assert BLACK_BORDER_MEMBERS == tuple(sc.name for sc in LfpBlackBorder.subcons)  # the order _tail_plain builds them in


def _tail_plain(tail: dict[str, Any], have: int, size: int, bdb_version: int, findings: list[str], panels: list[dict[str, Any]]) -> None:
    """Add the per-panel members of the LFP data tail (parsed from the ``have`` bytes the block
    holds of it, zeros beyond) to the 16 ``panels``, gated by version; ``size`` is the block's."""
    offsets = LFP_DATA_TAIL_OFFSETS
    absent = []
    if have < LFP_DATA_TAIL_SIZE:
        for name, (off, width) in offsets.items():
            if off + width > have and _in_range(bdb_version, LFP_DATA_TAIL_GATES.get(name)):
                if name == "black_border" and bdb_version < 238:
                    if off + 4 * (PANELS - 1) + 2 > have:
                        absent.append(name)
                    continue
                absent.append(name)
        _absent(absent, size, findings)
    invalid = invalid_names(LFP_DATA_TAIL_GATES, bdb_version)
    columns: list[Column] = []
    odd: list[OddColumn] = []
    columns.append(("panel_name", tail["panel_name"][:_panels_held(have, offsets["panel_name"][0], PANEL_NAME_SIZE)]))
    if "scaling_enable" not in absent:
        values = _flags(tail["scaling_enable"])
        _gated("scaling_enable", values, values, invalid, columns, odd)
    for name in ("seamless_drrs_min_refresh_rate", "pixel_overlap_count"):
        values = tuple(tail[name][: _panels_held(have, offsets[name][0], 1)])
        _gated(name, values, values, invalid, columns, odd)
    border_at = offsets["black_border"][0]
    if have >= border_at + 4 * PANELS:
        borders = tail["black_border"]
    else:  # the panels with at least one border byte in the tail, and their members that are there
        held = max(0, min(PANELS, (have - border_at + 3) // 4))
        borders = [{m: b[m] for m in BLACK_BORDER_MEMBERS[: min(4, have - border_at - 4 * k)]}
                   for k, b in enumerate(tail["black_border"][:held])]
    if invalid_names(BLACK_BORDER_GATES, bdb_version):
        for border in borders:
            gate(border, BLACK_BORDER_GATES, bdb_version)
    _gated("black_border", borders, [not is_zero(b) for b in borders] if "black_border" in invalid else borders, invalid, columns, odd)
    for name in ("dual_lfp_port_sync_enable", "gpu_dithering_for_banding_artifacts"):
        if name not in absent and offsets[name][0] + 2 <= have:
            values = _flags(tail[name])
            _gated(name, values, values, invalid, columns, odd)
    _fill(panels, columns, odd)


def _post_lfp_data(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    raw = bytes(raw)
    ctx = dict(context)
    ctx[42] = raw
    sel = panel_selection(ctx, bdb_version)
    res = _pointers(ctx, bdb_version)
    ptr = res.data  # with block 42 there: None exactly when there are no pointers
    out: dict[str, Any] = {}
    summary = {"source": res.source, "valid": res.valid}
    if res.valid:
        summary.update(fp_timing_size=res.fp_timing_size, entry_size=res.entry_size,
                       panel_name_offset=ptr[NAME_AT] if ptr[NAME_AT + 1] else None)
    else:
        summary["reason"] = res.reason
    out["lfp_data_ptrs"] = summary
    findings.extend(_ptrs_findings(res))
    panels: list[dict[str, Any]] = []
    lfp1, lfp2 = sel["lfp1"], sel["lfp2"]
    if ptr is not None:
        params = _table_params(res, len(raw))
        fp_size = params["fp_timing_size"]
        panels = _panel_dicts(sel, [])
        skipped = []
        for i, entry, fp, dtd, pnp in zip(range(PANELS), panels, plain["fp_timing"], plain["dvo_timing"], plain["pnp_id"]):
            if fp is not None:
                entry["fp_timing"] = _fp_timing_view(fp, fp_size)
            if dtd is not None:
                entry["dvo_timing"] = dtd_plain(dtd)
            if pnp is not None:
                entry["pnp_id"] = _pnp_view(pnp)
            if fp is None or dtd is None or pnp is None:
                skipped.append(str(i))
        if plain["tail"]:
            _tail_plain(plain["tail"][0], params["tail_size"], len(raw), bdb_version, findings, panels)
        if skipped:
            findings.append(f"panel(s) {', '.join(skipped)}: pointers lead outside block 42 ({len(raw)} bytes): tables not read")
        if not res.valid:
            findings.append("the panels below are read where the pointers point, for diagnosis only")
    for lfp, label in ((lfp1, ""), (lfp2, " (LFP2)")):
        if lfp is None or lfp >= len(panels):
            continue
        p = panels[lfp]
        what = f"panel {lfp}{label}"
        if "dvo_timing" in p:
            findings.extend(dtd_findings(p["dvo_timing"], what))
            fp = p.get("fp_timing") or {}
            mode = p["dvo_timing"]["mode"]
            if "y_res" in fp and (fp["x_res"], fp["y_res"]) != (mode["hdisplay"], mode["vdisplay"]):
                findings.append(f"{what}: fp_timing says {fp.get('x_res')}x{fp.get('y_res')}, the DTD {mode['hdisplay']}x{mode['vdisplay']}: i915 ignores lvds_reg_val")
    if bdb_version >= 229 and 58 in context:
        findings.append("from BDB 229 on i915 takes the panel mode from block 58 (generic DTD) first, this block's DTD only if that fails")
    out["panels"] = panels
    selection_fields(out, sel, findings)
    out["findings"] = findings
    return out


# -- block 43: LFP backlight (struct bdb_lfp_backlight) ----------------------------------------

LfpBacklightDataEntry = FlatStruct(
    cs.BitStruct(
        "i2c_speed" / cs.BitsInteger(2),
        "i2c_pin" / cs.BitsInteger(3),
        "active_low_pwm" / cs.Flag,
        "type" / cs.BitsInteger(2) * "0 none, 1 I2C, 2 PWM (i915 needs 2)",
    ),
    "pwm_freq_hz" / cs.Int16ul,
    "min_brightness" / cs.Int8ul * "up to 233",
    "i2c_address" / cs.Int8ul,
    "i2c_command" / cs.Int8ul,
)
LfpBacklightControlMethod = cs.BitStruct(
    "controller" / cs.BitsInteger(4),
    "type" / cs.BitsInteger(4),
)
LfpBrightnessLevel = cs.Struct(
    "level" / cs.Int16ul,
    "reserved" / cs.Int16ul,
)
LfpBacklight = cs.Struct(
    "entry_size" / cs.Int8ul * "6; i915 and igt skip the block otherwise",
    "data" / cs.Array(PANELS, LfpBacklightDataEntry),
    "level" / cs.Array(PANELS, cs.Int8ul) * "162-233",
    "backlight_control" / cs.Array(PANELS, LfpBacklightControlMethod) * "191+",
    "brightness_level" / cs.Array(PANELS, LfpBrightnessLevel) * "234+",
    "brightness_min_level" / cs.Array(PANELS, LfpBrightnessLevel) * "234+",
    "brightness_precision_bits" / cs.Array(PANELS, cs.Int8ul) * "236+",
    "hdr_dpcd_refresh_timeout" / cs.Array(PANELS, cs.Int16ul) * "10 us units (239+)",
)
LFP_BACKLIGHT_SIZE = 305
LFP_BACKLIGHT_ENTRY_SIZE = 6
LFP_BACKLIGHT_OFFSETS = _offsets(LfpBacklight)
LFP_BACKLIGHT_GATES: Gates = {
    "min_brightness": (0, 233),
    "level": (162, 233),
    "backlight_control": (191, None),
    "brightness_level": (234, None),
    "brightness_min_level": (234, None),
    "brightness_precision_bits": (236, None),
    "hdr_dpcd_refresh_timeout": (239, None),
}
LFP_BACKLIGHT_ARRAYS = ("level", "backlight_control", "brightness_level", "brightness_min_level", "brightness_precision_bits",
                        "hdr_dpcd_refresh_timeout")  # the per-panel arrays after the 16 data entries
LFP_BACKLIGHT_ARRAY_LAYOUT = tuple((name, LFP_BACKLIGHT_OFFSETS[name][0], LFP_BACKLIGHT_OFFSETS[name][1] // PANELS) for name in LFP_BACKLIGHT_ARRAYS)
assert list(LFP_BACKLIGHT_ARRAYS) == sorted(LFP_BACKLIGHT_ARRAYS, key=lambda name: LFP_BACKLIGHT_OFFSETS[name][0])  # in block order
_ACTIVE_LOW_PWM, _PWM_FREQ_HZ, _MIN_BRIGHTNESS = itemgetter("active_low_pwm"), itemgetter("pwm_freq_hz"), itemgetter("min_brightness")
BACKLIGHT_TYPES = {0: "none", 1: "i2c", 2: "pwm", 3: "reserved"}
I2C_SPEEDS = {0: "100 kHz", 1: "50 kHz", 2: "400 kHz", 3: "1 MHz"}
BACKLIGHT_TYPE_FORMS = _coded_forms(BACKLIGHT_TYPES, 2)
# enum intel_backlight_type for 0-5; 6 and 7 as igt names them
BACKLIGHT_CONTROL_TYPES = {
    0: "pmic", 1: "lpss", 2: "display_ddi", 3: "dsi_dcs", 4: "panel_driver_interface", 5: "vesa_edp_aux_interface",
    6: "display_engine_pwm_edp_1_5_scr_aux", 7: "display_engine_pwm_custom_edp_aux",
}
BACKLIGHT_CONTROL_FORMS = _coded_forms(BACKLIGHT_CONTROL_TYPES, 4)


def _backlight_i915(p: dict[str, Any], i: int, bdb_version: int) -> dict[str, Any]:
    """What parse_lfp_backlight() takes from panel ``i``'s entries."""
    entry = p["data"][i]
    if entry["type"] != 2:
        return {"present": False, "why": f"type {entry['type']} is not PWM (2): i915 uses no VBT backlight data"}
    out: dict[str, Any] = {"present": True, "pwm_freq_hz": entry["pwm_freq_hz"], "active_low_pwm": entry["active_low_pwm"]}
    if bdb_version >= 191:
        ctl = p["backlight_control"][i]
        out["type"] = _coded(ctl["type"], BACKLIGHT_CONTROL_TYPES)
        out["controller"] = ctl["controller"]
    else:
        out["type"] = _coded(2, BACKLIGHT_CONTROL_TYPES)
        out["controller"] = 0
    if bdb_version >= 234:
        level = p["brightness_level"][i]["level"]
        min_level = p["brightness_min_level"][i]["level"]
        scale = p["brightness_precision_bits"][i] == 16 if bdb_version >= 236 else level > 255
        if scale:
            min_level //= 255
        if min_level > 255:
            level = 255
        out["min_brightness"] = min_level
        out["level"] = level
        out["brightness_precision_bits"] = p["brightness_precision_bits"][i]
    else:
        out["min_brightness"] = entry["min_brightness"]
        out["level"] = p["level"][i]
    out["hdr_dpcd_refresh_timeout_ms"] = -(-p["hdr_dpcd_refresh_timeout"][i] // 100) if bdb_version >= 239 else 30
    return out


@lru_cache(maxsize=64)
def _backlight_members(bdb_version: int) -> tuple[tuple[str, int], ...]:
    """(member, offset of its end) of the block 43 members the BDB version defines, entry_size aside."""
    return tuple((name, off + size) for name, (off, size) in LFP_BACKLIGHT_OFFSETS.items()
                 if name != "entry_size" and _in_range(bdb_version, LFP_BACKLIGHT_GATES.get(name)))


def _post_lfp_backlight(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    sel = panel_selection(context, bdb_version)
    n = len(raw)
    out: dict[str, Any] = {"entry_size": plain["entry_size"]}
    if plain["entry_size"] != LFP_BACKLIGHT_ENTRY_SIZE:
        findings.append(f"entry_size is {plain['entry_size']}, not {LFP_BACKLIGHT_ENTRY_SIZE}: i915 and igt ignore the block")
        selection_fields(out, sel, findings)
        out["findings"] = findings
        return out
    absent = [name for name, end in _backlight_members(bdb_version) if end > n]
    _absent(absent, n, findings)
    invalid = invalid_names(LFP_BACKLIGHT_GATES, bdb_version)
    columns: list[Column] = []
    odd: list[OddColumn] = []
    # the 16 data entries, as far as the block holds them
    data = plain["data"][: _panels_held(n, 1, LFP_BACKLIGHT_ENTRY_SIZE)]
    types = [e["type"] for e in data]
    columns.append(("type", _coded_column(types, BACKLIGHT_TYPE_FORMS)))
    columns.append(("active_low_pwm", list(map(_ACTIVE_LOW_PWM, data))))
    columns.append(("pwm_freq_hz", list(map(_PWM_FREQ_HZ, data))))
    values = list(map(_MIN_BRIGHTNESS, data))
    _gated("min_brightness", values, values, invalid, columns, odd)
    if 1 in types:  # the I2C members are obsolete otherwise (igt shows them only then too)
        i2c = {i: e for i, e in enumerate(data) if e["type"] == 1}
        columns.append(("i2c_pin", {i: e["i2c_pin"] for i, e in i2c.items()}))
        columns.append(("i2c_speed", {i: _coded(e["i2c_speed"], I2C_SPEEDS) for i, e in i2c.items()}))
        columns.append(("i2c_address", {i: e["i2c_address"] for i, e in i2c.items()}))
        columns.append(("i2c_command", {i: e["i2c_command"] for i, e in i2c.items()}))
    # the per-panel arrays after them
    for name, off, elem in LFP_BACKLIGHT_ARRAY_LAYOUT:
        items = plain[name][: _panels_held(n, off, elem)]
        if not items:
            break  # the arrays after it start later still
        if name == "backlight_control":
            values = [{"type": BACKLIGHT_CONTROL_FORMS[c["type"]].copy(), "controller": c["controller"]} for c in items]
            truth = [c["type"] or c["controller"] for c in items]
        elif name in ("brightness_level", "brightness_min_level"):
            reserved = {i: v["reserved"] for i, v in enumerate(items) if v["reserved"]}
            if reserved:
                columns.append((f"{name}_reserved", reserved))
            values = truth = [v["level"] for v in items]
        else:
            values = truth = items
        _gated(name, values, truth, invalid, columns, odd)
    panels = _panel_dicts(sel, columns, odd)
    _unparsed(plain, LFP_BACKLIGHT_SIZE, findings)
    if plain.get("unparsed"):
        out["unparsed"] = plain["unparsed"]
    selection_fields(out, sel, findings)
    if 1 + LFP_BACKLIGHT_ENTRY_SIZE * (sel["lfp1"] + 1) <= n:
        out["i915"] = _backlight_i915(plain, sel["lfp1"], bdb_version)
    out["panels"] = panels
    out["findings"] = findings
    return out


# -- block 44: LFP power conservation (struct bdb_lfp_power) ------------------------------------

LfpPowerFeatures = cs.BitStruct(
    "als_enable" / cs.Flag,
    "lace_support" / cs.Flag * "210+",
    "lace_enabled_status" / cs.Flag * "210+",
    "reserved2" / cs.Flag,
    "power_conservation_pref" / cs.BitsInteger(3),
    "dpst_support" / cs.Flag * "up to 159",
)
AlsDataEntry = cs.Struct(
    "backlight_adjust" / cs.Int16ul,
    "lux" / cs.Int16ul,
)
LfpPower = FlatStruct(
    "features" / LfpPowerFeatures * "up to 227",
    "als" / cs.Array(5, AlsDataEntry),
    cs.BitStruct(
        "reserved1" / cs.BitsInteger(5),
        "lace_aggressiveness_profile" / cs.BitsInteger(3) * "210-227",
    ),
    "dpst" / cs.Int16ul * "1 bit/panel (228-256)",
    "psr" / cs.Int16ul * "1 bit/panel (228+)",
    "drrs" / cs.Int16ul * "1 bit/panel (228+)",
    "lace_support" / cs.Int16ul * "1 bit/panel (228+)",
    "adt" / cs.Int16ul * "1 bit/panel (228+)",
    "dmrrs" / cs.Int16ul * "1 bit/panel (228+)",
    "adb" / cs.Int16ul * "1 bit/panel (228+)",
    "lace_enabled_status" / cs.Int16ul * "1 bit/panel (228+)",
    "aggressiveness" / cs.Array(PANELS, cs.BitStruct(
        "lace_aggressiveness" / cs.BitsInteger(4),
        "dpst_aggressiveness" / cs.BitsInteger(4),
    )) * "228+ (DPST up to 256)",
    "hobl" / cs.Int16ul * "1 bit/panel (232+)",
    "vrr_feature_enabled" / cs.Int16ul * "1 bit/panel (233+)",
    "elp" / cs.Int16ul * "1 bit/panel (247-256)",
    "opst" / cs.Int16ul * "1 bit/panel (247-256)",
    "aggressiveness2" / cs.Array(PANELS, cs.BitStruct(
        "elp_aggressiveness" / cs.BitsInteger(4),
        "opst_aggressiveness" / cs.BitsInteger(4),
    )) * "247-256",
    "apd" / cs.Int16ul * "1 bit/panel (253-256)",
    "pixoptix" / cs.Int16ul * "1 bit/panel (253-256)",
    "aggressiveness3" / cs.Array(PANELS, cs.BitStruct(
        "pixoptix_aggressiveness" / cs.BitsInteger(4),
        "apd_aggressiveness" / cs.BitsInteger(4),
    )) * "253-256",
    "panel_identification" / cs.Array(PANELS, cs.BitStruct(
        "reserved" / cs.BitsInteger(4),
        "panel_technology" / cs.BitsInteger(4),
    )) * "257+",
    "xpst_support" / cs.Int16ul * "1 bit/panel (257+)",
    "tcon_based_backlight_optimization" / cs.Int16ul * "1 bit/panel (257+)",
    "aggressiveness4" / cs.Array(PANELS, cs.BitStruct(
        "tcon_aggressiveness" / cs.BitsInteger(4),
        "xpst_aggressiveness" / cs.BitsInteger(4),
    )) * "257+",
    "tcon_backlight_xpst_coexistence" / cs.Int16ul * "1 bit/panel (257+)",
)
LFP_POWER_SIZE = 136
LFP_POWER_OFFSETS = _offsets(LfpPower)
LFP_POWER_GATES: Gates = {
    "features": (0, 227),
    "lace_aggressiveness_profile": (210, 227),
    "dpst": (228, 256), "psr": (228, None), "drrs": (228, None), "lace_support": (228, None), "adt": (228, None),
    "dmrrs": (228, None), "adb": (228, None), "lace_enabled_status": (228, None),
    "dpst_aggressiveness": (228, 256), "lace_aggressiveness": (228, None),
    "hobl": (232, None), "vrr_feature_enabled": (233, None),
    "elp": (247, 256), "opst": (247, 256), "elp_aggressiveness": (247, 256), "opst_aggressiveness": (247, 256),
    "apd": (253, 256), "pixoptix": (253, 256), "apd_aggressiveness": (253, 256), "pixoptix_aggressiveness": (253, 256),
    "panel_technology": (257, None), "xpst_support": (257, None), "tcon_based_backlight_optimization": (257, None),
    "xpst_aggressiveness": (257, None), "tcon_aggressiveness": (257, None), "tcon_backlight_xpst_coexistence": (257, None),
}
LFP_POWER_HEAD_GATES: Gates = {name: LFP_POWER_GATES[name] for name in ("features", "lace_aggressiveness_profile")}  # the block-level members
FEATURES_GATES: Gates = {"dpst_support": (0, 159), "lace_support": (210, None), "lace_enabled_status": (210, None)}
# (bit mask members, per-panel arrays and their members) in block order
LFP_POWER_MASKS = ("dpst", "psr", "drrs", "lace_support", "adt", "dmrrs", "adb", "lace_enabled_status", "hobl",
                   "vrr_feature_enabled", "elp", "opst", "apd", "pixoptix", "xpst_support",
                   "tcon_based_backlight_optimization", "tcon_backlight_xpst_coexistence")
LFP_POWER_MASK_ENDS = tuple((name, sum(LFP_POWER_OFFSETS[name])) for name in LFP_POWER_MASKS)
LFP_POWER_ARRAYS = {
    "aggressiveness": ("dpst_aggressiveness", "lace_aggressiveness"),
    "aggressiveness2": ("elp_aggressiveness", "opst_aggressiveness"),
    "aggressiveness3": ("apd_aggressiveness", "pixoptix_aggressiveness"),
    "panel_identification": ("panel_technology",),
    "aggressiveness4": ("xpst_aggressiveness", "tcon_aggressiveness"),
}
# the hook stops at the first mask or array past the end of a short block: they are in block order
assert [end for _, end in LFP_POWER_MASK_ENDS] == sorted(end for _, end in LFP_POWER_MASK_ENDS)
assert list(LFP_POWER_ARRAYS) == sorted(LFP_POWER_ARRAYS, key=lambda name: LFP_POWER_OFFSETS[name][0])


def _power_i915(power: dict[str, Any], panel: int, bdb_version: int) -> dict[str, Any]:
    """What parse_power_conservation_features() takes for the selected panel."""
    if bdb_version < 228:
        return {"vrr": True, "note": "before BDB 228 i915 takes the PSR and DRRS enables from block 12 (driver features)"}
    out = {"psr": bool(_bits(power["psr"], panel, 1)), "drrs": bool(_bits(power["drrs"], panel, 1)),
           "dmrrs": bool(_bits(power["dmrrs"], panel, 1))}
    if bdb_version >= 232:
        out["hobl"] = bool(_bits(power["hobl"], panel, 1))
    out["vrr"] = bool(_bits(power["vrr_feature_enabled"], panel, 1)) if bdb_version >= 233 else True
    return out


@lru_cache(maxsize=64)
def _power_members(bdb_version: int) -> tuple[tuple[str, int], ...]:
    """(member, offset of its end) of the block 44 members the BDB version defines (an array
    counts when one of its members is), reserved1 aside."""
    return tuple((name, off + size) for name, (off, size) in LFP_POWER_OFFSETS.items()
                 if name != "reserved1" and any(_in_range(bdb_version, LFP_POWER_GATES.get(m)) for m in LFP_POWER_ARRAYS.get(name, (name,))))


def _post_lfp_power(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    sel = panel_selection(context, bdb_version)
    n = len(raw)
    absent = [name for name, end in _power_members(bdb_version) if end > n]
    out: dict[str, Any] = {}
    features = plain["features"]
    _drop_zero(features, "reserved2")
    out["features"] = gate(features, FEATURES_GATES, bdb_version)
    out["als"] = plain["als"][: _panels_held(n, 1, 4)]
    if LFP_POWER_OFFSETS["lace_aggressiveness_profile"][0] < n:
        out["lace_aggressiveness_profile"] = plain["lace_aggressiveness_profile"]
        if plain["reserved1"]:
            out["reserved1"] = plain["reserved1"]
    gate(out, LFP_POWER_HEAD_GATES, bdb_version)
    _absent(absent, n, findings)
    invalid = invalid_names(LFP_POWER_GATES, bdb_version)
    columns: list[Column] = []
    odd: list[OddColumn] = []
    for name, end in LFP_POWER_MASK_ENDS:
        if end > n:
            break  # the masks after it end later still
        values = _flags(plain[name])
        _gated(name, values, values, invalid, columns, odd)
    for name, members in LFP_POWER_ARRAYS.items():
        items = plain[name][: _panels_held(n, LFP_POWER_OFFSETS[name][0], 1)]
        if not items:
            break  # the arrays after it start later still
        for m in members:
            values = [item[m] for item in items]
            _gated(m, values, values, invalid, columns, odd)
        if name == "panel_identification":
            reserved = {i: item["reserved"] for i, item in enumerate(items) if item["reserved"]}
            if reserved:
                columns.append(("panel_identification_reserved", reserved))
    panels = _panel_dicts(sel, columns, odd)
    _unparsed(plain, LFP_POWER_SIZE, findings)
    if plain.get("unparsed"):
        out["unparsed"] = plain["unparsed"]
    selection_fields(out, sel, findings)
    out["i915"] = _power_i915(plain, sel["lfp1"], bdb_version)
    out["panels"] = panels
    out["findings"] = findings
    return out


# -- block 22: SDVO LVDS options (struct bdb_sdvo_lvds_options) ---------------------------------

SdvoLvdsOptions = cs.Struct(
    "panel_backlight" / cs.Int8ul,
    "h40_set_panel_type" / cs.Int8ul,
    "panel_type" / cs.Int8ul * "index into block 23's four DTDs",
    "ssc_clk_freq" / cs.Int8ul,
    "als_low_trip" / cs.Int16ul,
    "als_high_trip" / cs.Int16ul,
    "sclalarcoeff_tab_row_num" / cs.Int8ul,
    "sclalarcoeff_tab_row_size" / cs.Int8ul,
    "coefficient" / cs.Array(8, cs.Int8ul),
    "panel_misc_bits_1" / cs.Int8ul,
    "panel_misc_bits_2" / cs.Int8ul,
    "panel_misc_bits_3" / cs.Int8ul,
    "panel_misc_bits_4" / cs.Int8ul,
)
SDVO_LVDS_OPTIONS_SIZE = 22
SDVO_PANELS = 4


def _post_sdvo_lvds_options(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    if len(raw) < SDVO_LVDS_OPTIONS_SIZE:
        findings.append(f"the block is {len(raw)} bytes, shorter than the {SDVO_LVDS_OPTIONS_SIZE}-byte struct: the rest reads as zeros")
    if plain["panel_type"] >= SDVO_PANELS:
        findings.append(f"panel_type {plain['panel_type']} is past block 23's {SDVO_PANELS} DTDs: i915 logs an error and uses no SDVO LVDS mode")
    if not plain.get("unparsed"):
        plain.pop("unparsed", None)
    plain["findings"] = findings
    return plain


# -- block 23: SDVO LVDS DTDs (struct bdb_sdvo_lvds_dtd) ----------------------------------------

SdvoLvdsDtd = cs.Struct("dtd" / cs.Array(SDVO_PANELS, EdidDtd))
SDVO_LVDS_DTD_SIZE = SDVO_PANELS * DTD_SIZE


def _post_sdvo_lvds_dtd(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    raw = bytes(raw)
    options = context.get(22)
    selected = options[2] if options and len(options) > 2 else None
    whole = len(raw) // DTD_SIZE
    if whole < SDVO_PANELS:
        findings.append(f"the block holds {whole} whole DTD(s), not {SDVO_PANELS}: the rest is absent (i915 reads zeros)")
    if len(raw) % DTD_SIZE:
        findings.append(f"{len(raw) % DTD_SIZE} byte(s) after the last whole DTD")
    if whole > SDVO_PANELS:
        findings.append(f"{whole - SDVO_PANELS} DTD(s) beyond the {SDVO_PANELS} i915 knows (igt 1.27.1 prints them)")
    dtds = []
    for i in range(whole):
        d = dtd_at(raw, i * DTD_SIZE)
        entry = {"index": i, "selected": selected == i, **d}
        if selected == i:
            findings.extend(dtd_findings(d, f"DTD {i}"))
        dtds.append(entry)
    out: dict[str, Any] = {"dtd": dtds}
    if options is None:
        findings.append("no SDVO LVDS options block (22): i915 uses none of these DTDs")
    else:
        out["selected_dtd"] = selected
    out["findings"] = findings
    return out


# -- registry and building ----------------------------------------------------------------------


def _zero_filled(struct: cs.Construct) -> cs.Construct:
    return ZeroFilled(this._params.block_size, struct)


SPECS = {
    22: BlockSpec("sdvo_lvds_options", _zero_filled(SdvoLvdsOptions), full_size=SDVO_LVDS_OPTIONS_SIZE, post=_post_sdvo_lvds_options),
    23: BlockSpec("sdvo_lvds_dtd", _zero_filled(SdvoLvdsDtd), full_size=SDVO_LVDS_DTD_SIZE, post=_post_sdvo_lvds_dtd),
    40: BlockSpec("lfp_options", _zero_filled(LfpOptions), full_size=LFP_OPTIONS_SIZE, post=_post_lfp_options),
    41: BlockSpec("lfp_data_ptrs", LFP_DATA_PTRS_BLOCK, full_size=LFP_DATA_PTRS_SIZE, post=_post_lfp_data_ptrs),
    42: BlockSpec("lfp_data", LfpData, post=_post_lfp_data, params=_lfp_data_params),
    43: BlockSpec("lfp_backlight", _zero_filled(LfpBacklight), full_size=LFP_BACKLIGHT_SIZE, post=_post_lfp_backlight),
    44: BlockSpec("lfp_power", _zero_filled(LfpPower), full_size=LFP_POWER_SIZE, post=_post_lfp_power),
}

STRUCTS = {22: SdvoLvdsOptions, 23: SdvoLvdsDtd, 40: LfpOptions, 41: LfpDataPtrs, 43: LfpBacklight, 44: LfpPower}


def build_raw(block_id: int, values: dict[str, Any], size: int | None = None) -> bytes:
    """A block's data bytes from values in the kernel struct layout (``panel_type``,
    ``ptr[i].fp_timing.offset``, ``data[i].pwm_freq_hz``, ...; zeros for anything not given).
    ``size`` gives a shorter (older) or longer block and refuses to drop non-zero bytes."""
    struct = STRUCTS[block_id]
    full = struct.sizeof()
    value = merge_values(zero_value(struct, full), values)
    data = build(struct, value, f"BDB block {block_id}")
    if size is not None:
        if any(data[size:]):
            raise DecodeError(f"BDB block {block_id}", f"cannot build: values need more than {size} bytes")
        data = data[:size].ljust(size, b"\0")
    return data


def build_lfp_data(entries: list[dict[str, Any]], fp_timing_size: int = FP_TIMING_GENERATED_SIZE,
                   tail: dict[str, Any] | None = None, size: int | None = None) -> bytes:
    """Block 42 bytes: 16 entries of an fp_timing table of ``fp_timing_size`` bytes (members that
    fit, 0xFFFF terminator in its last two bytes), an 18-byte DTD (bytes) and a PnP ID, then the
    tail (``bdb_lfp_data_tail`` values) if given. ``entries`` may be shorter than 16 (zeros)."""
    out = bytearray()
    for i in range(PANELS):
        e = entries[i] if i < len(entries) else {}
        fp = merge_values(zero_value(FpTiming, FpTiming.sizeof()), e.get("fp_timing") or {})
        table = build(FpTiming, fp, "fp_timing")[: max(fp_timing_size - 2, 0)].ljust(fp_timing_size - 2, b"\0") + b"\xff\xff"
        dtd = bytes(e.get("dvo_timing") or bytes(DTD_SIZE))
        pnp = build(PnpId, merge_values(zero_value(PnpId, PNP_ID_SIZE), e.get("pnp_id") or {}), "pnp_id")
        out += table + dtd.ljust(DTD_SIZE, b"\0")[:DTD_SIZE] + pnp
    if tail is not None:
        out += build(LfpDataTail, merge_values(zero_value(LfpDataTail, LFP_DATA_TAIL_SIZE), tail), "LFP data tail")
    if size is not None:
        if any(out[size:]):
            raise DecodeError("BDB block 42", f"cannot build: values need more than {size} bytes")
        out = out[:size].ljust(size, b"\0")
    return bytes(out)


def build_lfp_data_ptrs(block42_offset: int, fp_timing_size: int = 32, hidden: int = 6, panel_name: bool = True) -> bytes:
    """Block 41 bytes pointing into a block 42 whose data starts at BDB offset ``block42_offset``:
    ``fp_timing_size`` as stored, entries of ``fp_timing_size + hidden + 18 + 10`` bytes."""
    stride = fp_timing_size + hidden + DTD_SIZE + PNP_ID_SIZE
    ptr = []
    for i in range(PANELS):
        base = block42_offset + i * stride
        ptr.append({"fp_timing": {"offset": base, "table_size": fp_timing_size},
                    "dvo_timing": {"offset": base + fp_timing_size + hidden, "table_size": DTD_SIZE},
                    "panel_pnp_id": {"offset": base + fp_timing_size + hidden + DTD_SIZE, "table_size": PNP_ID_SIZE}})
    name = {"offset": block42_offset + PANELS * stride, "table_size": PANEL_NAME_SIZE} if panel_name else {"offset": 0, "table_size": 0}
    return build_raw(41, {"num_entries": 3, "ptr": ptr, "panel_name": name})
