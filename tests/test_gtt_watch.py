"""``igdscope gtt show --watch`` on fake sysfs trees: the fake resource0 is changed between ticks
by a stand-in for the watch's sleep (with a fake clock, so no test waits or times anything), and
the reported changes are checked against the values written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from igdscope.cli import main
from igdscope.sources import gttwatch
from igdscope.schemas import gtt as G
from igdscope.sources import demo, live
from igdscope.sources.sysfs import Root
from tests.support.fakesys import build_tree

GTT_OFFSET = 8 << 20  # the demo IGD: 16 MiB BAR0, GGTT in its upper half
ADDR_MASK = 0x3FFF_FFFF_F000  # gen8 PTE address bits 45:12


@pytest.fixture
def tree(tmp_path):
    return build_tree(demo.host_capture(), tmp_path / "root")


def resource0(tree: Path) -> Path:
    return tree / "sys/devices/pci0000:00/0000:00:02.0/resource0"


def write_entries(tree: Path, first: int, values: list[int]) -> None:
    with open(resource0(tree), "r+b") as fh:
        fh.seek(GTT_OFFSET + first * 8)
        fh.write(b"".join(v.to_bytes(8, "little") for v in values))


def entry(data: bytes, i: int) -> int:
    return int.from_bytes(data[i * 8 : i * 8 + 8], "little")


class FakeTime:
    """The watch's clock and sleep: sleeping advances the clock, then runs the next scripted
    action (changing the fake device) - what happens "between ticks"."""

    def __init__(self, actions=()):
        self.now = 1000.0
        self.actions = list(actions)
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.sleeps += 1
        if self.actions:
            action = self.actions.pop(0)
            if action is not None:
                action()


@pytest.fixture
def fake_time(monkeypatch):
    def install(actions=()):
        t = FakeTime(actions)
        monkeypatch.setattr(gttwatch, "CLOCK", t.clock)
        monkeypatch.setattr(gttwatch, "SLEEP", t.sleep)
        return t

    return install


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = main.main(["gtt", "show", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_changes_between_ticks_are_reported_with_old_and_new_values(tree, fake_time, capsys):
    before = demo.gtt()
    new_page = (0x1_2345_6000) | 1
    fake_time([
        lambda: write_entries(tree, 5, [0, 0, 0]),  # three entries cleared
        None,  # a tick where nothing changes: no event
        lambda: write_entries(tree, 4096, [0] * 4096),  # a big change: counted, not listed entry by entry
        lambda: write_entries(tree, 1000, [new_page]),  # remapped
    ])
    rc, out, err = run_cli(capsys, "--root", str(tree), "--watch", "0.1", "--count", "5", "--json")
    assert rc == 0 and err == ""
    ev = events(out)
    assert [e["event"] for e in ev] == ["start", "change", "change", "change", "stop"]
    start, small, big, remap, stop = ev
    assert start["device"] == "0000:00:02.0" and start["format"] == "gen8" and start["entries"] == 1 << 20 and start["interval"] == 0.1
    assert small["tick"] == 2 and small["changed"] == 3 and small["runs"] == [{"first": 5, "entries": 3}] and small["runs_total"] == 1
    assert [(e["index"], e["old"], e["new"]) for e in small["entries"]] == [(i, entry(before, i), 0) for i in (5, 6, 7)]
    for e in small["entries"]:
        assert e["old_address"] == e["old"] & ADDR_MASK and e["old_present"] is True
        assert e["new_address"] == 0 and e["new_present"] is False
    assert big["tick"] == 4 and big["changed"] == 4096 and big["runs"] == [{"first": 4096, "entries": 4096}] and big["entries"] == []
    assert remap["changed"] == 1 and remap["entries"] == [{
        "index": 1000, "old": entry(before, 1000), "new": new_page, "old_address": entry(before, 1000) & ADDR_MASK,
        "old_present": bool(entry(before, 1000) & 1), "new_address": 0x1_2345_6000, "new_present": True,
    }]
    assert stop == {**stop, "reason": "count", "ticks": 5, "changes": 3, "changed_entries": 4100, "overruns": 0, "skipped_slots": 0}
    assert all(set(e) >= {"event", "time", "tick"} for e in ev[:-1])


def test_text_lines(tree, fake_time, capsys):
    before = demo.gtt()

    def every_other():
        for i in range(200, 220, 2):
            write_entries(tree, i, [0])

    fake_time([
        lambda: write_entries(tree, 5, [0, 0, 0]),
        lambda: write_entries(tree, 100, [0] * 40),
        every_other,  # ten runs of one entry: eight written out, the rest counted
    ])
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--count", "4")
    lines = out.splitlines()
    assert rc == 0
    assert lines[0].startswith("watching the GGTT of 0000:00:02.0 (CFL, gen8 PTEs, 1048576 entries) every 0.1 s through ")
    assert lines[0].endswith("resource0 (read-only); Ctrl-C stops")
    assert lines[1][:12].count(":") == 2 and lines[1][8] == "."  # HH:MM:SS.mmm
    assert lines[1][12:] == "  3 entries changed: 5-7"
    for k, i in enumerate((5, 6, 7)):
        old = entry(before, i)
        assert lines[2 + k] == f"    entry {i}  {old:#018x} ({old & ADDR_MASK:#x}, present) \u2192 0x0000000000000000 (0x0, not present)"
    assert lines[5][12:] == "  40 entries changed: 100-139"  # more than 8: no entry lines
    assert lines[6][12:] == "  10 entries changed: 200, 202, 204, 206, 208, 210, 212, 214 \u2026 and 2 more"
    assert len(lines) == 8
    assert lines[7].startswith("stopped (--count reached) after 4 ticks in ")
    assert lines[7].endswith(": 3 changes (53 entries), slowest tick " + lines[7].split("slowest tick ")[1].split(" ms")[0] + " ms, 0 overruns")


def test_count_and_nothing_changing(tree, fake_time, capsys):
    t = fake_time()
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "0.5", "--count", "1", "--json")
    ev = events(out)
    assert rc == 0 and [e["event"] for e in ev] == ["start", "stop"] and ev[1]["ticks"] == 1 and t.sleeps == 0
    t = fake_time()
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "0.5", "--count", "7", "--json")
    ev = events(out)
    assert [e["event"] for e in ev] == ["start", "stop"] and ev[1]["ticks"] == 7 and ev[1]["changes"] == 0 and t.sleeps == 6
    assert ev[1]["seconds"] == 3.0  # six slots of 0.5 s on the fake clock


def test_range_watches_only_those_entries(tree, fake_time, capsys):
    fake_time([lambda: write_entries(tree, 10, [0] * 30)])
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--range", "20:0x20", "--count", "2", "--json")
    start, change, stop = events(out)
    assert start["first"] == 20 and start["entries"] == 12
    assert change["changed"] == 12 and change["runs"] == [{"first": 20, "entries": 12}]


def test_device_gone_and_back(tree, fake_time, capsys):
    before = demo.gtt()
    res = resource0(tree)
    away = res.with_name("resource0.away")

    def replace_with_a_copy():  # the device removed and found again: a new resource0
        data = res.read_bytes()
        res.unlink()
        res.write_bytes(data)

    fake_time([
        lambda: res.rename(away),  # gone
        None,  # still gone: no second line
        lambda: (write_entries_at(away, 3, 0), away.rename(res)),  # back, with entry 3 changed meanwhile
        replace_with_a_copy,  # gone (another file now) ...
        None,  # ... and back on the next tick, nothing changed
        lambda: write_entries(tree, 9, [0]),  # an ordinary change after all that
    ])
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--count", "7", "--json")
    ev = events(out)
    assert rc == 0
    assert [e["event"] for e in ev] == ["start", "gone", "back", "gone", "back", "change", "stop"]
    assert ev[1]["tick"] == 2 and ev[1]["reason"].endswith("resource0: does not exist")
    assert ev[2]["tick"] == 4 and ev[2]["changed"] == 1 and ev[2]["entries"][0]["index"] == 3
    assert ev[2]["entries"][0]["old"] == entry(before, 3) and ev[2]["entries"][0]["new"] == 0
    assert ev[3]["tick"] == 5 and "is a new file" in ev[3]["reason"]
    assert ev[4]["tick"] == 6 and ev[4]["changed"] == 0
    assert ev[5]["tick"] == 7 and ev[5]["runs"] == [{"first": 9, "entries": 1}]
    assert ev[6]["changes"] == 2 and ev[6]["changed_entries"] == 2


def write_entries_at(path: Path, first: int, value: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(GTT_OFFSET + first * 8)
        fh.write(value.to_bytes(8, "little"))


def test_gone_and_back_in_text(tree, fake_time, capsys):
    res = resource0(tree)
    away = res.with_name("resource0.away")
    fake_time([lambda: res.rename(away), lambda: away.rename(res)])
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--count", "3")
    lines = out.splitlines()
    assert lines[1][12:] == "  device gone: /sys/bus/pci/devices/0000:00:02.0/resource0: does not exist; polling until it returns"
    assert lines[2][12:] == "  device back; no entry differs from the last read before it went"


def test_one_read_only_mapping_across_ticks(tree, fake_time, capsys, monkeypatch):
    opened = []
    real_open = os.open

    def spy_open(path, flags, *a, **kw):
        if str(path).endswith("resource0"):
            opened.append(flags)
        return real_open(path, flags, *a, **kw)

    maps = []
    real_mapping = live.GttMapping

    class Counted(real_mapping):
        def __init__(self, *a, **kw):
            maps.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(live.os, "open", spy_open)
    monkeypatch.setattr(live, "GttMapping", Counted)
    res = resource0(tree)
    fake_time([lambda: write_entries(tree, 1, [0])] + [None] * 5 + [lambda: res.rename(res.with_name("x")), lambda: res.with_name("x").rename(res)])
    want = bytearray(res.read_bytes())
    want[GTT_OFFSET + 8 : GTT_OFFSET + 16] = bytes(8)  # the one change the test makes
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--count", "12", "--json")
    assert rc == 0 and [e["event"] for e in events(out)] == ["start", "change", "gone", "back", "stop"]
    assert len(maps) == 2  # one mapping for the first nine ticks, one more after the device came back
    assert opened and all(f & os.O_ACCMODE == os.O_RDONLY for f in opened)
    assert res.read_bytes() == want  # the watch wrote nothing


def test_slow_tick_skips_slots_and_counts_an_overrun(tree, fake_time, capsys, monkeypatch):
    t = fake_time()
    real_read = gttwatch.Watch._read
    reads = []

    def slow_read(self):
        reads.append(t.now)
        if len(reads) == 3:
            t.now += 1.0  # the third read (the second tick after the baseline) takes 1 s: four slots of 0.25 s
        real_read(self)

    monkeypatch.setattr(gttwatch.Watch, "_read", slow_read)
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "0.25", "--count", "5", "--json")
    stop = events(out)[-1]
    assert rc == 0 and stop["overruns"] == 1 and stop["skipped_slots"] == 4 and stop["slowest_tick_ms"] == 1000.0
    # reads at slots 0, 1, 2; then slot 3..6 are skipped (tick 3 ended at 1.5 s), 7 and 8
    assert [r - reads[0] for r in reads] == [0.0, 0.25, 0.5, 1.75, 2.0]


@pytest.mark.parametrize("sig, reason", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_signal_stops_with_a_summary(tree, fake_time, capsys, sig, reason):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    fake_time([None, lambda: write_entries(tree, 2, [0]), lambda: os.kill(os.getpid(), sig)])
    rc, out, _ = run_cli(capsys, "--root", str(tree), "--watch", "--json")  # no --count: only the signal stops it
    ev = events(out)
    assert rc == 0 and [e["event"] for e in ev] == ["start", "change", "stop"]
    assert ev[-1]["reason"] == reason and ev[-1]["ticks"] == 3 and ev[-1]["changes"] == 1
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers are put back


def test_four_byte_ptes(tree, fake_time):
    """The watch on a 32-bit PTE format (the fake tree's table read as gen6 entries)."""
    site = live.gtt_site(Root(tree))
    site = live.GttSite(site.bdf, site.device_id, site.path, site.offset, site.size, 4)
    got = []
    fake_time([lambda: write_entries_at(resource0(tree), 0, (0xAB << 4 | 0x5000 << 12 | 1) << 32 | 0x1000_0001)])
    w = gttwatch.Watch(Root(tree), site, G.FORMATS["gen6"], 0.1, got.append, count=2, stop=4)
    w.run()
    change = got[1]
    assert change["changed"] == 2 and change["runs"] == [{"first": 0, "entries": 2}]
    assert (change["entries"][0]["new"], change["entries"][0]["new_address"], change["entries"][0]["new_present"]) == (0x1000_0001, 0x1000_0000, True)
    # PA 39:32 in bits 11:4: 0xAB, PA 31:12 = 0x5000
    assert change["entries"][1]["new_address"] == 0xAB_0500_0000 and change["entries"][1]["new_present"] is True


@pytest.mark.parametrize("args, message", [
    (["{capture}", "--watch"], "--watch reads the live GGTT (this machine, or --root DIR); {capture} is a capture and does not change"),
    (["--file", "{capture}", "--platform", "CFL", "--watch", "1"], "is a dump and does not change"),
    (["--root", "{tree}", "--watch", "0"], "--watch 0: the interval must be more than 0"),
    (["--root", "{tree}", "--watch", "--count", "0"], "--count 0: must be at least 1"),
    (["--root", "{tree}", "--watch", "--summary"], "does not go with --summary"),
    (["--root", "{tree}", "--count", "3"], "--count goes with --watch"),
    (["--root", "{tree}", "--watch", "--range", "9:9"], "--range 9:9: selects no entry"),
    (["--root", "{empty}", "--watch"], "no Intel display device"),
])
def test_refusals_are_one_line(tree, tmp_path, capsys, args, message):
    capture = tmp_path / "host.json"
    capture.write_text(demo.host_capture().to_json())
    (tmp_path / "empty").mkdir()
    fill = {"capture": str(capture), "tree": str(tree), "empty": str(tmp_path / "empty")}
    rc, out, err = run_cli(capsys, *(a.format(**fill) for a in args))
    assert rc == (4 if message == "no Intel display device" else 3) and out == ""  # README: 4 = no Intel display device
    assert err.count("\n") == 1 and err.startswith("igdscope: ") and message.format(**fill) in err


def test_unreadable_resource0_needs_root(tree, capsys, monkeypatch):
    """resource0 is root's only; an unprivileged open fails with EACCES (imitated: the tests may
    run as root)."""
    import errno

    real_open = os.open

    def denied(path, flags, *a, **kw):
        if str(path).endswith("resource0"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(live.os, "open", denied)
    rc, out, err = run_cli(capsys, "--root", str(tree), "--watch", "--count", "1")
    assert rc == 5 and out == "" and err.count("\n") == 1
    assert err == "igdscope: /sys/bus/pci/devices/0000:00:02.0/resource0: permission denied (run as root)\n"


@pytest.mark.parametrize("sig, name, json_mode", [(signal.SIGINT, "Ctrl-C", False), (signal.SIGTERM, "SIGTERM", True)])
def test_real_signals_in_a_real_process(tree, sig, name, json_mode):
    """The command as run from a shell: a signal after the first line ends it with the summary
    and exit status 0 - at once, not at the end of the (hour-long) wait for the next read."""
    cmd = [sys.executable, "-m", "igdscope", "gtt", "show", "--root", str(tree), "--watch", "3600"] + (["--json"] if json_mode else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        assert "watching the GGTT" in first or '"event": "start"' in first
        p.send_signal(sig)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    last = rest.strip().splitlines()[-1]
    if json_mode:
        assert json.loads(last)["event"] == "stop" and json.loads(last)["reason"] == "SIGTERM"
    else:
        assert last.startswith(f"stopped ({name}) after ") and err == ""


def test_help_teaches_the_watch(capsys):
    with pytest.raises(SystemExit) as e:
        main.main(["gtt", "show", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "--watch [SECONDS]" in out and "--count N" in out and "JSON Lines" in out
    assert "sudo igdscope gtt show --watch\n" in out and "3 entries changed: 5-7" in out
    with pytest.raises(SystemExit):
        main.main(["gtt", "--help"])
    assert "sudo igdscope gtt show --watch" in capsys.readouterr().out
