"""Parity with igt's ``intel_opregion_decode`` for every header and mailbox field it prints, and the
vfio-pci view of an OpRegion.

How: :func:`igt_text` writes igdscope's decode (``parse_opregion``'s plain data, never the raw
bytes) in the exact text layout ``intel_opregion_decode`` prints, and the tests compare that text
with the tool's real output byte for byte -- for the corpus OpRegion (its stored ``.igt.txt`` and a
fresh run) and for OpRegions built with ``build_opregion`` whose every field holds random values:
2.0 with the VBT in mailbox 4, 2.0 with an absolute RVDA, 2.1 with a relative RVDA and the extended
VBT appended, 3.x with the backlight mailbox (with and without MBOX bit 1), and vfio views.

The layout and rules were read in igt's ``tools/intel_opregion_decode.c`` (newest, commit ecb9eb7f,
Oct 2025; its output code is unchanged since long before 1.27.1) and checked against
``/usr/bin/intel_opregion_decode`` 1.27.1. Known differences, each pinned by a test below:

KNOWN_DIFFERENCES
  text-after-nul   sver/vver/gver/dver/sign: igt prints up to the first NUL (strndup); igdscope keeps
                   every byte of the field (trailing NULs dropped) so parse -> build is exact.
                   Compared here cut at the first NUL.
  dver-utf16       dver: igt prints bytes, so a UTF-16 GOP version shows one character; igdscope
                   gives the raw bytes (same as igt up to the NUL) and ``dver_text`` decoded.
  mbox-bit5        MBOX bit 5 (3.x backlight mailbox 2): igt does not know it and prints nothing;
                   igdscope decodes ``backlight_3x``. With bit 1 also set both decode mailbox 2 as
                   SWSCI (igdscope adds a finding that i915 ignores SWSCI from 3.0).
  short-data       below 0x1D04 bytes igt prints only "buffer too small"; igdscope decodes every
                   mailbox that is present (and from 0x1D04 on, mailbox 5 like igt).
  bad-signature    igt prints "invalid opregion signature" and nothing else; igdscope decodes the
                   fields and reports the signature as a finding.
  rvda             igt prints RVDA/RVDS raw and never follows them; igdscope prints the same values
                   and also locates the extended VBT (``extended_vbt``, ``vbt_source``).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from igdscope.binary import DecodeError, to_plain
from igdscope.schemas import opregion as op
from igdscope.schemas import vbt as V
from tests.support.shared import CORPUS

OPREGION_FILE = "gen9.5-kbl_rikka0w0_opregion.opregion"
SMALL_VBT_FILE = "gen9.5-kbl_coreboot_google-eve.vbt"  # fits mailbox 4
LARGE_VBT_FILE = "gen12-adlp_coreboot_google-redrix.vbt"  # 8607 bytes: needs RVDA
IGT = shutil.which("intel_opregion_decode") or ("/usr/bin/intel_opregion_decode" if Path("/usr/bin/intel_opregion_decode").exists() else None)


def needs_igt(fn):
    """Marked ``igt`` and skipped, with the reason, where Debian's intel-gpu-tools is missing."""
    return pytest.mark.igt(pytest.mark.skipif(IGT is None, reason="intel_opregion_decode (Debian intel-gpu-tools) is not installed")(fn))


IGT_MAILBOXES = ("acpi", "swsci", "asle", "vbt", "asle_ext")  # MBOX bits 0-4, the order igt prints


# -- igdscope's decode in igt's layout ------------------------------------------------------------


def _cut(text: str) -> str:
    return text.split("\0", 1)[0]


def _bits(flags: dict, table: dict[str, int]) -> int:
    value = int(flags.get("reserved_bits") or 0)
    for name, bit in table.items():
        if flags.get(name):
            value |= bit
    return value


def _row(values: bytes) -> str:
    return "".join(f"{b:02x} " for b in values)


def igt_text(parsed: dict) -> str:
    """``parse_opregion`` output written the way ``intel_opregion_decode`` prints an OpRegion."""
    h = parsed["header"]
    if h["signature"] != "IntelGraphicsMem" or parsed["size"] < op.IGT_MIN_SIZE:
        return ""  # igt prints only an error on stderr (bad-signature, short-data)
    over = h["over"]
    out = [
        "OpRegion Header:",
        f"\tsign:\t{_cut(h['signature'])}",
        f"\tsize:\t0x{h['size']:08x}",
        f"\tover:\t0x{over['major'] << 24 | over['minor'] << 16 | over['revision'] << 8 | over['rsvd']:08x}",
        f"\tsver:\t{_cut(h['bios_ver'])}",
        f"\tvver:\t{_cut(h['vbios_ver'])}",
        f"\tgver:\t{_cut(h['driver_ver'])}",
        f"\tmbox:\t0x{_bits(h['mboxes'], op.Mboxes.flags):08x}",
        f"\tdmod:\t0x{h['driver_model']:08x}",
        f"\tpcon:\t0x{_bits(h['pcon'], op.Pcon.flags):08x}",
        f"\tdver:\t{_cut(bytes.fromhex(h['dver']).decode('latin-1'))}",
        "",
    ]
    mb = parsed["mailboxes"]
    if "acpi" in mb:
        a = mb["acpi"]
        out += ["OpRegion Mailbox 1: Public ACPI Methods:"]
        out += [f"\t{k}:\t0x{a[k]:08x}" for k in ("drdy", "csts", "cevt")]
        for name in ("didl", "cpdl", "cadl", "nadl"):
            out += [f"\t{name}:"] + [f"\t\t{name}[{i}]:\t0x{v:08x}" for i, v in enumerate(a[name])]
        out += [f"\t{k}:\t0x{a[k]:08x}" for k in ("aslp", "tidx", "chpd", "clid", "cdck", "sxsw", "evts", "cnot", "nrdy")]
        for name in ("did2", "cpd2"):
            out += [f"\t{name}:"] + [f"\t\t{name}[{i}]:\t0x{v:08x}" for i, v in enumerate(a[name])]
        out += [""]
    if "swsci" in mb:
        s = mb["swsci"]
        c = s["scic"]
        scic = c["reserved"] << 16 | c["sub_function"] << 8 | c["exit_status"] << 5 | c["main_function"] << 1 | c["indicator"]
        out += ["OpRegion Mailbox 2: Software SCI Interface (SWSCI):", f"\tscic:\t0x{scic:08x}",
                f"\tparm:\t0x{s['parm']:08x}", f"\tdslp:\t0x{s['dslp']:08x}", ""]
    if "asle" in mb:
        a = mb["asle"]
        out += ["OpRegion Mailbox 3: BIOS to Driver Notification (ASLE):"]
        out += [
            f"\tardy:\t0x{a['ardy']:08x}",
            f"\taslc:\t0x{_bits(a['aslc'], op.Aslc.flags):08x}",
            f"\ttche:\t0x{_bits(a['tche'], op.Tche.flags):08x}",
            f"\talsi:\t0x{a['alsi']:08x}",
            f"\tbclp:\t0x{a['bclp']['valid'] << 31 | a['bclp']['level']:08x}",
            f"\tpfit:\t0x{_bits(a['pfit'], op.Pfit.flags):08x}",
            f"\tcblv:\t0x{a['cblv']['valid'] << 31 | a['cblv']['level']:08x}",
            "\tbclm:",
        ]
        for i, e in enumerate(a["bclm"]):
            line = f"\t\tbclm[{i}]:\t0x{e['valid'] << 15 | e['percent'] << 8 | e['duty_cycle']:04x}"
            out.append(line + (f" ({e['percent']:3d}% -> 0x{e['duty_cycle']:02x})" if e["valid"] else ""))
        plut = a["plut"]
        table = bytes.fromhex(plut["table"])
        pf = a["pfmb"]
        out += [
            f"\tcpfm:\t0x{a['cpfm']:08x}",
            f"\tepfm:\t0x{a['epfm']:08x}",
            f"\tplut header:\t0x{plut['header']:02x}",
            "\tplut identifier:" + "".join(f" {b:02x}" for b in bytes.fromhex(plut["identifier"])),
            "\tplut:",
        ]
        out += [f"\t\tplut[{i // 7}]:\t{_row(table[i:i + 7])}" for i in range(0, len(table), 7)]
        out += [
            f"\tpfmb:\t0x{pf['pwm_valid'] << 31 | pf['pwm_frequency'] << 9 | pf['brightness_valid'] << 8 | pf['min_brightness']:08x}",
            f"\tccdv:\t0x{a['cddv']:08x}",
            f"\tpcft:\t0x{a['pcft']:08x}",
            f"\tsrot:\t0x{a['srot']:08x}",
            f"\tiuer:\t0x{_bits(a['iuer'], op.Iuer.flags):08x}",
            f"\tfdss:\t{_row(a['fdss'].to_bytes(8, 'little'))}",
            f"\tfdsp:\t0x{a['fdsp']:08x}",
            f"\tstat:\t0x{a['stat']:08x}",
            f"\trvda:\t0x{a['rvda']:016x}",
            f"\trvds:\t0x{a['rvds']:08x}",
            "",
        ]
    if "vbt" in mb:
        out += ["OpRegion Mailbox 4: Video BIOS Table (VBT):", f"\tproduct string:\t{mb['vbt']['product_string']}",
                "\t(use intel_vbt_decode to decode the VBT)", ""]
    if "asle_ext" in mb:
        e = mb["asle_ext"]
        bddc = bytes.fromhex(e["bddc"])
        out += ["OpRegion Mailbox 5: BIOS to Driver Notification Extension:", f"\tphed:\t0x{e['phed']:08x}", "\tbddc:"]
        out += [f"\t\tbddc[0x{i:02x}]:\t{_row(bddc[i:i + 16])}" for i in range(0, len(bddc), 16)]
        out += [""]
    return "\n".join(out) + "\n"


def run_igt(tmp_path: Path, data: bytes, name: str = "opregion.bin") -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run([IGT, f"--file={path}"], capture_output=True, timeout=60, check=False)


def assert_parity(tmp_path: Path, data: bytes) -> dict:
    parsed = op.parse_opregion(data)
    res = run_igt(tmp_path, data)
    assert res.returncode == 0, res.stderr
    theirs = res.stdout.decode("latin-1")
    ours = igt_text(parsed)
    if ours != theirs:  # show the first differing line, not two 300-line blobs
        for i, (a, b) in enumerate(zip(ours.splitlines(), theirs.splitlines())):
            assert a == b, f"line {i + 1}: igdscope {a!r} != igt {b!r}"
        assert ours == theirs
    return parsed


# -- building OpRegions with every field random ---------------------------------------------------


def corpus_bytes(name: str) -> bytes | None:
    path = CORPUS / name
    return path.read_bytes() if path.is_file() else None


def small_vbt() -> bytes:
    data = corpus_bytes(SMALL_VBT_FILE)
    if data is None:
        return V.demo_vbt()
    return data[: int.from_bytes(data[0x18:0x1A], "little")]


def large_vbt() -> bytes:
    data = corpus_bytes(LARGE_VBT_FILE)
    if data is not None:
        return data[: int.from_bytes(data[0x18:0x1A], "little")]
    return V.build_vbt(240, [(1, bytes(7)), (254, bytes(7000))])  # 7k > mailbox 4


def rand_plain(schema, size: int, rng: random.Random) -> dict:
    return to_plain(schema.parse(rng.randbytes(size)))


def random_opregion(rng: random.Random, version: tuple[int, int, int], mboxes: int, *, mbox4: bytes | None = None,
                    rvda: int = 0, rvds: int = 0, extended_vbt: bytes = b"", backlight: bool = False) -> bytes:
    header = rand_plain(op.OpRegionHeader, 0x100, rng)
    header.update(signature="IntelGraphicsMem", size=8, mboxes=mboxes,
                  over={"rsvd": 0, "major": version[0], "minor": version[1], "revision": version[2]})
    header["bios_ver"] = "SVER " + rng.randbytes(20).hex()[:25]  # printable ones too
    mailboxes = {
        "acpi": rand_plain(op.Mailbox1Acpi, 0x100, rng),
        "asle": {**rand_plain(op.Mailbox3Asle, 0x100, rng), "rvda": rvda, "rvds": rvds},
        "asle_ext": rand_plain(op.Mailbox5AsleExt, 0x400, rng),
    }
    values = {"header": header, "mailboxes": mailboxes, "extended_vbt": extended_vbt}
    if backlight:
        mailboxes["backlight_3x"] = rand_plain(op.Mailbox2Backlight, 0x100, rng)
    else:
        mailboxes["swsci"] = rand_plain(op.Mailbox2Swsci, 0x100, rng)
    values["mbox4"] = mbox4 if mbox4 is not None else rng.randbytes(op.VBT_MAILBOX_SIZE)
    data = op.build_opregion(values)
    assert data[0x3BA:0x3C2] == rvda.to_bytes(8, "little") and data[0x58] == mboxes
    return data


def case_20_mailbox4(rng):
    return random_opregion(rng, (2, 0, 0), 0x1F, mbox4=small_vbt())


def case_20_absolute(rng):
    return random_opregion(rng, (2, 0, 0), 0x17, rvda=0x8A3F_2000, rvds=len(large_vbt()))


def case_21_relative(rng):
    ext = large_vbt()
    return random_opregion(rng, (2, 1, 0), 0x1F, rvda=0x2000, rvds=len(ext), extended_vbt=ext)


def case_30_backlight(rng):
    return random_opregion(rng, (3, 0, 0), 0x3D, mbox4=small_vbt(), backlight=True)


def case_32_backlight_and_bit1(rng):
    return random_opregion(rng, (3, 2, 0), 0x3F, mbox4=small_vbt(), backlight=True)


CASES = {
    "2.0-mailbox4-vbt": case_20_mailbox4,
    "2.0-absolute-rvda": case_20_absolute,
    "2.1-relative-rvda-appended": case_21_relative,
    "3.0-backlight": case_30_backlight,
    "3.2-backlight-and-swsci-bit": case_32_backlight_and_bit1,
}


# -- the tests ------------------------------------------------------------------------------------


def test_corpus_opregion_text_equals_stored_igt_decode():
    data = corpus_bytes(OPREGION_FILE)
    if data is None:
        pytest.skip(f"corpus file {CORPUS / OPREGION_FILE} is absent")
    stored = (CORPUS / (OPREGION_FILE + ".igt.txt")).read_bytes().decode("latin-1")
    assert igt_text(op.parse_opregion(data)) == stored


@needs_igt
def test_corpus_opregion_parity_with_installed_igt(tmp_path):
    data = corpus_bytes(OPREGION_FILE)
    if data is None:
        pytest.skip(f"corpus file {CORPUS / OPREGION_FILE} is absent")
    parsed = assert_parity(tmp_path, data)
    assert parsed["version"] == "2.0.0" and parsed["vbt_source"] == "mailbox 4"


@needs_igt
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_built_opregion_parity(tmp_path, name, seed):
    data = CASES[name](random.Random(f"{name}/{seed}"))
    parsed = assert_parity(tmp_path, data)
    # what each case is about, beyond the printed fields
    if name == "2.0-mailbox4-vbt":
        assert parsed["extended_vbt"] is None and op.vbt_bytes(data)[0] == small_vbt()
    elif name == "2.0-absolute-rvda":
        assert parsed["extended_vbt"] == {"kind": "absolute", "address": 0x8A3F_2000, "size": len(large_vbt())}
        assert "physical address 0x8a3f2000" in parsed["vbt_source"]
    elif name == "2.1-relative-rvda-appended":
        assert parsed["extended_vbt"] == {"kind": "relative", "offset": 0x2000, "size": len(large_vbt())}
        assert op.vbt_bytes(data) == (large_vbt(), "RVDA at +0x2000")
    else:
        assert "backlight_3x" in parsed["mailboxes"]  # decoded by igdscope, not printed by igt (mbox-bit5)
        assert ("swsci" in parsed["mailboxes"]) == name.startswith("3.2")


@needs_igt
def test_vfio_views_parity(tmp_path):
    rng = random.Random("vfio")
    host = case_20_absolute(rng)
    view = op.vfio_view(host, large_vbt())
    parsed = assert_parity(tmp_path, view)
    assert parsed["version"] == "2.1.0" and parsed["mailboxes"]["asle"]["rvda"] == 0x2000


# -- known differences, pinned ---------------------------------------------------------------------


@needs_igt
def test_known_difference_text_after_nul(tmp_path):
    data = bytearray(case_20_mailbox4(random.Random("nul")))
    data[0x18:0x38] = b"F12\0garbage after the NUL".ljust(32, b"\0")
    parsed = assert_parity(tmp_path, bytes(data))  # compared cut at the NUL
    assert parsed["header"]["bios_ver"] == "F12\0garbage after the NUL"
    assert "\tsver:\tF12\n" in run_igt(tmp_path, bytes(data)).stdout.decode("latin-1")


@needs_igt
def test_known_difference_dver_utf16(tmp_path):
    data = bytearray(case_20_mailbox4(random.Random("dver")))
    data[0x64:0x84] = "9.0.1080".encode("utf-16-le").ljust(32, b"\0")
    parsed = assert_parity(tmp_path, bytes(data))
    assert parsed["dver_text"] == "9.0.1080"
    assert "\tdver:\t9\n" in run_igt(tmp_path, bytes(data)).stdout.decode("latin-1")


@needs_igt
def test_known_difference_mbox_bit5(tmp_path):
    data = case_30_backlight(random.Random("bit5"))
    text = run_igt(tmp_path, data).stdout.decode("latin-1")
    assert "Mailbox 2" not in text and "bcl1" not in text
    parsed = op.parse_opregion(data)
    assert set(parsed["mailboxes"]) == {"acpi", "backlight_3x", "asle", "vbt", "asle_ext"}
    assert parsed["mailboxes"]["backlight_3x"]["bcl1"] == int.from_bytes(data[0x200:0x204], "little")


@needs_igt
def test_known_difference_short_data(tmp_path):
    full = case_20_mailbox4(random.Random("short"))
    at_limit = full[: op.IGT_MIN_SIZE]
    assert_parity(tmp_path, at_limit)  # 0x1D04 bytes: both decode mailbox 5 (its reserved tail is cut)
    assert any("cut by the end of the data" in f for f in op.parse_opregion(at_limit)["findings"])
    short = full[: op.IGT_MIN_SIZE - 1]
    res = run_igt(tmp_path, short)
    assert res.stdout == b"" and b"buffer too small" in res.stderr and res.returncode == 0
    parsed = op.parse_opregion(short)
    assert set(parsed["mailboxes"]) == {"acpi", "swsci", "asle", "vbt"}
    assert any("mailbox 5" in f and "beyond" in f for f in parsed["findings"])


@needs_igt
def test_known_difference_bad_signature(tmp_path):
    data = bytearray(case_20_mailbox4(random.Random("sig")))
    data[0:16] = b"IntelGraphicsMEM"
    res = run_igt(tmp_path, bytes(data))
    assert res.stdout == b"" and b"invalid opregion signature" in res.stderr
    parsed = op.parse_opregion(bytes(data))
    assert igt_text(parsed) == "" and any("signature" in f for f in parsed["findings"])
    assert parsed["mailboxes"]["acpi"]["drdy"] == int.from_bytes(data[0x100:0x104], "little")


def test_known_differences_are_documented():
    doc = __doc__ or ""
    for key in ("text-after-nul", "dver-utf16", "mbox-bit5", "short-data", "bad-signature", "rvda"):
        assert key in doc


def test_product_string_is_printed_whatever_mailbox_4_holds():
    data = op.build_opregion({"version": "2.0", "header": {"mboxes": 0x08}, "mbox4": b"NOT A VBT AT ALL, REALLY"})
    vbt = op.parse_opregion(data)["mailboxes"]["vbt"]
    assert vbt["product_string"] == "NOT A VBT AT ALL, RE"  # 20 bytes, as igt prints them
    assert vbt["present"] is False and vbt["vbt_size"] is None


# -- the vfio view ---------------------------------------------------------------------------------


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def test_vfio_view_of_20_with_absolute_extended_vbt():
    rng = random.Random("vfio-abs")
    ext = large_vbt()
    host = case_20_absolute(rng)
    view = op.vfio_view(host, ext)
    assert len(view) == 0x2000 + len(ext)
    assert _u16(view, 0x16) == 0x0201  # minor 1, major 2
    assert view[0x15] == host[0x15]  # the revision byte is not touched
    assert int.from_bytes(view[0x3BA:0x3C2], "little") == 0x2000
    assert view[0x3C2:0x3C6] == host[0x3C2:0x3C6]  # RVDS passes through
    assert view[0x2000:] == ext
    diff = [i for i in range(0x2000) if view[i] != host[i]]
    assert all(i == 0x16 or 0x3BA <= i < 0x3C2 for i in diff)
    parsed = op.parse_opregion(view)
    assert parsed["extended_vbt"] == {"kind": "relative", "offset": 0x2000, "size": len(ext)}
    assert op.vbt_bytes(view) == (ext, "RVDA at +0x2000")
    assert not [f for f in parsed["findings"] if "RVDA" in f or "bytes after" in f]


def test_vfio_view_of_21_contiguous_is_the_same_bytes():
    host = case_21_relative(random.Random("vfio-21"))
    assert op.vfio_view(host) == host
    assert op.vfio_view(host, large_vbt()) == host


def test_vfio_view_of_3x_moves_a_distant_relative_vbt_behind_the_opregion():
    ext = small_vbt()
    host = random_opregion(random.Random("vfio-3x"), (3, 0, 0), 0x3D, rvda=0x3000, rvds=len(ext), backlight=True)
    host = host + bytes(0x1000) + ext  # RVDA 0x3000: 4 KiB of something, then the VBT
    view = op.vfio_view(host)
    assert view[0x2000:] == ext and len(view) == 0x2000 + len(ext)
    assert _u16(view, 0x16) == 0x0300  # only 2.0 is rewritten
    assert int.from_bytes(view[0x3BA:0x3C2], "little") == 0x2000


def test_vfio_view_without_extended_vbt_reads_rvda_as_zero():
    plain = case_20_mailbox4(random.Random("vfio-none"))
    assert op.vfio_view(plain) == plain  # RVDA was 0 already
    # version 1.x with RVDA/RVDS set: vfio-pci maps nothing and still reads RVDA as 0
    old = bytearray(plain)
    old[0x16:0x18] = bytes([0, 1])
    old[0x3BA:0x3C2] = (0x1234_5000).to_bytes(8, "little")
    old[0x3C2:0x3C6] = (100).to_bytes(4, "little")
    view = op.vfio_view(bytes(old))
    assert len(view) == 0x2000 and view[0x3BA:0x3C2] == bytes(8) and view[0x3C2:0x3C6] == old[0x3C2:0x3C6]
    assert view[:0x3BA] == old[:0x3BA] and view[0x3C2:] == old[0x3C2:0x2000]


def test_vfio_view_refusals():
    good = case_20_mailbox4(random.Random("vfio-bad"))
    with pytest.raises(DecodeError, match="whole 8 KiB"):
        op.vfio_view(good[:0x1FFF])
    with pytest.raises(DecodeError, match="signature"):
        op.vfio_view(b"X" * 0x2000)
    zero = bytearray(good)
    zero[0x10:0x14] = bytes(4)
    with pytest.raises(DecodeError, match="size field is 0"):
        op.vfio_view(bytes(zero))
    big = bytearray(good)
    big[0x10:0x14] = (16).to_bytes(4, "little")
    with pytest.raises(DecodeError, match="only 8192 are backed"):
        op.vfio_view(bytes(big))
    small = bytearray(good)
    small[0x10:0x14] = (4).to_bytes(4, "little")
    assert op.vfio_view(bytes(small)) == bytes(small)[:0x1000]  # the region is SIZE KiB
    absolute = case_20_absolute(random.Random("vfio-abs2"))
    with pytest.raises(DecodeError, match="physical address 0x8a3f2000"):
        op.vfio_view(absolute)  # the VBT must be read elsewhere and passed in
    with pytest.raises(DecodeError, match="RVDS says"):
        op.vfio_view(absolute, large_vbt()[:100])
    with pytest.raises(DecodeError, match="maps no extended VBT"):
        op.vfio_view(good, small_vbt())
    huge = bytearray(case_21_relative(random.Random("vfio-huge"))[:0x2000])
    huge[0x3C2:0x3C6] = (0xFFFF_FFFF).to_bytes(4, "little")
    with pytest.raises(DecodeError, match="not in these 8192 bytes"):
        op.vfio_view(bytes(huge))
