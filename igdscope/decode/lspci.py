"""Read ``lspci -x``/``-xxx``/``-xxxx`` hex dumps, the form people paste into bug reports.

Tolerates what pasted text carries: comment and prompt lines, lspci's decoded lines, mail quote
prefixes (``> ``), ``-D`` domains, numeric (``-n``) device lines, partial dumps. Each device block is
its device line followed by ``OFF: xx xx ...`` rows; rows must be contiguous from offset 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEVICE_LINE = re.compile(r"^(?:(?P<dom>[0-9a-fA-F]{4}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-1][0-9a-fA-F])\.(?P<fn>[0-7])\s+(?P<rest>\S.*)$")
HEX_ROW = re.compile(r"^(?P<off>[0-9a-fA-F]{2,3}):(?P<bytes>(?:\s+[0-9a-fA-F]{2}){1,16})\s*$")
QUOTE = re.compile(r"^(?:\s*>)+\s?")
MAX_TEXT = 8 << 20


@dataclass
class LspciDevice:
    bdf: str
    description: str
    data: bytes = b""
    findings: list[str] = field(default_factory=list)


def looks_like_lspci(text: str) -> bool:
    rows = 0
    for line in text.splitlines()[:4000]:
        line = QUOTE.sub("", line).strip()
        if HEX_ROW.match(line) and line.lower().startswith(("00:", "000:")):
            rows += 1
    return rows > 0


def parse(text: str) -> list[LspciDevice]:
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    devices: list[LspciDevice] = []
    cur: LspciDevice | None = None
    expect = 0
    closed = False
    for raw in text.splitlines():
        line = QUOTE.sub("", raw).rstrip()
        stripped = line.strip()
        if not stripped:
            if cur is not None and cur.data:
                closed = True
            continue
        m = DEVICE_LINE.match(stripped)
        if m and not HEX_ROW.match(stripped):
            dom = (m.group("dom") or "0000").lower()
            cur = LspciDevice(f"{dom}:{m.group('bus').lower()}:{m.group('dev').lower()}.{m.group('fn')}", m.group("rest"))
            devices.append(cur)
            expect = 0
            closed = False
            continue
        h = HEX_ROW.match(stripped)
        if h is None or cur is None or closed:
            continue
        off = int(h.group("off"), 16)
        row = bytes(int(b, 16) for b in h.group("bytes").split())
        if off != expect:
            if not any("not contiguous" in f for f in cur.findings):
                cur.findings.append(f"hex rows not contiguous at {off:#x} (expected {expect:#x}); kept the first {expect} bytes")
            closed = True
            continue
        if len(row) != 16:
            cur.findings.append(f"short row at {off:#x} ({len(row)} bytes); dump ends there")
            cur.data += row
            closed = True
            continue
        cur.data += row
        expect += 16
        if expect >= 4096:
            closed = True
    return [d for d in devices if d.data]
