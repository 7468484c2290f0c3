"""What a QEMU machine shows a guest around an assigned IGD, by version: the ``vfio-pci`` IGD
properties and their defaults, the chipset functions at 00:00.0 and 00:1f.0 of the ``pc`` and
``q35`` machines, and since when the ``vfio-pci-igd-lpc-bridge`` device type exists.

Pure data, every row with its source. ``tests/test_qtest.py`` compares each table with what
Debian's QEMU binaries show (7.2 from bookworm, 10.0 from bookworm-backports) for their version.
``python -m igdscope.analysis.qemu.machine`` writes ``specs/qemu-machine.md`` from these tables;
a test fails while that file is stale.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

Version = tuple[int, int]
Default = bool | int | str

FIRST_IGD_RELEASE: Version = (2, 7)  # legacy-mode IGD assignment entered QEMU in this release


@dataclass(frozen=True)
class PropertyRow:
    """One ``vfio-pci`` property over a range of QEMU versions: ``since <= version < until``."""

    name: str
    kind: str  # the QOM property type QEMU's help prints: bool, uint32, OnOffAuto
    default: Default
    since: Version
    until: Version | None
    source: str


VFIO_PCI_IGD_PROPERTIES: tuple[PropertyRow, ...] = (
    PropertyRow("x-igd-opregion", "bool", False, FIRST_IGD_RELEASE, (10, 1),
                "QEMU 2.7 hw/vfio/pci.c (legacy IGD assignment, commit c4c45e943e51); default off through "
                "10.0.13 (Debian qemu 10.0.13+ds hw/vfio/pci.c; Debian 7.2 and 10.0.2 binaries)"),
    PropertyRow("x-igd-opregion", "bool", True, (10, 1), None,
                "QEMU 10.1 hw/vfio/pci.c (commit 16cbb43302a2 \"vfio/igd: Enable OpRegion by default\"); "
                "Debian qemu 10.2.2+ds"),
    PropertyRow("x-igd-gms", "uint32", 0, FIRST_IGD_RELEASE, None,
                "QEMU 2.7 hw/vfio/pci.c (commit c4c45e943e51); Debian 7.2 and 10.0.2 binaries"),
    PropertyRow("x-igd-legacy-mode", "OnOffAuto", "auto", (10, 0), None,
                "QEMU 10.0 hw/vfio/pci.c (2025-03 IGD series); Debian qemu 10.0.13+ds; Debian 10.0.2 binary"),
    PropertyRow("x-igd-lpc", "bool", False, (10, 0), None,
                "QEMU 10.0 hw/vfio/pci.c (commit 674f61117d36); Debian qemu 10.0.13+ds; Debian 10.0.2 binary"),
)


@dataclass(frozen=True)
class SlotRow:
    """What QEMU itself puts at one address of a machine family (``-nodefaults``, no devices added)."""

    family: str  # "pc" (i440FX + PIIX3) or "q35" (Q35 MCH + ICH9)
    bdf: str
    vendor: int
    device: int
    name: str  # the QOM type name (``info qtree``'s "dev:")
    source: str


CHIPSET: tuple[SlotRow, ...] = (
    SlotRow("pc", "00:00.0", 0x8086, 0x1237, "i440FX",
            "QEMU hw/pci-host/i440fx.c (PCI_DEVICE_ID_INTEL_82441 in include/hw/pci/pci_ids.h); Debian 7.2 and 10.0.2 binaries"),
    SlotRow("q35", "00:00.0", 0x8086, 0x29C0, "mch",
            "QEMU hw/pci-host/q35.c (PCI_DEVICE_ID_INTEL_Q35_MCH); Debian 7.2 and 10.0.2 binaries"),
    SlotRow("q35", "00:1f.0", 0x8086, 0x2918, "ICH9-LPC",
            "QEMU hw/isa/lpc_ich9.c (PCI_DEVICE_ID_INTEL_ICH9_8); Debian 7.2 and 10.0.2 binaries"),
)
MACHINE_FAMILIES = ("pc", "q35")
SLOTS = ("00:00.0", "00:1f.0")  # the two addresses legacy mode and the guest driver care about
FREE_SLOT_SOURCE = ("pc: 00:1f.0 is free (PIIX3 sits at 00:01.0), which is why legacy mode can place "
                    "vfio-pci-igd-lpc-bridge there; QEMU hw/i386/pc_piix.c; Debian 7.2 and 10.0.2 binaries")

IGD_LPC_BRIDGE_TYPE = "vfio-pci-igd-lpc-bridge"
IGD_LPC_BRIDGE_SINCE: Version = FIRST_IGD_RELEASE
IGD_LPC_BRIDGE_SOURCE = ("QEMU 2.7 hw/vfio/pci-quirks.c (commit c4c45e943e51), later hw/vfio/igd.c; "
                         "Debian 7.2 and 10.0.2 binaries (QMP qom-list-types)")


def vfio_pci_properties(version: Version) -> dict[str, Default]:
    """``{property: default}`` of the ``vfio-pci`` IGD properties (``x-igd-*``) QEMU ``version`` has."""
    return {r.name: r.default for r in VFIO_PCI_IGD_PROPERTIES if r.since <= version and (r.until is None or version < r.until)}


def chipset(machine_family: str) -> dict[str, tuple[int, int, str]]:
    """``{bdf: (vendor, device, QOM type)}`` of QEMU's own functions at :data:`SLOTS` on a ``pc`` or
    ``q35`` machine; a slot QEMU leaves free is absent. Unchanged from 2.7 to 10.2."""
    if machine_family not in MACHINE_FAMILIES:
        raise ValueError(f"unknown machine family {machine_family!r} (pc or q35)")
    return {r.bdf: (r.vendor, r.device, r.name) for r in CHIPSET if r.family == machine_family}


def has_igd_lpc_bridge_type(version: Version) -> bool:
    """Whether QEMU ``version`` has the ``vfio-pci-igd-lpc-bridge`` device type."""
    return version >= IGD_LPC_BRIDGE_SINCE


def _v(v: Version | None) -> str:
    return f"{v[0]}.{v[1]}" if v else ""


def _default_text(d: Default) -> str:
    return ("on" if d else "off") if isinstance(d, bool) else str(d)


def markdown() -> str:
    """``specs/qemu-machine.md``: these tables with their sources."""
    out = [
        "# What a QEMU machine shows around an assigned IGD",
        "",
        "Generated by `python -m igdscope.analysis.qemu.machine` from `igdscope/analysis/qemu/machine.py`;",
        "do not edit by hand. `tests/test_qtest.py` checks every table against the QEMU binaries it finds",
        "(Debian bookworm's 7.2, bookworm-backports' 10.0 fetched by `tests/install-tools.sh`).",
        "",
        "## vfio-pci IGD properties",
        "",
        "A row holds for `since <= version < until` (an empty `until`: still so in the newest version read).",
        "",
        "| property | type | default | since | until | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in VFIO_PCI_IGD_PROPERTIES:
        out.append(f"| {r.name} | {r.kind} | {_default_text(r.default)} | {_v(r.since)} | {_v(r.until)} | {r.source} |")
    out += ["", "## Chipset functions (`-nodefaults`, no devices added)", "",
            "| machine | address | vendor:device | QOM type | source |", "|---|---|---|---|---|"]
    for r in CHIPSET:
        out.append(f"| {r.family} | {r.bdf} | {r.vendor:04x}:{r.device:04x} | {r.name} | {r.source} |")
    out += ["", f"Free: {FREE_SLOT_SOURCE}.", "", "## Device types", "",
            "| type | since | source |", "|---|---|---|",
            f"| {IGD_LPC_BRIDGE_TYPE} | {_v(IGD_LPC_BRIDGE_SINCE)} | {IGD_LPC_BRIDGE_SOURCE} |"]
    return "\n".join(out) + "\n"


SPEC_NAME = "qemu-machine.md"


def spec_path() -> Path:
    return Path(__file__).resolve().parents[3] / "specs" / SPEC_NAME


def main() -> int:
    spec_path().write_text(markdown())
    print(f"wrote specs/{SPEC_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
