"""Reads the reference decodes intel-gpu-tools printed (``intel_vbt_decode`` and
``intel_opregion_decode`` output, the ``*.igt.txt`` files beside the corpus) into sections of
indented ``key: value`` lines, so parity tests can compare field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = re.compile(r"^BDB block (\d+) \((\d+) bytes\) - (.*):$")
BLOCK_TITLE = re.compile(r"^BDB block (\d+) \((\d+) bytes(?:, min \d+ bytes)?\) - (.*)$")  # igt 1.27.1 or newer


@dataclass
class Section:
    title: str
    block_id: int | None = None
    size: int | None = None
    name: str = ""
    lines: list[tuple[int, str]] = field(default_factory=list)  # (tab depth, text)

    def pairs(self, depth: int | None = None) -> list[tuple[str, str]]:
        """(key, value) of every ``key: value`` line (at ``depth`` tabs if given)."""
        out = []
        for d, text in self.lines:
            if depth is not None and d != depth:
                continue
            kv = split_kv(text)
            if kv:
                out.append(kv)
        return out

    def get(self, key: str, depth: int | None = None) -> str | None:
        for k, v in self.pairs(depth):
            if k == key:
                return v
        return None

    def groups(self, start_key: str) -> list[list[tuple[int, str]]]:
        """Split the lines into groups each starting at a line whose key is ``start_key``
        (e.g. one group per child device, starting at "Device handle")."""
        groups: list[list[tuple[int, str]]] = []
        for d, text in self.lines:
            kv = split_kv(text)
            if kv and kv[0] == start_key:
                groups.append([])
            if groups:
                groups[-1].append((d, text))
        return groups


def split_kv(text: str) -> tuple[str, str] | None:
    if ":" not in text:
        return None
    k, v = text.split(":", 1)
    return k.strip(), v.strip()


@dataclass
class IgtDecode:
    sections: list[Section]
    other: list[str]  # lines outside any section (warnings igt printed to stderr)

    def section(self, title: str) -> Section | None:
        return next((s for s in self.sections if s.title == title), None)

    @property
    def blocks(self) -> dict[int, Section]:
        out: dict[int, Section] = {}
        for s in self.sections:
            if s.block_id is not None and s.block_id not in out:
                out[s.block_id] = s
        return out

    @property
    def blocks_present(self) -> list[int]:
        s = self.section("BDB blocks present")
        if s is None:
            return []
        return [int(x) for _, text in s.lines for x in text.split()]


def parse(text: str) -> IgtDecode:
    sections: list[Section] = []
    other: list[str] = []
    cur: Section | None = None
    for raw in text.splitlines():
        if not raw.strip():
            cur = None if cur is not None and not cur.lines else cur
            continue
        if not raw.startswith("\t"):
            m = BLOCK.match(raw)
            if m:
                cur = Section(raw[:-1], int(m.group(1)), int(m.group(2)), m.group(3))
                sections.append(cur)
                continue
            if raw.endswith(":") and not raw.startswith(" "):
                cur = Section(raw[:-1])
                sections.append(cur)
                continue
            other.append(raw)
            continue
        depth = len(raw) - len(raw.lstrip("\t"))
        if cur is None:
            other.append(raw)
        else:
            cur.lines.append((depth, raw.strip()))
    return IgtDecode(sections, other)


def load(path: Path) -> IgtDecode:
    return parse(path.read_text(errors="replace"))


def int_of(value: str) -> int:
    """The number at the start of an igt value: "0x10cc (4300)" -> 0x10cc, "209" -> 209."""
    tok = value.split()[0]
    return int(tok, 16) if tok.lower().startswith("0x") else int(tok)


def igt_sections(text: str) -> dict[str, dict[str, str]]:
    """``{section title: {field: value}}`` from intel_opregion_decode's output."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line and not line.startswith("\t") and line.endswith(":"):
            current = sections.setdefault(line[:-1], {})
        elif current is not None and line.startswith("\t"):
            m = re.match(r"\t+([^:\t]+):\s*(.*)$", line)
            if m:
                current[m.group(1).strip()] = m.group(2).strip()
    return sections


def igt_blocks(text: str) -> dict[int, Section]:
    """Block sections of an intel_vbt_decode output, 1.27.1 or newer title format (first copy)."""
    out: dict[int, Section] = {}
    for s in parse(text).sections:
        m = BLOCK_TITLE.match(s.title)
        if m and int(m.group(1)) not in out:
            out[int(m.group(1))] = s
    return out
