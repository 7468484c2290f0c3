"""igdscope's compressed-section finder checked against UEFITool's parser (UEFIExtract, Debian's
``uefitool-cli``), an implementation written independently of igdscope's.

The images are real firmware volumes (volume header, FFS files with valid checksums, sections),
built with every kind of compressed section igdscope reads. UEFIExtract walks them the way it
walks vendor images -- volume, files, sections -- and writes each section it decompressed with
its algorithm and the sections found inside. The checks: both find the same compressed sections at
the same offsets and agree on the compression algorithm; every section UEFITool found inside a
decompressed one sits, byte for byte, at the same place in igdscope's decompressed output; and
the chain of sections down to the VBT is the same.

Skipped, with the reason, where UEFIExtract is not installed (tests/install-tools.sh installs it
where apt-get works). ``IGDSCOPE_UEFIEXTRACT`` names another build to check against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from igdscope.decode import sections
from igdscope.sources import demo
from tests.support.fw_build import (code_like, compression_section, ffs_file, firmware_volume, fv_image_section, guid_section,
                                    lzma_section, lzma_sized, lzmaf86_section, raw_section, tiano_section)

VBT = demo.vbt()

# IGDSCOPE_UEFIEXTRACT: another build (e.g. the newest, from UEFITool's sources) instead of the installed one
UEFIEXTRACT = os.environ.get("IGDSCOPE_UEFIEXTRACT") or shutil.which("UEFIExtract") or shutil.which("uefiextract")
pytestmark = pytest.mark.skipif(UEFIEXTRACT is None, reason="needs UEFIExtract (Debian's uefitool-cli; "
                                                            "tests/install-tools.sh installs it where apt-get works)")

# the payload every compressed section holds: a section stream of code-like bytes (much for the
# x86 converter to change) and the VBT
STREAM = raw_section(code_like(3000)[:3000]) + raw_section(VBT)  # the VBT's section 4-byte aligned


@dataclass
class Node:
    name: str
    info: dict[str, str]
    header: bytes
    body: bytes
    children: list[Node] = field(default_factory=list)

    def hex(self, key: str) -> int:
        return int(self.info[key].split()[0].rstrip("h"), 16)  # "18h" or "Dh (13)"


def _read(path: Path) -> Node:
    info = {}
    if (path / "info.txt").is_file():
        for line in (path / "info.txt").read_text(errors="replace").splitlines():
            key, _, value = line.partition(": ")
            info[key] = value
    blob = {n: (path / n).read_bytes() if (path / n).is_file() else b"" for n in ("header.bin", "body.bin")}
    children = sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: int(p.name.split()[0]))
    return Node(path.name, info, blob["header.bin"], blob["body.bin"], [_read(p) for p in children])


def uefitool(tmp_path: Path, image: bytes) -> Node:
    """UEFIExtract's tree of ``image`` (``UEFIExtract FILE all``: every element with its header,
    body and info, decompressed sections with the sections inside them)."""
    path = tmp_path / "image.bin"
    path.write_bytes(image)
    shutil.rmtree(tmp_path / "image.bin.dump", ignore_errors=True)
    subprocess.run([UEFIEXTRACT, str(path), "all"], cwd=tmp_path, capture_output=True, timeout=300, check=False)
    dump = tmp_path / "image.bin.dump"
    assert dump.is_dir(), "UEFIExtract wrote no dump"
    return _read(dump)


def compressed(node: Node, top_only: bool = True) -> list[Node]:
    """The sections UEFITool decompressed under ``node``, in order; ``top_only``: not those inside
    another decompressed section."""
    out = []
    for child in node.children:
        if "Compression algorithm" in child.info:
            out.append(child)
            if top_only:
                continue
        out += compressed(child, top_only)
    return out


# igdscope's name for a section (and the format it read it in) -> UEFITool's algorithm. UEFITool A62
# (Debian bookworm) decompresses a compression section of type 0x86 but names its algorithm
# "Unknown 07h" (7 is its LZMAF86); the GUID-defined LZMA+x86 section it names LZMAF86.
ALGORITHMS = {
    ("LZMA section", ""): {"LZMA"},
    ("LZMA section (HP GUID)", ""): {"LZMA"},
    ("LZMA+x86 section", ""): {"LZMAF86"},
    ("Tiano section", ""): {"Tiano"},
    ("Tiano section", ", EFI 1.1 format"): {"EFI 1.1"},
    ("compression section", ""): {"EFI 1.1"},
    ("compression section", ", Tiano format"): {"Tiano"},
    ("compression section (LZMA)", ""): {"LZMA"},
    ("compression section (Intel legacy LZMA)", ""): {"Intel legacy LZMA"},
    ("compression section (LZMA+x86)", ""): {"LZMAF86", "Unknown 07h"},
}

CASES = [  # (id, the section, a volume of FFS version 3: sections may use the 8-byte header)
    ("lzma", lzma_section(STREAM), False),
    ("lzma-8-byte-header", lzma_section(STREAM, extended=True), True),
    ("lzma-hp-guid", guid_section(sections.LZMA_HP_GUID, lzma_sized(STREAM)), False),
    ("lzma-x86", lzmaf86_section(STREAM), False),
    ("tiano", tiano_section(STREAM), False),
    ("efi11-under-tiano-guid", tiano_section(STREAM, pbit=4), False),
    ("compression-efi11", compression_section(STREAM), False),
    ("compression-tiano", compression_section(STREAM, pbit=5), False),
    ("compression-efi11-8-byte-header", compression_section(STREAM, extended=True), True),
    ("compression-lzma", compression_section(STREAM, compression_type=2), False),
    ("compression-intel-legacy-lzma", compression_section(STREAM, compression_type=2, stream=bytes(4) + lzma_sized(STREAM)), False),
    ("compression-lzma-x86", compression_section(STREAM, compression_type=0x86), False),
]


def _variant(where: str) -> str:
    """The format note of a path's last section: ", Tiano format" from "... (706 bytes decompressed, Tiano format), at ..."."""
    inside = where.rsplit(" (", 1)[1].split(")")[0]
    return ", " + inside.split(", ", 1)[1] if ", " in inside else ""


def _same_bytes(section: Node, out: bytes) -> list[str]:
    """Each section UEFITool found inside ``section`` against igdscope's decompressed ``out``: its
    Offset counts from the compressed section's header, the output starts after it."""
    assert section.children, f"UEFITool found nothing inside {section.name}"
    skip = section.hex("Header size")
    wrong = []
    for child in section.children:
        at = child.hex("Offset") - skip
        whole = child.header + child.body
        if out[at : at + len(whole)] != whole:
            wrong.append(f"{child.name} at {at:#x}")
    return wrong


@pytest.mark.parametrize("case,section,ffs3", CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_section_reads_as_uefitool_reads_it(tmp_path, case, section, ffs3):
    image = firmware_volume(ffs_file(raw_section(code_like(500, seed=2))), ffs_file(section), ffs3=ffs3)
    theirs = compressed(uefitool(tmp_path, image))
    ours = sections.sections(image)
    assert len(theirs) == 1 and len(ours) == 1, (theirs, ours)
    assert ours[0].offset == theirs[0].hex("Base")
    found, notes = sections.find_vbt(image)
    assert notes == [] and found is not None and found.data == STREAM
    assert theirs[0].info["Compression algorithm"] in ALGORITHMS[(ours[0].name, _variant(found.where))]
    if "Decompressed size" in theirs[0].info:
        assert theirs[0].hex("Decompressed size") == len(found.data)
    assert _same_bytes(theirs[0], found.data) == []
    assert [c.body for c in theirs[0].children][-1] == VBT


def test_a_volume_with_every_kind_finds_the_same_sections(tmp_path):
    # every kind in one volume, between files of code-like bytes and an uncompressed section stream
    files = []
    for i, (_, section, ffs3) in enumerate(CASES):
        if not ffs3:
            files += [ffs_file(raw_section(code_like(300 + 40 * i, seed=i))), ffs_file(section)]
    image = firmware_volume(*files, size=0x20000)
    tree = uefitool(tmp_path, image)
    theirs = compressed(tree)
    ours = sections.sections(image)
    assert [s.offset for s in ours] == [t.hex("Base") for t in theirs]  # none missed, none extra
    assert len(ours) == len([c for c in CASES if not c[2]])
    for sec, node in zip(ours, theirs, strict=True):
        out, why, _, _ = sections.decompress_section(image, sec, sections.MAX_SECTION_OUTPUT)
        assert why is None and out == STREAM, sec
        assert _same_bytes(node, out) == [], sec


def test_a_nested_vbt_has_the_same_chain_of_sections(tmp_path):
    # the usual layout: an LZMA section holding the DXE volume (in a volume image section), a file
    # in it whose Tiano-compressed section holds the VBT
    inner = firmware_volume(ffs_file(raw_section(code_like(700, seed=5))), ffs_file(compression_section(STREAM, pbit=5)))
    image = firmware_volume(ffs_file(raw_section(code_like(400, seed=6))), ffs_file(lzma_section(fv_image_section(inner))),
                            size=0x20000)
    tree = uefitool(tmp_path, image)
    chain = []
    node = tree
    while True:
        below = compressed(node)
        if not below:
            break
        assert len(below) == 1
        node = below[0]
        chain.append(node.info["Compression algorithm"])
    assert chain == ["LZMA", "Tiano"]
    assert node.children[-1].body == VBT
    found, notes = sections.find_vbt(image)
    assert notes == [] and found.data == STREAM
    assert found.where.startswith(f"LZMA section at {compressed(tree)[0].hex('Base'):#x} (")
    assert " > compression section at " in found.where and found.where.count(" > ") == 1
    assert _variant(found.where) == ", Tiano format"
    assert _same_bytes(node, found.data) == []
