"""The VBT block framework every block module uses: the constructs blocks are made of
(:class:`FlatStruct`, :class:`ZeroFilled`, :class:`EnumIn`, :class:`BoundedRange`), the registry
entry (:class:`BlockSpec`), the block names, and version gating: fields a BDB version does not
define are moved out of the decoded fields (:func:`gate`) and back in for building (:func:`ungate`).
"""

from __future__ import annotations

import io
import struct
from typing import Any, Callable, NamedTuple

import construct as cs

from igdscope.binary.plainparse import Unsupported, Val, enum_value



class FlatStruct(cs.Struct):
    """A ``Struct`` whose unnamed members that parse to dicts (``BitStruct`` groups, ``IfThenElse``
    between two ``FlatStruct`` layouts) are merged into it, the way C puts anonymous bit-fields and
    unions in the parent: ``child.lane_reversal``, not ``child.flags_17.lane_reversal``.

    Building hands such a member the whole parent dict; it picks the keys it knows.
    """

    def _parse(self, stream, context, path):
        obj = cs.Container()
        obj._io = stream
        context = cs.Container(_=context, _params=context._params, _root=None, _parsing=context._parsing,
                               _building=context._building, _sizing=context._sizing, _subcons=self._subcons,
                               _io=stream, _index=context.get("_index", None))
        context._root = context._.get("_root", context)
        for sc in self.subcons:
            try:
                subobj = sc._parsereport(stream, context, path)
            except cs.StopFieldError:
                break
            if sc.name:
                obj[sc.name] = subobj
                context[sc.name] = subobj
            elif isinstance(subobj, dict):
                for key, value in subobj.items():
                    if not str(key).startswith("_"):
                        obj[key] = value
                        context[key] = value
        return obj

    def _build(self, obj, stream, context, path):
        if obj is None:
            obj = cs.Container()
        context = cs.Container(_=context, _params=context._params, _root=None, _parsing=context._parsing,
                               _building=context._building, _sizing=context._sizing, _subcons=self._subcons,
                               _io=stream, _index=context.get("_index", None))
        context._root = context._.get("_root", context)
        context.update(obj)
        for sc in self.subcons:
            try:
                if not sc.name:
                    sc._build(obj, stream, context, path)
                    continue
                if sc.flagbuildnone:
                    subobj = obj.get(sc.name, None)
                elif sc.name in obj:
                    subobj = obj[sc.name]
                else:
                    raise cs.ConstructError(f"missing field {sc.name!r}", path=path)
                context[sc.name] = subobj
                context[sc.name] = sc._build(subobj, stream, context, path)
            except cs.StopFieldError:
                break
        return context

    def _emitparse(self, code):  # Struct's emitter would not merge the unnamed members
        raise NotImplementedError

    def _emitbuild(self, code):
        raise NotImplementedError

    # the generated plain-data parser (igdscope.plainparse) merges the same way
    def _plainlayout(self, gen):
        return gen.struct_layout(self, flat=True)

    def _emitplain(self, gen, st, scope):
        return gen.struct(self, st, scope, flat=True)


class ZeroFilled(cs.Subconstruct):
    """Parse ``length`` bytes with a fixed-size struct the way i915 and igt copy a block or child
    entry: into a zero-filled buffer of the struct's full size, so a short entry reads as zeros
    beyond its end. Bytes beyond the struct are kept under ``unparsed``. Building cuts the result
    back to ``length`` bytes and refuses to drop non-zero bytes."""

    def __init__(self, length: Any, subcon: cs.Construct):
        super().__init__(subcon)
        self.length = length

    def _parse(self, stream, context, path):
        n = cs.evaluate(self.length, context)
        full = self.subcon._sizeof(context, path)
        data = cs.stream_read(stream, n, path)
        obj = self.subcon._parsereport(io.BytesIO(data[:full].ljust(full, b"\0")), context, path)
        if n > full:
            obj["unparsed"] = data[full:]
        return obj

    def _build(self, obj, stream, context, path):
        n = cs.evaluate(self.length, context)
        sub = io.BytesIO()
        self.subcon._build(obj, sub, context, path)
        data = sub.getvalue()
        tail = obj.get("unparsed") if isinstance(obj, dict) else None
        if tail:
            data += bytes.fromhex(tail) if isinstance(tail, str) else bytes(tail)
        if len(data) > n and any(data[n:]):
            raise cs.ValidationError(f"values need {len(data.rstrip(bytes(1)))} bytes but the entry has {n}", path=path)
        data = data[:n].ljust(n, b"\0")
        cs.stream_write(stream, data, n, path)
        return obj

    def _sizeof(self, context, path):
        return cs.evaluate(self.length, context)

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: unpack the struct from the entry in place when it is at least
        the struct's size, else from the entry padded with zeros."""
        alternatives = gen.fixed_alternatives(self.subcon, scope)
        n = gen.assign(gen.expr(self.length, scope), "n")
        start, res = gen.tmp("s"), gen.tmp("r")
        gen.line(f"if {n} < 0 or {st.pos} + {n} > len({st.buf}): raise _Short")
        gen.line(f"{start} = {st.pos}")
        gen.line(f"{st.pos} += {n}")
        for lay in gen.if_chain(alternatives):
            full = lay.size
            unpack = gen.const(struct.Struct("<" + lay.fmt).unpack_from, "S")
            tv = gen.tmp("t")
            gen.line(f"if {n} >= {full}: {tv} = {unpack}({st.buf}, {start})")
            gen.line(f"else: {tv} = {unpack}({st.buf}[{start}:{st.pos}] + bytes({full} - {n}))")
            val = lay.build(tv, 0, scope)
            if not val.is_dict:
                raise Unsupported("ZeroFilled of a value that is not a struct")
            gen.line(f"{res} = {val.plain}")
            gen.line(f"if {n} > {full}: {res}['unparsed'] = {st.buf}[{start} + {full}:{st.pos}].hex()")
        return Val(res, None, True)


class Tables(cs.Construct):
    """The tables a block reaches through pointers: for each offset of ``offsets`` (a list, from
    the parse parameters; None for a table not there), ``subcon`` parsed from the ``length``
    bytes at that offset of the stream -- the block's data, offsets counted from its start -- or
    None when they do not lie in it. Bytes are only read where they are, whatever a pointer says;
    the stream position is left where it was (the tables may overlap, precede or follow one
    another). Block 42 is made of such tables (block 41 holds their pointers)."""

    def __init__(self, offsets: Any, length: Any, subcon: cs.Construct):
        super().__init__()
        self.offsets = offsets
        self.length = length
        self.subcon = subcon

    def _parse(self, stream, context, path):
        offsets = cs.evaluate(self.offsets, context) or ()
        n = cs.evaluate(self.length, context)
        start = cs.stream_tell(stream, path)
        end = cs.stream_size(stream)
        items = cs.ListContainer()
        for at in offsets:
            if at is None or at < 0 or n < 0 or at + n > end:
                items.append(None)
                continue
            cs.stream_seek(stream, at, 0, path)
            data = cs.stream_read(stream, n, path)
            items.append(self.subcon._parsereport(io.BytesIO(data), context, path))
        cs.stream_seek(stream, start, 0, path)
        return items

    def _build(self, obj, stream, context, path):
        raise cs.ConstructError("tables reached through pointers are built by their block's own builder", path=path)

    def _sizeof(self, context, path):
        raise cs.SizeofError("tables at pointed-to offsets", path=path)

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: the same loop, each table parsed from its own bytes."""
        offsets = gen.assign(gen.expr(self.offsets, scope), "o")
        n = gen.assign(gen.expr(self.length, scope), "n")
        out, at = gen.tmp("a"), gen.tmp("o")
        gen.line(f"{out} = []")
        with gen.block(f"for {at} in {offsets} or ():"):
            with gen.block(f"if {at} is None or {at} < 0 or {n} < 0 or {at} + {n} > len({st.buf}):"):
                gen.line(f"{out}.append(None)")
                gen.line("continue")
            sub = gen.substream(gen.assign(f"{st.buf}[{at}:{at} + {n}]", "b"))
            val = gen.parse(self.subcon, sub, scope)
            gen.line(f"{out}.append({val.plain})")
        return Val(out)


class EnumIn(cs.Enum):
    """``Enum`` that also builds from the ``{"value": n, "name": ...}`` form of
    :func:`~igdscope.decode.to_plain`, so decoded plain data builds back."""

    def _encode(self, obj, context, path):
        if isinstance(obj, dict) and "value" in obj:
            obj = obj["value"]
        return super()._encode(obj, context, path)

    def _emitbuild(self, code):
        raise NotImplementedError

    def _emitplainvalue(self, gen, sub, scope):  # parses exactly as Enum
        return enum_value(self)(gen, sub, scope)


def block_name(block_id: int, bdb_version: int | None = None) -> str | None:
    """The kernel's name for a block id (block 9 is the ALM dot-clock table up to BDB 164)."""
    if block_id == 9 and bdb_version is not None and bdb_version <= 164:
        return "dot_clock_override_alm"
    return BLOCK_NAMES.get(block_id)


MAX_TABLE_ENTRIES = 256  # entries decoded per table at most; real tables hold a few dozen


class UpTo(cs.Subconstruct):
    """At most ``count`` items (as many as fit when ``count`` is None), and never more than
    ``limit``. Stops at the end of the stream, at an item that does not fit (its bytes are left
    for the next field) and at an item that consumes no bytes -- so the number of items is bounded
    by the bytes present and by ``limit``, whatever a header claims."""

    def __init__(self, count: Any, subcon: cs.Construct, limit: int = MAX_TABLE_ENTRIES):
        super().__init__(subcon)
        self.count = count
        self.limit = limit

    def _parse(self, stream, context, path):
        count = None if self.count is None else cs.evaluate(self.count, context)
        count = self.limit if count is None else min(count, self.limit)
        end = cs.stream_size(stream)
        items = cs.ListContainer()
        while len(items) < count:
            start = cs.stream_tell(stream, path)
            if start >= end:
                break
            context._index = len(items)
            try:
                item = self.subcon._parsereport(stream, context, path)
            except (cs.StreamError, cs.SizeofError):
                cs.stream_seek(stream, start, 0, path)
                break
            if cs.stream_tell(stream, path) == start:
                break
            items.append(item)
        return items

    def _build(self, obj, stream, context, path):
        for i, item in enumerate(obj or []):
            context._index = i
            self.subcon._build(item, stream, context, path)
        return obj

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: the same stops; an item cut short by the end of the stream is
        left unread (other errors leave the block to the interpreted parser)."""
        limit = int(self.limit)
        count = gen.tmp("n")
        if self.count is None:
            gen.line(f"{count} = {limit}")
        else:
            gen.line(f"{count} = {gen.expr(self.count, scope)}")
            gen.line(f"{count} = {limit} if {count} is None else min({count}, {limit})")
        out, start = gen.tmp("a"), gen.tmp("s")
        item = self.subcon
        if type(item) is cs.FormatField and len(item.fmtstr) == 2 and item.fmtstr[1] in "bBhHlLqQ" and item.fmtstr[0] in "<>":
            # whole integers: as many as fit and are asked for, in one unpack
            size, unpack, n = item.length, gen.const(struct.Struct(item.fmtstr).iter_unpack, "I"), gen.tmp("k")
            gen.line(f"{n} = max(0, min({count}, (len({st.buf}) - {st.pos}) // {size}))")
            gen.line(f"{out} = [{start}[0] for {start} in {unpack}({st.buf}[{st.pos}:{st.pos} + {n} * {size}])]")
            gen.line(f"{st.pos} += {n} * {size}")
            return Val(out)
        gen.line(f"{out} = []")
        with gen.block(f"while len({out}) < {count}:"):
            gen.line(f"{start} = {st.pos}")
            gen.line(f"if {start} >= len({st.buf}): break")
            item = gen.loop_item(self.subcon, st, scope, start)
            gen.line(f"if {st.pos} == {start}: break")
            gen.line(f"{out}.append({item})")
        return Val(out)


def BoundedRange(subcon: cs.Construct, max_count: int) -> UpTo:  # noqa: N802 -- reads like the construct it is
    """As many whole ``subcon`` items as the bytes hold, at most ``max_count``."""
    return UpTo(None, subcon, max_count)


def int_of(value: Any) -> int:
    """The integer of a parsed field (an enum's ``{"value", "name"}`` form or a plain int/bool)."""
    if value.__class__ is int:
        return value
    if isinstance(value, dict):
        value = value.get("value", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def coded(value: Any, name: str | None, **extra: Any) -> dict[str, Any]:
    """The ``{"value", "name"}`` form of a coded field, with any extra keys after them."""
    return {"value": int_of(value), "name": name, **extra}


class BlockSpec(NamedTuple):
    name: str
    schema: cs.Construct
    min_bdb: int = 0
    max_bdb: int | None = None
    full_size: int | None = None  # the struct's size when the block is one fixed struct
    gates: dict[str, tuple[int, int | None]] = {}
    # post(plain, raw, bdb_version, context) -> plain: derived values and findings after parsing;
    # context holds the other blocks of the same VBT ({id: raw bytes}) for blocks that need them
    post: Any = None
    # builder(values, bdb_version, size) -> bytes: the block's data from its decoded values (the
    # inverse of decoding; None where a block is built by a builder of its own shape)
    builder: Callable[[dict[str, Any], int, int | None], bytes] | None = None
    # params(raw, bdb_version, context) -> dict: parse parameters the schema reads besides
    # bdb_version and block_size, worked out from the other blocks (block 42: where its tables
    # are, from block 41's pointers)
    params: Callable[[bytes, int, dict[int, bytes]], dict[str, Any]] | None = None


def in_range(version: int, lo: int, hi: int | None = None) -> bool:
    return version >= lo and (hi is None or version <= hi)


def gate_one(fields: dict[str, Any], name: str, version: int, lo: int = 0, hi: int | None = None) -> None:
    """:func:`gate` for one member defined from BDB ``lo`` (to ``hi``)."""
    if name in fields and not in_range(version, lo, hi):
        _move_out(fields, (name,))


def invalid_names(gates: dict[str, tuple[int, int | None] | None], version: int) -> tuple[str, ...]:
    """The names of a gate table (``{name: (min BDB, max BDB or None)}``) that ``version`` does not
    define, in table order. Gate tables are module-level constants; the answer is kept per table
    and version."""
    key = (id(gates), version)
    hit = _invalid_cache.get(key)
    if hit is not None and hit[0] is gates:
        return hit[1]
    names = tuple(name for name, gate in gates.items() if gate is not None and not in_range(version, gate[0], gate[1]))
    if len(_invalid_cache) < 4096:
        _invalid_cache[key] = (gates, names)
    return names


# derived text beside a coded value (an enum's name, a mode's wording): never information of its own
_DERIVED_TEXT = frozenset({"name", "mode"})


def is_zero(value: Any) -> bool:
    """True for a decoded value that carries no information: zeros, False, None, empty, hex
    strings of zeros, an enum ``{"value": 0, "name": ...}``, and containers of only such values
    (derived text beside them does not count). The one test of what a field a BDB version does
    not define may be dropped for."""
    cls = value.__class__
    if cls is int or cls is bool:
        return not value
    if (cls is list or cls is dict) and not any(value if cls is list else value.values()):
        return True  # every member falsy: the usual case for what a BDB version does not define
    if isinstance(value, dict):
        return all(is_zero(v) for k, v in value.items() if k not in _DERIVED_TEXT)
    if isinstance(value, (list, tuple)):
        return all(is_zero(v) for v in value)
    if isinstance(value, str):
        return not value.strip("0")  # hex-rendered bytes
    return not value


def gate(fields: dict[str, Any], gates: dict[str, tuple[int, int | None]], version: int) -> dict[str, Any]:
    """Move fields the version does not define out of ``fields``: zero ones (:func:`is_zero`) are
    dropped, others go to ``not_valid_for_bdb`` (so nothing is lost and the block still builds
    back; what an earlier gate moved there stays)."""
    return _move_out(fields, invalid_names(gates, version) if gates else ())


def gate_all(entries: list[dict[str, Any]], gates: dict[str, tuple[int, int | None]], version: int) -> list[dict[str, Any]]:
    """:func:`gate` on each of ``entries`` (the same table and version for all)."""
    names = invalid_names(gates, version) if gates else ()
    return [_move_out(fields, names) for fields in entries] if names else list(entries)


def _move_out(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    odd = fields.pop("not_valid_for_bdb", None) or {}
    for name in names:
        if name in fields:
            value = fields.pop(name)
            if not is_zero(value):
                odd[name] = value
    if odd:
        fields["not_valid_for_bdb"] = odd
    return fields


def ungate(fields: dict[str, Any]) -> dict[str, Any]:
    """Decoded fields back to a buildable dict: what :func:`gate` moved out is restored, derived
    keys (findings, meanings, the per-panel and per-entry views, the selected panel) dropped."""
    fields = dict(fields)
    fields.update(fields.pop("not_valid_for_bdb", None) or {})
    for key in _DERIVED_KEYS:
        fields.pop(key, None)
    return fields


# keys decoding adds beside a block's struct members; building ignores them
_DERIVED_KEYS = ("findings", "meaning", "panels", "entries", "selected_panel", "selected_panel2", "notes")


BLOCK_NAMES: dict[int, str] = {
    1: "general_features",
    2: "general_definitions",
    3: "display_toggle",
    4: "mode_support_list",
    5: "generic_mode_table",
    6: "ext_mmio_regs",  # VBIOS only
    7: "swf_io",  # VBIOS only
    8: "swf_mmio",  # VBIOS only
    9: "psr",  # dot_clock_override_alm up to BDB 164, see block_name()
    10: "mode_removal_table",
    11: "child_device_table",
    12: "driver_features",
    13: "driver_persistence",
    14: "ext_table_ptrs",  # VBIOS only
    15: "dot_clock_override",
    16: "display_select_old",
    17: "sv_test_functions",
    18: "driver_rotation",
    19: "display_remove_old",
    20: "oem_custom",
    21: "efp_list",
    22: "sdvo_lvds_options",
    23: "sdvo_lvds_dtd",
    24: "sdvo_lvds_pnp_id",
    25: "sdvo_lvds_pps",
    26: "tv_options",
    27: "edp",
    28: "efp_dtd",  # 161+
    29: "display_select_ivb",  # 164+
    30: "display_remove_ivb",  # 164+
    31: "display_select_hsw",  # 166+
    32: "display_remove_hsw",  # 166+
    40: "lfp_options",
    41: "lfp_data_ptrs",
    42: "lfp_data",
    43: "lfp_backlight",
    44: "lfp_power",
    45: "edp_bfi",  # 160+
    46: "chromaticity",  # 169+
    50: "mipi",  # 170-172
    51: "fixed_set_mode",  # 172+
    52: "mipi_config",  # 175+
    53: "mipi_sequence",  # 177+
    54: "rgb_palette",  # 180+
    55: "compression_parameters_old",  # 198-212
    56: "compression_parameters",  # 213+
    57: "vswing_preemph",  # 218+
    58: "generic_dtd",  # 229+
    252: "int15_hook",  # VBIOS only
    253: "prd_table",
    254: "skip",  # VBIOS-private data
}


_invalid_cache: dict[tuple[int, int], tuple[dict, tuple[str, ...]]] = {}
