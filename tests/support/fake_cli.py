"""``python -m tests.support.fake_cli ARGS``: the igdscope command line in a process of its own, with
``--root`` trees standing for sysfs (tests.support.fakesys.FakeRoot: ROM switch as the kernel's,
resource files as a device's). For tests that need a real process: signals, exit statuses."""

from __future__ import annotations


from igdscope.sources import sysfs
from tests.support.fakesys import FakeRoot

if __name__ == "__main__":
    sysfs.Root = FakeRoot  # type: ignore[misc]  # every later `from igdscope.sources.sysfs import Root` gets it
    from igdscope.cli.main import main

    raise SystemExit(main())
