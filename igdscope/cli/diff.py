"""``igdscope diff`` as a command: read the two inputs, compare them (:mod:`igdscope.analysis.diff`),
print the differences as text or JSON, and the exit status they give."""

from __future__ import annotations

import json
import sys
from typing import Any

from igdscope.analysis import qemu
from igdscope.analysis.diff import diff, diff_files, fmt_value
from igdscope.decode.files import read_input, sniff, unknown_kind
from igdscope.errors import EXIT_FINDINGS, EXIT_OK, BadInput


def compare_paths(path_a: str, path_b: str, *, qemu_version: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """Compare two files of one kind, sniffed or given as ``kind`` (both files are read as it)."""
    if path_a == "-" and path_b == "-":
        raise BadInput("only one of A and B can be standard input")
    data_a, data_b = read_input(path_a), read_input(path_b)
    kinds = []
    for path, data in ((path_a, data_a), (path_b, data_b)):
        found = kind or sniff(data)
        if found is None:
            raise unknown_kind(path, data, ": give two captures or two VBT/OpRegion/ROM/config/lspci files, or --kind")
        kinds.append(found)
    if kinds[0] != kinds[1]:
        raise BadInput(f"{path_a} is a {kinds[0]} and {path_b} a {kinds[1]}: diff compares two captures or two files of one kind")
    if kinds[0] == "capture":
        from igdscope import capture as capmod

        res = diff(capmod.loads(data_a, path_a), capmod.loads(data_b, path_b), qemu_version=qemu_version)
    else:
        if qemu_version is not None and qemu.version(qemu_version) is None:
            raise BadInput(f"QEMU version {qemu_version!r} is not X.Y")
        res = diff_files(data_a, data_b, kinds[0], (path_a, path_b))
    res["a"]["file"] = path_a
    res["b"]["file"] = path_b
    return res


def headline(res: dict[str, Any]) -> str:
    """One line: what was compared with what, by which rules."""
    s, mode = res["summary"], res["mode"]
    if mode == "host-guest":
        qv = s.get("qemu_version")
        return (f"host versus guest, compared with QEMU {qv} ({s.get('qemu_version_from')}; rules of QEMU {s.get('qemu_rules')})" if qv
                else "host versus guest, QEMU version unknown (give --qemu-version X.Y): version-dependent items are judged loosely")
    if mode == "same-role":
        return "two captures of the same role: differences are information, except what b lost"
    return f"two {mode} files: differences are information, except what b lost"


def render(res: dict[str, Any]) -> str:
    """The result as text for people: unexpected differences first, then missing, expected, info."""
    a, b = res["a"], res["b"]
    s = res["summary"]

    def side(d: dict) -> str:
        name = d.get("file") or ""
        if d.get("kind") == "capture":
            what = f"{d.get('machine')} capture" + (f", IGD {d['igd']}" if d.get("igd") else "")
        else:
            what = f"{d.get('kind')} file, {d.get('bytes')} bytes" + (f", {d['device']}" if d.get("device") else "")
        return f"{name} ({what})" if name else what

    lines = [f"A: {side(a)}", f"B: {side(b)}", headline(res)]
    groups = [("unexpected", "UNEXPECTED"), ("expected", "EXPECTED"), ("info", "INFO")]
    for lab, title in groups:
        items = [d for d in res["differences"] if d["label"] == lab]
        if not items:
            continue
        lines.append("")
        lines.append(f"{title} ({len(items)})")
        for d in items:
            ctx = d.get("context") or {}
            va = fmt_value(d["a"], d["path"]) + (f" [{ctx['a']}]" if ctx.get("a") else "")
            vb = fmt_value(d["b"], d["path"]) + (f" [{ctx['b']}]" if ctx.get("b") else "")
            lines.append(f"  {'!' if lab == 'unexpected' else ('=' if lab == 'expected' else '-')} {d['path']}: {va} -> {vb}")
            lines.append(f"      why: {d['why']}")
            if d.get("breaks"):
                lines.append(f"      breaks: {d['breaks']}")
    if res.get("checked"):
        lines.append("")
        lines.append(f"CHECKED ({len(res['checked'])})")
        for c in res["checked"]:
            lines.append(f"  + {c['path']}: {fmt_value(c.get('value'), c['path'])}")
            lines.append(f"      {c['what']}")
    if res.get("missing_in_b"):
        lines.append("")
        lines.append("missing in B: " + ", ".join(res["missing_in_b"]))
    if res.get("missing_in_a"):
        lines.append("missing in A: " + ", ".join(res["missing_in_a"]))
    lines.append("")
    lines.append(f"{s['verdict']}: {s['unexpected']} unexpected, {s['expected']} expected, {s['info']} info")
    return "\n".join(lines) + "\n"


def exit_code(res: dict[str, Any]) -> int:
    return EXIT_FINDINGS if res["summary"]["unexpected"] else EXIT_OK


def run(path_a: str, path_b: str, *, as_json: bool = False, qemu_version: str | None = None, kind: str | None = None) -> int:
    """``igdscope diff A B``: print the comparison (text, or JSON with ``as_json``); 0 when nothing
    unexpected differs, 1 otherwise. Unreadable or mismatched input raises :class:`BadInput`."""
    res = compare_paths(path_a, path_b, qemu_version=qemu_version, kind=kind)
    if as_json:
        sys.stdout.write(json.dumps(res, indent=1) + "\n")
    else:
        sys.stdout.write(render(res))
    return exit_code(res)
