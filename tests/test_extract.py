"""``igdscope extract vbt`` and ``extract_vbt``: the raw VBT out of VBT files, option ROMs,
OpRegions (mailbox 4, relative RVDA; absolute RVDA refused with where to read it) and captures
(debugfs copy, else the OpRegion's, else the ROM's), cut to ``vbt_size``; checked against the corpus
(the ROM's VBT against the ``.vbt`` of the same board) and against ``intel_vbt_decode``."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from igdscope.decode.files import extract_blob, extract_vbt, sniff
from igdscope.capture import Blob
from igdscope.errors import BadInput
from igdscope.schemas import opregion as op
from igdscope.schemas import vbt as V
from igdscope.sources import demo
from tests.support.shared import CORPUS

VBT_DECODE = shutil.which("intel_vbt_decode") or ("/usr/bin/intel_vbt_decode" if Path("/usr/bin/intel_vbt_decode").exists() else None)


def needs_vbt_decode(fn):
    """Marked ``igt`` and skipped, with the reason, where Debian's intel-gpu-tools is missing."""
    return pytest.mark.igt(pytest.mark.skipif(VBT_DECODE is None, reason="intel_vbt_decode (Debian intel-gpu-tools) is not installed")(fn))


# ROM -> the .vbt of the same board (or the OpRegion of the same machine) in the corpus
SAME_BOARD = {
    "gen4-gm965_hellisabove_x61-vgabios.rom": "gen4-gm965_coreboot_lenovo-x61.vbt",
    "gen6-snb_atbd_vbios-dump.rom": "gen6-snb_coreboot_lenovo-x220.vbt",
    "gen6-snb_atbd_vgabios-32k-truncated.rom": "gen6-snb_coreboot_lenovo-x220.vbt",
    "gen7-ivb_seijinshu_x230t-vbios.rom": "gen7-ivb_coreboot_lenovo-x230.vbt",
    "gen9.5-kbl_rikka0w0_vbios-dump.rom": "gen9.5-kbl_rikka0w0_opregion.opregion",
}
ROM_VBT_OFFSETS = {  # from the corpus MANIFEST notes
    "gen4-gm965_hellisabove_x61-vgabios.rom": 0xAE0,
    "gen6-snb_atbd_vbios-dump.rom": 0xAB0,
    "gen6-snb_atbd_vgabios-32k-truncated.rom": 0xAB0,
    "gen7-ivb_seijinshu_x230t-vbios.rom": 0xAB0,
    "gen9.5-kbl_rikka0w0_vbios-dump.rom": 0xB90,
    "gen9.5-kblr_harrykipper_51nb-x210-vgabios.rom": 0xBB0,
}


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus file {path} is absent")
    return path.read_bytes()


def vbt_size(raw: bytes) -> int:
    return int.from_bytes(raw[0x18:0x1A], "little")


def layout(raw: bytes) -> tuple:
    w = V.walk_blocks(raw)
    return w["vbt_header"]["vbt_size"], w["bdb_version"], [(b["id"], b["size"]) for b in w["blocks"]]


def cli(*args: str, stdin: bytes | None = None, tty: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "igdscope", *args]
    if not tty:
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, check=False)
    master, slave = os.openpty()
    try:
        proc = subprocess.run(cmd, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120, check=False)
    finally:
        os.close(slave)
        os.close(master)
    return proc


def vbt_decode_accepts(tmp_path: Path, raw: bytes, expect_bdb: int) -> None:
    path = tmp_path / "extracted.vbt"
    path.write_bytes(raw)
    res = subprocess.run([VBT_DECODE, f"--file={path}"], capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert f"BDB version:\t\t{expect_bdb}".encode() in res.stdout


# -- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROM_VBT_OFFSETS))
def test_rom_extract_is_the_vbt_at_the_manifest_offset(name):
    data = corpus(name)
    raw, where = extract_vbt(data, "rom", name)
    off = ROM_VBT_OFFSETS[name]
    assert where == f"option ROM at {off:#x}"
    assert raw == data[off : off + vbt_size(data[off:])] and len(raw) == vbt_size(raw)


@pytest.mark.parametrize("name", sorted(SAME_BOARD))
def test_rom_vbt_matches_the_same_boards_vbt(name):
    raw, _ = extract_vbt(corpus(name), "rom", name)
    other_name = SAME_BOARD[name]
    other = corpus(other_name)
    kind = sniff(other)
    theirs, _ = extract_vbt(other, kind, other_name)
    assert layout(raw) == layout(theirs)  # same size, BDB version, blocks and block sizes
    diff = [i for i, (a, b) in enumerate(zip(raw, theirs)) if a != b]
    if kind == "opregion":
        # same Kaby Lake machine: only the child devices' EDID buffer pointers, filled in at run time
        assert len(diff) == 4
        w = V.walk_blocks(raw)
        block2 = next(b for b in w["blocks"] if b["id"] == 2)
        assert all(block2["offset"] <= i < block2["offset"] + 3 + block2["size"] for i in diff)
    else:
        assert len(diff) < len(raw) // 10  # the same board's VBT, other firmware build


@pytest.mark.parametrize("name", ["gen12-adlp_coreboot_google-redrix.vbt", "gen7-ivb_coreboot_lenovo-x230.vbt", "gen3-945gc_coreboot_intel-d945gclf.vbt"])
def test_vbt_file_is_cut_to_vbt_size(name):
    data = corpus(name)
    raw, where = extract_vbt(data, "vbt", name)
    assert where == "VBT file" and raw == data[: vbt_size(data)]


def test_vbt_inside_something_else_and_truncated():
    inner = V.demo_vbt()
    raw, where = extract_vbt(b"\xff" * 100 + inner + b"\0" * 50, "vbt", "fv.bin")
    assert raw == inner and where == "VBT file at 0x64"
    cut, _ = extract_vbt(inner[:200], "vbt", "cut.vbt")
    assert cut == inner[:200] and vbt_size(cut) == len(inner)  # the bytes present; the CLI warns


def test_corpus_opregion_mailbox4():
    data = corpus("gen9.5-kbl_rikka0w0_opregion.opregion")
    raw, where = extract_vbt(data, "opregion", "op.bin")
    assert where == "OpRegion mailbox 4"
    assert raw == op.vbt_bytes(data)[0] and len(raw) == vbt_size(raw) == 4284


def _ext_vbt() -> bytes:
    return V.build_vbt(240, [(1, bytes(7)), (254, bytes(7000))])  # larger than mailbox 4


def test_opregion_relative_rvda_appended():
    ext = _ext_vbt()
    data = op.build_opregion({"version": "2.1.0", "mbox4": V.demo_vbt(), "extended_vbt": ext + bytes(100)})
    raw, where = extract_vbt(data, "opregion", "op.bin")
    assert raw == ext and where == "OpRegion extended VBT (RVDA +0x2000)"  # cut to vbt_size, not RVDS
    with pytest.raises(BadInput, match=r"OpRegion \+ 0x2000 .* beyond the 8192 bytes .*vfio region or /dev/mem"):
        extract_vbt(data[:0x2000], "opregion", "op.bin")


def test_opregion_absolute_rvda_is_refused_with_where_it_is():
    data = op.build_opregion({"version": "2.0.0", "mbox4": V.demo_vbt(), "mailboxes": {"asle": {"rvda": 0x7A5F_1000, "rvds": 9000}}})
    with pytest.raises(BadInput) as exc:
        extract_vbt(data, "opregion", "op.bin")
    msg = str(exc.value)
    assert "physical address 0x7a5f1000" in msg and "/dev/mem" in msg and "\n" not in msg


def test_opregion_without_vbt():
    with pytest.raises(BadInput, match="mailbox 4 does not start"):
        extract_vbt(op.build_opregion({"version": "2.0.0"}), "opregion", "op.bin")


def test_hostile_headers():
    bad = bytearray(V.demo_vbt())
    bad[0x18:0x1A] = (20).to_bytes(2, "little")
    with pytest.raises(BadInput, match="vbt_size 20, smaller than its own 48-byte header"):
        extract_vbt(bytes(bad), "vbt", "x")
    with pytest.raises(BadInput, match="no '\\$VBT'"):
        extract_vbt(b"\x55\xaa" + bytes(5000), "rom", "x")
    with pytest.raises(BadInput, match="cannot extract a VBT from a config file"):
        extract_vbt(bytes(256), "config", "x")
    big = bytearray(V.demo_vbt())
    big[0x18:0x1A] = b"\xff\xff"  # vbt_size 65535 on a 398-byte VBT: the bytes present, no more
    assert extract_vbt(bytes(big), "vbt", "x")[0] == bytes(big)


# -- captures -------------------------------------------------------------------------------------


def _capture_json(drop: tuple[str, ...] = (), replace: dict[str, bytes] | None = None) -> bytes:
    cap = demo.guest_capture().builder()
    cap.blobs.pop("gtt", None)
    for key in drop:
        cap.blobs.pop(key, None)
    for key, data in (replace or {}).items():
        cap.blobs[key] = Blob(data, "demo", f"/test/{key}")
    return cap.build().to_json().encode()


def test_capture_prefers_debugfs_then_opregion_then_rom():
    raw, where = extract_vbt(_capture_json(), "capture", "c.json")
    assert raw == demo.vbt() and where == "capture: debugfs i915_vbt (the VBT i915 selected)"
    raw, where = extract_vbt(_capture_json(drop=("vbt/debugfs",)), "capture", "c.json")
    assert raw == demo.vbt() and where == "capture: OpRegion mailbox 4 (no debugfs i915_vbt copy)"
    raw, where = extract_vbt(_capture_json(drop=("vbt/debugfs", "opregion")), "capture", "c.json")
    assert raw == demo.vbt() and where == "capture: option ROM at 0x27d (no debugfs i915_vbt copy; no OpRegion)"
    with pytest.raises(BadInput, match="no VBT in the capture: no debugfs i915_vbt copy; no OpRegion; no option ROM"):
        extract_vbt(_capture_json(drop=("vbt/debugfs", "opregion", "rom")), "capture", "c.json")


def test_capture_absolute_rvda_uses_the_devmem_copy_or_falls_back_with_the_reason():
    ext = _ext_vbt()
    host = op.build_opregion({"version": "2.0.0", "mailboxes": {"asle": {"rvda": 0x7A5F_1000, "rvds": len(ext)}}})
    raw, where = extract_vbt(_capture_json(drop=("vbt/debugfs",), replace={"opregion": host, "opregion/rvda": ext}), "capture", "c.json")
    assert raw == ext and where.startswith("capture: OpRegion extended VBT read from /dev/mem at RVDA")
    raw, where = extract_vbt(_capture_json(drop=("vbt/debugfs",), replace={"opregion": host}), "capture", "c.json")
    assert raw == demo.vbt() and where.startswith("capture: option ROM at 0x27d") and "physical address 0x7a5f1000" in where


# -- the command line -------------------------------------------------------------------------------


def test_cli_to_file_and_to_a_pipe(tmp_path):
    rom = tmp_path / "rom.bin"
    rom.write_bytes(demo.option_rom())
    out = tmp_path / "vbt.bin"
    r = cli("extract", "vbt", str(rom), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == demo.vbt()
    assert r.stdout.decode() == f"wrote {out}: 398-byte VBT (BDB version 221) from option ROM at 0x27d\n"
    r = cli("extract", "vbt", str(rom))
    assert r.returncode == 0 and r.stdout == demo.vbt()
    assert r.stderr.decode() == "igdscope: wrote 398-byte VBT (BDB version 221) from option ROM at 0x27d to standard output\n"
    r = cli("extract", "vbt", "-", stdin=demo.opregion())
    assert r.returncode == 0 and r.stdout == demo.vbt() and b"OpRegion mailbox 4" in r.stderr


def test_cli_refuses_a_terminal(tmp_path):
    rom = tmp_path / "rom.bin"
    rom.write_bytes(demo.option_rom())
    r = cli("extract", "vbt", str(rom), tty=True)
    assert r.returncode == 2
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "terminal" in lines[0] and "-o" in lines[0]


def test_cli_truncated_warns_and_absolute_rvda_exits_3(tmp_path):
    cut = tmp_path / "cut.vbt"
    cut.write_bytes(demo.vbt()[:300])
    r = cli("extract", "vbt", str(cut), "-o", str(tmp_path / "o.vbt"))
    assert r.returncode == 0 and (tmp_path / "o.vbt").read_bytes() == demo.vbt()[:300]
    assert "warning: the VBT is truncated: vbt_size says 398 bytes, only 300 are present" in r.stderr.decode()
    opr = tmp_path / "op.bin"
    opr.write_bytes(op.build_opregion({"version": "2.0.0", "mailboxes": {"asle": {"rvda": 0x7A5F_1000, "rvds": 9000}}}))
    r = cli("extract", "vbt", str(opr), "-o", str(tmp_path / "x.vbt"))
    assert r.returncode == 3 and not (tmp_path / "x.vbt").exists()
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "physical address 0x7a5f1000" in lines[0] and "/dev/mem" in lines[0]
    r = cli("extract", "vbt", str(tmp_path / "missing.bin"), "-o", str(tmp_path / "y.vbt"))
    assert r.returncode == 3 and len(r.stderr.decode().splitlines()) == 1


def test_cli_existing_commands_untouched():
    r = cli("--help")
    assert r.returncode == 0 and all(c in r.stdout.decode() for c in ("dump", "show", "demo", "extract"))


# -- intel_vbt_decode accepts what comes out -------------------------------------------------------


@needs_vbt_decode
@pytest.mark.parametrize("name", ["gen9.5-kbl_rikka0w0_vbios-dump.rom", "gen9.5-kbl_rikka0w0_opregion.opregion", "gen12-adlp_coreboot_google-redrix.vbt"])
def test_intel_vbt_decode_accepts_extracted_corpus_vbts(tmp_path, name):
    data = corpus(name)
    raw, _ = extract_vbt(data, sniff(data), name)
    vbt_decode_accepts(tmp_path, raw, V.walk_blocks(raw)["bdb_version"])


@needs_vbt_decode
def test_intel_vbt_decode_accepts_extracted_relative_rvda_vbt(tmp_path):
    rng = random.Random(7)
    ext = V.build_vbt(240, [(1, bytes(7)), (254, rng.randbytes(7000))])
    data = op.build_opregion({"version": "2.1.0", "extended_vbt": ext})
    raw, _ = extract_vbt(data, "opregion", "op.bin")
    assert raw == ext
    vbt_decode_accepts(tmp_path, raw, 240)


# -- extract opregion / extract rom: a capture's blob, byte for byte ------------------------------


def test_capture_opregion_and_rom_come_out_byte_for_byte(tmp_path):
    host = demo.host_capture()
    path = tmp_path / "host.json"
    path.write_text(host.to_json())
    for what, blob in (("opregion", host.blobs["opregion"]), ("rom", host.blobs["rom"])):
        out = tmp_path / f"{what}.bin"
        r = cli("extract", what, str(path), "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == blob.data
        label = "OpRegion" if what == "opregion" else "option ROM"
        assert r.stdout.decode() == f"wrote {out}: {len(blob.data)}-byte {label} from capture blob {what} (read from demo {blob.path}" + (f"; {blob.note})\n" if blob.note else ")\n")
    r = cli("extract", "opregion", str(path))
    assert r.returncode == 0 and r.stdout == host.blobs["opregion"].data
    assert r.stderr.decode().startswith("igdscope: wrote 8192-byte OpRegion from capture blob opregion") and r.stderr.decode().endswith(" to standard output\n")


def test_extracted_opregion_decodes_like_the_blob_and_names_the_devmem_vbt():
    ext = _ext_vbt()
    host_op = op.build_opregion({"version": "2.0.0", "mailboxes": {"asle": {"rvda": 0x7A5F_1000, "rvds": len(ext)}}})
    raw, where = extract_blob(_capture_json(replace={"opregion": host_op, "opregion/rvda": ext}), "capture", "opregion", "c.json")
    assert raw == host_op and op.parse_opregion(raw)["header"]["over"]["major"] == 2
    assert where == ("capture blob opregion (read from demo /test/opregion); its extended VBT at the physical RVDA is blob "
                     "opregion/rvda (extract vbt writes it)")


def test_extract_opregion_or_rom_needs_a_capture_that_has_it(tmp_path):
    with pytest.raises(BadInput, match=r"^c.json: the capture has no OpRegion"):
        extract_blob(_capture_json(drop=("opregion",)), "capture", "opregion", "c.json")
    cap = demo.host_capture().builder()
    cap.blobs.pop("opregion")
    cap.sources["opregion"] = {"used": None, "tried": [{"source": "debugfs", "result": "not tried: i915 does not own 0000:00:02.0"},
                                                       {"source": "vfio", "result": "not tried: vfio-pci does not own 0000:00:02.0"}]}
    cap = cap.build()
    with pytest.raises(BadInput, match=r"no OpRegion \(debugfs: not tried: i915 does not own 0000:00:02.0; vfio: not tried"):
        extract_blob(cap.to_json().encode(), "capture", "opregion", "c.json")
    with pytest.raises(BadInput, match=r"^c.json: the capture has no option ROM$"):
        extract_blob(_capture_json(drop=("rom",)), "capture", "rom", "c.json")
    with pytest.raises(BadInput, match="rom.bin is an option ROM file already: nothing to extract"):
        extract_blob(demo.option_rom(), "rom", "rom", "rom.bin")
    with pytest.raises(BadInput, match="cannot extract an OpRegion from a vbt file"):
        extract_blob(demo.vbt(), "vbt", "opregion", "x.vbt")
    rom = tmp_path / "rom.bin"
    rom.write_bytes(demo.option_rom())
    r = cli("extract", "opregion", str(rom), "-o", str(tmp_path / "o.bin"))
    assert r.returncode == 3 and not (tmp_path / "o.bin").exists()
    assert r.stderr.decode().splitlines() == [f"igdscope: {rom}: cannot extract an OpRegion from a rom file (give a capture: igdscope dump -o FILE)"]
    r = cli("extract", "rom", str(rom), tty=True)
    assert r.returncode == 2 and "refusing to write a binary option ROM to a terminal" in r.stderr.decode()
