"""Text from firmware and captures, made safe for a terminal.

VBT, OpRegion and ROM text fields decode as latin-1, so they can hold any byte, and a capture
from a stranger can hold any string. Written to a terminal as they are, NUL and ETX vanish from
the line, ESC or CSI start escape sequences that move the cursor, recolour or clear the screen
or set the window title, CR rewrites the start of the line, U+202E turns the rest of it around,
and a lone surrogate (valid in JSON, not encodable in UTF-8) stops the output with an error.
igdscope writes every such character as an escape instead: ``\\xNN`` for control characters,
``\\uNNNN`` for Unicode format characters (bidi overrides and isolates, zero-width characters),
line and paragraph separators and lone surrogates.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TextIO

# C0, DEL and C1; a stream keeps what igdscope's own output uses: tab and newline
_VALUE_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_STREAM_ESCAPES = {c: e for c, e in _VALUE_ESCAPES.items() if c not in (0x09, 0x0A)}
# beyond ASCII, by the Unicode category of the running Python's database: controls, format
# characters (bidi controls, zero-width joiners, BOM, tag characters), surrogates, separators
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _escape(c: str) -> str:
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def _escape_unsafe(m: re.Match[str]) -> str:
    run = m.group()
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in run)


def _escape_non_ascii(s: str) -> str:
    return s if s.isascii() else _NON_ASCII.sub(_escape_unsafe, s)


def printable(s: str) -> str:
    """One value (a name, a string field) with every control character, newline included, and
    every unsafe non-ASCII character (see the module) written as an escape."""
    return _escape_non_ascii(s.translate(_VALUE_ESCAPES))


def printable_lines(s: str) -> str:
    """Text of several lines: like :func:`printable` but tab and newline stay."""
    return _escape_non_ascii(s.translate(_STREAM_ESCAPES))


class PrintableStream:
    """A text stream that writes control characters as escapes, except tab and newline (the line
    structure of igdscope's own output), and unsafe non-ASCII characters as ``\\uNNNN``.
    :meth:`write_control` is for igdscope's own terminal control (a progress bar's CR).
    Everything else (``buffer`` for binary output, ``isatty``, ``flush``, ``fileno``) is the
    wrapped stream's."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable_lines(text))

    def write_control(self, text: str) -> int:
        """igdscope's own output with the terminal controls it means (never capture text)."""
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def write_control(stream: Any, text: str) -> None:
    """Write igdscope's own terminal control text (a CR to redraw a progress line) to ``stream``,
    bypassing :class:`PrintableStream`'s escaping when the stream is one."""
    (getattr(stream, "write_control", None) or stream.write)(text)
