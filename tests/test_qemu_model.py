"""The QEMU model (igdscope.analysis.qemu): what QEMU version V does with an assigned IGD, per
precondition, and the check verdicts built on it — including configs judged without a host
capture and without a QEMU version."""

from __future__ import annotations

from dataclasses import replace

import pytest

from igdscope.analysis import check, vmconfig
from igdscope.analysis.qemu import errors, igd as qm
from igdscope.cli import check as checkcli
from igdscope.sources import demo

# a Coffee Lake IGD on i440fx at guest 00:02.0, everything legacy mode wants
GOOD = qm.Assignment(device_id=0x3E92, class_code=0x030000, ivd=False, host_gms=2, opregion_region=True, lpc_region=True, rom=True,
                     machine_family="i440fx", guest_slot=2, guest_function=0, on_root_bus=True, at_1f0=())


def steps(out: qm.Outcome) -> dict[str, qm.Step]:
    return {s.id: s for s in out.legacy_steps}


@pytest.mark.parametrize("v", [(2, 7), (7, 2), (9, 1), (9, 2), (10, 0), (10, 1), (10, 2), (11, 1)])
def test_a_good_assignment_enters_legacy_mode_on_every_version(v):
    out = qm.judge(v, GOOD)
    assert out.legacy is True and out.opregion is True and out.fatal == () and out.bdsm_register == "0x5c"
    assert out.generation == (8 if v < (9, 2) else 9)
    assert out.lpc_bridge is True and out.asls_emulated is True and "etc/igd-opregion" in out.fw_cfg and "etc/igd-bdsm-size" in out.fw_cfg


def test_generation_tables_per_version_decide_legacy_mode():
    rpl = replace(GOOD, device_id=0xA780)  # Raptor Lake-S
    got = {v: qm.judge(v, rpl) for v in qm.versions_from(None)}
    assert [got[v].legacy for v in sorted(got)] == [True, False, True, False, False]  # <=9.1, 9.2, 10.0, 10.1, >=10.2
    s = steps(got[(9, 2)])["qemu.generation"]
    assert s.ok is False and "generation -1" in s.evidence and "try SandyBridge or newer" in s.qemu_says
    assert "6-9" in steps(got[(10, 1)])["qemu.generation"].fix
    assert got[(10, 0)].bdsm_register == "0xc0" and got[(9, 1)].bdsm_register == "0x5c"  # gen 12 keeps BDSM at 0xC0


def test_qemu_10_0_gives_no_opregion_to_a_generation_minus_one_device():
    ptl = replace(GOOD, device_id=0xB0A0, x_igd_opregion=True, x_igd_legacy_mode="off")
    o100 = qm.judge((10, 0), ptl)
    assert o100.generation == -1 and o100.opregion is False and "10.0" in o100.opregion_why and o100.notes
    o101 = qm.judge((10, 1), ptl)
    assert o101.opregion is True and o101.bdsm_register is None and o101.fw_cfg["etc/igd-bdsm-size"].startswith("0 ")


def test_class_0380_by_version():
    ncls = replace(GOOD, class_code=0x038000, x_igd_opregion=True, x_igd_legacy_mode="off")
    assert qm.judge((10, 0), ncls).igd is False and qm.judge((10, 0), ncls).opregion is False
    assert qm.judge((10, 1), ncls).igd is None  # not known which release first accepts it
    assert qm.judge((10, 2), ncls).igd is True and qm.judge((10, 2), ncls).opregion is True
    assert steps(qm.judge((9, 1), replace(GOOD, class_code=0x038000)))["qemu.class"].ok is False


def test_legacy_mode_on_is_fatal_from_10_0_and_only_disables_before():
    q35 = replace(GOOD, machine_family="q35", at_1f0=("ICH9 LPC",), x_igd_legacy_mode="on")
    o = qm.judge((10, 0), q35)
    assert o.legacy is False and o.legacy_failure == "fatal" and o.fatal and "x-igd-legacy-mode=on" in o.fatal[0].evidence
    assert "Machine is not i440fx" in o.fatal[0].qemu_says
    old = qm.judge((9, 1), replace(q35, x_igd_legacy_mode=None))
    assert old.legacy is False and old.legacy_failure == "disabled" and old.fatal == ()
    assert "existing devices at address 1f.0" in steps(old)["vm.1f0"].qemu_says


def test_ivd_and_vga_class_only_from_10_2():
    ivd = replace(GOOD, ivd=True)
    assert qm.judge((10, 1), ivd).legacy is True
    assert qm.judge((10, 2), ivd).legacy is False and steps(qm.judge((10, 2), ivd))["qemu.ivd"].ok is False


def test_x_igd_gms_by_version_and_generation():
    assert qm.gms_accepted((9, 1), 8, 0x10) and not qm.gms_accepted((9, 1), 8, 0x11)
    assert not qm.gms_accepted((9, 2), 9, 1)  # 9.2 ignores it
    assert qm.gms_accepted((10, 0), 9, 0x40) and not qm.gms_accepted((10, 0), 9, 0xF0) and qm.gms_accepted((10, 1), 9, 0xF0)
    assert not qm.gms_accepted((10, 1), 8, 0xF0) and not qm.gms_accepted((10, 1), 6, 0x11) and not qm.gms_accepted((10, 1), -1, 1)
    big = replace(GOOD, x_igd_gms=0x50)
    assert qm.judge((10, 1), big).gms.ok is False and qm.judge((10, 1), big).fatal == ()  # error printed, VM starts
    o = qm.judge((10, 2), big)
    assert o.gms.ok is False and o.gms in o.fatal  # 10.2 tears the device's realize down
    mtl = replace(GOOD, device_id=0x7D55, x_igd_gms=2, x_igd_legacy_mode="off")
    assert "not supported on this device" in qm.judge((10, 2), mtl).gms.qemu_says
    ignored = qm.judge((9, 2), big).gms
    assert "ignores" in ignored.evidence and ignored.ok and ignored.caution and ignored.fix


def test_vf_mdev_and_other_functions():
    vf = replace(GOOD, host_function=1, vf=True, x_igd_opregion=True)
    o = qm.judge((10, 1), vf)
    assert o.legacy is False and steps(o)["vm.igd_function"].ok is False and o.opregion is False and o.fatal
    gvt = replace(GOOD, mdev=True, x_igd_opregion=True)
    assert qm.judge((10, 1), gvt).opregion is True and qm.judge((10, 1), gvt).legacy is False
    assert qm.judge((10, 1), replace(gvt, x_igd_opregion=None)).opregion is False  # only with x-igd-opregion=on
    assert qm.judge((10, 1), replace(gvt, device_id=0x9A49)).opregion is False  # GVT-g: gen 8/9 only


def test_no_lpc_region_fails_legacy_only():
    o = qm.judge((10, 1), replace(GOOD, lpc_region=False))
    assert o.legacy is False and "not supported by kernel" in steps(o)["kernel.lpc_region"].qemu_says
    assert qm.judge((10, 1), replace(GOOD, lpc_region=False, x_igd_legacy_mode="off")).opregion is True


def test_no_opregion_region_with_x_igd_opregion_is_fatal():
    o = qm.judge((3, 0), replace(GOOD, opregion_region=False, x_igd_opregion=True, guest_slot=5))
    assert o.opregion is False and o.fatal and "No such device" in o.fatal[0].qemu_says


def test_messages_are_explained():
    for text, word in [("vfio error: 0000:00:02.0: does not support requested IGD OpRegion feature: No such device", "ASLS"),
                       ("cannot support legacy mode due to existing devices at address 1f.0", "i440fx"),
                       ("PCI: slot 2 function 0 not available for vfio-pci, in use by pcie-root-port", "slot 2")]:
        meaning, fix = errors.explain(text)
        assert meaning and fix and word in meaning + fix
    assert errors.explain("something else entirely") == ("", "")


# -- check on the model ---------------------------------------------------------------------------------


def rules(result):
    return {r["id"]: r for r in result["rules"]}


def test_unknown_version_shows_where_the_verdict_changes():
    from tests.test_check import host

    b = host(device=0xA780).builder()  # a Raptor Lake-S IGD, and no QEMU found on the host
    b.host.pop("qemu_version", None)
    cap = b.build()
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom")
    r = check.run_checks(cap, vm)
    v = r["verdicts"]["legacy"]
    assert v["verdict"] == "unknown" and r["qemu_judged"] == ["<= 9.1", "9.2", "10.0", "10.1", ">= 10.2"]
    by = {s["qemu"]: s["verdict"] for s in v["by_qemu"]}
    assert by == {"<= 9.1": "works", "9.2": "fails", "10.0": "works", "10.1": "fails", ">= 10.2": "fails"}
    text = checkcli.render(r)
    assert "legacy        DEPENDS ON QEMU (the VM's mode) - works on <= 9.1, 10.0; fails on 9.2 (qemu.generation), 10.1" in text
    # a versioned machine type is a lower bound: only 10.1 and later are judged
    vm101 = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc-i440fx-10.1 -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom")
    r = check.run_checks(cap, vm101)
    assert r["qemu_judged"] == ["10.1", ">= 10.2"] and r["verdicts"]["legacy"]["verdict"] == "fails"


def test_machine_type_newer_than_the_installed_qemu_is_a_contradiction():
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc-q35-10.1 -device vfio-pci,host=00:02.0,addr=02.0")
    r = check.run_checks(demo.host_capture(), vm, "9.0")
    m = rules(r)["qemu.machine_version"]
    assert m["status"] == "fail" and "needs QEMU 10.1" in m["evidence"] and "9.0" in m["evidence"]
    assert all("qemu.machine_version" in r["verdicts"][mode]["failing"] for mode in check.MODES)


def test_a_config_alone_is_judged_without_a_host_capture(shared_dir):
    p = shared_dir / "world" / "vm" / "qemu_longqt-21-kbl-7700-q35-code43.cmdline"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    vm = vmconfig.parse_any(p.read_text())
    r = check.run_checks(None, vm, device=0x5912)
    assert r["capture"] is None and r["igd"]["device"] == 0x5912 and r["platform"]["platform"] == "KBL"
    rs = rules(r)
    assert rs["host.capture"]["status"] == "unknown" and "igdscope dump" in rs["host.capture"]["fix"]
    assert {"vm.address", "vm.root_bus", "vm.machine", "vm.1f0"} <= set(r["verdicts"]["legacy"]["failing"])
    # reporters saw Code 43 with the IGD behind a root port under OVMF: said even where no rule fails
    assert rs["vm.windows_address"]["status"] == "warn" and "00:02.0" in rs["vm.windows_address"]["fix"]
    assert r["qemu_judged"] == ["10.1", ">= 10.2"]  # pc-q35-10.1
    assert checkcli.render(r).startswith("No host capture: the VM configuration is judged alone")
    assert checkcli.exit_code(r) == 1


def test_host_function_1_is_not_the_igd(shared_dir):
    p = shared_dir / "world" / "vm" / "libvirt_longqt-27-hostdev-function1-freeze.xml"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    vm = vmconfig.parse_any(p.read_text())
    r = check.run_checks(demo.host_capture(), vm, "10.1")
    rs = rules(r)
    assert rs["vm.igd"]["status"] == "fail" and "00:02.1" in rs["vm.igd"]["evidence"] and "function" in rs["vm.igd"]["fix"]
    assert all(r["verdicts"][m]["verdict"] == "fails" for m in check.MODES) and checkcli.exit_code(r) == 1
    # with SR-IOV VFs on the host, 00:02.1 is VF 1: plain assignment only
    from tests.test_check import host

    cap = host(sriov={"role": "pf", "totalvfs": 7, "numvfs": 2})
    r = check.run_checks(cap, vm, "10.1")
    assert rules(r)["vm.igd"]["status"] == "warn" and "VF 1" in rules(r)["vm.igd"]["evidence"]
    assert "vm.igd_function" in r["verdicts"]["upt_opregion"]["failing"] and r["verdicts"]["upt"]["verdict"] != "fails"


def test_guest_capture_says_so_first_and_gives_no_host_fixes():
    r = check.run_checks(demo.guest_capture())
    assert r["capture"] == "guest" and not any(x["id"].startswith("own.") for x in r["rules"])
    assert all(v["verdict"] == "unknown" and "host.machine" in v["unknown"] for v in r["verdicts"].values()) and checkcli.exit_code(r) == 1
    assert checkcli.render(r).splitlines()[0].startswith("This is a guest capture") and "igdscope diff" in checkcli.render(r).splitlines()[0]


def test_no_lpc_bridge_on_the_host_fails_legacy_only():
    b = demo.host_capture().builder()
    b.devices = [d for d in b.devices if d.role != "lpc"]
    cap = b.build()
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -nodefaults -device vfio-pci,host=00:02.0,addr=02.0,x-igd-opregion=on")
    r = check.run_checks(cap, vm, "10.1")
    lpc = rules(r)["kernel.lpc"]
    assert lpc["status"] == "fail" and lpc["modes"] == ["legacy"] and "-ENODEV" in lpc["evidence"] and "-EINVAL" not in lpc["fix"]
    assert r["verdicts"]["upt_opregion"]["verdict"] == "works"


def test_quoted_errors_are_explained_with_a_fix(shared_dir):
    p = shared_dir / "world" / "vm" / "qemu_gvt-linux-19-opregion-no-such-device.cmdline"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    vm = vmconfig.parse_any(p.read_text())
    r = check.run_checks(demo.host_capture(), vm, "3.0")
    e = rules(r)["vm.qemu_error"]
    assert "No such device" in e["evidence"] and "ASLS" in e["evidence"] and e["fix"]


def test_no_advice_to_set_what_is_set():
    vm = vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0,x-igd-gms=0x1")
    rs = rules(check.run_checks(demo.host_capture(), vm, "9.0"))
    assert rs["vm.gms"]["status"] == "pass" and "qemu.gms" not in rs
    rs = rules(check.run_checks(demo.host_capture(), vmconfig.parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=02.0"), "9.0"))
    assert rs["qemu.gms"]["status"] == "warn" and "x-igd-gms" in rs["qemu.gms"]["fix"]


def test_lpc_bridge_and_asls_outside_legacy_mode():
    upt = replace(GOOD, machine_family="q35", at_1f0=("ICH9-LPC 8086:2918",), x_igd_legacy_mode="off")
    assert qm.judge((10, 1), upt).lpc_bridge is False and qm.judge((10, 1), upt).asls_emulated is True  # 10.1: ASLS always
    assert qm.judge((10, 0), upt).asls_emulated is False  # 10.0: only with the OpRegion set up
    assert qm.judge((10, 1), replace(upt, x_igd_lpc=True)).lpc_bridge is False  # 00:1f.0 is taken on q35
    assert qm.judge((10, 1), replace(upt, x_igd_lpc=True, machine_family="i440fx", at_1f0=())).lpc_bridge is True
    assert qm.judge((10, 1), replace(upt, x_igd_opregion=False)).asls_emulated is False


def test_proxmox_refuses_legacy_igd_before_qemu_runs():
    ok = vmconfig.parse_proxmox("machine: pc-i440fx-9.2\nvga: none\nhostpci0: 0000:00:02.0,legacy-igd=1\n")
    assert rules(check.run_checks(demo.host_capture(), ok, "9.2"))["pve.legacy_igd"]["status"] == "pass"
    bad = vmconfig.parse_proxmox("machine: q35\nvga: std\nhostpci0: 0000:00:02.0,legacy-igd=1,rombar=0\n")
    r = check.run_checks(demo.host_capture(), bad, "9.2")
    p = rules(r)["pve.legacy_igd"]
    assert p["status"] == "fail" and "requires VGA mode to be 'none'" in p["evidence"] and "not compatible with q35" in p["evidence"]
    assert "requires rombar to be enabled" in p["evidence"] and "pve.legacy_igd" in r["verdicts"]["legacy"]["failing"]
    partial = vmconfig.parse_proxmox("hostpci0: 0000:00:02.0,legacy-igd=1\n")
    assert rules(check.run_checks(demo.host_capture(), partial, "9.2"))["pve.legacy_igd"]["status"] == "unknown"


def test_the_default_vga_at_the_igds_slot_stops_qemu():
    vm = vmconfig.parse_qemu_cmdline("-machine pc -device vfio-pci,host=0000:00:02.0,addr=0x2", bare_args=True)
    r = check.run_checks(demo.host_capture(), vm, "10.1")
    s = rules(r)["vm.slot"]
    assert s["status"] == "fail" and "in use by VGA" in s["evidence"] and "-vga none" in s["fix"]
    assert all("vm.slot" in r["verdicts"][m]["failing"] for m in check.MODES)
    nic = vmconfig.parse_qemu_cmdline("-machine pc -vga none -device vfio-pci,host=0000:00:02.0,addr=0x2", bare_args=True)
    assert "in use by e1000" in rules(check.run_checks(demo.host_capture(), nic, "10.1"))["vm.slot"]["evidence"]  # the default NIC
    ok = vmconfig.parse_qemu_cmdline("-machine pc -nodefaults -device vfio-pci,host=0000:00:02.0,addr=0x2", bare_args=True)
    assert "vm.slot" not in rules(check.run_checks(demo.host_capture(), ok, "10.1"))


def test_a_wrong_bridge_at_1f0_fails_the_device_open_in_every_mode():
    """vfio_pci_igd_cfg_init: an LPC function that is not an Intel ISA bridge gives -EINVAL and
    the device open fails, whatever QEMU is asked for (a missing one is -ENODEV, tolerated)."""
    b = demo.host_capture().builder()
    b.replace_device("lpc", class_code=0x068000)
    r = check.run_checks(b.build(), None, "10.1")
    lpc = rules(r)["kernel.lpc"]
    assert lpc["status"] == "fail" and "-EINVAL" in lpc["evidence"] and lpc["modes"] == sorted(check.MODES)
    assert all(r["verdicts"][m]["verdict"] == "fails" for m in check.MODES)
