"""construct helpers shared by the firmware schemas (OpRegion, VBT): fixed-size text, raw bytes
that build back from their hex rendering, flag sets that keep unnamed bits, zero templates."""

from __future__ import annotations

import zlib
from typing import Any

import construct as cs

from igdscope.binary.plainparse import Val, flags_value


class Text(cs.Adapter):
    """A fixed-size text field padded with NULs (``u8 name[n]`` holding a string).

    Parses to ``str`` (latin-1, trailing NULs dropped) and builds from ``str`` or ``bytes``,
    padding with NULs again. latin-1 maps every byte to one character, so parse -> build gives
    the same bytes for any content, printable or not.
    """

    def __init__(self, length: int):
        super().__init__(cs.Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return obj.rstrip(b"\0").decode("latin-1")

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        if isinstance(obj, str):
            try:
                raw = obj.encode("latin-1")
            except UnicodeEncodeError:
                raise cs.StringError(f"text {obj!r} has characters outside latin-1", path=path) from None
        elif isinstance(obj, (bytes, bytearray)):
            raw = bytes(obj)
        else:
            raise cs.StringError(f"expected text or bytes, got {type(obj).__name__}", path=path)
        if len(raw) > self.length:
            raise cs.StringError(f"text of {len(raw)} bytes does not fit in {self.length}", path=path)
        return raw.ljust(self.length, b"\0")

    def _emitplainvalue(self, gen, sub, scope):  # the generated plain parser (igdscope.plainparse)
        code = f"{sub.ctx}.rstrip(b'\\x00').decode('latin-1')"
        return Val(code, code)


class Raw(cs.Adapter):
    """Raw bytes (``Bytes(n)`` or ``GreedyBytes`` when ``length`` is None) that also build from the
    hex string :func:`~igdscope.decode.to_plain` renders bytes as, so plain data builds back.
    With a fixed integer length, shorter values are padded with zeros when building."""

    def __init__(self, length: Any = None):
        super().__init__(cs.GreedyBytes if length is None else cs.Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return obj

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        if isinstance(obj, str):
            try:
                obj = bytes.fromhex(obj)
            except ValueError:
                raise cs.MappingError(f"not a hex string: {obj[:40]!r}", path=path) from None
        if isinstance(self.length, int) and isinstance(obj, (bytes, bytearray)) and len(obj) < self.length:
            obj = bytes(obj).ljust(self.length, b"\0")
        return obj

    def _emitplainvalue(self, gen, sub, scope):  # bytes as they are (hex in plain data)
        return sub


class Flags(cs.FlagsEnum):
    """``FlagsEnum`` that does not lose bits it has no name for.

    Bits outside the named flags are kept as an integer under ``reserved_bits`` when parsing and
    OR-ed back in when building, so parse -> build is exact for every value.
    """

    def __init__(self, subcon: cs.Construct, **flags: int):
        super().__init__(subcon, **flags)
        known = 0
        for value in flags.values():
            known |= value
        self.known_mask = known

    def _decode(self, obj: int, context: Any, path: str) -> cs.Container:
        out = super()._decode(obj, context, path)
        out["reserved_bits"] = obj & ~self.known_mask
        return out

    def _encode(self, obj: Any, context: Any, path: str) -> int:
        if isinstance(obj, dict):
            extra = obj.get("reserved_bits") or 0
            named = {k: v for k, v in obj.items() if k != "reserved_bits"}
            return super()._encode(named, context, path) | int(extra)
        return super()._encode(obj, context, path)

    def _emitparse(self, code: Any) -> str:  # the inherited emitter would drop reserved_bits
        raise NotImplementedError

    def _emitbuild(self, code: Any) -> str:
        raise NotImplementedError

    def _emitplainvalue(self, gen: Any, sub: Any, scope: Any) -> Any:  # the named flags, then reserved_bits
        return flags_value(self, self.known_mask)(gen, sub, scope)


def byte_sum(data: bytes) -> int:
    """``sum(data)`` at C speed, for checksums over whole images. zlib's Adler-32 keeps 1 + the
    byte sum modulo 65521 in its low half, which is the exact sum for up to 256 bytes (at most
    1 + 256 * 255 = 65281); longer data is summed in 256-byte pieces."""
    view = memoryview(data).cast("B")
    adler = zlib.adler32
    return sum([(adler(view[i : i + 256]) & 0xFFFF) - 1 for i in range(0, len(view), 256)])


def zero_value(schema: cs.Construct, size: int, **context: Any) -> Any:
    """The value ``schema`` parses from ``size`` zero bytes: a complete template for building."""
    return schema.parse(bytes(size), **context)


def merge_values(base: Any, values: Any) -> Any:
    """Overlay plain ``values`` on a parsed ``base`` (dicts by key, lists element by element).

    Keys of ``values`` that ``base`` lacks are kept (construct ignores unknown keys when
    building); a list shorter than the base list changes only its first elements.
    """
    if isinstance(base, dict) and isinstance(values, dict):
        out = cs.Container(base)
        for key, value in values.items():
            out[key] = merge_values(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(values, (list, tuple)) and len(values) <= len(base):
        merged = [merge_values(b, v) for b, v in zip(base, values)]
        return cs.ListContainer(merged + list(base[len(values):]))
    return values
