"""specs/ and the schemas cannot drift apart: the generated pages must equal what the schemas
generate now (run `python -m igdscope.schemas.specgen` after changing a schema), and key facts stated in
them must hold in the schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from igdscope.schemas import specgen
from igdscope.schemas import opregion, pci, rom, vbt

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.mark.parametrize("name", sorted(specgen.spec_files()))
def test_generated_spec_is_current(name):
    assert (SPECS / name).read_text() == specgen.spec_files()[name], f"specs/{name} is stale: run python -m igdscope.schemas.specgen"


def test_struct_tables_state_the_fixed_offsets():
    text = (SPECS / "opregion.md").read_text()
    assert "| 0x3ba | 8 | rvda |" in text and "| 0x3c2 | 4 | rvds |" in text
    assert opregion.OpRegion.sizeof() == 0x2000
    assert "| 0x018 | 2 | pcir_offset |" in (SPECS / "rom.md").read_text() and rom.LegacyRomHeader.sizeof() == 0x1A
    assert "## VBT header, 48 bytes" in (SPECS / "vbt.md").read_text() and vbt.VbtHeader.sizeof() == 48
    assert "| 0x010 | 8 | size | u64 |" in (SPECS / "vfio.md").read_text()


def test_register_tables_in_pci_md():
    text = (SPECS / "pci.md").read_text()
    for reg in (*pci.HOST_BRIDGE_CORE, pci.IGD_BDSM32, pci.IGD_BDSM64, pci.IGD_ASLS, pci.HOST_TOLUD16):
        assert f"| {reg.offset:#04x} | {reg.size} | {reg.name} |" in text
    for layout, fields in pci.GGC_FIELDS.items():
        for f in fields:
            assert f"| {f.bits} | {f.name} |" in text


def test_platform_table_documents_its_sources():
    head = [l for l in (SPECS / "platforms.tsv").read_text().splitlines() if l.startswith("#")]
    assert any("pciids.h" in l for l in head) and any("early-quirks.c" in l for l in head)
    qemu = (SPECS / "qemu-igd-gen.tsv").read_text()
    assert "igd.c" in qemu


def test_gtt_page_states_the_layouts():
    from igdscope.schemas import gtt as G

    text = (SPECS / "gtt.md").read_text()
    assert "| 45:12 | addr |" in text and "| 53 | pat1 |" in text and "| 11:4 | addr_hi |" in text
    for fmt in G.FORMATS.values():
        assert f"## {fmt.name}: {fmt.title}, {fmt.size} bytes" in text


def test_qemu_model_spec_is_current_and_every_row_has_a_source():
    from igdscope.analysis.qemu import errors, igd, specgen as qspec

    for name, text in qspec.spec_files().items():
        assert (SPECS / name).read_text() == text, f"specs/{name} is stale: run python -m igdscope.analysis.qemu.specgen"
    assert igd.CHANGES and all(c.source.strip() and c.what.strip() for c in igd.CHANGES)
    assert all(row[3].strip() for row in errors.MESSAGES)
    # the ranges cover every version once, in order
    reps = [r[3] for r in igd.RANGES]
    assert reps == sorted(reps) and igd.representative((7, 2)) == (9, 1) and igd.representative((11, 1)) == (10, 2)
