"""The layering rules, read from every import in the package (module level and inside functions):

    leaves     errors, textsafe, platforms, capture, outfile
    binary/    the one boundary out of construct
    schemas/   construct schemas, one module per format
    decode/    bytes -> plain data; a capture -> its decoded model
    sources/   every live read (and the demo machine)
    analysis/  check, diff, the QEMU model, VM configs, DMAR, the GGTT write path
    cli/ tui/  presentation

A module imports only from its own layer or the layers above it in this list; no import cycle;
only tui/ imports textual (and rich); only binary/ and schemas/ import construct; the write path
is imported only by the gtt command and the TUI's GTT screens; tui/ holds no sysfs, debugfs, procfs
or /dev path (it shows what sources/ read)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "igdscope"
LAYERS = {
    "errors": 0, "textsafe": 0, "platforms": 1, "capture": 1, "outfile": 1,
    "binary": 2, "schemas": 3, "decode": 4, "sources": 5, "analysis": 6, "cli": 7, "tui": 7,
}
WRITE_PATH = "igdscope.analysis.invalidate"
WRITE_PATH_USERS = ("igdscope.cli.gtt", "igdscope.tui.screens.gtt", "igdscope.tui.screens.invalidate")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, resolved to igdscope modules where it
    names one (``from igdscope.x import y`` is igdscope.x.y when that is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub if sub in MODULES else base, node.lineno))
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(mod: str) -> int | None:
    parts = mod.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 and parts[0] == "igdscope" else None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "igdscope" and m != "igdscope.__main__" and _layer(m) is None and not m.startswith("igdscope.__")] == []


def test_no_module_imports_from_a_layer_below_it():
    bad = []
    for mod, imports in GRAPH.items():
        mine = _layer(mod)
        if mine is None:
            continue
        for target, line in imports:
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                bad.append(f"{MODULES[mod].relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert bad == []


def test_no_import_cycle():
    edges = {m: sorted({t for t, _ in imps if t in MODULES and t != m}) for m, imps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in edges:
        if m not in index:
            visit(m)
    # a package's __init__ importing its own submodules is no cycle of ideas; every other is
    assert cycles == []


@pytest.mark.parametrize("library, allowed", [
    ("textual", ("igdscope.tui",)),
    ("rich", ("igdscope.tui",)),
    ("construct", ("igdscope.binary", "igdscope.schemas")),
])
def test_only_its_layer_imports_a_library(library, allowed):
    bad = [f"{m}:{line}" for m, imps in GRAPH.items() for t, line in imps
           if (t == library or t.startswith(library + ".")) and not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert bad == []


def test_the_write_path_is_imported_only_where_a_write_is_asked_for():
    users = sorted({m for m, imps in GRAPH.items() for t, _ in imps if t == WRITE_PATH})
    assert set(users) <= set(WRITE_PATH_USERS), users


# A string that is a path into the machine: the TUI shows what sources/ read and never reads itself.
MACHINE_PATHS = ("/sys/", "sys/", "/dev/", "dev/", "/proc/", "proc/")
DEBUGFS = "sys/kernel/debug"


def machine_path_literals(path: Path) -> list[str]:
    """``line: text`` of every string constant (f-string pieces too) in the file that is a sysfs,
    debugfs, procfs or /dev path, and of every use of sources.sysfs's path constants."""
    tree = ast.parse(path.read_text(), str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith(MACHINE_PATHS) or DEBUGFS in text:
                bad.append(f"{node.lineno}: {text[:60]!r}")
        elif isinstance(node, ast.ImportFrom) and node.module == "igdscope.sources.sysfs":
            bad += [f"{node.lineno}: imports {a.name}" for a in node.names if a.name.isupper()]
    return bad


def test_the_tui_holds_no_machine_paths():
    bad = {m: found for m, p in MODULES.items() if m.startswith("igdscope.tui") for found in [machine_path_literals(p)] if found}
    assert bad == {}


def test_the_machine_path_rule_finds_what_it_forbids(tmp_path):
    reader = tmp_path / "reader.py"
    reader.write_text('from igdscope.sources.sysfs import PCI_DEVICES, Root\n'
                      'def f(root, bdf, dri):\n'
                      '    root.read_attr(f"{PCI_DEVICES}/{bdf}/power/runtime_status")\n'
                      '    return root.read_bytes(f"sys/kernel/debug/dri/{dri}/i915_opregion"), "/dev/mem"\n'
                      'HELP = "as root, igdscope reads /sys/bus/pci/devices/<IGD>/rom"\n')
    assert sorted(machine_path_literals(reader)) == ["1: imports PCI_DEVICES", "4: '/dev/mem'", "4: 'sys/kernel/debug/dri/'"]
