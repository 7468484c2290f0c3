"""DMAR logs: reasons wrapped onto continuation lines, rate-limited fault storms counted, and the
``gtt fault``/``gtt faults`` commands without a capture (the log alone) and on a machine without
an Intel display device."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from igdscope.analysis import dmar
from igdscope.errors import EXIT_FINDINGS, EXIT_NO_IGD, EXIT_OK
from tests.support.shared import WORLD, need

STORM = """\
[  20.1] DMAR: DRHD: handling fault status reg 3
[  20.1] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000
[fault reason 0x01] Present bit in root entry is clear
[  20.2] dmar_fault: 893 callbacks suppressed
[  20.3] DMAR: [DMA Write] Request device [00:02.0] PASID ffffffff fault addr 7effff9000 [fault
reason 05] PTE Write access is not set
[  25.0] dmar_fault: 7 callbacks suppressed
[  25.1] DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 1000
[  25.1] DMAR: DRHD: handling fault status reg 2
[  26.0] e1000e: 12 callbacks suppressed
"""


def test_reason_on_a_continuation_line_is_joined():
    faults = dmar.parse(STORM)
    assert [(f.line, f.access, f.address, f.reason, f.reason_text) for f in faults] == [
        (2, "read", 0x7CD80000, 0x01, "Present bit in root entry is clear"),
        (5, "write", 0x7EFFFF9000, 0x05, "PTE Write access is not set"),
        (8, "read", 0x1000, None, ""),  # the next line is a message of its own, not a continuation
    ]


def test_suppressed_callbacks_are_counted_per_source():
    log = dmar.parse_log(STORM)
    assert log.suppressed == {"dmar_fault": 900}  # e1000e's rate limit is not a DMAR one
    assert log.suppressed_total == 900 and len(log.faults) == 3
    assert dmar.parse_log("DMAR: nothing\n").suppressed == {}


def test_wrapped_world_log_keeps_its_reason():
    path = need(WORLD / "dmesg" / "gen12-adls_intel-gfx-dma-mask-39bit.txt")
    (f,) = dmar.parse(path.read_text())
    assert (f.address, f.reason, f.reason_text, f.pasid) == (0x7EFFFF9000, 0x05, "PTE Write access is not set", "ffffffff")


def test_world_logs_have_no_rate_limit_lines():
    d = need(WORLD / "dmesg")
    for p in sorted(d.glob("*.txt")):
        assert dmar.parse_log(p.read_text()).suppressed == {}, p.name


def test_classify_without_a_capture_claims_no_region():
    res = dmar.classify(0x7EFFFF9000, dmar.Landscape(), 0x05)
    assert res["regions"] == [] and res["gtt_entries"] == []
    assert res["meaning"] == [dmar.REASON_HINTS[0x05]]
    known = dmar.classify(0x7EFFFF9000, dmar.Landscape(tolud=0x80000000), None)
    assert known["regions"] == [{"name": "outside stolen memory and the captured GGTT (above TOLUD)"}]


def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "igdscope", *args], capture_output=True, text=True, input=stdin, timeout=120)


@pytest.fixture
def no_igd_root(tmp_path):
    """A sysfs tree with no PCI function at all: a machine without an Intel display device."""
    (tmp_path / "sys" / "bus" / "pci" / "devices").mkdir(parents=True)
    return tmp_path


def test_faults_without_a_capture(no_igd_root):
    r = _cli("gtt", "faults", "--root", str(no_igd_root), "--json", stdin=STORM)
    assert r.returncode == EXIT_FINDINGS, r.stderr
    doc = json.loads(r.stdout)
    assert doc["capture"] is False and "no Intel display device" in doc["without_capture"] and "stolen memory" in doc["without_capture"]
    assert [(f["address"], f["reason"]) for f in doc["faults"]] == [(0x7CD80000, 1), (0x7EFFFF9000, 5), (0x1000, None)]
    assert doc["suppressed"] == {"dmar_fault": 900} and doc["suppressed_total"] == 900
    assert all(f["where"]["regions"] == [] for f in doc["faults"])
    r = _cli("gtt", "faults", "--root", str(no_igd_root), stdin=STORM)
    assert r.returncode == EXIT_FINDINGS
    first = r.stdout.splitlines()[0]
    assert first.startswith("3 DMAR fault(s) of 0000:00:02.0") and "900 more fault report(s) suppressed" in first and "dmar_fault 900" in first
    assert "classified from the log alone" in r.stdout
    r = _cli("gtt", "faults", "--root", str(no_igd_root), stdin="[ 1.0] dmar_fault: 5 callbacks suppressed\n")
    assert r.returncode == EXIT_OK and "no DMAR faults in the input; 5 more fault report(s) suppressed" in r.stdout


def test_fault_without_a_capture(no_igd_root):
    r = _cli("gtt", "fault", "0", "--root", str(no_igd_root), "--json")
    assert r.returncode == EXIT_OK, r.stderr
    doc = json.loads(r.stdout)
    assert doc["address"] == 0 and doc["capture"] is False and doc["where"]["regions"] == []
    assert doc["where"]["meaning"][0].startswith("address 0:")
    r = _cli("gtt", "fault", "DMAR: [DMA Write] Request device [00:02.0] PASID ffffffff fault addr 7effff9000 [fault reason 05] PTE Write access is not set", "--root", str(no_igd_root))
    assert r.returncode == EXIT_OK and r.stdout.startswith("write of 0x7effff9000 by 0000:00:02.0, fault reason 0x05")
    assert "a capture of the machine" in r.stdout


def test_no_intel_display_exits_4(no_igd_root):
    for args in (("gtt", "show"), ("gtt", "show", "--watch", "--count", "1")):
        r = _cli(*args, "--root", str(no_igd_root))
        assert r.returncode == EXIT_NO_IGD, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "no Intel display device" in r.stderr and "Traceback" not in r.stderr
