"""The read commands write nothing: each runs in a process of its own under a Python audit hook
(sys.addaudithook) that records every open with write flags, every file-system change (rename,
unlink, mkdir, truncate, chmod, ...) and every memory mapping of a file opened for writing. On a
fake tree (plain files: the ROM is read as it is, never switched), no read command may make
any of them outside its own -o file, and the tree is byte-identical afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from igdscope.sources import demo
from tests.support.fakesys import build_tree, tree_digest

REPO = Path(__file__).resolve().parent.parent

HOOK = textwrap.dedent("""
    import json, os, sys
    sys.dont_write_bytecode = True
    sys.path.insert(0, {repo!r})
    report = os.open({report!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # before the hook
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    CHANGES = {{"os.rename", "os.replace", "os.remove", "os.unlink", "os.rmdir", "os.mkdir", "os.link", "os.symlink",
               "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile"}}
    seen = []

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            if (flags or 0) & WRITE_FLAGS or (mode and any(c in str(mode) for c in "wax+")):
                seen.append(["open", os.fsdecode(path), str(mode), flags])
        elif event in CHANGES:
            seen.append([event, *[os.fsdecode(a) if isinstance(a, (str, bytes, os.PathLike)) else repr(a) for a in args]])
        elif event == "mmap.__new__":
            fd, length, access, offset = args
            import fcntl, mmap
            writable = access == mmap.ACCESS_WRITE or (fd >= 0 and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY)
            if writable:
                seen.append(["mmap", fd, length, access, offset])

    sys.addaudithook(hook)
    ns = {{"code": None}}
    try:
        exec(compile({body!r}, "<audited>", "exec"), ns)
    except SystemExit as exc:
        ns["code"] = exc.code
    code = ns["code"]
    os.write(report, json.dumps({{"events": seen, "code": code}}).encode())
    os.close(report)
""")

CLI_BODY = "from igdscope.cli.main import main; code = main({argv!r})"

TUI_BODY = textwrap.dedent("""
        import asyncio
        from igdscope.tui import make_app, source_for
        async def drive():
            app = make_app(source_for({capture!r}, root={root!r}, guest_path={guest!r}), interval=3600)
            async with app.run_test(size=(120, 40)) as pilot:
                for key in "12345678":
                    await pilot.press(key)
                    await pilot.pause()
        asyncio.run(drive())
        code = 0
""")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    tree = build_tree(demo.host_capture(), base / "tree")
    host, guest = base / "host.json", base / "guest.json"
    host.write_text(demo.host_capture().to_json())
    guest.write_text(demo.guest_capture().to_json())
    return {"tree": tree, "host": host, "guest": guest, "base": base}


def _audited(world, tmp_path, body: str, stdin: str | None = None) -> tuple[dict, subprocess.CompletedProcess]:
    report = tmp_path / "audit-report.json"
    code = HOOK.format(repo=str(REPO), report=str(report), body=body)
    before = tree_digest(world["base"])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, errors="replace", input=stdin, timeout=300, cwd=tmp_path,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TERM": "xterm-256color"})
    assert report.exists(), r.stderr
    result = json.loads(report.read_text())
    assert tree_digest(world["base"]) == before, "the tree or the input captures changed"
    return result, r


def _only_output(events: list, output: Path | None) -> list:
    """The events that are not the command's own -o file (or its temporary file beside it)."""
    def mine(path: str) -> bool:
        p = Path(path)
        return output is not None and p.parent == output.parent and (p.name == output.name or p.name.startswith(f".{output.name}.") and p.name.endswith(".igdscope-tmp"))

    bad = []
    for e in events:
        paths = [a for a in e[1:] if isinstance(a, str) and a.startswith("/")]
        if e[0] == "open" and mine(e[1]):
            continue
        if e[0] in ("os.rename", "os.replace", "os.remove", "os.unlink", "os.link") and paths and all(mine(p) for p in paths):
            continue
        bad.append(e)
    return bad


READ_COMMANDS = {
    "dump": ["dump", "--root", "{tree}", "--gtt"],
    "dump json": ["dump", "--root", "{tree}", "--json"],
    "dump -o": ["dump", "--root", "{tree}", "--gtt", "-o", "{out}"],
    "show": ["show", "{host}"],
    "show json": ["show", "{host}", "--json"],
    "show blob": ["show", "{host}", "--blob", "opregion"],
    "check live": ["check", "--root", "{tree}"],
    "check capture": ["check", "{host}", "--vm-args", "-M pc -device vfio-pci,host=00:02.0,x-igd-legacy-mode=on"],
    "diff": ["diff", "{host}", "{guest}"],
    "extract to stdout": ["extract", "vbt", "{host}"],
    "extract -o": ["extract", "rom", "{host}", "-o", "{out}"],
    "gtt show live": ["gtt", "show", "--root", "{tree}", "--summary"],
    "gtt show range": ["gtt", "show", "--root", "{tree}", "--range", "0:8", "--json"],
    "gtt watch": ["gtt", "show", "--root", "{tree}", "--watch", "0.05", "--count", "3"],
    "gtt show capture": ["gtt", "show", "{host}", "--summary"],
    "gtt fault": ["gtt", "fault", "0x8b803000", "--root", "{tree}"],
    "gtt faults": ["gtt", "faults", "{host}"],
    "gtt invalidate dry run": ["gtt", "invalidate", "--root", "{tree}"],
}


@pytest.mark.parametrize("name", list(READ_COMMANDS))
def test_read_commands_write_nothing(world, tmp_path, name):
    out = tmp_path / "out.bin" if "-o" in READ_COMMANDS[name] else None
    argv = [a.format(tree=world["tree"], host=world["host"], guest=world["guest"], out=out) for a in READ_COMMANDS[name]]
    stdin = "DMAR: [DMA Read] Request device [00:02.0] fault addr 8b803000 [fault reason 06] PTE Read access is not set\n" if name == "gtt faults" else None
    result, r = _audited(world, tmp_path, CLI_BODY.format(argv=argv), stdin)
    assert result["code"] in (0, 1), (name, result["code"], r.stderr)
    assert _only_output(result["events"], out) == [], name
    if out is not None:
        assert out.stat().st_size > 0 and any(e[0] == "open" for e in result["events"])  # the hook does see writes


@pytest.mark.parametrize("mode", ["offline", "diff", "root"])
def test_the_tui_writes_nothing(world, tmp_path, mode):
    capture = None if mode == "root" else str(world["host"])
    guest = str(world["guest"]) if mode == "diff" else None
    body = TUI_BODY.format(capture=capture, root=str(world["tree"]) if mode == "root" else "/", guest=guest)
    result, r = _audited(world, tmp_path, body)
    assert result["code"] == 0, r.stderr[-2000:]
    assert _only_output(result["events"], None) == [], mode


def test_the_hook_sees_a_write(world, tmp_path):
    """The audit itself: a command that writes (the real invalidation, on a tree standing for
    sysfs) is seen writing: the backup and the device file opened read-write and mapped."""
    body = textwrap.dedent(f"""
        from igdscope.sources import sysfs
        from tests.support.fakesys import FakeRoot
        sysfs.Root = FakeRoot
        from igdscope.cli.main import main
        tree = {str(tmp_path / 'tree')!r}
        from igdscope.sources import demo
        from tests.support.fakesys import build_tree, tree_digest
        from pathlib import Path
        code = main(["gtt", "invalidate", "--root", tree, "--yes", "--backup", {str(tmp_path / 'b.json')!r}])
    """)
    build_tree(demo.host_capture(), tmp_path / "tree")
    result, r = _audited(world, tmp_path, body)
    assert result["code"] == 0, r.stderr
    kinds = {e[0] for e in _only_output(result["events"], None)}
    assert {"open", "mmap", "os.link"} <= kinds, kinds
