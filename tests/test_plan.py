"""igdscope plan: the configuration for a mode, read back by igdscope's own VM config readers and
judged by check, for the demo host and a fake host of every generation the platform table knows,
under every QEMU range and both firmwares; the libvirt XML against libvirt's schema; the
vfio-pci properties against the installed QEMU binaries; the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from igdscope import platforms
from igdscope.analysis import check, vmconfig
from igdscope.analysis import plan as P
from igdscope.analysis.qemu import igd as qm
from igdscope.analysis.qemu import machine
from igdscope.capture import Blob
from igdscope.cli import plan as C
from igdscope.sources import demo
from tests.support import qemu_qtest

RANGES = [r[3] for r in qm.RANGES]


def host(device: int | None = None):
    """The demo host, or the demo host with its IGD's device ID changed (in the device and its config space)."""
    cap = demo.host_capture()
    if device is None:
        return cap
    b = cap.builder()
    igd = b.device("igd")
    cfg = bytearray(b.blobs[igd.config_blob].data)
    b.replace_device("igd", device=device)
    cfg[2:4] = device.to_bytes(2, "little")
    b.blobs[igd.config_blob] = Blob(bytes(cfg), "demo", "")
    return b.build()


def one_per_generation() -> list[int]:
    seen: dict[float, int] = {}
    for did, plat in sorted(platforms.table().items()):
        seen.setdefault(plat.gen, did)
    return sorted(seen.values())


def readings(p: P.Plan) -> dict[str, vmconfig.VmConfig]:
    """The plan in every format, each read back by the VM config reader for that format."""
    prox = C.render_proxmox(p, "100")
    conf, qm_cmds = prox.split("# or the same with qm set:")
    return {
        "qemu": vmconfig.parse_qemu_cmdline(C.render_qemu(p, explain=True), bare_args=True),
        "libvirt": vmconfig.parse_libvirt(C.libvirt_domain(p)),
        "libvirt-pieces": vmconfig.parse_libvirt(C.render_libvirt(p)),
        "proxmox": vmconfig.parse_proxmox(conf),
        "qm set": vmconfig.parse_proxmox(qm_cmds),
    }


def same_settings(p: P.Plan, vm: vmconfig.VmConfig, fmt: str) -> None:
    """The reader sees what the plan says: device properties, address, machine family, display, firmware."""
    vi = vm.igd
    assert vi is not None and vi.host == "0000:00:02.0", fmt
    assert (vi.guest_slot, vi.guest_function or 0, vi.on_root_bus) == (2, 0, True), fmt
    opreg = p.value("x-igd-opregion")
    assert vi.x_igd_opregion == (None if opreg is None else opreg == "on"), fmt
    assert vi.x_igd_gms == p.value("x-igd-gms"), fmt
    assert vi.x_igd_legacy_mode == p.value("x-igd-legacy-mode"), fmt
    assert vm.machine_family == {"pc": "i440fx", "q35": "q35"}[p.value("machine")], fmt
    assert vm.vga == "none", fmt
    if fmt != "libvirt-pieces" or p.firmware == "ovmf":  # a bare <os> says nothing; a whole domain means SeaBIOS
        assert vm.firmware == p.firmware, fmt


def qv(v):
    return f"{v[0]}.{v[1]}"


HOSTS = [None, *one_per_generation()]


@pytest.mark.parametrize("device", HOSTS, ids=["demo", *(f"{d:04x}" for d in HOSTS[1:])])
def test_round_trip_through_check(device):
    cap = host(device)
    feasible = refused = 0
    for v in RANGES:
        for fw in P.FIRMWARES:
            for mode in P.MODES:
                p = P.plan(cap, mode, v, fw)
                if p.feasible:
                    feasible += 1
                    assert p.verdict == "works", (mode, v, fw, p.unknown)
                    for fmt, vm in readings(p).items():
                        same_settings(p, vm, fmt)
                        r = check.run_checks(cap, vm, qv(v))
                        assert r["requested_mode"] == mode, (fmt, mode, v, fw)
                        assert r["verdicts"][mode]["failing"] == [] and r["verdicts"][mode]["verdict"] == "works", (fmt, mode, v, fw, r["verdicts"][mode])
                else:
                    refused += 1
                    # refused with the rules check reports for the host alone, and those of the plan's own config
                    alone = set(check.run_checks(cap, None, qv(v))["verdicts"][mode]["failing"])
                    mine = {r["id"] for r in p.failing}
                    assert mine and alone <= mine, (mode, v, fw, alone, mine)
                    vm = vmconfig.parse_qemu_cmdline(" ".join(P.qemu_args(p)), bare_args=True)
                    assert set(check.run_checks(cap, vm, qv(v))["verdicts"][mode]["failing"]) == mine
                    assert all(r["status"] == "fail" and r["evidence"] for r in p.failing)
                    assert p.possible
    assert feasible  # UPT works on every host the demo is turned into
    if device is None:
        assert refused == 0


def test_refusals_name_the_qemu_rules_and_the_ranges_that_work():
    mtl = host(0x7D55)  # Meteor Lake: generation -1 to QEMU's era-C table
    p = P.plan(mtl, "upt_opregion", (10, 0))
    assert not p.feasible and [r["id"] for r in p.failing] == ["qemu.opregion"]
    assert any("10.1" in x and ">= 10.2" in x for x in p.possible)
    p = P.plan(mtl, "legacy", (10, 2))
    ids = {r["id"] for r in p.failing}
    assert "qemu.generation" in ids and not p.feasible
    assert any(x.startswith("QEMU <= 9.1") for x in p.possible)  # the 2016-9.1 table counts unknown IDs as generation 8
    ilk = host(0x0042)  # Ironlake: no QEMU does legacy mode
    p = P.plan(ilk, "legacy", (9, 1))
    assert not p.feasible and "qemu.generation" in {r["id"] for r in p.failing}
    assert not any(x.startswith("QEMU") for x in p.possible)


def test_settings_follow_the_model():
    cap = host()
    legacy91 = P.plan(cap, "legacy", (9, 1))
    assert legacy91.value("machine") == "pc" and legacy91.value("address") == "pci.0:02.0"
    assert legacy91.value("x-igd-gms") == 2  # the demo host's GMS: QEMU 9.1 would give the guest 0
    assert legacy91.value("x-igd-legacy-mode") is None  # 9.1's vfio-pci has no such property
    legacy10 = P.plan(cap, "legacy", (10, 0))
    assert legacy10.value("x-igd-legacy-mode") == "on" and legacy10.value("x-igd-gms") is None
    assert legacy10.value("rombar") == 1 and legacy10.value("vga") == "none" and legacy10.value("nodefaults") is True
    upt101 = P.plan(cap, "upt", (10, 1))
    assert upt101.value("machine") == "q35" and upt101.value("address") == "pcie.0:02.0"
    assert upt101.value("x-igd-opregion") == "off"  # on by default from 10.1
    assert P.plan(cap, "upt", (10, 0)).value("x-igd-opregion") is None  # off by default before
    assert P.plan(cap, "upt_opregion", (9, 2)).value("x-igd-opregion") == "on"
    # no version known: only what every range has
    nov = P.plan(None, "legacy", None, device=0x3E92)
    assert nov.value("x-igd-legacy-mode") is None and nov.verdict == "unknown"
    assert {r["id"] for r in nov.unknown} >= {"host.capture", "rom.present"}
    assert len(nov.qemu_judged) == len(RANGES)


def test_rom_and_ovmf_gop():
    cap = host()
    no_rom = demo.host_capture().builder()
    no_rom.blobs.pop("rom")
    no_rom = no_rom.build()
    p = P.plan(no_rom, "legacy", (9, 2))
    assert not p.feasible and "rom.present" in {r["id"] for r in p.failing}
    assert any(x.startswith("--rom FILE") and "VBIOS" in x for x in p.possible)
    p = P.plan(no_rom, "legacy", (9, 2), rom="/srv/vbios.rom")
    assert p.feasible and p.value("romfile") == "/srv/vbios.rom"
    assert "romfile=/srv/vbios.rom" in " ".join(P.qemu_args(p))
    assert "hostpci0: 0000:00:02.0,legacy-igd=1,romfile=vbios.rom,rombar=1" in C.render_proxmox(p)
    ovmf = P.plan(cap, "upt", (10, 1), "ovmf")  # the demo ROM has no EFI image
    assert ovmf.feasible and [r["id"] for r in ovmf.cautions] == ["vm.gop"]
    assert any("GOP" in x for x in ovmf.possible)
    assert "if=pflash" in " ".join(P.qemu_args(ovmf))


def test_proxmox_lines_respect_qemu_server():
    cap = host()
    for v in RANGES:
        for fw in P.FIRMWARES:
            legacy = {k: val for k, val, _, _ in C.proxmox_lines(P.plan(cap, "legacy", v, fw))}
            assert legacy["vga"] == "none" and legacy["machine"] == "pc"
            opts = legacy["hostpci0"].split(",")
            assert opts[0] == "0000:00:02.0" and "legacy-igd=1" in opts
            assert not any(o.startswith(("x-vga", "mdev", "pcie", "multifunction")) or o == "rombar=0" for o in opts)
            upt = {k: val for k, val, _, _ in C.proxmox_lines(P.plan(cap, "upt_opregion", v, fw))}
            assert "pcie=1" in upt["hostpci0"].split(",") and upt["machine"] == "q35"
            assert "-set device.hostpci0.addr=0x2" in upt["args"] and "-set device.hostpci0.bus=pcie.0" in upt["args"]
            vm = vmconfig.parse_proxmox(C.render_proxmox(P.plan(cap, "legacy", v, fw)).split("# or the same")[0])
            r = {x["id"]: x for x in check.run_checks(cap, vm, qv(v))["rules"]}
            assert r["pve.legacy_igd"]["status"] == "pass"
            assert vm.igd.legacy_igd and vm.igd.guest_slot == 2 and vm.firmware == fw


def test_every_line_says_why():
    p = P.plan(host(), "upt_opregion", (10, 0), "ovmf", rom="/srv/igd.rom")
    for text, comment in ((C.render_qemu(p), "#"), (C.render_proxmox(p).split("# or the same")[0], "#")):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        for i, ln in enumerate(lines):
            if not ln.startswith(comment) and not ln.startswith("/etc"):
                assert i > 0 and lines[i - 1].startswith(comment), ln
    xml = C.render_libvirt(p)
    assert "<qemu:property name=\"x-igd-opregion\" type='bool' value=\"true\"/>" in xml
    assert xml.count("<!--") >= 5 and "<rom file=\"/srv/igd.rom\"/>" in xml


VALIDATOR = shutil.which("virt-xml-validate")
XMLLINT = shutil.which("xmllint")  # virt-xml-validate runs it


@pytest.mark.skipif(VALIDATOR is None or XMLLINT is None, reason="virt-xml-validate or xmllint not installed (Debian libvirt-clients, libxml2-utils; tests/install-tools.sh installs them)")
@pytest.mark.parametrize("mode", P.MODES)
def test_libvirt_xml_validates_with_libvirts_schema(tmp_path, mode):
    for v in (RANGES[0], RANGES[-1]):
        for fw in P.FIRMWARES:
            p = P.plan(host(), mode, v, fw, rom="/srv/igd.rom")
            assert p.feasible
            path = tmp_path / f"{mode}-{fw}-{v[0]}.{v[1]}.xml"
            path.write_text(C.libvirt_domain(p))
            run = subprocess.run([VALIDATOR, str(path), "domain"], capture_output=True, text=True, timeout=60, check=False)
            assert run.returncode == 0, run.stdout + run.stderr
            assert "validates" in run.stdout + run.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text(C.libvirt_domain(p).replace("<hostdev mode='subsystem'", "<hostdev mode='nonsense'"))
    assert subprocess.run([VALIDATOR, str(bad), "domain"], capture_output=True, timeout=60, check=False).returncode != 0


@pytest.mark.parametrize("slot", qemu_qtest.SLOTS, ids=[s.version for s in qemu_qtest.SLOTS])
def test_every_vfio_pci_property_exists_in_that_qemu(slot):
    binary = slot.binary()
    if binary is None:
        pytest.skip(slot.missing_reason())
    reported = qemu_qtest.qemu_version(binary)
    assert reported is not None
    v = qemu_qtest.major_minor(reported)
    props = qemu_qtest.device_properties(binary, "vfio-pci")
    used: set[str] = set()
    for mode in P.MODES:
        for fw in P.FIRMWARES:
            for device in (None, 0x0412, 0x4680):
                p = P.plan(host(device), mode, v, fw, rom="/srv/igd.rom")
                if not p.feasible:
                    continue
                dev = next(w for w in P.qemu_args(p) if w.startswith("vfio-pci,"))
                for kv in dev.split(",")[1:]:
                    used.add(kv.split("=", 1)[0])
    assert {"host", "addr", "x-igd-opregion", "romfile", "rombar"} <= used
    missing = sorted(u for u in used if u not in props and u not in ("id", "bus"))  # id, bus: every -device's
    assert not missing, f"QEMU {reported} vfio-pci has no {missing}"
    assert ("x-igd-legacy-mode" in used) == machine.vfio_pci_properties(v).__contains__("x-igd-legacy-mode")


# -- the command line ---------------------------------------------------------------------------------


def run(*args):
    return subprocess.run([sys.executable, "-m", "igdscope", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "host.json"
    path.write_text(demo.host_capture().to_json())
    return str(path)


def test_cli_formats_and_json(demo_file):
    r = run("plan", demo_file, "--mode", "legacy", "--qemu-version", "10.0")
    assert r.returncode == 0, r.stderr
    assert "-device vfio-pci,host=0000:00:02.0,id=igd,bus=pci.0,addr=0x2,x-igd-legacy-mode=on,rombar=1" in r.stdout
    assert "every rule for this mode passes" in r.stdout
    vm = vmconfig.parse_qemu_cmdline(r.stdout, bare_args=True)
    assert check.requested_mode(vm, (10, 0)) == "legacy"
    r = run("plan", demo_file, "--mode", "upt-opregion", "--format", "libvirt", "--firmware", "ovmf", "--explain")
    assert r.returncode == 0 and "<os firmware='efi'>" in r.stdout and "meets: vm.address" in r.stdout
    r = run("plan", demo_file, "--mode", "legacy", "--format", "proxmox", "--vmid", "104")
    assert r.returncode == 0 and "qm set 104 --hostpci0 0000:00:02.0,legacy-igd=1,rombar=1" in r.stdout
    r = run("plan", demo_file, "--mode", "upt", "--json", "--qemu-version", "10.2")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["verdict"] == "works" and doc["mode"] == "upt"
    assert "x-igd-opregion=off" in doc["qemu_args"][-1] and doc["proxmox"][0] == {"key": "machine", "value": "q35", "why": doc["proxmox"][0]["why"]}


def test_cli_refusal_and_bad_input(demo_file, tmp_path):
    r = run("plan", "--device", "7d55", "--mode", "upt-opregion", "--qemu-version", "10.0", "--root", str(tmp_path))
    assert r.returncode == 1
    assert "FAIL qemu.opregion" in r.stdout and "What would make it possible" in r.stdout and "-device" not in r.stdout
    r = run("plan", "--device", "7d55", "--mode", "upt-opregion", "--qemu-version", "10.0", "--root", str(tmp_path), "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and [x["id"] for x in doc["failing"]] == ["qemu.opregion"] and "qemu_args" not in doc
    r = run("plan", "--mode", "legacy", "--root", str(tmp_path))
    assert r.returncode == 4 and r.stderr.count("\n") == 1 and "--device" in r.stderr
    r = run("plan", demo_file, "--mode", "legacy", "--qemu-version", "ten")
    assert r.returncode == 3 and r.stderr.startswith("igdscope: --qemu-version") and "Traceback" not in r.stderr
    r = run("plan", demo_file, "--mode", "sideways")
    assert r.returncode == 2
    r = run("plan", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "upt-opregion" in r.stdout
