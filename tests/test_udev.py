"""Discovery through real libudev on recorded devices (Debian's umockdev), not a mock of pyudev.

The demo host's PCI functions are described as a umockdev testbed; igdscope then runs under
umockdev-run with the default root, so pyudev enumerates the testbed and the binary attributes
(config, resource) are read from it in binary mode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from igdscope.sources import demo
from tests.support.fakesys import umockdev_description

pytestmark = pytest.mark.umockdev


@pytest.fixture
def umockdev_run():
    exe = shutil.which("umockdev-run")
    if exe is None:
        pytest.skip("umockdev-run not installed (Debian package umockdev; tests/install-tools.sh installs it where apt-get works)")
    return exe


def _run(umockdev_run, tmp_path, cap, *args):
    desc = tmp_path / "machine.umockdev"
    desc.write_text(umockdev_description(cap))
    code = "import sys; from igdscope.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([umockdev_run, "-d", str(desc), "--", sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_pyudev_discovers_the_recorded_machine(umockdev_run, tmp_path):
    want = demo.host_capture()
    r = _run(umockdev_run, tmp_path, want, "dump", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["sources"]["discovery"] == "udev"
    devs = {d["role"]: d for d in doc["devices"]}
    assert set(devs) == {"igd", "host_bridge", "lpc"}
    assert devs["igd"]["bdf"] == "0000:00:02.0" and devs["igd"]["device"] == 0x3E92 and devs["igd"]["driver"] == "vfio-pci"
    assert devs["igd"]["iommu_group"] == 2
    assert devs["igd"]["resources"][0] == {"bar": 0, "start": demo.HOST_BAR0, "end": demo.HOST_BAR0 + (16 << 20) - 1, "flags": 0x140204, "size": 16 << 20}
    assert devs["host_bridge"]["device"] == demo.HB_DID and devs["lpc"]["class"] == 0x060100
    # config spaces arrive whole, NUL bytes and all (pyudev alone would cut them at the first NUL)
    from igdscope.capture import from_dict

    cap = from_dict(doc)
    for role in ("igd", "host_bridge", "lpc"):
        assert cap.config(role) == want.config(role)
    assert doc["decoded"]["devices"]["igd"]["summary"]["dsm_bytes"] == 64 << 20


def test_no_intel_display_in_testbed(umockdev_run, tmp_path):
    cap = demo.host_capture().builder()
    cap.devices = [d for d in cap.devices if d.role != "igd"]
    cap = cap.build()
    r = _run(umockdev_run, tmp_path, cap, "dump")
    assert r.returncode == 4
    assert "no Intel display device" in r.stderr and "udev" in r.stderr
