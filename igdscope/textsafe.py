"""Text from firmware and captures, made safe for a terminal.

VBT, OpRegion and ROM text fields decode as latin-1, so they can hold any byte, and a capture
from a stranger can hold any string. Written to a terminal as they are, NUL and ETX vanish from
the line, and ESC or CSI start escape sequences that move the cursor, recolour or clear the
screen, or set the window title. igdscope writes every control character of such text as a
``\\xNN`` escape instead.
"""

from __future__ import annotations

from typing import Any, TextIO

# C0, DEL and C1; a stream keeps what igdscope's own output uses: tab, newline, carriage return
_VALUE_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_STREAM_ESCAPES = {c: e for c, e in _VALUE_ESCAPES.items() if c not in (0x09, 0x0A, 0x0D)}


def printable(s: str) -> str:
    """One value (a name, a string field) with every control character, newline included,
    written as a ``\\xNN`` escape."""
    return s.translate(_VALUE_ESCAPES)


class PrintableStream:
    """A text stream that writes control characters as ``\\xNN`` escapes, except tab, newline and
    carriage return (the line structure of igdscope's own output). Everything else (``buffer``
    for binary output, ``isatty``, ``flush``, ``fileno``) is the wrapped stream's."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text.translate(_STREAM_ESCAPES))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
