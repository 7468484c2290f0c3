"""The command line as a user meets it: golden output for the demo machine, JSON for scripts,
sniffing, one-line errors with documented exit codes, and no textual import outside the TUI.

Golden files live in tests/golden/; regenerate them with ``IGDSCOPE_UPDATE_GOLDEN=1 pytest
tests/test_cli.py`` after an intended change to the output, and read the diff.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from igdscope import capture as capmod
from igdscope.cli.main import main
from igdscope.sources import demo
from tests.support.shared import CORPUS, WORLD, need

GOLDEN = Path(__file__).parent / "golden"


def run(*args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "igdscope", *args], capture_output=True, input=stdin, timeout=120)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("IGDSCOPE_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with IGDSCOPE_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.fixture(scope="module")
def host_json(tmp_path_factory):
    p = tmp_path_factory.mktemp("demo") / "host.json"
    r = run("dump", "--demo", "-o", str(p))
    assert r.returncode == 0, r.stderr
    return p


@pytest.fixture(scope="module")
def guest_json(tmp_path_factory):
    p = tmp_path_factory.mktemp("demo") / "guest.json"
    assert run("dump", "--demo", "guest", "-o", str(p)).returncode == 0
    return p


def test_demo_text_is_golden():
    r = run("demo", "--text")
    assert r.returncode == 0, r.stderr
    golden("demo-host.txt", r.stdout.decode())


def test_demo_guest_text_is_golden():
    r = run("demo", "--text", "--guest")
    assert r.returncode == 0
    golden("demo-guest.txt", r.stdout.decode())


def test_show_capture_equals_demo_view(host_json):
    r = run("show", str(host_json))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == (GOLDEN / "demo-host.txt").read_text()


def test_dump_json_is_valid_and_round_trips(host_json, guest_json, capture_validator):
    for p in (host_json, guest_json):
        text = p.read_text()
        doc = json.loads(text)
        capture_validator(doc)
        cap = capmod.loads(text)
        # dump -> load -> dump gives the same document
        from igdscope.decode.model import decode_capture

        assert cap.to_json(decode_capture(cap)) == text


def test_dump_json_stdout_equals_file(host_json):
    r = run("dump", "--demo", "--json")
    assert r.returncode == 0
    assert r.stdout.decode() == host_json.read_text()


def test_capture_holds_raw_bytes_and_decoded_view(host_json):
    doc = json.loads(host_json.read_text())
    assert doc["format"] == "igdscope-capture" and doc["version"] == 1 and doc["machine"] == "host"
    gtt = doc["blobs"]["gtt"]
    assert gtt["encoding"] == "zlib+base64" and gtt["size"] == 8 << 20
    assert len(zlib.decompress(base64.b64decode(gtt["data"]))) == 8 << 20
    cfg = doc["blobs"]["config/0000:00:02.0"]
    assert cfg["encoding"] == "base64" and cfg["size"] == 4096
    dec = doc["decoded"]
    s = dec["devices"]["igd"]["summary"]
    assert (s["ggc"], s["dsm_bytes"], s["gsm_bytes"], s["bdsm"], s["asls"]) == (0x02C1, 64 << 20, 8 << 20, demo.BDSM, demo.ASLS)
    hb = dec["devices"]["host_bridge"]["summary"]
    assert (hb["tolud"], hb["bgsm"], hb["bdsm"]) == (demo.TOLUD, demo.BGSM, demo.BDSM)
    assert dec["findings"] == []  # the demo host is self-consistent
    assert dec["gtt"]["entries"] == 1 << 20 and dec["gtt"]["most_common_value"] == demo.HOST_SCRATCH | 1
    assert dec["platform"]["qemu_gen"] == {"A": 8, "B": 9, "C": 9}


def test_show_json_of_capture(host_json):
    r = run("show", str(host_json), "--json")
    doc = json.loads(r.stdout)
    assert doc["kind"] == "capture" and doc["devices"]["lpc"]["identity"]["device"] == demo.LPC_DID


@pytest.mark.parametrize("kind,blob", [("config", "config/0000:00:02.0"), ("rom", "rom"), ("opregion", "opregion")])
def test_show_sniffs_raw_files(tmp_path, kind, blob):
    cap = demo.host_capture()
    p = tmp_path / "raw.bin"
    p.write_bytes(cap.blobs[blob].data)
    r = run("show", str(p), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == kind
    r = run("show", str(p))
    assert r.returncode == 0 and r.stdout


def test_show_vbt_and_stdin():
    r = run("show", "-", "--json", stdin=demo.vbt())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "vbt" and [b["id"] for b in doc["blocks"]][:2] == [1, 2]


def test_show_lspci_text_from_stdin():
    cfg = demo.igd_config()[:256]
    text = "00:02.0 VGA compatible controller [0300]: Intel Corporation CoffeeLake-S GT2 [8086:3e92]\n"
    text += "".join(f"{o:02x}: " + " ".join(f"{b:02x}" for b in cfg[o : o + 16]) + "\n" for o in range(0, 256, 16))
    r = run("show", "-", "--json", stdin=("> " + text.replace("\n", "\n> ")).encode())  # mail-quoted
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    igd = doc["devices"]["0000:00:02.0"]
    assert doc["kind"] == "lspci" and igd["summary"]["asls"] == demo.ASLS and igd["platform"]["platform"] == "CFL"


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "empty"),
        (b"\x01\x02\x03 random bytes that are nothing", "unknown kind"),
        (b'{"format": "igdscope-capture", "version": 99}', "newer than this igdscope"),
        (b'{"format": "igdscope-capture", "version": 1, "blobs": {"x": {"size": 2000000000, "encoding": "base64", "data": "", "sha256": ""}}}', "2000000000 bytes"),
        (b'{"format": "igdscope-capture", ' + b'"a": ' * 1 + b"[" * 200000 + b"]" * 200000 + b"}", "nested too deeply"),
    ],
    ids=["empty", "garbage", "version", "huge-blob", "nested"],
)
def test_bad_input_is_one_line_with_exit_3(tmp_path, content, needle):
    p = tmp_path / "bad"
    p.write_bytes(content)
    r = run("show", str(p))
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert str(p) in err or "stdin" in err or "capture" in err


def test_sha256_mismatch_and_truncated_config(tmp_path, host_json):
    doc = json.loads(host_json.read_text())
    b = doc["blobs"]["config/0000:00:00.0"]
    raw = bytearray(base64.b64decode(b["data"]))
    raw[0x50] ^= 1
    b["data"] = base64.b64encode(bytes(raw)).decode()
    p = tmp_path / "tampered.json"
    p.write_text(json.dumps(doc))
    r = run("show", str(p))
    assert r.returncode == 3 and b"sha256 does not match" in r.stderr and str(p).encode() in r.stderr
    cfg = tmp_path / "cfg64.bin"
    cfg.write_bytes(demo.igd_config()[:64])
    r = run("show", str(cfg), "--json")
    assert r.returncode == 0
    dev = json.loads(r.stdout)["device"]
    assert dev["truncated"] and any("64 of 256" in f for f in dev["findings"])
    assert all(reg["raw"] is None for reg in dev["registers"] if reg["offset"] >= 64)


def test_unknown_platform_and_missing_file():
    r = run("show", "/nonexistent/file")
    assert r.returncode == 3 and b"cannot read" in r.stderr
    r = run("show", "-", "--platform", "NOPE", stdin=demo.igd_config())
    assert r.returncode == 3 and b"unknown platform 'NOPE'" in r.stderr


def test_usage_errors_exit_2():
    assert run("show").returncode == 2
    assert run("frobnicate").returncode == 2


def test_help_teaches_exit_codes():
    r = run("--help")
    out = r.stdout.decode()
    assert "exit codes:" in out and re.search(r"^  4 +no Intel display device", out, re.M)
    r = run("show", "--help")
    assert b"lspci -s 00:02.0 -xxx | igdscope show -" in r.stdout


def test_exit_codes_documented_in_readme_match():
    from igdscope import errors

    from igdscope.cli.main import EXIT_CODES_HELP

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    in_help = {int(m) for m in re.findall(r"^  (\d+) ", EXIT_CODES_HELP, re.M)}
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert documented == in_help == codes
    for code, words in ((errors.EXIT_BAD_INPUT, "bad input"), (errors.EXIT_NO_IGD, "no Intel display device"), (errors.EXIT_INTERRUPTED, "interrupted")):
        assert f"| {code} | {words}" in table


def test_cli_never_imports_textual():
    code = (
        "import sys, io, contextlib\n"
        "from igdscope.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['dump', '--demo', '--json'])\n"
        "    main(['demo', '--text'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_main_in_process_returns_codes(capsys):
    assert main(["dump", "--demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["machine"] == "host"


def test_show_json_of_every_corpus_file(capsys):
    """Every real VBT, ROM and OpRegion: ``show --json`` is valid JSON with every byte string as
    hex -- including blocks past bdb_size that i915 and igt ignore (9 corpus VBTs have one)."""
    need(CORPUS)
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".vbt", ".rom", ".opregion"))
    ignored = with_findings = 0
    for p in files:
        assert main(["show", str(p), "--json"]) == 0, p.name
        doc = json.loads(capsys.readouterr().out)
        vbt = doc if doc["kind"] == "vbt" else doc["vbt_decoded"]
        assert "error" not in vbt, p.name  # every corpus ROM and OpRegion carries a VBT
        for b in vbt.get("ignored_blocks", []):
            assert isinstance(b["raw"], str) and len(b["raw"]) == 2 * b["size"], p.name
            ignored += 1
        for b in vbt["blocks"]:  # {id, name, offset, size, fields | raw, findings}
            assert list(b)[:4] == ["id", "name", "offset", "size"] and ("fields" in b) != ("raw" in b), p.name
            assert isinstance(b["findings"], list) and "findings" not in (b.get("fields") or {}), p.name
            with_findings += bool(b["findings"])
    assert len(files) == 40 and ignored >= 9 and with_findings >= 20


def test_capture_with_host_facts_of_the_wrong_shape_still_decodes(tmp_path, capsys, host_json, guest_json):
    # a hand-edited capture: modules an integer, a DMAR unit without a name, OpRegion sources as
    # strings; every command decodes the rest and names what it ignored
    doc = json.loads(host_json.read_text())
    doc["host"].update(modules=3, dmar=[{"cap": "1c0000c40660462"}], iomem="8b800000-8f7fffff : Graphics Stolen Memory")
    doc["sources"]["opregion"]["tried"] = ["vfio"]
    doc["devices"][0]["sriov"] = {"role": "pf", "numvfs": "2"}
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(doc))
    assert main(["show", str(p)]) == 0
    out = capsys.readouterr().out
    assert "capture  host.modules is not an object of modules (int in the file); ignored" in out
    assert "BDSM (stolen base)        0x8b800000" in out
    assert main(["check", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdicts"]["upt"]["verdict"] == "works"
    for argv in (["show", str(p), "--json"], ["diff", str(p), str(guest_json)], ["extract", "vbt", str(p), "-o", str(tmp_path / "vbt.bin")]):
        assert main(argv) in (0, 1), argv
        assert "Traceback" not in capsys.readouterr().err


def test_text_output_escapes_control_characters_from_firmware(tmp_path, capsys):
    """A VBT's text fields can hold any byte: ESC, CSI, NUL and the like reach the terminal as
    \\xNN escapes, never raw (JSON escapes them by itself); binary output stays byte-exact."""
    from igdscope.schemas import vbt as V

    raw = demo.vbt()
    blocks = [(b["id"], raw[b["offset"] + 3 : b["offset"] + 3 + b["size"]]) for b in V.walk_blocks(raw)["blocks"]]
    data = V.build_vbt(V.DEMO_BDB_VERSION, blocks, signature="$VBT \x00\x03\x1b[2J\x9b1m\x7f")
    p = tmp_path / "hostile.vbt"
    p.write_bytes(data)

    def controls(text: str) -> set[str]:
        return {c for c in text if (ord(c) < 0x20 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0}

    assert main(["show", str(p)]) == 0
    out = capsys.readouterr().out
    assert "$VBT \\x00\\x03\\x1b[2J\\x9b1m\\x7f" in out and not controls(out)
    assert main(["show", str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["vbt_header"]["signature"].startswith("$VBT \x00\x03\x1b[2J\x9b1m\x7f")  # the value itself is kept
    out_file = tmp_path / "out.vbt"
    assert main(["extract", "vbt", str(p), "-o", str(out_file)]) == 0
    assert out_file.read_bytes() == data[: len(out_file.read_bytes())] and b"\x1b[2J" in out_file.read_bytes()
    # an error line quoting a name from the command line is escaped too
    assert main(["show", str(tmp_path / "no\x1b]0;title\x07such.vbt")]) != 0
    err = capsys.readouterr().err
    assert "no\\x1b]0;title\\x07such.vbt" in err and not controls(err)


def test_a_cut_vbt_header_is_named_and_errors_name_the_file(tmp_path, capsys):
    """A '$VBT' with fewer than its 48 header bytes behind it is a cut file, not a file without a
    VBT; and an error from decoding a file of a forced --kind names the file like every other."""
    vbt = demo.vbt()
    cut = tmp_path / "cut.vbt"
    cut.write_bytes(vbt[:30])
    assert main(["show", str(cut)]) == 3
    err = capsys.readouterr().err
    assert err.strip() == f"igdscope: {cut}: the '$VBT' at 0x0 of the file is cut inside its 48-byte header (30 bytes present)"
    assert main(["extract", "vbt", str(cut), "-o", str(tmp_path / "out")]) == 3
    assert "cut inside its 48-byte header (30 bytes present)" in capsys.readouterr().err
    other = tmp_path / "other.bin"
    other.write_bytes(b"QGFX" + bytes(8))
    for kind, needle in (("vbt", "no '$VBT' signature in the file (12 bytes)"),
                         ("opregion", "OpRegion header: truncated (12 bytes"),
                         ("config", "config space of 12 bytes is too short")):
        assert main(["show", str(other), "--kind", kind]) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"igdscope: {other}: ") and needle in err and len(err.splitlines()) == 1, err


def test_vbt_without_a_bdb_header_says_so_in_text(tmp_path, capsys):
    """A VBT cut before its BDB header still shows what it has, with no 'None' standing in for the
    fields it lacks."""
    vbt = demo.vbt()
    bdb_at = int.from_bytes(vbt[0x1C:0x20], "little")
    p = tmp_path / "head.vbt"
    p.write_bytes(vbt[: bdb_at + 4])
    assert main(["show", str(p)]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    lines = out.splitlines()
    assert lines[1] == "BDB header: not decoded (the findings below say why)"
    assert lines[lines.index("BDB blocks present:") + 1] == "  none"
    assert any(line.startswith("! BDB header at ") for line in lines)


def test_rom_vbt_line_without_bdb_header_or_holding_image(tmp_path, capsys):
    """The ROM summary's VBT line says 'no BDB header' and 'outside every image' instead of
    printing None."""
    rom = bytearray(demo.option_rom())
    at = rom.find(b"$VBT")
    bdb = at + int.from_bytes(rom[at + 0x1C : at + 0x20], "little")
    nobdb = tmp_path / "nobdb.rom"
    nobdb.write_bytes(bytes(rom[:bdb]) + b"X" * 16 + bytes(rom[bdb + 16 :]))
    rom[at] = ord("X")  # no VBT inside the image ...
    tail = tmp_path / "tail.rom"
    tail.write_bytes(bytes(rom) + demo.vbt())  # ... but one after it
    assert main(["show", str(nobdb)]) == 0
    out = capsys.readouterr().out
    assert f"  VBT at {at:#x} in image 0 (legacy): " in out and out.count("no BDB header") == 1 and "None" not in out
    assert main(["show", str(tail)]) == 0
    out = capsys.readouterr().out
    assert f"  VBT at {len(rom):#x} outside every image: {len(demo.vbt())} bytes, BDB version " in out and "None" not in out


def test_text_view_never_prints_python_none(capsys):
    """Values that are None in the JSON (a DTD with no clock has no refresh rate, a port with no
    name on one platform, a field a BDB version lacks) read as '-' in text, and empty lists as
    'none' -- on every corpus file, with every panel."""
    from igdscope.cli import render

    assert render._tree({"vrefresh": None, "psr2": {"value": None, "name": "not in this BDB version"},
                         "ddc_pin": {"value": 3, "name": None}, "findings": []}, 0) == [
        "vrefresh: -", "psr2: not in this BDB version", "ddc_pin: 0x3", "findings: none"]
    need(CORPUS)
    nones = 0
    for p in sorted(p for p in CORPUS.iterdir() if p.suffix in (".vbt", ".rom", ".opregion")):
        for extra in ([], ["--all-panels"]):
            assert main(["show", str(p), *extra]) == 0, p.name
            out = capsys.readouterr().out
            assert "None" not in out, (p.name, [line for line in out.splitlines() if "None" in line][:3])
        assert main(["show", str(p), "--json"]) == 0, p.name
        nones += capsys.readouterr().out.count(": null")
    assert nones > 100  # the JSON keeps them as null


@pytest.mark.parametrize("content, needle", [
    (b"MZ" + bytes(200), "a PE/COFF executable (an EFI driver such as a GOP .efi), not an option ROM; EDK2's EfiRom wraps one"),
    (bytes(16) + b"\x5a\xa5\xf0\x0f" + bytes(300), "an Intel SPI flash image (flash descriptor at 0x10); a VBT stored in it (plain or in a compressed section) is found with --kind vbt"),
    (bytes(40) + b"_FVH" + bytes(300), "a UEFI firmware volume; a VBT stored in it (plain or in a compressed section) is found with --kind vbt"),
    (b"QGFX" + bytes(8), "unknown kind (12 bytes, starts 5147465800000000); give --kind"),
], ids=["efi-driver", "spi-image", "firmware-volume", "other"])
def test_files_taken_by_mistake_are_named(tmp_path, capsys, content, needle):
    """A GOP .efi or a BIOS image is not what show/extract/diff decode; the error says what it is."""
    p = tmp_path / "input.bin"
    p.write_bytes(content)
    for args in (["show", str(p)], ["extract", "vbt", str(p), "-o", str(tmp_path / "out")], ["diff", str(p), str(p)]):
        assert main(args) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"igdscope: {p}: unknown kind ({len(content)} bytes") and len(err.splitlines()) == 1, err
        if args[0] != "diff" or "give --kind" not in needle:
            assert needle in err, err


def test_vbt_found_anywhere_in_a_large_image(tmp_path, capsys):
    """--kind vbt searches the whole file, so a VBT 20 MiB into a 32 MiB SPI flash image is found
    (igt searches the whole file too); the text says where it is."""
    image = bytearray(32 << 20)
    image[0x10:0x14] = b"\x5a\xa5\xf0\x0f"
    vbt = demo.vbt()
    image[20 << 20 : (20 << 20) + len(vbt)] = vbt
    p = tmp_path / "spi.bin"
    p.write_bytes(bytes(image))
    assert main(["show", str(p), "--kind", "vbt"]) == 0
    assert capsys.readouterr().out.startswith("VBT at 0x1400000 of the file: signature $VBT")
    out = tmp_path / "vbt.bin"
    assert main(["extract", "vbt", str(p), "--kind", "vbt", "-o", str(out)]) == 0
    assert out.read_bytes() == vbt and "from VBT file at 0x1400000" in capsys.readouterr().out
    from igdscope.schemas import vbt as V

    # where a search is bounded (a ROM BAR is at most 16 MiB), the message says how far it looked
    assert V.no_vbt_reason(bytes(100), "the ROM", limit=50) == "no '$VBT' signature in the first 50 bytes of the ROM (100 bytes)"


# -- show of an OpRegion or option ROM: every field with its meaning, then the VBT inside -----------

def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    return path


def shown(capsys, *args: str) -> str:
    """What ``igdscope show ARGS`` prints, run in this process; it must succeed."""
    assert main(["show", *args]) == 0
    return capsys.readouterr().out


IGT_NAMES = {"sign": "signature", "sver": "bios_ver", "vver": "vbios_ver", "gver": "driver_ver", "mbox": "mboxes",
             "dmod": "driver_model", "ccdv": "cddv", "plut header": "plut.header", "plut identifier": "plut.identifier",
             "plut": "plut.table", "product string": "product_string"}


def _text_sections(text: str) -> dict[str, list[str]]:
    """{section title: [the first word of each row]} of show's OpRegion text."""
    sections: dict[str, list[str]] = {}
    rows: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("OpRegion ") and line.endswith(":"):
            rows = sections.setdefault(line[:-1], [])
        elif line.startswith("="):
            rows = None
        elif rows is not None and line.startswith("  ") and line.strip():
            rows.append(line.split()[0])
    return sections


def test_show_opregion_prints_every_field_igt_prints_with_meanings(capsys):
    from tests.support.igt_text import igt_sections

    path = corpus_file("gen9.5-kbl_rikka0w0_opregion.opregion")
    text = shown(capsys, str(path))
    ours = _text_sections(text)
    igt = igt_sections((CORPUS / (path.name + ".igt.txt")).read_text())
    assert set(igt) <= set(ours)
    for title, fields in igt.items():
        for name in fields:
            base = name.split("[", 1)[0]
            base = IGT_NAMES.get(base, base)
            assert base in ours[title], (title, name)
    # values with what they mean, display IDs decoded, and the BCLM table
    assert "  vbios_ver     '1046'" in text
    assert "    [2]  0x00000302           external digital (DP, HDMI, DVI), index 2, bit 31 clear (not the ACPI ID scheme)" in text
    assert "100% -> duty cycle 255/255 (100%)" in text
    assert "level 255 of 255 (100%), not valid" in text
    # then the VBT of mailbox 4, decoded as show decodes a VBT file
    vbt_part = text.split("======== VBT (OpRegion mailbox 4) ========\n", 1)[1]
    from igdscope.decode.firmware import vbt_decode
    from igdscope.cli import render
    from igdscope.schemas import opregion

    alone = render.render_vbt(vbt_decode(opregion.vbt_bytes(path.read_bytes())[0]))
    assert vbt_part == alone and "BDB version 206" in vbt_part


def test_show_opregion_json_has_meanings_and_the_vbt(capsys):
    path = corpus_file("gen9.5-kbl_rikka0w0_opregion.opregion")
    assert main(["show", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mailboxes"]["acpi"]["didl"][:3] == [0x300, 0x301, 0x302]  # the integers stay
    assert [d["display_type"]["name"] for d in doc["display_ids"]["didl"]] == ["external digital (DP, HDMI, DVI)"] * 3
    assert doc["meanings"]["acpi"]["drdy"] == "driver ready"
    assert doc["vbt_decoded"]["where"] == "OpRegion mailbox 4" and doc["vbt_decoded"]["bdb_version"] == 206
    assert {b["id"] for b in doc["vbt_decoded"]["blocks"]} >= {1, 2, 40, 41, 42}


def test_show_opregion_follows_or_locates_the_extended_vbt(tmp_path, capsys):
    from igdscope.schemas import opregion as op
    from igdscope.schemas import vbt as V

    vbt = V.build_vbt(221, [(1, V.build_block(1, {"panel_fitting": 3}, 221))])
    rel = tmp_path / "v21.bin"
    rel.write_bytes(op.build_opregion({"version": "2.1.0", "mailboxes": {"acpi": {"didl": [0x80000410]}}, "extended_vbt": vbt}))
    text = shown(capsys, str(rel))
    assert "VBT: RVDA at +0x2000" in text
    assert "extended VBT at OpRegion + 0x2000 (2.1 and later: relative)" in text
    assert "internal digital (LVDS, eDP, DSI), index 0, port 1" in text
    assert "======== VBT (OpRegion extended VBT (RVDA +0x2000)) ========" in text and "BDB block 1 (" in text

    absolute = tmp_path / "v20.bin"
    absolute.write_bytes(op.build_opregion({"version": "2.0.0", "mailboxes": {"asle": {"rvda": 0x7A000000, "rvds": 0x2400}}}))
    text = shown(capsys, str(absolute))
    assert "extended VBT at physical address 0x7a000000 (2.0: absolute)" in text
    assert text.rstrip().endswith(
        "VBT: not decoded: the VBT is an extended VBT at physical address 0x7a000000 (9216 bytes; OpRegion 2.0 absolute RVDA), "
        "outside this OpRegion: read it from /dev/mem (igdscope dump --allow-devmem)")
    assert main(["show", str(absolute), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vbt_decoded"] == {
        "where": None, "error": "the VBT is an extended VBT at physical address 0x7a000000 (9216 bytes; OpRegion 2.0 absolute RVDA), "
                                "outside this OpRegion: read it from /dev/mem (igdscope dump --allow-devmem)"}


def test_show_cut_opregion_prints_what_is_there(tmp_path, capsys):
    path = corpus_file("gen9.5-kbl_rikka0w0_opregion.opregion")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[:0x380])  # header, mailboxes 1 and 2, half of mailbox 3
    text = shown(capsys, str(cut))
    sections = _text_sections(text)
    assert list(sections) == ["OpRegion Header", "OpRegion Mailbox 1: Public ACPI Methods", "OpRegion Mailbox 2: Software SCI Interface (SWSCI)"]
    assert "! truncated: 896 of 8192 bytes; only parts wholly present are decoded" in text
    assert "VBT: not decoded: no VBT in the OpRegion: mailbox 4 does not start with '$VBT'" in text


def test_show_rom_decodes_the_vbt_inside(tmp_path, capsys):
    path = corpus_file("gen7-ivb_seijinshu_x230t-vbios.rom")
    text = shown(capsys, str(path))
    head, vbt_part = text.split("\n======== VBT (option ROM at 0xab0) ========\n", 1)
    assert "VBT at 0xab0 in image 0 (legacy): 4280 bytes, BDB version 165" in head
    out = tmp_path / "x.vbt"
    assert main(["extract", "vbt", str(path), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert capsys.readouterr().out == vbt_part
    # a ROM without a VBT says so after the image chain
    rom = bytearray(demo.host_capture().blobs["rom"].data)
    at = rom.find(b"$VBT")
    rom[at : at + 4] = b"$XBT"
    bare = tmp_path / "bare.rom"
    bare.write_bytes(bytes(rom))
    text = shown(capsys, str(bare))
    assert "  VBT: not found\n" in text and text.rstrip().splitlines()[-1].startswith("VBT: not decoded: ")


def test_show_prints_a_blocks_findings_under_it(capsys):
    path = corpus_file("gen3-945gc_coreboot_intel-d945gclf.vbt")
    text = shown(capsys, str(path))
    block11 = text.split("\nBDB block 11 (", 1)[1].split("\n\n", 1)[0]
    assert block11.splitlines()[-1] == "  ! i915 does not read block 11; its child devices come from block 2"


# -- show CAPTURE --blob NAME: one blob in full, as show decodes a file of its kind -------------------


def _without_blob(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "blob"}


def test_show_blob_decodes_each_blob_as_its_file_would_be(tmp_path, capsys):
    cap = demo.guest_capture()
    path = tmp_path / "guest.json"
    path.write_text(cap.to_json())
    for key in ("opregion", "rom", "vbt/debugfs"):
        raw = tmp_path / "raw.bin"
        raw.write_bytes(cap.blobs[key].data)
        as_file = json.loads(shown(capsys, str(raw), "--json"))
        as_blob = json.loads(shown(capsys, str(path), "--blob", key, "--json"))
        assert as_blob["kind"] == {"opregion": "opregion", "rom": "rom", "vbt/debugfs": "vbt"}[key]
        assert _without_blob(as_blob) == as_file, key
        blob = cap.blobs[key]
        assert as_blob["blob"] == {"name": key, "source": "demo", "path": blob.path, "note": blob.note, "bytes": len(blob.data), "sha256": blob.sha256}
    text = shown(capsys, str(path), "--blob", "opregion")
    first, blank, rest = text.split("\n", 2)
    assert first == f"{path} blob opregion: 8192 bytes read from demo {cap.blobs['opregion'].path} ({cap.blobs['opregion'].note})"
    assert blank == "" and rest.startswith("OpRegion version 2.0.0, 8192 bytes") and "OpRegion Mailbox 3: BIOS to Driver Notification (ASLE):" in rest
    assert "\n======== VBT (OpRegion mailbox 4) ========\n" in rest


def test_show_blob_config_takes_the_devices_role_and_the_captures_platform(tmp_path, capsys):
    cap = demo.host_capture().builder()
    cap.blobs["vfio/host_cfg"] = capmod.Blob(cap.blobs["config/0000:00:00.0"].data, "vfio", "/dev/vfio/2 0000:00:02.0 host bridge config region")
    cap = cap.build()
    path = tmp_path / "host.json"
    path.write_text(cap.to_json())
    raw = tmp_path / "hb.bin"
    hb_cfg = cap.blobs["config/0000:00:00.0"].data
    raw.write_bytes(hb_cfg[:2] + (0x0001).to_bytes(2, "little") + hb_cfg[4:])  # a host bridge ID no table knows
    alone = json.loads(shown(capsys, str(raw), "--json"))["device"]
    assert alone["registers"] == [] and any("platform unknown" in f for f in alone["findings"])
    raw.write_bytes(hb_cfg)  # 0x3ec2 is a Coffee Lake host bridge: alone, it names its platform
    alone = json.loads(shown(capsys, str(raw), "--json"))["device"]
    assert alone["platform"]["platform"] == "CFL" and alone["summary"]["tolud"] == demo.TOLUD
    assert any("host bridge ID 0x3ec2" in f for f in alone["findings"])
    for key in ("config/0000:00:00.0", "vfio/host_cfg"):
        dev = json.loads(shown(capsys, str(path), "--blob", key, "--json"))["device"]
        assert dev["role"] == "host_bridge" and dev["platform"]["platform"] == "CFL"
        regs = {r["name"]: r for r in dev["registers"]}
        assert regs["TOLUD"]["raw"] == demo.TOLUD | 1 and regs["BGSM"]["raw"] == demo.BGSM | 1
        assert (dev["summary"]["tolud"], dev["summary"]["bgsm"]) == (demo.TOLUD, demo.BGSM)
    assert json.loads(shown(capsys, str(path), "--blob", "config/0000:00:00.0", "--json"))["device"]["bdf"] == "0000:00:00.0"
    text = shown(capsys, str(path), "--blob", "config/0000:00:02.0")
    assert text.splitlines()[2] == "IGD 0000:00:02.0" and "GMS [15:8]" in text
    # --platform overrides the capture's
    dev = json.loads(shown(capsys, str(path), "--blob", "config/0000:00:02.0", "--platform", "ADL-S", "--json"))["device"]
    assert dev["platform"]["platform"] == "ADL-S"


def test_show_blob_errors_are_one_line(tmp_path, capsys):
    cap = demo.host_capture().builder()
    cap.blobs["notes"] = capmod.Blob(b"\x01\x02 not firmware" * 4, "file", "/tmp/notes")
    cap = cap.build()
    path = tmp_path / "host.json"
    path.write_text(cap.to_json())
    raw = tmp_path / "op.bin"
    raw.write_bytes(cap.blobs["opregion"].data)
    cases = (
        (["--blob", "nope"], f"{path}: no blob 'nope' in the capture (its blobs: config/0000:00:00.0, config/0000:00:02.0, "
                             "config/0000:00:1f.0, gtt, notes, opregion, rom)"),
        (["--blob", "gtt"], f"{path} blob gtt: the GGTT is shown by 'igdscope gtt show {path}' (entries) or 'igdscope gtt show {path} --summary'"),
        (["--blob", "notes"], f"{path} blob notes: unknown kind (60 bytes, starts 0102206e6f742066)"),
    )
    for args, message in cases:
        assert main(["show", str(path), *args]) == 3
        assert capsys.readouterr().err == f"igdscope: {message}\n"
    assert main(["show", str(raw), "--blob", "opregion"]) == 3
    assert capsys.readouterr().err == f"igdscope: --blob is for captures; {raw} is a opregion\n"


def test_show_capture_says_how_to_see_one_blob(host_json):
    r = run("show", str(host_json))
    assert r.returncode == 0
    assert r.stdout.decode().rstrip().endswith(
        "  one blob in full: igdscope show CAPTURE --blob NAME; its raw bytes: igdscope extract opregion|rom|vbt CAPTURE")


# ------------------------------------------------------------------------------------------------
# Files given to the wrong option are named, with the option that reads them (exit 3)

_LIBVIRT_XML = "<domain type='kvm'><os><type machine='pc-i440fx-9.2'>hvm</type></os></domain>\n"
_PVE_CONF = "hostpci0: 0000:00:02.0,legacy-igd=1\nmachine: pc-i440fx-9.2\nvga: none\n"
_QEMU_SH = "#!/bin/sh\nqemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=2\n"


def _vm_files(tmp_path: Path) -> dict[str, Path]:
    files = {"win.xml": _LIBVIRT_XML.encode(), "100.conf": _PVE_CONF.encode(), "start.sh": _QEMU_SH.encode(),
             "x.vbt": b"$VBT" + bytes(200), "x.rom": b"\x55\xaa" + bytes(510),
             "opregion.bin": b"IntelGraphicsMem" + bytes(8192)}
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


@pytest.mark.parametrize("name, option, needle", [
    ("win.xml", "--proxmox", "is a libvirt domain XML, not a Proxmox VM config: use igdscope check --libvirt {p}"),
    ("100.conf", "--libvirt", "is a Proxmox VM config, not a libvirt domain XML: use igdscope check --proxmox {p}"),
    ("start.sh", "--libvirt", 'is a QEMU command line, not a libvirt domain XML: use igdscope check --vm-args "$(cat {p})"'),
    ("start.sh", "--proxmox", 'is a QEMU command line, not a Proxmox VM config: use igdscope check --vm-args "$(cat {p})"'),
    ("x.vbt", "--libvirt", "is a VBT, not a libvirt domain XML: use igdscope show {p}"),
    ("x.rom", "--proxmox", "is an option ROM, not a Proxmox VM config: use igdscope show {p}"),
])
def test_vm_file_of_another_kind_is_named(tmp_path, capsys, host_json, name, option, needle):
    p = _vm_files(tmp_path)[name]
    assert main(["check", str(host_json), option, str(p)]) == 3
    err = capsys.readouterr().err
    assert err == f"igdscope: {p} {needle.format(p=p)}\n"


def test_capture_given_to_a_vm_option_is_named(capsys, host_json):
    assert main(["check", str(host_json), "--libvirt", str(host_json)]) == 3
    assert capsys.readouterr().err == f"igdscope: {host_json} is an igdscope capture, not a libvirt domain XML: use igdscope check {host_json}\n"


def test_vm_args_text_of_another_kind_is_named(tmp_path, capsys, host_json):
    for text, what, opt in ((_LIBVIRT_XML, "a libvirt domain XML", "--libvirt"), (_PVE_CONF, "a Proxmox VM config", "--proxmox"),
                            ("qm set 100 --machine pc --hostpci0 0000:00:02.0,legacy-igd=1\n", "Proxmox qm set commands", "--proxmox")):
        assert main(["check", str(host_json), "--vm-args", text]) == 3
        assert capsys.readouterr().err == (f"igdscope: the --vm-args text is {what}, not a QEMU command line: "
                                           f"save it to a file and use igdscope check {opt} FILE\n")
    p = _vm_files(tmp_path)["win.xml"]
    assert main(["check", str(host_json), "--vm-args", str(p)]) == 3
    err = capsys.readouterr().err
    assert err == (f"igdscope: --vm-args takes the QEMU command line itself, not a file name; {p} is a libvirt domain XML: "
                   f"use igdscope check --libvirt {p}\n")


def test_world_qm_set_file(capsys, host_json):
    p = need(WORLD / "vm" / "pve_longqt-35-ptl-qm-set.cmdline")
    assert main(["check", str(host_json), "--vm-args", p.read_text()]) == 3
    assert "is Proxmox qm set commands, not a QEMU command line: save it to a file and use igdscope check --proxmox FILE" in capsys.readouterr().err
    assert main(["check", str(host_json), "--proxmox", str(p), "--json"]) == 0
    vm = json.loads(capsys.readouterr().out)["vm"]
    assert (vm["source"], vm["machine"], vm["firmware"]) == ("proxmox", "pc", "ovmf")


def test_vm_args_with_a_shebang_keeps_its_machine(capsys, host_json):
    """A leading comment is not a QEMU start: the -M q35 of the text stands (it once became pc)."""
    text = "#!/bin/sh\n# my VM\n-M q35 -nodefaults -device vfio-pci,host=00:02.0,bus=pcie.0,addr=0x2\n"
    assert main(["check", str(host_json), "--vm-args", text, "--json"]) == 0
    vm = json.loads(capsys.readouterr().out)["vm"]
    assert (vm["machine"], vm["machine_family"], vm["firmware"]) == ("q35", "q35", "seabios")


@pytest.mark.parametrize("name, needle", [
    ("win.xml", "is a libvirt domain XML, not a capture: use igdscope {cmd} --libvirt {p}"),
    ("100.conf", "is a Proxmox VM config, not a capture: use igdscope {cmd} --proxmox {p}"),
    ("start.sh", 'is a QEMU command line, not a capture: use igdscope {cmd} --vm-args "$(cat {p})"'),
    ("x.vbt", "is a VBT, not a capture: use igdscope show {p}"),
    ("x.rom", "is an option ROM, not a capture: use igdscope show {p}"),
    ("opregion.bin", "is an OpRegion, not a capture: use igdscope show {p}"),
])
def test_files_where_a_capture_is_expected_are_named(tmp_path, capsys, name, needle):
    p = _vm_files(tmp_path)[name]
    for cmd in ("check", "tui"):
        assert main([cmd, str(p)]) == 3
        assert capsys.readouterr().err == f"igdscope: {p} {needle.format(p=p, cmd=cmd)}\n"


def test_lspci_text_and_garbage_where_a_capture_is_expected(tmp_path, capsys):
    cfg = demo.igd_config()[:256]
    text = "00:02.0 VGA compatible controller [0300]: Intel Corporation CoffeeLake-S GT2 [8086:3e92]\n"
    text += "".join(f"{o:02x}: " + " ".join(f"{b:02x}" for b in cfg[o : o + 16]) + "\n" for o in range(0, 256, 16))
    p = tmp_path / "lspci.txt"
    p.write_text(text)
    assert main(["check", str(p)]) == 3
    assert capsys.readouterr().err == f"igdscope: {p} is lspci text, not a capture: use igdscope show {p}\n"
    g = tmp_path / "g.bin"
    g.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["check", str(g)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"igdscope: {g}: unknown kind (10 bytes") and "not an igdscope capture" in err and "utf-8" not in err


def test_show_and_diff_name_vm_definitions(tmp_path, capsys):
    files = _vm_files(tmp_path)
    for args in (["show", str(files["win.xml"])], ["diff", str(files["win.xml"]), str(files["win.xml"])]):
        assert main(args) == 3
        assert capsys.readouterr().err == f"igdscope: {files['win.xml']} is a libvirt domain XML: use igdscope check --libvirt {files['win.xml']}\n"
