"""What QEMU does with an assigned IGD, by version: the one place check, diff and the presenters
ask. A version is an ``(major, minor)`` tuple; an era groups the versions whose IGD code is the
same (QEMU's igd.c rewrites: up to 9.1, 9.2, 10.0 and later, with 10.1's changes within it).

Facts and their sources: ../shared/reference/qemu-igd.md (QEMU hw/vfio/igd.c per release)."""

from __future__ import annotations

import re
from typing import Any

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


def era(v: Version | None) -> str | None:
    """The era of QEMU's IGD code a version belongs to (keys of platforms.QEMU_ERAS)."""
    if v is None:
        return None
    return "A" if v < (9, 2) else ("B" if v < (10, 0) else "C")


def era_text(v: Version | None) -> str | None:
    e = era(v)
    return QEMU_ERAS[e] if e else None


def emulates_bdsm_0xc0(v: Version) -> bool:
    """Gen11+ keep the stolen-memory base in the 64-bit BDSM at 0xC0; QEMU emulates it from 9.2
    (before, only the 32-bit register at 0x5C)."""
    return v >= (9, 2)


def emulates_asls_always(v: Version) -> bool:
    """From 10.1 QEMU emulates ASLS (and copies the OpRegion) unless x-igd-opregion=off."""
    return v >= (10, 1)


def legacy_mode_generations_only_6_to_9(v: Version) -> bool:
    """From 10.1 legacy mode is done only for generations 6-9 (SNB ... CML)."""
    return v >= (10, 1)


def zeroes_ggtt_at_start(v: Version) -> bool:
    """Up to 9.2 legacy mode wrote 0 to the first GGMS/4 KiB GGTT entries at VM start."""
    return v < (10, 0)


def gms_accepted(v: Version, gen: int, gms: int) -> bool:
    """Whether QEMU (x-igd-gms or the host's GMS it keeps) accepts a GMS code for a generation:
    up to 0x10 before gen 8, 0x40 on gen 8, and on gen 9+ also 0xF0-0xFE (4 MiB steps) from 10.1."""
    if gms == 0 or gen <= 0:
        return False
    if gen < 8:
        return gms <= 0x10
    if gen == 8:
        return gms <= 0x40
    return gms <= 0x40 or (v >= (10, 1) and 0xF0 <= gms <= 0xFE)
