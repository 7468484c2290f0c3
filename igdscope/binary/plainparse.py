"""Plain-data parsers generated from construct schemas.

construct parses field by field through a tree of Python objects, then
:func:`igdscope.binary.to_plain` walks the result again. For the VBT blocks that is most of the
decoding time. :func:`compile_plain` turns a schema into one generated Python function per
combination of parameter-dependent layout choices: fixed-size runs of members become one
``struct`` unpack and the result is built directly as plain data (dicts, lists, ints, strings,
``{"value", "name"}`` for enums, bytes as hex) -- exactly what ``to_plain(schema.parse(data,
**params))`` returns, in the same key order.

The generated code is only a fast path. It reproduces the interpreted parser where the input is
well-formed for it and gives up otherwise: every read is bounds-checked (a short read raises
:class:`Short`, which stands for construct's ``StreamError`` where construct catches one: ranges
stop, ``UpTo`` items are left for the next field), every loop has the same limits as the
interpreted one (counts clamped to the bytes present and to the schema's maximum), and anything
else the interpreted parser would report -- a failed ``Check``, a missing ``Switch`` case, a
range error, a read past the end of the data -- raises, so that the caller runs the interpreted
parser, which produces the precise error with its field path. :func:`igdscope.binary.decode_plain`
is that caller; it never returns a result of the generated code that differs from the interpreted
one (``tests/test_plainparse.py`` checks every compiled block schema against the interpreted
parser on the corpus and on random bytes).

What is supported: the construct classes below (``Struct``, ``Array``, ``FormatField`` integers,
``Bytes``/``GreedyBytes``, ``BitStruct`` / ``ByteSwapped(BitStruct)`` with ``BitsInteger`` and
``Flag``, ``Enum``, ``FlagsEnum``, ``Computed``, ``Check``, ``If``/``IfThenElse``, ``Switch``,
``GreedyRange``, ``Pass``, ``Renamed``) and project classes that define ``_emitplain`` (a node
parsed at runtime) and/or ``_plainlayout`` (a node of fixed layout) or, for adapters,
``_emitplainvalue`` (the plain and context value of the adapted value). Conditions and switch
keys that depend only on parse parameters (``this._params.bdb_version``) are decided when a
specialisation is generated, so a layout that differs by BDB version is still one unpack.
Anything else raises :class:`Unsupported` when the parser is generated and the schema stays
interpreted.
"""

from __future__ import annotations

import operator
import struct
from contextlib import contextmanager
from typing import Any, Callable

import construct as cs
from construct import expr as cx
from construct.lib import binary

from igdscope.binary.giveup import Bail, Short  # what generated code raises to leave an input to construct


class Unsupported(Exception):
    """The schema uses something the generator does not reproduce; it stays interpreted."""


class Val:
    """What parsing a node yields, as Python expressions of the generated code: ``plain`` the
    plain value, ``ctx`` the value construct would put in the context (what expressions such as
    ``this.entry_size`` see; None if not available), ``is_dict`` whether the construct value is
    a dict (merged by ``FlatStruct`` when unnamed), ``fields`` its members ``[(key, Val)]`` when
    they are known when generating. ``is_dict`` is None when it depends on the data."""

    __slots__ = ("plain", "ctx", "is_dict", "fields")

    def __init__(self, plain: str, ctx: str | None = None, is_dict: bool = False, fields: list | None = None):
        self.plain = plain
        self.ctx = ctx
        self.is_dict = is_dict
        self.fields = fields


NONE = Val("None", "None")


class Stream:
    """A stream of the generated code: the variable holding its bytes and the one holding the
    read position. Every sub-stream construct makes (``BytesIO`` of some bytes) is a new bytes
    object here too, so its end is always ``len(buf)``."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: str, pos: str):
        self.buf = buf
        self.pos = pos


class Scope:
    """The context of a ``Struct`` while generating: the members parsed so far, by name."""

    def __init__(self, parent: "Scope | None", params: bool = False):
        self.parent = parent
        self.params = params
        self.names: dict[str, Val] = {}

    def child(self) -> "Scope":
        return Scope(self)

    def lookup(self, name: str) -> Val:
        if self.params:
            return Val(f"P[{name!r}]", f"P[{name!r}]")
        if name not in self.names:
            raise Unsupported(f"expression refers to {name!r}, not known here")
        return self.names[name]

    def add(self, name: str, val: Val) -> None:
        self.names[name] = val

    def forget(self) -> None:
        """After a merge of keys known only at runtime: what was known may be overwritten."""
        self.names.clear()


class Layout:
    """A node of fixed layout: ``fmt`` its ``struct`` format (little-endian, no padding),
    ``count`` the values it unpacks to, ``size`` its bytes; ``build(t, base, scope)`` the
    :class:`Val` from the unpacked tuple variable ``t`` starting at index ``base`` (it may emit
    statements, e.g. a ``Check``)."""

    __slots__ = ("fmt", "count", "size", "build")

    def __init__(self, fmt: str, count: int, size: int, build: Callable[[str, int, Scope], Val]):
        self.fmt = fmt
        self.count = count
        self.size = size
        self.build = build


_OPS = {
    operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/", operator.floordiv: "//",
    operator.mod: "%", operator.pow: "**", operator.xor: "^", operator.lshift: "<<", operator.rshift: ">>",
    operator.and_: "&", operator.or_: "|", operator.gt: ">", operator.ge: ">=", operator.lt: "<",
    operator.le: "<=", operator.eq: "==", operator.ne: "!=",
}
_FUNCS = {"len": "len", "sum": "sum", "min": "min", "max": "max", "abs": "abs"}
_INT_FORMATS = set("bBhHiIlLqQ")


def _enum_ctx(dec: dict, value: int) -> Any:
    """The context value of an ``Enum`` (what construct's ``Enum._decode`` returns)."""
    out = dec.get(value)
    return out if out is not None else cs.EnumInteger(value)


def _unwrap(node: cs.Construct) -> cs.Construct:
    while type(node) is cs.Renamed:
        node = node.subcon
    return node


def children(node: cs.Construct) -> list[cs.Construct]:
    """The sub-schemas of a node (for the search of parameter-dependent choices)."""
    out = []
    for attr in ("subcon", "thensubcon", "elsesubcon", "default"):
        sub = getattr(node, attr, None)
        if isinstance(sub, cs.Construct):
            out.append(sub)
    out.extend(sc for sc in getattr(node, "subcons", ()) or () if isinstance(sc, cs.Construct))
    cases = getattr(node, "cases", None)
    if isinstance(cases, dict):
        out.extend(sc for sc in cases.values() if isinstance(sc, cs.Construct))
    out.extend(getattr(node, "_plainchildren", ()) or ())
    return out


def _path_fields(e: Any) -> tuple[str, list[Any]]:
    fields = []
    while e._Path__parent is not None:
        fields.append(e._Path__field)
        e = e._Path__parent
    fields.reverse()
    return e._Path__name, fields


def params_only(e: Any) -> bool:
    """Whether a construct expression depends on the parse parameters only (``this._params.x``)."""
    if isinstance(e, cx.Path):
        name, fields = _path_fields(e)
        return name == "this" and len(fields) >= 2 and fields[0] == "_params"
    if isinstance(e, cx.BinExpr):
        return params_only(e.lhs) and params_only(e.rhs)
    if isinstance(e, cx.UniExpr):
        return params_only(e.operand)
    if isinstance(e, cx.FuncPath):
        return params_only(e._FuncPath__operand) if e._FuncPath__operand is not None else False
    if callable(e):
        return False
    return isinstance(e, (int, float, str, bytes, type(None)))


def _choices(schema: cs.Construct) -> list[cs.Construct]:
    """``IfThenElse`` and ``Switch`` nodes whose choice depends on the parse parameters only."""
    out: list[cs.Construct] = []
    seen: set[int] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is cs.IfThenElse and params_only(node.condfunc):
            out.append(node)
        elif type(node) is cs.Switch and params_only(node.keyfunc):
            out.append(node)
        stack.extend(reversed(children(node)))
    return out


class Gen:
    """Generates the source of one parser function for one specialisation."""

    def __init__(self, decided: dict[int, Any]):
        self.decided = decided  # id(IfThenElse) -> bool, id(Switch) -> chosen subcon
        self.lines: list[str] = []
        self.depth = 1
        self.ns: dict[str, Any] = {"_Short": Short, "_Bail": Bail, "_enum_ctx": _enum_ctx, "struct_error": struct.error}
        self._consts: dict[int, str] = {}
        self._n = 0
        self._layouts: dict[int, Layout | None] = {}

    # -- emitting --------------------------------------------------------------------------------

    def tmp(self, prefix: str = "v") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, obj: Any, prefix: str = "k") -> str:
        name = self._consts.get(id(obj))
        if name is None:
            name = self._consts[id(obj)] = self.tmp(f"_{prefix}")
            self.ns[name] = obj
        return name

    def line(self, code: str) -> None:
        self.lines.append("    " * self.depth + code)

    @contextmanager
    def block(self, head: str):
        self.line(head)
        self.depth += 1
        n = len(self.lines)
        yield
        if len(self.lines) == n:
            self.line("pass")
        self.depth -= 1

    def assign(self, code: str, prefix: str = "v") -> str:
        """A variable holding the value of ``code`` (the code itself when it is a plain name)."""
        if code.isidentifier():
            return code
        name = self.tmp(prefix)
        self.line(f"{name} = {code}")
        return name

    # -- expressions -----------------------------------------------------------------------------

    def expr(self, e: Any, scope: Scope) -> str:
        """Python code for a construct expression (``this.x + 1``) or constant, as construct's
        ``evaluate`` would compute it in ``scope``."""
        if isinstance(e, cx.Path):
            name, fields = _path_fields(e)
            if name != "this":
                raise Unsupported(f"expression root {name}")
            return self._path(fields, scope)
        if isinstance(e, cx.BinExpr):
            op = _OPS.get(e.op)
            lhs, rhs = self.expr(e.lhs, scope), self.expr(e.rhs, scope)
            if e.op is operator.contains:
                return f"({rhs} in {lhs})"
            if op is None:
                raise Unsupported(f"operator {e.op}")
            return f"({lhs} {op} {rhs})"
        if isinstance(e, cx.UniExpr):
            operand = self.expr(e.operand, scope)
            if e.op is operator.not_:
                return f"(not {operand})"
            if e.op is operator.neg:
                return f"(-{operand})"
            if e.op is operator.pos:
                return f"(+{operand})"
            raise Unsupported(f"operator {e.op}")
        if isinstance(e, cx.FuncPath):
            func = _FUNCS.get(e._FuncPath__func.__name__)
            if func is None or e._FuncPath__operand is None:
                raise Unsupported("function in expression")
            return f"{func}({self.expr(e._FuncPath__operand, scope)})"
        if isinstance(e, (bool, int, str, bytes, type(None))):
            return repr(e)
        if callable(e):
            raise Unsupported("a Python callable in an expression")
        return self.const(e)

    def _path(self, fields: list[Any], scope: Scope) -> str:
        s = scope
        for i, f in enumerate(fields):
            if f == "_":
                if s.parent is None:
                    raise Unsupported("this._ above the top")
                s = s.parent
                continue
            if f == "_params":
                s = PARAMS
                continue
            if not isinstance(f, str) or f.startswith("_"):
                raise Unsupported(f"context key {f!r}")
            val = s.lookup(f)
            if val.ctx is None:
                raise Unsupported(f"the value of {f!r} is not available to expressions")
            code = val.ctx
            for rest in fields[i + 1 :]:
                code = f"{code}[{rest!r}]"
            return code
        raise Unsupported("expression refers to a whole context")

    # -- fixed layouts ---------------------------------------------------------------------------

    def layout(self, node: cs.Construct) -> Layout | None:
        """The fixed layout of ``node`` in this specialisation, or None."""
        key = id(node)
        if key not in self._layouts:
            self._layouts[key] = None  # recursion guard
            self._layouts[key] = self._layout(node)
        return self._layouts[key]

    def _layout(self, node: cs.Construct) -> Layout | None:
        t = type(node)
        if t is cs.Renamed:
            return self.layout(node.subcon)
        custom = getattr(node, "_plainlayout", None)
        if custom is not None:
            return custom(self)
        if t is cs.FormatField:
            fmt = node.fmtstr
            if len(fmt) != 2 or fmt[1] not in _INT_FORMATS or (fmt[0] != "<" and node.length != 1):
                return None
            return Layout(fmt[1], 1, node.length, lambda tv, b, sc: Val(f"{tv}[{b}]", f"{tv}[{b}]"))
        if t is cs.Flag.__class__:
            return Layout("B", 1, 1, lambda tv, b, sc: _same(f"({tv}[{b}] != 0)"))
        if t is cs.Bytes and isinstance(node.length, int) and node.length >= 0:
            n = node.length
            return Layout(f"{n}s", 1, n, lambda tv, b, sc: Val(f"{tv}[{b}].hex()", f"{tv}[{b}]"))
        if t in (cs.Computed, cs.Check, cs.Pass.__class__):
            return Layout("", 0, 0, lambda tv, b, sc: self.nothing(node, sc))
        if t is cs.IfThenElse and id(node) in self.decided:
            return self.layout(node.thensubcon if self.decided[id(node)] else node.elsesubcon)
        if t is cs.Switch and id(node) in self.decided:
            return self.layout(self.decided[id(node)])
        if t is cs.Array and isinstance(node.count, int) and node.count >= 0 and not node.discard:
            return self._array_layout(node)
        if t is cs.Struct:
            return self.struct_layout(node, flat=False)
        if t is cs.Transformed:
            return self._bits_layout(node)
        if isinstance(node, cs.Adapter):
            value = self._adapter_value(node)
            sub = self.layout(node.subcon) if value is not None else None
            if sub is None:
                return None

            def build(tv: str, b: int, sc: Scope, sub=sub, value=value) -> Val:
                return value(self, sub.build(tv, b, sc), sc)

            return Layout(sub.fmt, sub.count, sub.size, build)
        return None

    def nothing(self, node: cs.Construct, scope: Scope) -> Val:
        """Computed, Check, Pass: no bytes."""
        t = type(node)
        if t is cs.Computed:
            code = self.expr(node.func, scope)
            return Val(code, code)
        if t is cs.Check:
            self.line(f"if not {self.expr(node.func, scope)}: raise _Bail")
        return NONE

    def _array_layout(self, node: cs.Array) -> Layout | None:
        n = node.count
        sub = self.layout(node.subcon)
        if sub is None:
            return None
        plain_items = type(_unwrap(node.subcon)) is cs.FormatField

        def build(tv: str, b: int, sc: Scope) -> Val:
            if plain_items:
                return Val(f"list({tv}[{b}:{b + n}])")
            items = [sub.build(tv, b + i * sub.count, sc).plain for i in range(n)]
            return Val("[" + ", ".join(items) + "]")

        return Layout(sub.fmt * n if n else "", sub.count * n, sub.size * n, build)

    def struct_layout(self, node: cs.Struct, flat: bool) -> Layout | None:
        subs = [self.layout(sc) for sc in node.subcons]
        if any(s is None for s in subs):
            return None

        def build(tv: str, b: int, scope: Scope) -> Val:
            sc = scope.child()
            fields: list[tuple[str, Val]] = []
            for member, lay in zip(node.subcons, subs):
                val = lay.build(tv, b, sc)
                b += lay.count
                self._member(member, val, sc, fields, None, flat)
            return self.struct_val(fields)

        return Layout("".join(s.fmt for s in subs), sum(s.count for s in subs), sum(s.size for s in subs), build)

    @staticmethod
    def struct_val(fields: list[tuple[str, Val]]) -> Val:
        body = ", ".join(f"{k!r}: {v.plain}" for k, v in fields)
        return Val("{" + body + "}", None, True, fields)

    def _bits_layout(self, node: cs.Transformed) -> Layout | None:
        """``BitStruct`` (bytes2bits over a fixed-size struct) and ``ByteSwapped`` of one."""
        swapped = False
        if node.decodefunc is binary.swapbytes:
            inner = _unwrap(node.subcon)
            if type(inner) is not cs.Transformed or inner.decodefunc is not binary.bytes2bits:
                return None
            if node.decodeamount != inner.decodeamount:
                return None
            swapped, node = True, inner
        if node.decodefunc is not binary.bytes2bits or not isinstance(node.decodeamount, int):
            return None
        k = node.decodeamount
        members = self._bit_members(node.subcon, 0)
        if members is None or members[1] != 8 * k:
            return None
        emit = members[0]
        if swapped and k in (2, 4, 8):
            fmt, count = {2: "H", 4: "I", 8: "Q"}[k], 1

            def bits(tv: str, b: int, off: int, width: int, little: bool) -> str:
                if little:
                    raise Unsupported("a swapped BitsInteger inside ByteSwapped")
                return _shift_mask(f"{tv}[{b}]", 8 * k - off - width, width)
        else:
            fmt, count = ("B" * k), k
            order = list(range(k))[::-1] if swapped else list(range(k))

            def bits(tv: str, b: int, off: int, width: int, little: bool) -> str:
                j0, j1 = off // 8, (off + width - 1) // 8
                if little:
                    if off % 8 or width % 8:
                        raise Unsupported("BitsInteger swapped but not byte-aligned")
                    parts = [_shl(f"{tv}[{b + order[j]}]", 8 * (j - j0)) for j in range(j0, j1 + 1)]
                    return "(" + " | ".join(parts) + ")"
                parts = [_shl(f"{tv}[{b + order[j]}]", 8 * (j1 - j)) for j in range(j0, j1 + 1)]
                word = parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"
                if off % 8 == 0 and width % 8 == 0:
                    return word  # whole bytes
                return _shift_mask(word, 8 * (j1 + 1) - off - width, width)

        def build(tv: str, b: int, sc: Scope) -> Val:
            return emit(lambda off, width, little: bits(tv, b, off, width, little), sc)

        return Layout(fmt, count, k, build)

    def _bit_members(self, node: cs.Construct, off: int):
        """(emit(bits, scope) -> Val, width in bits) of a node inside a bitwise stream, or None.
        ``bits(offset, width, little)`` gives the code of an unsigned field."""
        t = type(node)
        if t is cs.Renamed:
            return self._bit_members(node.subcon, off)
        if t is cs.BitsInteger:
            if not isinstance(node.length, int) or node.length <= 0 or node.signed or not isinstance(node.swapped, bool):
                return None
            width, little = node.length, node.swapped
            return (lambda bits, sc: _same(bits(off, width, little))), width
        if t is cs.Flag.__class__:
            return (lambda bits, sc: _same(f"({bits(off, 1, False)} != 0)")), 1
        if isinstance(node, cs.Adapter):
            value = self._adapter_value(node)
            sub = self._bit_members(node.subcon, off) if value is not None else None
            if sub is None:
                return None
            inner, width = sub
            return (lambda bits, sc: value(self, inner(bits, sc), sc)), width
        if t is cs.Array and isinstance(node.count, int) and node.count >= 0 and not node.discard:
            items, pos = [], off
            for _ in range(node.count):
                sub = self._bit_members(node.subcon, pos)
                if sub is None:
                    return None
                items.append(sub[0])
                pos += sub[1]
            return (lambda bits, sc: Val("[" + ", ".join(f(bits, sc).plain for f in items) + "]")), pos - off
        if t is cs.Struct:
            members, pos = [], off
            for sc_ in node.subcons:
                sub = self._bit_members(sc_, pos)
                if sub is None:
                    return None
                members.append((sc_, sub[0]))
                pos += sub[1]

            def emit(bits, scope):
                sc = scope.child()
                fields: list[tuple[str, Val]] = []
                for member, f in members:
                    self._member(member, f(bits, sc), sc, fields, None, False)
                return self.struct_val(fields)

            return emit, pos - off
        if t in (cs.Computed, cs.Check, cs.Pass.__class__):
            return (lambda bits, sc: self.nothing(node, sc)), 0
        return None

    def _adapter_value(self, node: cs.Adapter):
        """``value(gen, Val of the adapted value, scope) -> Val`` for an adapter, or None."""
        custom = getattr(node, "_emitplainvalue", None)
        if custom is not None:
            return custom
        if type(node) is cs.Enum:
            return enum_value(node)
        if type(node) is cs.FlagsEnum:
            return flags_value(node, None)
        return None

    # -- parsing at runtime ----------------------------------------------------------------------

    def parse(self, node: cs.Construct, st: Stream, scope: Scope) -> Val:
        """Emit code that parses ``node`` from ``st``; the :class:`Val` of the result."""
        lay = self.layout(node)
        if lay is not None:
            return self.unpack(lay, st, scope)
        t = type(node)
        if t is cs.Renamed:
            return self.parse(node.subcon, st, scope)
        custom = getattr(node, "_emitplain", None)
        if custom is not None:
            return custom(self, st, scope)
        if t is cs.Struct:
            return self.struct(node, st, scope, flat=False)
        if t is cs.IfThenElse:
            if id(node) in self.decided:
                return self.parse(node.thensubcon if self.decided[id(node)] else node.elsesubcon, st, scope)
            return self.branches([(self.expr(node.condfunc, scope), node.thensubcon), (None, node.elsesubcon)], st, scope)
        if t is cs.Switch:
            if id(node) in self.decided:
                return self.parse(self.decided[id(node)], st, scope)
            return self.branches(self.switch_cases(node, scope), st, scope)
        if t is cs.Array:
            return self._array(node, st, scope)
        if t is cs.GreedyRange and not node.discard:
            return self._greedy_range(node, st, scope)
        if t is cs.Bytes:
            data = self.read(st, self.expr(node.length, scope))
            return Val(f"{data}.hex()", data)
        if t is cs.GreedyBytes.__class__:
            data = self.rest(st)
            return Val(f"{data}.hex()", data)
        if t is cs.Error.__class__:
            self.line("raise _Bail")  # construct's ExplicitError
            return NONE
        if isinstance(node, cs.Adapter):
            value = self._adapter_value(node)
            if value is None:
                raise Unsupported(f"adapter {type(node).__name__}")
            return value(self, self.parse(node.subcon, st, scope), scope)
        raise Unsupported(f"{type(node).__name__}")

    def unpack(self, lay: Layout, st: Stream, scope: Scope) -> Val:
        if lay.count == 0:
            return lay.build("()", 0, scope)
        tv = self.tmp("t")
        fn = self.const(struct.Struct("<" + lay.fmt).unpack_from, "S")
        self.line(f"{tv} = {fn}({st.buf}, {st.pos})")
        self.line(f"{st.pos} += {lay.size}")
        return lay.build(tv, 0, scope)

    def read(self, st: Stream, n: str) -> str:
        """Read ``n`` bytes (code) into a new variable; a short read raises Short."""
        n = self.assign(n, "n")
        data = self.tmp("b")
        self.line(f"if {n} < 0: raise _Short")
        self.line(f"{data} = {st.buf}[{st.pos}:{st.pos} + {n}]")
        self.line(f"if len({data}) != {n}: raise _Short")
        self.line(f"{st.pos} += {n}")
        return data

    def rest(self, st: Stream) -> str:
        """The rest of the stream into a new variable."""
        data = self.tmp("b")
        self.line(f"{data} = {st.buf}[{st.pos}:]")
        self.line(f"{st.pos} = len({st.buf})")
        return data

    def substream(self, data: str) -> Stream:
        """A new stream over the bytes in variable ``data``."""
        pos = self.tmp("p")
        self.line(f"{pos} = 0")
        return Stream(data, pos)

    def static_size(self, node: cs.Construct) -> int | None:
        lay = self.layout(node)
        return lay.size if lay is not None else None

    def switch_cases(self, node: cs.Switch, scope: Scope) -> list[tuple[str | None, cs.Construct]]:
        """(condition code, subcon) for a runtime ``Switch``, as dict lookup decides it."""
        index = {key: i for i, key in enumerate(node.cases)}
        which = self.assign(f"{self.const(index)}.get({self.expr(node.keyfunc, scope)}, -1)", "w")
        out: list[tuple[str | None, cs.Construct]] = [(f"{which} == {i}", sc) for i, sc in enumerate(node.cases.values())]
        out.append((None, node.default))
        return out

    def branches(self, cases: list[tuple[str | None, cs.Construct]], st: Stream, scope: Scope) -> Val:
        """if/elif/else over ``(condition code, subcon)`` (the last condition None), each parsing
        into one result variable."""
        res = self.tmp("r")
        kinds = set()
        for i, (cond, node) in enumerate(cases):
            head = "else:" if cond is None else (f"if {cond}:" if i == 0 else f"elif {cond}:")
            with self.block(head):
                val = self.parse(node, st, scope)
                self.line(f"{res} = {val.plain}")
                kinds.add(val.is_dict)
        return Val(res, None, kinds.pop() if len(kinds) == 1 else None)

    def fixed_alternatives(self, node: cs.Construct, scope: Scope) -> list[tuple[str | None, Layout]]:
        """(condition code, layout) of each fixed layout ``node`` can take at runtime (through
        ``Switch`` and ``IfThenElse`` decided by the data); the last condition is None."""
        lay = self.layout(node)
        if lay is not None:
            return [(None, lay)]
        t = type(node)
        if t is cs.Renamed:
            return self.fixed_alternatives(node.subcon, scope)
        if t is cs.IfThenElse and id(node) not in self.decided:
            cases = [(self.assign(self.expr(node.condfunc, scope), "c"), node.thensubcon), (None, node.elsesubcon)]
        elif t is cs.Switch and id(node) not in self.decided:
            cases = self.switch_cases(node, scope)
        else:
            raise Unsupported(f"{t.__name__} of no fixed size")
        out = []
        for cond, sub in cases:
            lay = self.layout(sub)
            if lay is None:
                raise Unsupported("a choice of no fixed size")
            out.append((cond, lay))
        return out

    def if_chain(self, alternatives: list[tuple[str | None, Any]]):
        """Yield each alternative inside its ``if``/``elif``/``else`` block (no block when there
        is only one, unconditional, alternative)."""
        if len(alternatives) == 1 and alternatives[0][0] is None:
            yield alternatives[0][1]
            return
        for i, (cond, item) in enumerate(alternatives):
            head = "else:" if cond is None else (f"if {cond}:" if i == 0 else f"elif {cond}:")
            with self.block(head):
                yield item

    def _member(self, member: cs.Construct, val: Val, sc: Scope, fields: list[tuple[str, Val]] | None,
                flush: Callable[[], str] | None, flat: bool) -> None:
        """Add one struct member's value: named members by name; unnamed dicts merged into a
        ``FlatStruct`` (``flush`` gives the dict variable when the keys are known only at runtime)."""
        name = member.name
        if name:
            if not name.startswith("_"):
                fields.append((name, val))
            sc.add(name, val)
            return
        if not flat or val.is_dict is False:
            return
        if val.is_dict is None:
            raise Unsupported("an unnamed member that may or may not be a dict")
        if val.fields is not None:
            for k, v in val.fields:
                if not k.startswith("_"):
                    fields.append((k, v))
                    sc.add(k, v)
            return
        if flush is None:
            raise Unsupported("a runtime merge in a fixed layout")
        d = flush()
        self.line(f"{d}.update({val.plain})")
        sc.forget()

    def struct(self, node: cs.Struct, st: Stream, scope: Scope, flat: bool) -> Val:
        """A ``Struct`` (``flat``: a FlatStruct) parsed member by member; runs of members of fixed
        layout are unpacked together."""
        sc = scope.child()
        fields: list[tuple[str, Val]] = []
        state = {"dict": None}

        def flush() -> str:
            d = state["dict"]
            if d is None:
                d = state["dict"] = self.tmp("d")
                self.line(f"{d} = {self.struct_val(fields).plain}")
            else:
                for k, v in fields:
                    self.line(f"{d}[{k!r}] = {v.plain}")
            fields.clear()
            return d

        members = list(node.subcons)
        i = 0
        while i < len(members):
            run = []
            while i < len(members) and (lay := self.layout(members[i])) is not None:
                run.append((members[i], lay))
                i += 1
            if run:
                fmt = "".join(lay.fmt for _, lay in run)
                count = sum(lay.count for _, lay in run)
                size = sum(lay.size for _, lay in run)
                tv = "()"
                if count:
                    tv = self.tmp("t")
                    fn = self.const(struct.Struct("<" + fmt).unpack_from, "S")
                    self.line(f"{tv} = {fn}({st.buf}, {st.pos})")
                    self.line(f"{st.pos} += {size}")
                b = 0
                for member, lay in run:
                    val = lay.build(tv, b, sc)
                    b += lay.count
                    self._member(member, val, sc, fields, flush, flat)
                continue
            member = members[i]
            i += 1
            val = self.parse(member, st, sc)
            if val.fields is None and not val.plain.isidentifier() and (member.name or (flat and val.is_dict)):
                val = Val(self.assign(val.plain), val.ctx, val.is_dict)
            self._member(member, val, sc, fields, flush, flat)
        if state["dict"] is None:
            return self.struct_val(fields)
        d = flush() if fields else state["dict"]
        return Val(d, None, True)

    def _array(self, node: cs.Array, st: Stream, scope: Scope) -> Val:
        if node.discard:
            raise Unsupported("Array with discard")
        n = self.assign(self.expr(node.count, scope), "n")
        self.line(f"if not 0 <= {n}: raise _Bail")
        if not isinstance(node.count, int):  # a count from the data: bounded by the bytes present
            item = self.static_size(node.subcon)
            if not item:
                raise Unsupported("Array of a counted number of items of no fixed size")
            self.line(f"if {n} * {item} > len({st.buf}) - {st.pos}: raise _Short")  # construct runs out of bytes too
        out = self.tmp("a")
        self.line(f"{out} = []")
        with self.block(f"for _ in range({n}):"):
            val = self.parse(node.subcon, st, scope)
            self.line(f"{out}.append({val.plain})")
        return Val(out)

    def _greedy_range(self, node: cs.GreedyRange, st: Stream, scope: Scope) -> Val:
        out = self.tmp("a")
        start = self.tmp("s")
        self.line(f"{out} = []")
        with self.block("while True:"):
            self.line(f"{start} = {st.pos}")
            item = self.loop_item(node.subcon, st, scope, start)
            self.line(f"if {st.pos} == {start}: raise _Bail")  # an item of no bytes: construct would loop forever
            self.line(f"{out}.append({item})")
        return Val(out)

    def loop_item(self, node: cs.Construct, st: Stream, scope: Scope, start: str) -> str:
        """Inside a loop: parse one item into list ``out``; a short read restores the position to
        ``start`` and leaves the loop (construct's ranges catch StreamError)."""
        with self.block("try:"):
            val = self.parse(node, st, scope)
            item = self.assign(val.plain, "e")
        with self.block("except (_Short, struct_error):"):
            self.line(f"{st.pos} = {start}")
            self.line("break")
        return item


class _Params(Scope):
    def __init__(self):
        super().__init__(None, params=True)


PARAMS = _Params()


def _same(code: str) -> Val:
    return Val(code, code)


def _shl(code: str, n: int) -> str:
    return f"({code} << {n})" if n else code


def _shift_mask(word: str, shift: int, width: int) -> str:
    code = f"({word} >> {shift})" if shift else word
    return f"({code} & {(1 << width) - 1})"


def enum_value(node: cs.Enum):
    """Plain ``{"value", "name"}`` and the context value of an ``Enum``."""
    names = {k: str(v) for k, v in node.decmapping.items()}

    def value(gen: Gen, sub: Val, scope: Scope) -> Val:
        x = sub.plain
        return Val(f"{{'value': {x}, 'name': {gen.const(names, 'N')}.get({x})}}", f"_enum_ctx({gen.const(node.decmapping, 'D')}, {x})")

    return value


def flags_value(node: cs.FlagsEnum, reserved_mask: int | None):
    """Plain dict of flags (plus ``reserved_bits`` when ``reserved_mask`` is given)."""

    def value(gen: Gen, sub: Val, scope: Scope) -> Val:
        x = sub.plain
        fields = [(str(name), Val(f"({x} & {mask} == {mask})")) for name, mask in node.flags.items()]
        if reserved_mask is not None:
            fields.append(("reserved_bits", Val(f"({x} & {~reserved_mask})")))
        return Gen.struct_val(fields)

    return value


# -- the parser objects ------------------------------------------------------------------------------


class PlainParser:
    """The generated parser of one schema: ``parse(data, params)`` -> plain data (raises on
    anything it leaves to the interpreted parser). One specialisation per outcome of the
    parameter-dependent choices, generated when first needed; ``parse`` computes the outcome and
    calls it (it is the specialisation itself when the schema has no such choice).
    :meth:`precompiled` makes one from the shipped, already generated functions instead."""

    def __init__(self, schema: cs.Construct):
        self.schema = schema
        self._choices: list[cs.Construct] | None = _choices(schema)
        self.specs: dict[tuple, Callable] = {}
        self.sources: dict[tuple, str] = {}  # key -> source of the specialisation
        self.consts: dict[tuple, dict[str, Any]] = {}  # key -> the constants its source names
        self.key_src: str | None = None  # the dispatch key expression (None: no choice)
        self.key_consts: dict[str, Any] = {}
        if not self.choices:
            self.parse = self.specs[()] = self.specialise(())
            return
        g = Gen({})
        parts = []
        for node in self.choices:
            if type(node) is cs.IfThenElse:
                parts.append(f"bool({g.expr(node.condfunc, PARAMS)})")
            else:
                index = {key: i for i, key in enumerate(node.cases)}
                parts.append(f"{g.const(index)}.get({g.expr(node.keyfunc, PARAMS)}, -1)")
        self.key_src = "(" + ", ".join(parts) + ",)"
        self.key_consts = {k: v for k, v in g.ns.items() if k not in _BASE_NS}
        g.ns.update(_specs=self.specs, _missing=self.missing)
        exec(compile(_dispatch_source(self.key_src), "<igdscope plain parser dispatch>", "exec"), g.ns)
        self.parse = g.ns["parse"]

    @classmethod
    def precompiled(cls, schema: cs.Construct, dispatch: Callable | None, specs: dict[tuple, Callable | None]) -> "PlainParser":
        """A parser from shipped functions (:data:`GENERATED_MODULE`): ``dispatch(specs, missing)``
        makes the dispatching ``parse`` (None: the schema has no choice), ``specs`` maps each
        pre-generated key to a factory of its specialisation (None: it gives up). Keys not shipped
        are generated when met, as usual."""
        self = cls.__new__(cls)
        self.schema = schema
        self._choices = None  # found only if a key that was not shipped turns up
        self.specs = {key: (make() if make is not None else _give_up) for key, make in specs.items()}
        self.sources, self.consts, self.key_src, self.key_consts = {}, {}, None, {}
        self.parse = dispatch(self.specs, self.missing) if dispatch is not None else self.specs[()]
        return self

    @property
    def choices(self) -> list[cs.Construct]:
        if self._choices is None:
            self._choices = _choices(self.schema)
        return self._choices

    def missing(self, key: tuple) -> Callable:
        """The specialisation for ``key``, generated now (one that gives up if unsupported)."""
        try:
            fn = self.specialise(key)
        except Unsupported:
            fn = _give_up
        self.specs[key] = fn
        return fn

    def specialise(self, key: tuple) -> Callable:
        decided: dict[int, Any] = {}
        for node, outcome in zip(self.choices, key):
            if type(node) is cs.IfThenElse:
                decided[id(node)] = outcome
            else:
                decided[id(node)] = list(node.cases.values())[outcome] if outcome >= 0 else node.default
        g = Gen(decided)
        st = Stream("buf", "pos")
        g.line("pos = 0")
        val = g.parse(self.schema, st, PARAMS)
        g.line(f"return {val.plain}")
        src = "def parse(buf, P):\n" + "\n".join(g.lines) + "\n"
        name = getattr(self.schema, "name", None) or type(self.schema).__name__
        consts = {k: v for k, v in g.ns.items() if k not in _BASE_NS}
        exec(compile(src, f"<igdscope plain parser {name}>", "exec"), g.ns)
        self.sources[key] = src
        self.consts[key] = consts
        return g.ns["parse"]

    def key_function(self) -> Callable[[dict[str, Any]], tuple]:
        """``key(params)``: the dispatch key (which specialisation ``params`` select)."""
        if self.key_src is None:
            return lambda params: ()
        ns = dict(self.key_consts)
        exec(compile(f"def key(P):\n    return {self.key_src}\n", "<igdscope plain parser key>", "exec"), ns)
        return ns["key"]

    def __call__(self, data: bytes, params: dict[str, Any]) -> Any:
        return self.parse(data, params)


_BASE_NS = frozenset(Gen({}).ns) | {"__builtins__", "parse"}


def _dispatch_source(key_src: str) -> str:
    return (f"def parse(buf, P):\n    fn = _specs.get({key_src})\n    if fn is None:\n        fn = _missing({key_src})\n"
            "    return fn(buf, P)\n")


def _give_up(buf: bytes, params: dict[str, Any]) -> Any:
    raise Bail


def compile_plain(schema: cs.Construct) -> PlainParser | None:
    """The parser of ``schema``: the shipped one (:func:`precompiled_parser`) when there is one,
    else generated now; None when the generator does not support the schema (found out here when
    the schema has no parameter-dependent choice, else at the first parse of each
    specialisation, which then always gives up)."""
    shipped = precompiled_parser(schema)
    if shipped is not _NOT_SHIPPED:
        return shipped
    try:
        return PlainParser(schema)
    except Unsupported:
        return None


# -- the shipped parsers -----------------------------------------------------------------------------
#
# Generating the parsers costs more than a whole decode of a VBT, and every process would pay it
# again. The parsers of the schemas igdscope decodes (the VBT blocks and their helpers) are
# therefore generated once, when the package is built (the build backend in _build/ runs
# `python -m igdscope.schemas.plaingen`), with every specialisation the BDB versions select,
# into GENERATED_MODULE; it is not kept in the source tree. The schema modules name the schemas
# they want shipped (:func:`ship`), so this module never imports them. The generated module
# records a fingerprint of exactly the sources those schemas come from (the modules that named
# them, the constructs they use, this generator, construct's version); when a source differs (a
# schema edited after the build) it is not used and the parsers are generated at runtime --
# correct, only slower -- and tests/test_plainparse.py fails until it is generated again.

GENERATED_MODULE = "igdscope.binary._plain_generated"
USE_PRECOMPILED = True  # False: always generate at runtime (benchmarks, tests)
_NOT_SHIPPED = object()
_shipped: dict[int, tuple[cs.Construct, Any]] | None = None
_named: dict[str, cs.Construct] = {}  # name -> schema, from ship()
_sources: dict[str, None] = {}  # the source files the named schemas come from, in order


def ship(named: dict[str, cs.Construct], sources: list[str]) -> None:
    """Name schemas whose parsers are generated ahead of time: ``named`` maps a stable name to
    each, ``sources`` are the files of the modules they are defined in (their fingerprint decides
    whether the generated parsers are current). Called by the schema modules when imported."""
    for name, schema in named.items():
        if name in _named and _named[name] is not schema:
            raise RuntimeError(f"two schemas shipped as {name!r}")
        _named[name] = schema
    for src in sources:
        _sources.setdefault(src, None)
    reset_shipped()


def shipped_schemas() -> dict[str, cs.Construct]:
    """The schemas named by :func:`ship` so far, by name."""
    return dict(_named)


def source_fingerprint(sources: list[str] | None = None) -> str:
    """A hash of what the generated code depends on: this generator, construct's version and the
    source files of the shipped schemas (``sources``, default: those :func:`ship` was given). An
    unreadable file is hashed as such, so the fingerprint then matches no generated module."""
    import hashlib
    from pathlib import Path

    files = [Path(__file__).resolve(), *sorted({Path(f).resolve() for f in (_sources if sources is None else sources)})]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"construct {cs.__version__}".encode())
    for f in files:
        h.update(b"\0" + f.name.encode() + b"\0")
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


def shipped_state() -> str:
    """Whether the generated parsers are in use: "current", "stale" (a schema changed after the
    build), "absent" (not built: a source checkout) or "off"."""
    import importlib.util

    if not USE_PRECOMPILED:
        return "off"
    if importlib.util.find_spec(GENERATED_MODULE) is None:
        return "absent"
    module = importlib.import_module(GENERATED_MODULE)
    return "current" if module.FINGERPRINT == source_fingerprint() else "stale"


def _load_shipped() -> dict[int, tuple[cs.Construct, Any]]:
    """The shipped parsers by schema id; none unless current (else they are generated at runtime)."""
    if not _named or shipped_state() != "current":
        return {}
    import importlib

    parsers = importlib.import_module(GENERATED_MODULE).PARSERS
    return {id(schema): (schema, parsers[name]) for name, schema in _named.items() if name in parsers}


def precompiled_parser(schema: cs.Construct) -> Any:
    """The shipped parser of ``schema`` (a :class:`PlainParser`, or None for a schema the
    generator does not support), or ``_NOT_SHIPPED``."""
    global _shipped
    if _shipped is None:
        _shipped = _load_shipped()
    entry = _shipped.get(id(schema))
    if entry is None or entry[0] is not schema:
        return _NOT_SHIPPED
    if entry[1] is None:
        return None
    dispatch, specs = entry[1]
    return PlainParser.precompiled(schema, dispatch, specs)


def reset_shipped() -> None:
    """Forget the loaded shipped parsers (tests switch :data:`USE_PRECOMPILED`)."""
    global _shipped
    _shipped = None


def _literal(obj: Any) -> str:
    """Python source that rebuilds a constant of generated code, or :class:`Unsupported`."""
    t = type(obj)
    if t in (int, str, bool, float, bytes, type(None)):
        return repr(obj)
    if t is tuple:
        return "(" + "".join(_literal(v) + ", " for v in obj) + ")"
    if t is dict:
        if obj and all(type(v) is cs.EnumIntegerString and type(k) is int and v.intvalue == k for k, v in obj.items()):
            return f"_enum_dec({{{', '.join(f'{k!r}: {str(v)!r}' for k, v in obj.items())}}})"
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in obj.items()) + "}"
    owner = getattr(obj, "__self__", None)
    if type(owner) is struct.Struct and getattr(obj, "__name__", None) in ("unpack_from", "iter_unpack"):
        return f"_Struct({owner.format!r}).{obj.__name__}"
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if callable(obj) and module and qualname and "<" not in qualname:
        if resolve(module, qualname) is obj:
            return f"_resolve({module!r}, {qualname!r})"
    raise Unsupported(f"a constant of type {t.__name__} cannot be written out")


def resolve(module: str, qualname: str) -> Any:
    """The object named ``qualname`` in ``module`` (constants of the shipped parsers)."""
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def enum_decmapping(names: dict[int, str]) -> dict[int, cs.EnumIntegerString]:
    """An ``Enum``'s ``decmapping`` from its names (what ``_enum_ctx`` looks values up in)."""
    return {k: cs.EnumIntegerString.new(k, v) for k, v in names.items()}


def _param_candidates(parser: PlainParser) -> dict[str, list[int]]:
    """Values worth trying for each parse parameter the choices read: both sides of every
    constant in their expressions, every BDB version up to 400, the u16 extremes."""
    names: set[str] = set()
    consts: set[int] = set()

    def walk(e: Any) -> None:
        if isinstance(e, cx.Path):
            _, fields = _path_fields(e)
            if len(fields) >= 2 and fields[0] == "_params" and isinstance(fields[1], str):
                names.add(fields[1])
        elif isinstance(e, cx.BinExpr):
            walk(e.lhs)
            walk(e.rhs)
        elif isinstance(e, cx.UniExpr):
            walk(e.operand)
        elif isinstance(e, cx.FuncPath) and e._FuncPath__operand is not None:
            walk(e._FuncPath__operand)
        elif type(e) is int:
            consts.add(e)

    for node in parser.choices:
        walk(node.condfunc if type(node) is cs.IfThenElse else node.keyfunc)
    values = {0, 0xFFFF} | {c + d for c in consts for d in (-1, 0, 1) if 0 <= c + d <= 0xFFFF}
    out = {}
    for name in sorted(names):
        out[name] = sorted(values | (set(range(401)) if name == "bdb_version" else set()))
    return out


def _sweep_keys(parser: PlainParser) -> list[tuple]:
    """Every dispatch key the candidate parameter values select, in first-met order."""
    if parser.key_src is None:
        return [()]
    import itertools

    key = parser.key_function()
    cands = _param_candidates(parser)
    names = list(cands)
    keys: dict[tuple, None] = {}
    for combo in itertools.product(*(cands[n] for n in names)):
        try:
            keys.setdefault(key(dict(zip(names, combo))), None)
        except Exception:  # noqa: BLE001 -- a key the parameters cannot select
            continue
    return list(keys)


def _const_lines(consts: dict[str, Any]) -> str:
    """The statements of a factory that rebuild a generated function's constants."""
    return "".join(f"    {name} = {_literal(value)}\n" for name, value in consts.items())


def _indent(src: str, pad: str = "    ") -> str:
    return "".join(pad + line if line.strip() else line for line in src.splitlines(True))


def generate_module(schemas: dict[str, cs.Construct]) -> str:
    """The source of :data:`GENERATED_MODULE` for ``schemas`` (``{name: schema}``)."""
    out = [
        '"""Plain-data parsers of the VBT schemas, generated by igdscope.binary.plainparse from the schemas',
        "the schema modules ship (plainparse.ship). Written when the package is built; do not edit or",
        "commit it: run `python -m igdscope.schemas.plaingen` after changing a schema.",
        "",
        "FINGERPRINT is the hash of the sources these were generated from; when it does not match the",
        'installed sources, igdscope ignores this module and generates the parsers at runtime."""',
        "",
        "# fmt: off",
        "# ruff: noqa",
        "from struct import Struct as _Struct, error as struct_error",
        "",
        "from igdscope.binary.plainparse import Bail as _Bail, Short as _Short, _enum_ctx, enum_decmapping as _enum_dec, resolve as _resolve",
        "",
        f"FINGERPRINT = {source_fingerprint()!r}",
        "",
    ]
    table: list[str] = []
    n = 0
    for name, schema in schemas.items():
        try:
            parser = PlainParser(schema)
        except Unsupported:
            table.append(f"    {name!r}: None,")
            continue
        keys = _sweep_keys(parser)
        entries = []
        try:
            for key in keys:
                if key not in parser.sources:
                    parser.missing(key)
                if key not in parser.sources:  # unsupported: the specialisation gives up
                    entries.append(f"{key!r}: None")
                    continue
                n += 1
                fn = f"_s{n}"
                consts = _const_lines(parser.consts[key])
                out.append(f"def {fn}():  # {name}, key {key!r}\n{consts}{_indent(parser.sources[key])}    return parse\n\n")
                entries.append(f"{key!r}: {fn}")
            dispatch = "None"
            if parser.key_src is not None:
                n += 1
                dispatch = f"_d{n}"
                consts = _const_lines(parser.key_consts)
                out.append(f"def {dispatch}(_specs, _missing):  # {name}: which specialisation\n{consts}"
                           f"{_indent(_dispatch_source(parser.key_src))}    return parse\n\n")
        except Unsupported:
            continue  # left to runtime generation
        table.append(f"    {name!r}: ({dispatch}, {{{', '.join(entries)}}}),")
    out.append("PARSERS = {\n" + "\n".join(table) + "\n}\n")
    return "\n".join(out)


def generated_path() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent / (GENERATED_MODULE.rsplit(".", 1)[1] + ".py")
