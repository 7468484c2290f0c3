"""Device discovery: pyudev (real libudev) on the live machine, a sysfs walk under ``--root``.

pyudev is used for discovery and events only. It returns binary attributes cut at the first NUL,
so ``config``, ``rom`` and ``resource*`` are read by :mod:`igdscope.sources.sysfs` in binary mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from igdscope.sources.sysfs import PCI_DEVICES, Root


@dataclass(frozen=True)
class PciFunction:
    bdf: str  # 0000:00:02.0
    sysdir: str  # path to read attributes from, relative to the root (e.g. sys/bus/pci/devices/0000:00:02.0)
    vendor: int
    device: int
    class_code: int


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def discover_udev() -> list[PciFunction]:
    """Every PCI function libudev knows. Raises ImportError / OSError when udev is unusable."""
    import pyudev  # only the live path pays for the import

    ctx = pyudev.Context()
    out = []
    for dev in ctx.list_devices(subsystem="pci"):
        attrs = dev.attributes
        vendor = _int(_attr(attrs, "vendor"))
        device = _int(_attr(attrs, "device"))
        cls = _int(_attr(attrs, "class"))
        if vendor is None or device is None or cls is None:
            continue
        out.append(PciFunction(dev.sys_name, f"{PCI_DEVICES}/{dev.sys_name}", vendor, device, cls))
    return sorted(out, key=lambda f: f.bdf)


def _attr(attrs, name: str) -> str | None:
    try:
        return attrs.asstring(name).strip()
    except (KeyError, UnicodeDecodeError, OSError):
        return None


def discover_sysfs(root: Root) -> list[PciFunction]:
    out = []
    for bdf in root.listdir(PCI_DEVICES):
        base = f"{PCI_DEVICES}/{bdf}"
        vendor = root.read_int(f"{base}/vendor", 16)
        device = root.read_int(f"{base}/device", 16)
        cls = root.read_int(f"{base}/class", 16)
        if vendor is None or device is None or cls is None:
            continue
        out.append(PciFunction(bdf, base, vendor, device, cls))
    return out


def discover(root: Root, use_udev: bool | None = None) -> tuple[list[PciFunction], str]:
    """PCI functions and how they were found. udev is used on the live root unless told not to."""
    if use_udev is None:
        use_udev = root.is_live
    if use_udev:
        try:
            return discover_udev(), "udev"
        except Exception as exc:  # libudev missing in a container: fall back, and say so
            return discover_sysfs(root), f"sysfs walk (udev unavailable: {type(exc).__name__}: {exc})"
    return discover_sysfs(root), "sysfs walk"


class Monitor:
    """PCI events from the udev netlink monitor (on the real root only), handed to ``on_event``
    as (action, sysfs name) for add, remove, bind, unbind and change, on the monitor's thread."""

    ACTIONS = ("add", "remove", "bind", "unbind", "change")

    def __init__(self, root: Root, use_udev: bool | None = None):
        self.root = root
        self.use_udev = use_udev
        self._observer = None

    def start(self, on_event) -> str:
        """Start watching; the returned line says whether events will come or only polling works."""
        if not self.root.is_live or self.use_udev is False:
            return "udev monitor off (not the real root): polling only"
        try:
            import pyudev

            ctx = pyudev.Context()
            mon = pyudev.Monitor.from_netlink(ctx)
            mon.filter_by(subsystem="pci")

            def event(device) -> None:
                if device.action in self.ACTIONS:
                    on_event(device.action, device.sys_name)

            self._observer = pyudev.MonitorObserver(mon, callback=event, name="igdscope-udev")
            self._observer.start()
        except Exception as exc:  # no libudev, no netlink in a container: polling still works
            self._observer = None
            return f"udev monitor unavailable ({type(exc).__name__}: {exc}): polling only"
        return "udev monitor on"

    def stop(self) -> None:
        obs, self._observer = self._observer, None
        if obs is not None:
            try:
                obs.send_stop()
            except Exception:  # the observer thread is already gone
                pass
