"""The one model of what QEMU does with an assigned IGD, by version: check, diff and the
presenters ask it, and no QEMU fact lives anywhere else.

- this module: QEMU version texts, the eras of its IGD code, QEMU's own host bridges;
- :mod:`.igd`: the decision for one assigned device (legacy mode and each of its preconditions,
  the OpRegion, emulated registers, fw_cfg files, x-igd-gms, fatal errors), with the table of
  every change between releases and its source;
- :mod:`.errors`: QEMU's and the kernel's messages as users quote them, explained.

A version is an ``(major, minor)`` tuple."""

from __future__ import annotations

import re
from typing import Any

from igdscope.analysis.qemu.igd import (  # noqa: F401  (the model's answers, asked through this package)
    asls_behaviour,
    asls_emulated_always,
    bdsm_emulation,
    era,
    gmch_behaviour,
    gms_accepted,
    guest_gms,
    zeroes_ggtt_at_start,
)
from igdscope.platforms import QEMU_ERAS, QEMU_HOST_BRIDGES

Version = tuple[int, int]


def host_bridge_name(device_id: int) -> str | None:
    """QEMU's own host bridge a guest sees at 00:00.0 instead of the host's, by its device ID."""
    if device_id not in QEMU_HOST_BRIDGES:
        return None
    machine, chipset = QEMU_HOST_BRIDGES[device_id]
    return f"QEMU's {machine} host bridge" + (f" ({chipset})" if chipset else "")


_VERSION = re.compile(r"\s*v?(\d{1,9})\.(\d{1,9})(?!\d)")  # a version part, not a number too long for int()


def version(text: Any) -> Version | None:
    """``(major, minor)`` of a QEMU version text ("9.2", "10.0.3", "v8.2.0", "9.0.2 (pve-qemu-kvm
    9.0.2-4)"), None when it is not one."""
    if not text:
        return None
    m = _VERSION.match(str(text))
    return (int(m.group(1)), int(m.group(2))) if m else None


def text(v: Version | None) -> str:
    return f"{v[0]}.{v[1]}" if v else "of unknown version"


def era_text(v: Version | None) -> str | None:
    return QEMU_ERAS[era(v)] if v else None
