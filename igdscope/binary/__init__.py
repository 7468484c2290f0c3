"""The one boundary out of construct.

``decode()`` parses bytes with a schema and turns every construct error into a
:class:`DecodeError` carrying the field path; ``to_plain()`` turns a parsed container into plain
data (dicts, lists, ints, strings) without construct's private keys, with enums rendered as
``{"value": int, "name": str}`` so scripts keep the integer and people get the meaning.
``decode_plain()`` is the two in one, through a parser generated from the schema
(:mod:`igdscope.binary.plainparse`) when the input suits it, with the same result.
"""

from __future__ import annotations

import enum
import os
import struct
from typing import Any

import construct as cs

from igdscope.binary.giveup import Bail, Short
from igdscope.errors import BadInput


class DecodeError(BadInput):
    """A schema did not fit the bytes. ``path`` names the field, ``offset`` the byte if known."""

    def __init__(self, what: str, message: str, path: str = "", offset: int | None = None):
        self.what = what
        self.path = path
        self.offset = offset
        where = f" at {path}" if path else ""
        at = f" (byte {offset:#x})" if offset is not None else ""
        super().__init__(f"{what}: {message}{where}{at}")


def _construct_path(exc: cs.ConstructError) -> str:
    path = getattr(exc, "path", None) or ""
    # construct writes "(parsing) -> field -> sub"; keep the field names only.
    parts = [p.strip() for p in str(path).split("->")]
    parts = [p for p in parts if p and not p.startswith("(")]
    return ".".join(parts)


def decode(schema: cs.Construct, data: bytes, what: str, **context: Any) -> cs.Container:
    """Parse ``data`` with ``schema``; raise :class:`DecodeError` naming ``what`` on failure."""
    try:
        return schema.parse(data, **context)
    except cs.StreamError as exc:
        raise DecodeError(what, f"truncated ({len(data)} bytes)", _construct_path(exc)) from None
    except cs.ConstructError as exc:
        msg = str(exc).splitlines()[-1].strip()  # the first line is construct's path
        raise DecodeError(what, msg or type(exc).__name__, _construct_path(exc)) from None


def build(schema: cs.Construct, value: Any, what: str, **context: Any) -> bytes:
    """Build bytes from ``value``; construct errors become :class:`DecodeError` too."""
    try:
        return schema.build(value, **context)
    except cs.ConstructError as exc:
        raise DecodeError(what, f"cannot build: {str(exc).splitlines()[-1]}", _construct_path(exc)) from None


_SCALARS = frozenset({int, bool, str, float, type(None)})  # exact types that are plain already
_DICTS = frozenset({cs.Container, dict})
_LISTS = frozenset({cs.ListContainer, list, tuple})


def to_plain(obj: Any) -> Any:
    """Plain JSON-able data from a construct result (drops ``_io``, ``_``-prefixed keys)."""
    cls = obj.__class__
    if cls in _SCALARS:
        return obj
    if cls in _DICTS:  # Container is a dict; FlagsEnum results are Containers of bools
        out = {}
        for k, v in obj.items():
            if k.__class__ is not str:
                k = str(k)
            if not k.startswith("_"):
                out[k] = v if v.__class__ in _SCALARS else to_plain(v)
        return out
    if cls in _LISTS:
        return [v if v.__class__ in _SCALARS else to_plain(v) for v in obj]
    if cls is bytes:
        return obj.hex()
    return _to_plain_other(obj)


def _to_plain_other(obj: Any) -> Any:
    # enum strings and subclasses of the types above (an EnumIntegerString is a str)
    if isinstance(obj, cs.EnumIntegerString):
        return {"value": int(obj), "name": str(obj)}
    if isinstance(obj, cs.EnumInteger):
        return {"value": int(obj), "name": None}
    if isinstance(obj, enum.Enum):
        return {"value": obj.value, "name": obj.name}
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    return obj


# -- the generated parsers ---------------------------------------------------------------------------

# IGDSCOPE_INTERPRETED=1 turns the generated parsers off (every decode goes through construct).
PLAIN_PARSERS = os.environ.get("IGDSCOPE_INTERPRETED", "") in ("", "0")
MAX_PLAIN_INPUT = 1 << 20  # larger inputs go through construct
_MAX_SCHEMAS = 512  # generated parsers kept at most (schemas are module-level objects)
_parsers: dict[int, tuple[cs.Construct, Any]] = {}

# what generated code raises when it leaves an input to the interpreted parser (a short read, a
# check construct would fail, a value it does not reproduce); anything else is a bug and propagates
_GIVE_UP = (Bail, Short, struct.error)


def plain_parser(schema: cs.Construct) -> Any:
    """The generated parser of ``schema`` (``parse(data, params)``, made at its first use), or None."""
    entry = _parsers.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    if len(_parsers) >= _MAX_SCHEMAS:
        return None
    from igdscope.binary.plainparse import compile_plain

    parser = compile_plain(schema)
    _parsers[id(schema)] = (schema, parser.parse if parser is not None else None)
    return _parsers[id(schema)][1]


def decode_plain(schema: cs.Construct, data: bytes, what: str, **context: Any) -> Any:
    """``to_plain(decode(schema, data, what, **context))``, computed by the schema's generated
    parser when there is one and the input is bytes of at most :data:`MAX_PLAIN_INPUT`. The
    generated code checks every read and gives up (Bail, Short, struct.error) on anything it does
    not reproduce exactly; the interpreted parser then decodes (and raises :class:`DecodeError`
    with the field path). Any other exception from generated code is a bug: it is not hidden."""
    if PLAIN_PARSERS and data.__class__ is bytes and len(data) <= MAX_PLAIN_INPUT:
        entry = _parsers.get(id(schema))
        parse = entry[1] if entry is not None and entry[0] is schema else plain_parser(schema)
        if parse is not None:
            try:
                return parse(data, context)
            except _GIVE_UP:  # the generated code left this input to the interpreted parser
                pass
    return to_plain(decode(schema, data, what, **context))
