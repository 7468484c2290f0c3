"""igdscope check: every rule on the demo host and mutations of it, and the real VM configs of
../shared/world/vm where the outcome follows from the configuration."""

from __future__ import annotations

import dataclasses

import pytest

from igdscope.analysis import check
from igdscope.analysis import vmconfig
from igdscope.capture import Blob
from igdscope.schemas import rom as R
from igdscope.sources import demo
from igdscope.cli import check as checkcli
from igdscope.analysis import qemu


def host(**changes):
    cap = demo.host_capture().builder()
    igd = cap.device("igd")
    cfg = bytearray(cap.blobs[igd.config_blob].data)
    if "device" in changes:
        cap.replace_device("igd", device=changes["device"])
        cfg[2:4] = changes["device"].to_bytes(2, "little")
    if "asls" in changes:
        cfg[0xFC:0x100] = changes["asls"].to_bytes(4, "little")
        if changes["asls"] == 0:
            cap.blobs.pop("opregion", None)
    if "class_code" in changes:
        cap.replace_device("igd", class_code=changes["class_code"])
        cfg[9:12] = changes["class_code"].to_bytes(3, "little")
    if "ggc" in changes:
        cfg[0x50:0x52] = changes["ggc"].to_bytes(2, "little")
    cap.blobs[igd.config_blob] = Blob(bytes(cfg), "demo", "")
    cap.replace_device("igd", **{k: changes[k] for k in ("driver", "iommu_group", "iommu_group_members", "sriov") if k in changes})
    return cap.build()


def rules(result):
    return {r["id"]: r for r in result["rules"]}


def test_demo_host_without_vm():
    r = check.run_checks(host())
    assert r["verdicts"]["upt"]["verdict"] == "works" and r["verdicts"]["upt_opregion"]["verdict"] == "works"
    assert r["verdicts"]["legacy"] == {"verdict": "unknown", "failing": [], "unknown": ["vm.config"]}
    rs = rules(r)
    assert rs["kernel.asls"]["status"] == "pass" and "0x8a0dc018" in rs["kernel.asls"]["evidence"]
    assert rs["qemu.generation"]["status"] == "pass" and "generation 8" in rs["qemu.generation"]["evidence"]
    assert rs["own.i915_loaded"]["status"] == "warn"
    assert checkcli.exit_code(r) == 0


@pytest.mark.parametrize(
    "changes,rule,modes",
    [
        ({"asls": 0}, "kernel.asls", {"legacy", "upt_opregion"}),
        ({"driver": "i915"}, "own.driver", {"legacy", "upt", "upt_opregion"}),
        ({"iommu_group": None, "iommu_group_members": []}, "iommu.enabled", {"legacy", "upt", "upt_opregion"}),
        ({"sriov": {"role": "vf", "physfn": "0000:00:02.0"}}, "own.sriov", {"legacy", "upt_opregion"}),
        ({"class_code": 0x038000}, "qemu.class", {"legacy"}),
    ],
)
def test_single_failures_name_their_modes(changes, rule, modes):
    r = check.run_checks(host(**changes))
    assert rules(r)[rule]["status"] == "fail"
    failing = {m for m, v in r["verdicts"].items() if rule in v["failing"]}
    assert failing == modes


def test_every_failure_is_reported_at_once():
    r = check.run_checks(host(asls=0, driver="i915", class_code=0x038000))
    failing = set(r["verdicts"]["legacy"]["failing"])
    assert {"kernel.asls", "own.driver", "qemu.class", "kernel.class"} <= failing


def test_class_0380_by_kernel_version():
    cap = host(class_code=0x038000)
    assert rules(check.run_checks(cap))["kernel.class"]["status"] == "fail"  # 6.8 < 6.15
    cap = dataclasses.replace(cap, host={**cap.host, "kernel_release": "6.15.2"})
    assert rules(check.run_checks(cap))["kernel.class"]["status"] == "pass"


def test_versions_with_absurdly_long_numbers_are_unknown():
    # int() refuses decimal strings over 4300 digits: such a "version" is not one, and says so
    cap = host()
    cap = dataclasses.replace(cap, host={**cap.host, "kernel_release": "6" * 5000 + ".8", "qemu_version": "9" * 5000 + ".0"})
    assert qemu.version(cap.host["qemu_version"]) is None
    assert qemu.version("1" * 10 + ".2") is None and qemu.version("10.2.1") == (10, 2)
    r = rules(check.run_checks(cap))
    assert r["qemu.version"]["status"] == "unknown"
    assert rules(check.run_checks(host(), qemu_version="9" * 5000 + ".2"))["qemu.version"]["status"] == "unknown"


def test_qemu_eras_and_ivd():
    cfl = host()
    assert rules(check.run_checks(cfl, qemu_version="10.1"))["qemu.generation"]["status"] == "pass"  # gen 9
    ptl = host(device=0xB0A0)
    r = check.run_checks(ptl, qemu_version="10.1")
    assert rules(r)["qemu.generation"]["status"] == "fail" and "generation -1" in rules(r)["qemu.generation"]["evidence"]
    ivd = host(ggc=0x02C3)  # IVD set
    assert rules(check.run_checks(ivd, qemu_version="10.2"))["qemu.ivd"]["status"] == "fail"
    assert "qemu.ivd" not in rules(check.run_checks(ivd, qemu_version="10.1"))
    adl = host(device=0x4680)
    assert rules(check.run_checks(adl, qemu_version="9.0"))["qemu.bdsm"]["status"] == "warn"


def test_framebuffer_and_disable_vga():
    cap = host()
    cap = dataclasses.replace(cap, host={**cap.host, "iomem": cap.host["iomem"] + ["c0000000-c07fffff : efifb"], "vfio_pci_disable_vga": "Y"})
    rs = rules(check.run_checks(cap))
    assert rs["own.framebuffer"]["status"] == "fail" and "efifb" in rs["own.framebuffer"]["evidence"]
    assert rs["own.disable_vga"]["status"] == "fail"


def test_rom_rules():
    cap = host()
    cap = dataclasses.replace(cap, blobs={k: b for k, b in cap.blobs.items() if k != "rom"})
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0")
    r = check.run_checks(cap, vm, "9.0")
    assert rules(r)["rom.present"]["status"] == "fail" and "rom.present" in r["verdicts"]["legacy"]["failing"]
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom")
    assert rules(check.run_checks(cap, vm, "9.0"))["rom.present"]["status"] == "pass"


def test_rom_device_rule_reads_pcir_device_list_and_the_generic_id():
    from igdscope.schemas import rom as R

    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0")
    cap = host()  # the demo ROM: PCIR 0406, the generic ID of Skylake-and-later VBIOS images
    r = rules(check.run_checks(cap, vm, "9.0"))["rom.device_id"]
    assert r["status"] == "pass" and "generic PCIR device ID 0406" in r["evidence"] and "patched" in r["evidence"]
    cap = dataclasses.replace(cap, blobs={**cap.blobs, "rom": Blob(R.build_rom(R.build_legacy_image(0x8086, 0x0102, b"VBIOS", device_ids=[0x0102, 0x3E92])), "sysfs")})
    r = rules(check.run_checks(cap, vm, "9.0"))["rom.device_id"]
    assert r["status"] == "pass" and "device list names 3e92" in r["evidence"]
    cap = dataclasses.replace(cap, blobs={**cap.blobs, "rom": Blob(R.build_rom(R.build_legacy_image(0x8086, 0x0102, b"VBIOS")), "sysfs")})  # a Sandy Bridge ROM
    r = rules(check.run_checks(cap, vm, "9.0"))["rom.device_id"]
    assert r["status"] == "warn" and "made for another Intel device, not 8086:3e92" in r["evidence"] and r["fix"]
    hsw = host(device=0x0412)  # a Haswell is not served by the generic Skylake-and-later ROM
    r = rules(check.run_checks(hsw, vm, "9.0"))["rom.device_id"]
    assert r["status"] == "warn" and "not 8086:0412" in r["evidence"]


def test_inferred_machine_is_named_as_inferred():
    """A config that does not state the machine type (QEMU then takes 'pc', i440fx; a Proxmox or
    libvirt config may imply q35) says so in the evidence and the headline, not 'machine None'."""
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -device vfio-pci,host=00:02.0,addr=02.0")
    assert vm.machine is None and vm.machine_family == "i440fx"
    r = check.run_checks(host(), vm, "9.0")
    assert rules(r)["vm.machine"]["evidence"] == "machine not stated (i440fx inferred)"
    assert r["vm"]["machine"] is None and r["vm"]["machine_family"] == "i440fx"
    text = checkcli.render(r)
    assert "None" not in text and "machine i440fx (inferred)" in text.splitlines()[1]
    vm.machine_family = "q35"
    r = check.run_checks(host(), vm, "10.1")
    assert rules(r)["vm.1f0"]["evidence"] == "machine not stated (q35 inferred): ICH9 LPC at 00:1f.0"
    assert rules(r)["vm.machine"]["evidence"] == "machine not stated (q35 inferred)"


def test_ovmf_guest_and_the_gop_in_the_rom():
    """An OVMF guest needs a GOP from the IGD's ROM: a legacy-only ROM and an EFI image without
    the GOP (OVMF's IgdAssignmentDxe alone) warn; a GOP, also a compressed one, passes."""
    from tests.support import efi_encode as enc

    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -bios /usr/share/OVMF/OVMF_CODE.fd -device vfio-pci,host=00:02.0,addr=02.0,x-igd-gms=1")
    assert vm.firmware == "ovmf"
    legacy = R.build_legacy_image(0x8086, 0x3E92, b"VBIOS" + demo.vbt(), last=False)
    gop_pe = R.build_pe_image(payload=R.GOP_PROTOCOL_GUID + bytes(300))
    roms = {
        "legacy only": (R.build_legacy_image(0x8086, 0x3E92, b"VBIOS" + demo.vbt()), "warn", "OVMF guest with a legacy-only ROM"),
        "EFI without GOP": (legacy + R.build_efi_image(0x8086, 0x3E92, R.build_pe_image(payload=bytes(300))), "warn",
                            "OVMF guest; no GOP in the ROM: the EFI image(s) do not contain the GOP protocol GUID"),
        "GOP": (legacy + R.build_efi_image(0x8086, 0x3E92, gop_pe), "pass", "OVMF guest; GOP: image 1 (EFI) contains the GOP protocol GUID"),
        "compressed GOP": (legacy + R.build_efi_image(0x8086, 0x3E92, enc.encode(enc.lz(gop_pe)), compressed=True), "pass",
                           "OVMF guest; GOP: image 1 (EFI) contains the GOP protocol GUID"),
    }
    for name, (rom, status, evidence) in roms.items():
        cap = dataclasses.replace(host(), blobs={**host().blobs, "rom": Blob(rom, "demo", "")})
        r = rules(check.run_checks(cap, vm, "9.0"))["rom.ovmf"]
        assert (r["status"], r["evidence"]) == (status, evidence), name
    seabios = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0,x-igd-gms=1")
    assert "rom.ovmf" not in rules(check.run_checks(host(), seabios, "9.0"))

def test_vm_side_rules():
    cap = host()
    q35 = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -machine q35 -device vfio-pci,host=00:02.0,addr=02.0")
    r = check.run_checks(cap, q35, "9.0")
    assert rules(r)["vm.1f0"]["status"] == "fail" and "ICH9" in rules(r)["vm.1f0"]["evidence"]
    r = check.run_checks(cap, q35, "10.1")
    assert rules(r)["vm.machine"]["status"] == "fail"
    moved = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=05.0,x-igd-gms=0x80")
    r = check.run_checks(cap, moved, "9.0")
    assert rules(r)["vm.address"]["status"] == "fail" and "05.0" in rules(r)["vm.address"]["evidence"]
    assert rules(r)["vm.gms"]["status"] == "fail"
    good = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,x-igd-gms=1")
    r = check.run_checks(cap, good, "9.0")
    assert r["requested_mode"] == "legacy" and r["verdicts"]["legacy"]["verdict"] == "works" and checkcli.exit_code(r) == 0


# -- real configurations -----------------------------------------------------------------------------

# file -> (IGD device id of its platform, QEMU version (None: from the file), mode it asks for, legacy verdict, failing rules that must be there)
WORLD = {
    "qemu_vivekmiyani-whl-macos-q35.cmdline": (0x3EA0, "7.2", "fails", {"vm.1f0"}),  # QEMU said: existing devices at 1f.0
    "pve_i915ovmfpkg-33-cml-i3-10105-q35-addr18.conf": (0x9BC8, None, "fails", {"vm.address", "vm.1f0"}),  # IGD at guest 0x18
    "qemu_longqt-21-kbl-7700-q35-code43.cmdline": (0x5912, "10.1", "fails", {"vm.address", "vm.root_bus", "vm.1f0", "vm.machine"}),
    "pve_longqt-35-ptl-qm-set.cmdline": (0xB0A0, "10.1", "fails", {"qemu.generation"}),  # Panther Lake: no legacy mode
    "pve_xiongyw-cfl-elitedesk-working.conf": (0x3E92, "9.2", "works", set()),  # Proxmox 8.4 with QEMU 9.2.0 (not the demo host's 9.0)
    "libvirt_rikka0w0-skl-hd530-i440fx.xml": (0x1912, "4.2", "works", set()),
}


@pytest.fixture
def world_vm(shared_dir):
    d = shared_dir / "world" / "vm"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.mark.parametrize("name", sorted(WORLD))
def test_world_configs_predict_their_outcome(world_vm, name):
    did, qemu, verdict, must_fail = WORLD[name]
    vm = vmconfig.parse_any((world_vm / name).read_text())
    r = check.run_checks(host(device=did), vm, qemu)
    assert r["verdicts"]["legacy"]["verdict"] == verdict, r["verdicts"]["legacy"]
    assert must_fail <= set(r["verdicts"]["legacy"]["failing"])
    for rid in must_fail:
        assert rules(r)[rid]["evidence"]


def test_no_opregion_region_predicts_the_qemu_error(world_vm):
    """'does not support requested IGD OpRegion feature: No such device': vfio-pci made no
    OpRegion region (-ENODEV: ASLS 0). With such a host, x-igd-opregion must fail on ASLS."""
    vm = vmconfig.parse_any((world_vm / "qemu_gvt-linux-19-opregion-no-such-device.cmdline").read_text())
    r = check.run_checks(host(asls=0), vm, "3.0")
    assert r["requested_mode"] == "upt_opregion"
    assert r["verdicts"]["upt_opregion"]["verdict"] == "fails" and "kernel.asls" in r["verdicts"]["upt_opregion"]["failing"]
    assert "no OpRegion" in rules(r)["kernel.asls"]["evidence"] and checkcli.exit_code(r) == 1


def test_every_world_config_checks(world_vm):
    for p in sorted(world_vm.iterdir()):
        vm = vmconfig.parse_any(p.read_text())
        r = check.run_checks(host(), vm)
        assert set(r["verdicts"]) == {"legacy", "upt", "upt_opregion"}
        assert checkcli.render(r).count("\n") > 5


def test_cli_check(tmp_path, world_vm):
    import json
    import subprocess
    import sys

    cap = tmp_path / "host.json"
    assert subprocess.run([sys.executable, "-m", "igdscope", "dump", "--demo", "-o", str(cap)], capture_output=True).returncode == 0
    conf = str(world_vm / "pve_xiongyw-cfl-elitedesk-working.conf")
    ok = subprocess.run([sys.executable, "-m", "igdscope", "check", str(cap), "--proxmox", conf, "--qemu-version", "9.2"], capture_output=True, text=True)
    assert ok.returncode == 0 and "legacy        WORKS (the VM's mode)" in ok.stdout
    # the demo host's installed QEMU is 9.0.2: it cannot run machine pc-i440fx-9.2 (creation-qemu=9.2.0 is not the installed one)
    old = subprocess.run([sys.executable, "-m", "igdscope", "check", str(cap), "--proxmox", conf], capture_output=True, text=True)
    assert old.returncode == 1 and "[FAIL   ] qemu.machine_version" in old.stdout and "installed QEMU is 9.0" in old.stdout
    bad = subprocess.run([sys.executable, "-m", "igdscope", "check", str(cap), "--vm-args", "-machine q35 -nodefaults -device vfio-pci,host=00:02.0,addr=02.0", "--qemu-version", "9.0", "--json"], capture_output=True, text=True)
    doc = json.loads(bad.stdout)
    # q35 asks for plain assignment, which works: exit 0; legacy mode would fail on 00:1f.0
    assert bad.returncode == 0 and doc["requested_mode"] == "upt" and doc["verdicts"]["upt"]["verdict"] == "works"
    assert doc["verdicts"]["legacy"]["verdict"] == "fails" and "vm.1f0" in doc["verdicts"]["legacy"]["failing"]
    legacy = subprocess.run([sys.executable, "-m", "igdscope", "check", str(cap), "--vm-args", "-machine q35 -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,x-igd-legacy-mode=on", "--qemu-version", "10.0"], capture_output=True, text=True)
    assert legacy.returncode == 1 and "[FAIL   ] vm.1f0" in legacy.stdout


@pytest.mark.parametrize("vm_args", ["", "   ", "\n\t"])
def test_cli_check_with_empty_vm_args(tmp_path, capsys, vm_args):
    # --vm-args "$ARGS" with ARGS unset or blank: one line saying so, exit 3
    from igdscope.cli.main import main

    cap = tmp_path / "host.json"
    cap.write_text(demo.host_capture().to_json())
    assert main(["check", str(cap), "--vm-args", vm_args]) == 3
    out = capsys.readouterr()
    assert out.err == "igdscope: QEMU command line: empty\n" and out.out == ""


def test_check_on_a_fake_root(tmp_path):
    """check on a live machine: the fake tree of the demo host read through the live sources."""
    import json
    import subprocess
    import sys

    from tests.support.fakesys import build_tree

    root = build_tree(demo.host_capture(), tmp_path / "root")
    r = subprocess.run([sys.executable, "-m", "igdscope", "check", "--root", str(root), "--qemu-version", "9.2", "--vm-args", "-M pc -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom", "--json"], capture_output=True, text=True)
    doc = json.loads(r.stdout)
    rs = {x["id"]: x for x in doc["rules"]}
    # the OpRegion was not read, so legacy mode is "unknown", not "works" - and that is not exit 0
    assert r.returncode == 1 and doc["requested_mode"] == "legacy"
    assert doc["verdicts"]["legacy"] == {"verdict": "unknown", "failing": [], "unknown": ["kernel.opregion"]}
    assert doc["verdicts"]["upt"]["verdict"] == "works"
    assert rs["own.driver"]["status"] == "pass" and rs["kernel.asls"]["status"] == "pass"
    # without --vfio the OpRegion of a vfio-pci-owned IGD is not read: said, not guessed
    assert rs["kernel.opregion"]["status"] == "unknown" and "pass --vfio" in rs["kernel.opregion"]["evidence"]


# Every world VM config whose outcome follows from its content: the mode it asks for, the verdict
# of every mode, the rules that must fail (each with a fix) and the cautions the verdict names.
# file -> (IGD of its platform, installed QEMU, asked mode, verdicts (legacy, upt, upt_opregion), must fail, cautions)
WORLD_ALL = {
    "pve_gangqizai-rpl-13600-legacy-igd.conf": (0xA780, "8.0", "legacy", ("works", "works", "works"), set(), set()),  # works (Proxmox 8.0)
    "pve_xiongyw-cfl-elitedesk-working.conf": (0x3E92, "9.2", "legacy", ("works", "works", "works"), set(), set()),
    "libvirt_rikka0w0-skl-hd530-i440fx.xml": (0x1912, "4.2", "legacy", ("works", "works", "works"), set(), set()),
    "qemu_lansing-macos-igd-working.cmdline": (0x3E92, None, "legacy", ("works", "works", "works"), set(), set()),
    "pve_longqt-35-ptl-qm-set.cmdline": (0xB0A0, "10.1", "legacy", ("fails", "works", "works"), {"qemu.generation"}, set()),  # Panther Lake
    "qemu_vivekmiyani-whl-macos-q35.cmdline": (0x3EA0, "7.2", "upt", ("fails", "works", "works"), {"vm.1f0"}, set()),
    # IGD at guest 00:18.0 under OVMF: the reporter's Windows showed a problem mark
    "pve_i915ovmfpkg-33-cml-i3-10105-q35-addr18.conf": (0x9BC8, "6.2", "upt_opregion", ("fails", "works", "works"), {"vm.address", "vm.1f0"}, {"vm.windows_address"}),
    # IGD behind a root port under OVMF, q35 10.1: Code 43
    "qemu_longqt-21-kbl-7700-q35-code43.cmdline": (0x5912, "10.1", "upt_opregion", ("fails", "works", "works"), {"vm.address", "vm.root_bus", "vm.1f0", "vm.machine"}, {"vm.windows_address"}),
    # host function 00:02.1: the reporter's host froze
    "libvirt_longqt-27-hostdev-function1-freeze.xml": (0x3E92, "10.1", "upt", ("fails", "fails", "fails"), {"vm.igd", "vm.igd_function"}, set()),
    # a quoted 'No such device': explained, and named as a caution
    "qemu_gvt-linux-19-opregion-no-such-device.cmdline": (0x3E92, "3.0", "upt_opregion", ("unknown", "works", "works"), set(), {"vm.qemu_error"}),
}


@pytest.mark.parametrize("name", sorted(WORLD_ALL))
def test_every_world_config_gets_its_verdicts_failing_rules_and_fixes(world_vm, name):
    did, qv, asked, verdicts, must_fail, cautions = WORLD_ALL[name]
    vm = vmconfig.parse_any((world_vm / name).read_text())
    r = check.run_checks(host(device=did), vm, qv)
    assert r["requested_mode"] == asked
    assert tuple(r["verdicts"][m]["verdict"] for m in check.MODES) == verdicts, r["verdicts"]
    failing = set().union(*(r["verdicts"][m]["failing"] for m in check.MODES))
    assert must_fail <= failing
    for rule in r["rules"]:
        if rule["status"] == "fail":
            assert rule["fix"], rule  # every failure says what to change
    assert cautions <= set(r["verdicts"][asked].get("cautions", []))
    text = checkcli.render(r)
    if cautions and r["verdicts"][asked]["verdict"] == "works":
        assert "NO RULE FAILS" in text and "WORKS (the VM's mode)" not in text
