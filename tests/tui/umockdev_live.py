"""Run under ``umockdev-wrapper``: the TUI live on a umockdev testbed of the demo host, driven by
real udev events (umockdev's emulated netlink), with polling effectively off (one hour), so every
refresh after the first comes from the pyudev monitor. Prints what it observed as JSON; the test
in test_umockdev.py asserts on it.

The testbed is made through libumockdev's C API (ctypes): Debian's umockdev package ships the
library and the wrapper, not the Python bindings.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from igdscope.sources import demo  # noqa: E402
from igdscope.sources.sysfs import Root  # noqa: E402
from igdscope.tui import make_app  # noqa: E402
from igdscope.tui.sources import LiveSource  # noqa: E402
from tests.support.fakesys import umockdev_description  # noqa: E402
from tests.support.tui import SIZE, settle, text_of  # noqa: E402

IGD = "/sys/devices/pci0000:00/" + demo.IGD_BDF


class Testbed:
    def __init__(self) -> None:
        lib = ctypes.CDLL("libumockdev.so.0")
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib.umockdev_testbed_new.restype = vp
        lib.umockdev_testbed_add_from_string.argtypes = [vp, cp, ctypes.POINTER(vp)]
        lib.umockdev_testbed_add_from_string.restype = ctypes.c_int
        lib.umockdev_testbed_uevent.argtypes = [vp, cp, cp]
        lib.umockdev_testbed_remove_device.argtypes = [vp, cp]
        lib.umockdev_testbed_set_attribute_link.argtypes = [vp, cp, cp, cp]
        lib.umockdev_testbed_get_root_dir.argtypes = [vp]
        lib.umockdev_testbed_get_root_dir.restype = cp
        self.lib = lib
        self.tb = lib.umockdev_testbed_new()
        self.dir = lib.umockdev_testbed_get_root_dir(self.tb).decode()

    def add(self, description: str) -> None:
        err = ctypes.c_void_p()
        if not self.lib.umockdev_testbed_add_from_string(self.tb, description.encode(), ctypes.byref(err)):
            raise RuntimeError("umockdev could not add the device description")

    def uevent(self, devpath: str, action: str) -> None:
        self.lib.umockdev_testbed_uevent(self.tb, devpath.encode(), action.encode())

    def remove(self, devpath: str) -> None:
        self.lib.umockdev_testbed_remove_device(self.tb, devpath.encode())

    def close(self) -> None:
        """Drop the testbed: umockdev removes its directory."""
        gobject = ctypes.CDLL("libgobject-2.0.so.0")
        gobject.g_object_unref.argtypes = [ctypes.c_void_p]
        gobject.g_object_unref(self.tb)

    def relink_driver(self, devpath: str, driver: str) -> None:
        os.unlink(self.dir + devpath + "/driver")
        self.lib.umockdev_testbed_set_attribute_link(self.tb, devpath.encode(), b"driver", f"../../../bus/pci/drivers/{driver}".encode())


async def until(pilot, cond, what: str, seconds: float = 20.0) -> None:
    """Wait for the app to reach ``cond`` (events arrive on the monitor's thread)."""
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        if cond():
            await settle(pilot)
            return
    raise SystemExit(f"timed out waiting for {what}")


async def main() -> dict:
    cap = demo.host_capture()
    bed = Testbed()
    bed.add(umockdev_description(cap))
    src = LiveSource(Root("/"), gtt=False)
    app = make_app(src, interval=3600)
    seen: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        snap = app.snapshot
        seen["udev_status"] = app.udev_status
        seen["discovery"] = snap.host.capture.sources.get("discovery")
        seen["devices"] = {d.role: [d.bdf, f"{d.vendor:04x}:{d.device:04x}", d.driver] for d in snap.host.capture.devices}
        seen["overview_devices"] = text_of(app.screen.query_one("#ov-devices"))
        seen["platform"] = text_of(app.screen.query_one("#ov-machine"))
        screens = {}
        for key in "2345671":  # every screen on the live testbed (no OpRegion, ROM or GGTT in it)
            await pilot.press(key)
            await settle(pilot)
            notices = [text_of(n) for n in app.screen.query(".notice") if n.display]
            screens[type(app.screen).__name__] = " ".join(" ".join(t.split()) for t in notices)
        seen["screens"] = screens
        first = app.snapshot.seq

        bed.relink_driver(IGD, "i915")  # the host driver takes the IGD back
        bed.uevent(IGD, "bind")
        await until(pilot, lambda: app.snapshot.seq > first and app.snapshot.host.capture.device("igd").driver == "i915", "the bind event")
        seen["after_bind"] = {"driver": app.snapshot.host.capture.device("igd").driver, "overview": text_of(app.screen.query_one("#ov-devices"))}

        bed.uevent(IGD, "remove")  # the IGD leaves the bus (echo 1 > remove)
        bed.remove(IGD)
        await until(pilot, lambda: demo.IGD_BDF in app.snapshot.gone, "the remove event")
        seen["after_remove"] = {"gone": list(app.snapshot.gone), "banner": text_of(app.screen.query_one("#banner")),
                                "overview": text_of(app.screen.query_one("#ov-devices"))}

        bed.add(umockdev_description(dataclasses.replace(cap, devices=[d for d in cap.devices if d.role == "igd"])))  # and comes back (a rescan)
        bed.uevent(IGD, "add")
        await until(pilot, lambda: not app.snapshot.gone and app.snapshot.error is None, "the add event")
        seen["after_add"] = {"gone": list(app.snapshot.gone), "banner_shown": bool(app.screen.query_one("#banner").display),
                             "driver": app.snapshot.host.capture.device("igd").driver, "overview": text_of(app.screen.query_one("#ov-devices"))}
        seen["refreshes"] = app.snapshot.seq
        seen["status"] = text_of(app.screen.query_one("#status"))
    bed.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
