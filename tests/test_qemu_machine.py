"""The QEMU machine model's tables (igdscope.analysis.qemu.machine) and their generated page
specs/qemu-machine.md. What real QEMU binaries show is checked against the same tables in
tests/test_qtest.py."""

from __future__ import annotations

import pytest

from igdscope import platforms
from igdscope.analysis.qemu import machine


def test_spec_page_is_current():
    assert machine.spec_path().read_text() == machine.markdown(), \
        f"specs/{machine.SPEC_NAME} is stale: run python -m igdscope.analysis.qemu.machine"


def test_properties_per_version_boundary():
    assert machine.vfio_pci_properties((2, 6)) == {}
    assert machine.vfio_pci_properties((7, 2)) == {"x-igd-opregion": False, "x-igd-gms": 0}
    assert machine.vfio_pci_properties((10, 0)) == {"x-igd-opregion": False, "x-igd-gms": 0, "x-igd-legacy-mode": "auto", "x-igd-lpc": False}
    assert machine.vfio_pci_properties((10, 1))["x-igd-opregion"] is True
    assert machine.vfio_pci_properties((10, 2)) == {"x-igd-opregion": True, "x-igd-gms": 0, "x-igd-legacy-mode": "auto", "x-igd-lpc": False}


def test_property_rows_do_not_overlap_and_name_a_source():
    rows = machine.VFIO_PCI_IGD_PROPERTIES
    for r in rows:
        assert r.source and "hw/vfio/pci.c" in r.source, r
        assert r.until is None or r.since < r.until, r
    for a in rows:
        for b in rows:
            if a is not b and a.name == b.name:
                a_end, b_end = a.until or (999, 0), b.until or (999, 0)
                assert a_end <= b.since or b_end <= a.since, (a, b)


def test_chipset_per_family():
    assert machine.chipset("pc") == {"00:00.0": (0x8086, 0x1237, "i440FX")}
    q35 = machine.chipset("q35")
    assert q35["00:00.0"][:2] == (0x8086, 0x29C0) and q35["00:1f.0"] == (0x8086, 0x2918, "ICH9-LPC")
    with pytest.raises(ValueError, match="machine family"):
        machine.chipset("microvm")
    # the host bridges the diff names are the ones the chipset table puts at 00:00.0
    assert {r.device for r in machine.CHIPSET if r.bdf == "00:00.0"} == set(platforms.QEMU_HOST_BRIDGES)


def test_lpc_bridge_type_since_the_first_igd_release():
    assert not machine.has_igd_lpc_bridge_type((2, 6))
    assert machine.has_igd_lpc_bridge_type((2, 7)) and machine.has_igd_lpc_bridge_type((10, 2))


def test_spec_page_renders_every_row_with_its_source():
    text = machine.markdown()
    for r in machine.VFIO_PCI_IGD_PROPERTIES:
        assert f"| {r.name} | {r.kind} |" in text and r.source in text
    assert "| q35 | 00:1f.0 | 8086:2918 | ICH9-LPC |" in text
    assert f"| {machine.IGD_LPC_BRIDGE_TYPE} | 2.7 |" in text
