"""The live TUI on a umockdev testbed: real libudev enumerates the recorded demo host and real udev
events (bind, remove, add) reach the pyudev monitor, which alone drives the refreshes (polling is
set to an hour). The app runs in tests/tui/umockdev_live.py under umockdev-wrapper."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from igdscope.sources import demo

pytestmark = pytest.mark.umockdev


def test_live_tui_follows_udev_events_on_a_umockdev_testbed():
    wrapper = shutil.which("umockdev-wrapper")
    if wrapper is None:
        pytest.skip("umockdev-wrapper not installed (Debian package umockdev; tests/install-tools.sh installs it where apt-get works)")
    script = Path(__file__).with_name("umockdev_live.py")
    r = subprocess.run([wrapper, sys.executable, str(script)], capture_output=True, text=True, timeout=180, cwd=script.parents[2])
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    # discovered through libudev, identities and drivers from the testbed
    assert seen["udev_status"] == "udev monitor on" and seen["discovery"] == "udev"
    assert seen["devices"] == {"igd": [demo.IGD_BDF, "8086:3e92", "vfio-pci"], "host_bridge": [demo.HB_BDF, "8086:3ec2", "skl_uncore"], "lpc": [demo.LPC_BDF, "8086:a308", None]}
    assert "8086:3e92 rev 00" in seen["overview_devices"] and "vfio-pci" in seen["overview_devices"]
    assert "CFL — Coffee Lake S GT2" in seen["platform"]
    # every screen opens live; what the testbed lacks is said where the data would be
    screens = seen["screens"]
    assert set(screens) == {"OverviewScreen", "RegistersScreen", "OpRegionScreen", "VbtScreen", "RomScreen", "GttScreen", "ChecksScreen"}
    assert screens["RegistersScreen"] == "" and screens["OverviewScreen"] == ""
    assert "OpRegion not captured" in screens["OpRegionScreen"] and "i915 does not own 0000:00:02.0 (driver: vfio-pci)" in screens["OpRegionScreen"]
    assert "No VBT copy" in screens["VbtScreen"] and "has no rom file in sysfs" in screens["RomScreen"]
    assert "GGTT not captured" in screens["GttScreen"]
    # bind: i915 takes the IGD; the Overview says so without a poll
    igd_row = next(line for line in seen["after_bind"]["overview"].splitlines() if demo.IGD_BDF in line)
    assert seen["after_bind"]["driver"] == "i915" and "i915" in igd_row
    # remove: the IGD (only) is gone, shown where the data is
    assert seen["after_remove"]["gone"] == [demo.IGD_BDF]
    assert f"{demo.IGD_BDF} is gone since" in seen["after_remove"]["banner"]
    rows = {bdf: line for line in seen["after_remove"]["overview"].splitlines() for bdf in (demo.IGD_BDF, demo.HB_BDF, demo.LPC_BDF) if bdf in line}
    assert "GONE since" in rows[demo.IGD_BDF] and "present" in rows[demo.HB_BDF] and "present" in rows[demo.LPC_BDF]
    # add: it comes back without a restart
    assert seen["after_add"]["gone"] == [] and seen["after_add"]["banner_shown"] is False
    assert seen["after_add"]["driver"] == "vfio-pci" and "GONE" not in seen["after_add"]["overview"]
    # the refreshes came from the events: the status shows the hour-long interval and the monitor
    assert "every 3600 s" in seen["status"] and "udev monitor on" in seen["status"]
