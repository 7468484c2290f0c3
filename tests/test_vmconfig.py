"""VM definitions: every file in ../shared/world/vm parses to the facts a person reads off it by
hand, plus unit tests of the syntax that makes these files tricky.

The world files are third-party text read in place; nothing of them is copied here but the facts
derived from them (machine names, host/guest addresses, option values, ROM file names).  Personal
file paths are checked by shape only.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from igdscope.analysis import vmconfig
from igdscope.errors import BadInput
from igdscope.analysis.vmconfig import ICH9_LPC, parse_any, parse_libvirt, parse_proxmox, parse_qemu_cmdline
from tests.support.shared import WORLD, need

WORLD_VM = WORLD / "vm"

# Per file: VmConfig facts, then the IGD entry (VmConfig.igd) field by field.  A callable checks the
# value instead of comparing it.  "at_1f0": None = unknown (machine unknown).
EXPECTED: dict[str, dict[str, Any]] = {
    "libvirt_kubevirt-12825-override-pcie0-slot2.xml": {
        # only a <qemu:override> for alias ua-hostdevice-video: bus pcie.0, addr 2.0; no <hostdev>
        "source": "libvirt", "machine": None, "family": "q35", "version": None, "firmware": None,
        "at_1f0": [ICH9_LPC], "n_assigned": 1,
        "igd": {"host": None, "id": "ua-hostdevice-video", "guest_bus": "pcie.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "romfile": None, "rombar": None,
                "x_igd_opregion": None, "x_igd_gms": None, "legacy_igd": False, "x_vga": None,
                "hotplugged": None, "origin": "<qemu:override> only"},
        "note": "not defined in this input",
    },
    "libvirt_longqt-27-hostdev-function1-freeze.xml": {
        # host function 0x1, guest bus 0x05 slot 0 function 0, <rom file=...>, alias hostdev9
        "source": "libvirt", "machine": None, "family": None, "version": None, "firmware": None,
        "at_1f0": None, "n_assigned": 1,
        "igd": {"host": "0000:00:02.1", "id": "hostdev9", "guest_bus": "pci.5", "guest_slot": 0,
                "guest_function": 0, "on_root_bus": False, "romfile": "/usr/share/kvm/igd.rom",
                "rombar": None, "x_igd_opregion": None, "x_igd_lpc": None, "legacy_igd": False,
                "hotplugged": None},
        "note": "not function 0",
    },
    "libvirt_rikka0w0-skl-hd530-i440fx.xml": {
        # pc-i440fx-4.2, no loader (SeaBIOS), QXL primary at slot 9, hostdev 00:02.0 -> 00:02.0,
        # qemu:commandline -set device.hostdev0.x-igd-opregion=on / x-igd-gms=1
        "source": "libvirt", "machine": "pc-i440fx-4.2", "family": "i440fx", "version": "4.2",
        "firmware": "seabios", "vga": "qxl", "nodefaults": True, "at_1f0": [], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": "hostdev0", "guest_bus": "pci.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "romfile": None, "rombar": None,
                "x_igd_opregion": True, "x_igd_gms": 1, "x_vga": None, "legacy_igd": False,
                "hotplugged": False},
        "note": "<qemu:override>",
    },
    "pve_gangqizai-rpl-13600-legacy-igd.conf": {
        "source": "proxmox", "machine": "pc-i440fx-8.0", "family": "i440fx", "version": "8.0",
        "firmware": "ovmf", "vga": "none", "hint": None, "created": "8.0.2", "nodefaults": True, "at_1f0": [],
        "n_assigned": 2,
        "igd": {"host": "0000:00:02.0", "all_functions": False, "id": "hostpci0", "guest_bus": "pci.0",
                "guest_slot": 2, "guest_function": 0, "on_root_bus": True,
                "romfile": "/usr/share/kvm/gen12_igd.rom", "rombar": None, "legacy_igd": True,
                "x_igd_opregion": True, "x_igd_gms": 2, "x_igd_lpc": None, "x_vga": None,
                "hotplugged": False},
        # hostpci1 (the PCH audio function) lands on Proxmox's default slot for hostpci1
        "other": {"0000:00:1f.3": {"id": "hostpci1", "guest_bus": "pci.0", "guest_slot": 0x11,
                                   "romfile": "/usr/share/kvm/gen12_gop.rom"}},
    },
    "pve_i915ovmfpkg-33-cml-i3-10105-q35-addr18.conf": {
        # q35 + OVMF; IGD only via args: -device vfio-pci,host=00:02.0,addr=0x18 (no bus: pcie.0)
        "source": "proxmox", "machine": "q35", "family": "q35", "version": None, "firmware": "ovmf",
        "vga": "none", "hint": None, "created": "6.1.0", "at_1f0": [ICH9_LPC], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": None, "guest_bus": "pcie.0", "guest_slot": 0x18,
                "guest_function": 0, "on_root_bus": True, "romfile": "/usr/share/kvm/i915ovmf.rom",
                "x_igd_opregion": True, "legacy_igd": False, "origin": "args:"},
    },
    "pve_longqt-33-cfl-p330-partial.conf": {
        # truncated before hostpci0/machine/vga: only args: -set device.hostpci0.{bus,addr,x-igd-opregion}
        "source": "proxmox", "machine": None, "family": None, "version": None, "firmware": "ovmf",
        "vga": None, "at_1f0": None, "n_assigned": 1,
        "igd": {"host": None, "id": "hostpci0", "guest_bus": "pci.0", "guest_slot": 2, "guest_function": 0,
                "on_root_bus": None, "x_igd_opregion": True, "legacy_igd": False, "origin": "-set only"},
        "note": "looks truncated",
    },
    "pve_longqt-35-ptl-qm-set.cmdline": {
        # args: line, then qm set --machine pc --vga none --bios ovmf --hostpci0 ...legacy-igd=1,
        # romfile=igd.rom, then qm set --args replaces args with -set ...x-igd-lpc=on
        "source": "proxmox", "machine": "pc", "family": "i440fx", "version": None, "firmware": "ovmf",
        "vga": "none", "at_1f0": [], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": "hostpci0", "guest_bus": "pci.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "romfile": "/usr/share/kvm/igd.rom",
                "legacy_igd": True, "x_igd_lpc": True, "x_igd_opregion": None, "x_igd_gms": None},
        "note": "replaces the earlier args",
    },
    "pve_my33love-glk-j4125-ovmf.conf": {
        # no machine: (Proxmox default pc), OVMF, hostpci0 00:02.0 legacy-igd, romfile igd.rom,
        # args addr=02.0 x-igd-gms=1 x-igd-opregion=on; hostpci1 00:0e and hostpci2 04:00 (all functions)
        "source": "proxmox", "machine": None, "family": "i440fx", "version": None, "firmware": "ovmf",
        "vga": "none", "at_1f0": [], "n_assigned": 3,
        "igd": {"host": "0000:00:02.0", "all_functions": False, "id": "hostpci0", "guest_bus": "pci.0",
                "guest_slot": 2, "guest_function": 0, "on_root_bus": True, "romfile": "/usr/share/kvm/igd.rom",
                "legacy_igd": True, "x_igd_opregion": True, "x_igd_gms": 1},
        "other": {"0000:00:0e.0": {"all_functions": True, "guest_slot": 0x11},
                  "0000:04:00.0": {"all_functions": True, "guest_slot": 0x1B}},
        "note": "default machine 'pc'",
    },
    "pve_xiongyw-cfl-elitedesk-working.conf": {
        # hostpci0: 0000:00:02 (no function), legacy-igd=1, romfile; machine pc-i440fx-9.2; meta 9.2.0
        "source": "proxmox", "machine": "pc-i440fx-9.2", "family": "i440fx", "version": "9.2",
        "firmware": "ovmf", "vga": "none", "hint": None, "created": "9.2.0", "at_1f0": [], "n_assigned": 2,
        "igd": {"host": "0000:00:02.0", "all_functions": True, "id": "hostpci0", "guest_bus": "pci.0",
                "guest_slot": 2, "guest_function": 0, "on_root_bus": True,
                "romfile": "/usr/share/kvm/igpu-uhd630.rom", "legacy_igd": True, "x_igd_opregion": True,
                "x_igd_gms": 2},
        "other": {"0000:00:1f.3": {"id": "hostpci1", "guest_slot": 0x11, "romfile": None}},
        "note": "snapshot 'apps'",
    },
    "qemu_awilliam-qemu-vfio-4-hsw-win7.cmdline": {
        # fragment: -machine pc, vfio-pci host=00:02.0 id=hostdev0 bus=pci.0 addr=0x2, no ROM options;
        # second vfio-pci for 00:14.0; the "-drivefile=" typo is not a QEMU option
        "source": "qemu", "machine": "pc", "family": "i440fx", "version": None, "firmware": "seabios",
        "vga": None, "nodefaults": False, "at_1f0": [], "n_assigned": 2,
        "igd": {"host": "0000:00:02.0", "id": "hostdev0", "guest_bus": "pci.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "romfile": None, "rombar": None,
                "x_igd_opregion": None, "x_igd_gms": None, "x_vga": None, "hotplugged": False},
        "other": {"0000:00:14.0": {"id": "xhci0", "guest_slot": None, "on_root_bus": True}},
        "unparsed": "-drivefile=",
        "note": "default VGA",
    },
    "qemu_gvt-linux-19-opregion-no-such-device.cmdline": {
        # only QEMU's error echo: the -device option and the message
        "source": "qemu", "machine": None, "family": None, "version": None, "firmware": None,
        "at_1f0": None, "n_assigned": 1,
        "errors": ["does not support requested IGD OpRegion feature: No such device"],
        "igd": {"host": "0000:00:02.0", "id": None, "guest_bus": "pci.0", "guest_slot": 2, "guest_function": 0,
                "on_root_bus": None, "x_igd_opregion": True, "romfile": None, "origin": "QEMU error echo"},
    },
    "qemu_lansing-macos-igd-working.cmdline": {
        "source": "qemu", "machine": "pc", "family": "i440fx", "version": None, "firmware": "seabios",
        "vga": "none", "at_1f0": [], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": None, "guest_bus": "pci.0", "guest_slot": 2, "guest_function": 0,
                "on_root_bus": True, "x_igd_opregion": True, "x_vga": True, "x_igd_gms": 6,
                "romfile": lambda v: v is not None and v.startswith("/") and v.endswith("/vbios.dump")},
    },
    "qemu_longqt-21-kbl-7700-q35-code43.cmdline": {
        # JSON -device: bus pci.5 addr 0x0 romfile; machine pc-q35-10.1 with pflash (OVMF)
        "source": "qemu", "machine": "pc-q35-10.1", "family": "q35", "version": "10.1", "firmware": "ovmf",
        "at_1f0": [ICH9_LPC], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": "hostdev0", "guest_bus": "pci.5", "guest_slot": 0,
                "guest_function": 0, "on_root_bus": False, "romfile": "/etc/kvm/CFL_CML_GOPv9.1_igd.rom",
                "x_igd_opregion": None},
    },
    "qemu_rikka0w0-skl-hd530-seabios.cmdline": {
        # export PCILOC=0000:00:02.0; -M pc, -nodefaults, -vga none; host=$PCILOC,id=hostdev0,
        # bus=pci.0,addr=0x2,x-igd-gms=1,x-igd-opregion=on; no romfile
        "source": "qemu", "machine": "pc", "family": "i440fx", "version": None, "firmware": "seabios",
        "vga": "none", "nodefaults": True, "at_1f0": [], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": "hostdev0", "guest_bus": "pci.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "x_igd_gms": 1, "x_igd_opregion": True,
                "romfile": None, "rombar": None},
        "note": "opt/igd-opregion",
    },
    "qemu_vivekmiyani-whl-macos-q35.cmdline": {
        # bash array: -machine q35, pflash OVMF, vfio-pci host=0000:00:02.0 bus=pcie.0 addr=0x2
        # romfile="$REPO_PATH/$I915_OVMF_DIR/i915ovmf.rom" with REPO_PATH=. and I915_OVMF_DIR=i915ovmf
        "source": "qemu", "machine": "q35", "family": "q35", "version": None, "firmware": "ovmf",
        "vga": "none", "at_1f0": [ICH9_LPC], "n_assigned": 1,
        "igd": {"host": "0000:00:02.0", "id": "hostdev0", "guest_bus": "pcie.0", "guest_slot": 2,
                "guest_function": 0, "on_root_bus": True, "romfile": "./i915ovmf/i915ovmf.rom",
                "x_igd_opregion": None},
        "note": "etc/igd-opregion supplied by hand",
    },
}

KIND_TO_SOURCE = {"vm-conf": "proxmox", "vm-xml": "libvirt", "vm-cmdline": None}


@pytest.fixture(scope="module")
def world_vm() -> Path:
    return need(WORLD_VM)


def _check(value: Any, want: Any, what: str) -> None:
    if callable(want):
        assert want(value), f"{what}: {value!r} fails its check"
    else:
        assert value == want, f"{what}: got {value!r}, want {want!r}"


def test_every_world_file_has_expectations(world_vm: Path) -> None:
    names = {p.name for p in world_vm.iterdir() if p.is_file()}
    assert names == set(EXPECTED), f"unexpected: {sorted(names - set(EXPECTED))}, missing: {sorted(set(EXPECTED) - names)}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_world_file(world_vm: Path, name: str) -> None:
    path = world_vm / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    exp = EXPECTED[name]
    cfg = parse_any(path.read_text(encoding="utf-8"))
    _check(cfg.source, exp["source"], "source")
    _check(cfg.machine, exp["machine"], "machine")
    _check(cfg.machine_family, exp["family"], "machine_family")
    _check(cfg.machine_version, exp["version"], "machine_version")
    _check(cfg.firmware, exp["firmware"], "firmware")
    for key, attr in (("vga", "vga"), ("nodefaults", "nodefaults"), ("hint", "qemu_version_hint"),
                      ("created", "created_with_qemu")):
        if key in exp:
            _check(getattr(cfg, attr), exp[key], attr)
    _check(cfg.devices_at_1f0, exp["at_1f0"], "devices_at_1f0")
    assert len(cfg.assigned) == exp["n_assigned"], [a.host for a in cfg.assigned]
    igd = cfg.igd
    assert igd is not None
    for field_name, want in exp["igd"].items():
        _check(getattr(igd, field_name), want, f"igd.{field_name}")
    for host, fields in exp.get("other", {}).items():
        dev = next(a for a in cfg.assigned if a.host == host)
        for field_name, want in fields.items():
            _check(getattr(dev, field_name), want, f"{host}.{field_name}")
    for err in exp.get("errors", []):
        assert any(err in e for e in cfg.errors_quoted), cfg.errors_quoted
    if "errors" not in exp:
        assert cfg.errors_quoted == []  # error text in the header comments is not data
    if "unparsed" in exp:
        assert any(exp["unparsed"] in u for u in cfg.unparsed), cfg.unparsed
    if "note" in exp:
        assert any(exp["note"] in n for n in cfg.notes), cfg.notes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_world_file_direct_parser_agrees(world_vm: Path, name: str) -> None:
    """The parser for the file's extension gives the same result as sniffing."""
    path = world_vm / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    text = path.read_text(encoding="utf-8")
    direct = {".xml": parse_libvirt, ".conf": parse_proxmox, ".cmdline": parse_qemu_cmdline}[path.suffix](text)
    a, b = direct.to_dict(), parse_any(text).to_dict()
    a.pop("notes"), b.pop("notes")  # the delegating parser adds a note saying so
    assert a == b


def test_index_kinds_match_sources(world_vm: Path) -> None:
    index = world_vm.parent / "INDEX.tsv"
    if not index.is_file():
        pytest.skip(f"{index} is absent")
    rows = [ln.split("\t") for ln in index.read_text(encoding="utf-8").splitlines()[1:] if ln.startswith("vm/")]
    assert rows
    for row in rows:
        name, kind = row[0][3:], row[1]
        want = KIND_TO_SOURCE[kind]
        if want is not None:
            assert EXPECTED[name]["source"] == want, name


def test_header_comments_are_not_parsed(world_vm: Path) -> None:
    """Headers quote outcomes and error text (e.g. the KubeVirt and 1f.0 errors); none of it is data."""
    for name in ("libvirt_kubevirt-12825-override-pcie0-slot2.xml", "qemu_vivekmiyani-whl-macos-q35.cmdline",
                 "pve_gangqizai-rpl-13600-legacy-igd.conf"):
        cfg = parse_any((world_vm / name).read_text(encoding="utf-8"))
        assert cfg.errors_quoted == []
        assert not any("1f.0" in u or "legacy mode" in u for u in cfg.unparsed)


# ------------------------------------------------------------------------------------------------
# QEMU command-line syntax


def test_quoting_escaped_commas_and_continuations() -> None:
    cfg = parse_qemu_cmdline(
        "qemu-system-x86_64 -machine pc-i440fx-9.2,accel=kvm \\\n"
        "  -device 'vfio-pci,host=00:02.0,id=igd,romfile=/roms/a,,b.rom' \\\n"
        '  -device "vfio-pci,host=0000:00:1f.3,id=\\"aud\\"" -vga none -nodefaults\n'
    )
    assert (cfg.machine_family, cfg.machine_version, cfg.vga, cfg.nodefaults) == ("i440fx", "9.2", "none", True)
    igd = cfg.igd
    assert igd.romfile == "/roms/a,b.rom" and igd.id == "igd" and igd.guest_slot is None and igd.on_root_bus
    assert cfg.assigned[1].id == '"aud"'


def test_comments_do_not_continue_lines_and_variables_expand() -> None:
    cfg = parse_qemu_cmdline(
        "#!/bin/sh\nHOST=0000:00:02.0\nROM=\"/r/x.rom\"\n"
        "# -device vfio-pci,host=00:03.0 \\\n"
        "qemu-system-x86_64 -M q35 -device vfio-pci,host=$HOST,romfile=${ROM},addr=0x2 # trailing comment\n"
    )
    assert [a.host for a in cfg.assigned] == ["0000:00:02.0"]
    assert cfg.igd.romfile == "/r/x.rom" and cfg.igd.guest_bus == "pcie.0" and cfg.igd.guest_slot == 2
    assert cfg.devices_at_1f0 == [ICH9_LPC]


@pytest.mark.parametrize("prefix", ["qemu-system-x86_64 ", "args: "])
def test_unclosed_braces_parse_in_linear_time(prefix) -> None:
    # "${" over and over without a "}": every "$" used to scan to the end of the text (a hang);
    # a brace expression ends at the next brace, so the work per "$" is bounded by its neighbours
    t0 = time.perf_counter()
    for parse in (parse_qemu_cmdline, parse_proxmox, parse_any):
        try:
            parse(prefix + "${" * 100_000)
        except BadInput:
            pass
    assert time.perf_counter() - t0 < 10
    cfg = parse_qemu_cmdline("ROM=/r/x.rom\nqemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,romfile=${ROM},addr=0x2 ${")
    assert cfg.igd.romfile == "/r/x.rom"


def test_set_overrides_apply_in_order() -> None:
    cfg = parse_qemu_cmdline(
        "qemu-system-x86_64 -M pc -vga none -device vfio-pci,host=00:02.0,id=igd,bus=pci.0,addr=0x10 "
        "-set device.igd.addr=02.0 -set device.igd.x-igd-legacy-mode=on -set device.igd.x-igd-gms=0x10 "
        "-set device.igd.addr=2.0 -set device.igd.rombar=0 -set device.igd.x-pci-class-code=0x038000"
    )
    igd = cfg.igd
    assert (igd.guest_slot, igd.guest_function, igd.on_root_bus) == (2, 0, True)
    assert igd.x_igd_legacy_mode == "on" and igd.x_igd_gms == 0x10 and igd.rombar == 0
    assert igd.x_pci_class_code == 0x038000


def test_set_before_device_and_on_json_device_are_qemu_errors() -> None:
    cfg = parse_qemu_cmdline(
        "qemu-system-x86_64 -M pc -set device.igd.x-igd-opregion=on -device vfio-pci,host=00:02.0,id=igd "
        "-device '{\"driver\":\"vfio-pci\",\"host\":\"0000:00:02.1\",\"id\":\"vf\",\"addr\":16}' "
        "-set device.vf.x-igd-opregion=on"
    )
    igd = next(a for a in cfg.assigned if a.id == "igd")
    vf = next(a for a in cfg.assigned if a.id == "vf")
    assert igd.x_igd_opregion is None and vf.x_igd_opregion is None
    assert (vf.guest_slot, vf.guest_function) == (2, 0)  # JSON integer addr is a devfn
    assert any("before -device" in n for n in cfg.notes)
    assert any("passed as JSON" in n for n in cfg.notes)


def test_global_applies_unless_the_device_sets_it() -> None:
    cfg = parse_qemu_cmdline(
        "qemu-system-x86_64 -M pc -global vfio-pci.x-igd-opregion=on -global driver=vfio-pci,property=x-igd-lpc,value=on "
        "-device vfio-pci,host=00:02.0,id=a -device vfio-pci,host=00:03.0,id=b,x-igd-opregion=off"
    )
    a, b = cfg.assigned
    assert a.x_igd_opregion is True and a.x_igd_lpc is True
    assert b.x_igd_opregion is False and b.x_igd_lpc is True


@pytest.mark.parametrize(
    "addr, want",
    [("0x2", (2, 0)), ("2.0", (2, 0)), ("02.0", (2, 0)), ("0x1.0x2", (1, 2)), ("1f", (0x1F, 0)), ("16", (0x16, 0)),
     (16, (2, 0)), ("0x20", None), ("2.8", None), ("x", None), (True, None)],
)
def test_addr_forms(addr: Any, want: Any) -> None:
    assert vmconfig.parse_devfn(addr) == want


def test_host_forms() -> None:
    assert vmconfig.normalise_host("00:02.0") == ("0000:00:02.0", False)
    assert vmconfig.normalise_host("0000:00:02") == ("0000:00:02.0", True)
    assert vmconfig.normalise_host("10000:3A:00.1") == ("10000:3a:00.1", False)
    assert vmconfig.normalise_host("00:40.0") is None


def test_machine_merging_and_firmware() -> None:
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc-q35-9.2 -machine accel=kvm,kernel_irqchip=on -bios /usr/share/OVMF/OVMF.fd")
    assert (cfg.machine, cfg.machine_family, cfg.machine_version, cfg.firmware) == ("pc-q35-9.2", "q35", "9.2", "ovmf")
    cfg = parse_qemu_cmdline("/opt/qemu-10.0.2/bin/qemu-system-x86_64 -machine type=pc -vga none -device vfio-pci,host=00:02.0,addr=2")
    assert cfg.machine_family == "i440fx" and cfg.firmware == "seabios" and cfg.qemu_version_hint == "10.0.2"


def test_no_machine_means_qemu_default_pc_only_for_a_full_invocation() -> None:
    assert parse_qemu_cmdline("qemu-system-x86_64 -nodefaults -device vfio-pci,host=00:02.0").machine_family == "i440fx"
    assert parse_qemu_cmdline("-device vfio-pci,host=00:02.0").machine_family is None


def test_default_vga_takes_slot_2_on_i440fx() -> None:
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,host=00:02.0,addr=0x2")
    assert any("02.0 given to both VGA" in n for n in cfg.notes)
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc -device qxl-vga,addr=0x3 -device vfio-pci,host=00:02.0,addr=0x2")
    assert not any("given to both VGA" in n for n in cfg.notes)
    # ... but the default NIC, made with the machine, takes the first free slot: 00:02.0 (QEMU 7.2 says so)
    assert any("02.0 given to both e1000 (QEMU default NIC) and vfio-pci" in n for n in cfg.notes)
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc -nic none -device qxl-vga,addr=0x3 -device vfio-pci,host=00:02.0,addr=0x2")
    assert not any("given to both" in n for n in cfg.notes)


def test_explicit_device_at_1f0_on_i440fx() -> None:
    cfg = parse_qemu_cmdline(
        "qemu-system-x86_64 -M pc -nodefaults -device pci-bridge,id=br,chassis_nr=1,bus=pci.0,addr=0x1f "
        "-device vfio-pci,host=00:02.0,bus=pci.0,addr=0x2"
    )
    assert cfg.devices_at_1f0 == ["pci-bridge br (-device)"]
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc -nodefaults -device vfio-pci-igd-lpc-bridge,addr=1f.0")
    assert cfg.devices_at_1f0 == ["vfio-pci-igd-lpc-bridge (-device)"]


def test_error_echo_with_timestamp_and_json() -> None:
    text = (
        '2024-09-16T10:31:46.992444Z qemu-kvm: -device {"driver":"vfio-pci","host":"0000:00:02.0",'
        '"id":"x","addr":"2.0","bus":"pcie.0"}: PCI: slot 2 function 0 not available for vfio-pci, in use by y\n'
    )
    cfg = parse_qemu_cmdline(text)
    assert cfg.errors_quoted == ["PCI: slot 2 function 0 not available for vfio-pci, in use by y"]
    assert cfg.igd.guest_bus == "pcie.0" and cfg.igd.guest_slot == 2 and cfg.machine_family == "q35"


def test_readconfig_is_noted_and_pve_q35_bridges_are_not_root() -> None:
    cfg = parse_qemu_cmdline(
        "/usr/bin/kvm -machine type=q35+pve0 -readconfig /usr/share/qemu-server/pve-q35-4.0.cfg "
        "-device vfio-pci,host=0000:00:02.0,id=hostpci0,bus=pci.0,addr=0x10"
    )
    assert cfg.igd.on_root_bus is False and cfg.igd.guest_bus == "pci.0"
    assert any("-readconfig" in n for n in cfg.notes)


def test_device_add_is_hotplug() -> None:
    cfg = parse_qemu_cmdline("device_add vfio-pci,host=00:02.0,id=hot,addr=0x2")
    assert cfg.igd.hotplugged is True


def test_hostile_json_and_variable_bomb() -> None:
    deep = "[" * 50000 + "]" * 50000
    cfg = parse_qemu_cmdline(f"qemu-system-x86_64 -M pc -device '{{\"driver\":\"vfio-pci\",\"x\":{deep}}}' -device vfio-pci,host=00:02.0")
    assert cfg.igd.host == "0000:00:02.0" and cfg.unparsed
    bomb = "A=xxxxxxxxxxxxxxxx\n" + "A=$A$A$A$A\n" * 12 + "qemu-system-x86_64 -name $A\n"
    with pytest.raises(BadInput, match="grows past"):
        parse_qemu_cmdline(bomb)


# ------------------------------------------------------------------------------------------------
# Proxmox


def _pve(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_pve_without_legacy_igd_keeps_pci2_at_1f0() -> None:
    cfg = parse_proxmox(_pve(
        "args: -set device.hostpci0.addr=02.0", "bios: seabios", "hostpci0: 0000:00:02.0,romfile=igd.rom",
        "machine: pc-i440fx-9.2+pve1", "smbios1: uuid=x", "vga: none",
    ))
    igd = cfg.igd
    assert (igd.guest_bus, igd.guest_slot, igd.on_root_bus, igd.legacy_igd) == ("pci.0", 2, True, False)
    assert cfg.devices_at_1f0 == ["pci-bridge pci.2 (Proxmox layout)"]
    assert cfg.machine_version == "9.2" and any("+pve1" in n for n in cfg.notes)


def test_pve_legacy_igd_default_slot_and_checks() -> None:
    cfg = parse_proxmox(_pve("hostpci0: 00:02.0,legacy-igd=1,x-vga=1,rombar=0", "machine: q35", "vmgenid: x"))
    refusals = [n for n in cfg.notes if n.startswith("Proxmox refuses")]
    assert len(refusals) == 4  # vga not none, rombar off, x-vga, q35
    assert cfg.igd.guest_bus == "pci.0" and cfg.igd.guest_slot == 2
    assert cfg.igd.on_root_bus is False  # on q35 Proxmox's pci.0 is a bridge
    assert cfg.igd.rombar == 0 and cfg.igd.x_vga is True


def test_pve_hostpci_default_slots_pcie_and_x_vga_with_ovmf() -> None:
    cfg = parse_proxmox(_pve(
        "bios: ovmf", "hostpci0: 01:00.0,pcie=1,x-vga=1", "hostpci2: 02:00.0", "hostpci5: 03:00.0",
        "machine: q35", "vmgenid: x",
    ))
    a0, a2, a5 = cfg.assigned
    assert (a0.guest_bus, a0.guest_slot, a0.on_root_bus, a0.pcie, a0.x_vga) == ("ich9-pcie-port-1", 0, False, True, None)
    assert (a2.guest_bus, a2.guest_slot) == ("pci.0", 0x1B)
    assert (a5.guest_bus, a5.guest_slot) == ("pci.2", 0x0E)
    assert any("x-vga=1 is not passed" in n for n in cfg.notes)


def test_pve_multifunction_mdev_and_overrides() -> None:
    cfg = parse_proxmox(_pve(
        "hostpci0: 0000:00:02,legacy-igd=1", "hostpci1: 0000:00:02.0,mdev=i915-GVTg_V5_4,vendor-id=0x8086",
        "vga: none", "vmgenid: x",
    ))
    a0, a1 = cfg.assigned
    assert a0.host == "0000:00:02.0" and a0.all_functions
    # the mdev's parent is named (hostpci1's host): it is the IGD's mdev, not an assumption
    assert a1.mdev == "i915-GVTg_V5_4" and a1.host == "0000:00:02.0" and not a1.mdev_parent_assumed
    assert a1.options["x-pci-vendor-id"] == "0x8086" and "host" not in a1.options


def test_pve_snapshot_sections_and_description_are_ignored() -> None:
    cfg = parse_proxmox(_pve(
        "#my VM description", "#with two lines", "hostpci0: 00:02.0,legacy-igd=1", "machine: pc-i440fx-8.1",
        "parent: snap1", "vga: none", "", "[snap1]", "hostpci0: 00:02.0", "machine: q35", "vga: std",
    ))
    assert cfg.machine == "pc-i440fx-8.1" and cfg.igd.legacy_igd and cfg.vga == "none"
    assert any("[snap1]" in n for n in cfg.notes)


def test_pve_qm_set_with_delete_and_absolute_romfile() -> None:
    cfg = parse_proxmox(_pve(
        "root@pve:~# qm set 100 --machine pc-i440fx-9.0 --vga none \\",
        "   --hostpci0 0000:00:02.0,legacy-igd=1,romfile=/usr/share/kvm/igd.rom --args '-set device.hostpci0.x-igd-opregion=on'",
        "qm set 100 --delete args",
    ))
    assert cfg.igd.x_igd_opregion is None
    assert cfg.igd.romfile == "/usr/share/kvm//usr/share/kvm/igd.rom"
    assert any("absolute" in n for n in cfg.notes)


def test_pve_args_device_on_i440fx_default_bus() -> None:
    cfg = parse_proxmox(_pve("args: -device vfio-pci,host=00:02.0,addr=0x2,x-igd-legacy-mode=auto", "vmgenid: x"))
    assert cfg.machine_family == "i440fx" and cfg.igd.guest_bus == "pci.0" and cfg.igd.on_root_bus
    assert cfg.igd.x_igd_legacy_mode == "auto"
    # default vga (std) sits at pci.0 slot 2 as well
    assert any("given to both" in n for n in cfg.notes)


# ------------------------------------------------------------------------------------------------
# libvirt


_QEMU_NS = 'xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"'


def test_libvirt_override_on_existing_hostdev() -> None:
    xml = f"""<domain type='kvm' {_QEMU_NS}>
      <os><type machine='pc-q35-9.2'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/edk2/x.fd</loader></os>
      <devices>
        <controller type='pci' index='3' model='pcie-root-port'><address type='pci' domain='0' bus='0' slot='2' function='0'/></controller>
        <hostdev mode='subsystem' type='pci' managed='yes'>
          <source><address domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></source>
          <alias name='ua-igd'/>
          <rom bar='off' file='/x/igd.rom'/>
          <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
        </hostdev>
      </devices>
      <qemu:override><qemu:device alias='ua-igd'><qemu:frontend>
        <qemu:property name='bus' type='string' value='pcie.0'/>
        <qemu:property name='addr' type='string' value='0x2'/>
        <qemu:property name='x-igd-lpc' type='bool' value='true'/>
        <qemu:property name='x-igd-gms' type='unsigned' value='2'/>
        <qemu:property name='rombar' type='remove'/>
      </qemu:frontend></qemu:device></qemu:override>
    </domain>"""
    cfg = parse_libvirt(xml)
    igd = cfg.igd
    assert (cfg.machine_family, cfg.firmware) == ("q35", "ovmf")
    assert (igd.guest_bus, igd.guest_slot, igd.on_root_bus) == ("pcie.0", 2, True)
    assert igd.x_igd_lpc is True and igd.x_igd_gms == 2 and igd.rombar is None and igd.romfile == "/x/igd.rom"
    assert igd.source_options["rom.bar"] == "off"
    assert any("given to both" in n for n in cfg.notes)  # the root port at 00:02.0


def test_libvirt_rom_disabled_mdev_and_auto_address() -> None:
    xml = """<devices>
      <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='2' function='0'/></source>
        <rom enabled='no'/></hostdev>
      <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
        <source><address uuid='11111111-2222-3333-4444-555555555555'/></source></hostdev>
    </devices>"""
    cfg = parse_libvirt(xml)
    a, m = cfg.assigned
    assert a.romfile == "" and a.id == "hostdev0" and a.guest_slot is None and a.on_root_bus is None
    # an mdev by UUID names no parent: GVT-g's only parent, the IGD, is assumed and flagged
    assert m.mdev == "11111111-2222-3333-4444-555555555555" and m.id == "hostdev1"
    assert m.host == "0000:00:02.0" and m.mdev_parent_assumed and not a.mdev_parent_assumed


def test_libvirt_snippet_with_qemu_prefix_needs_no_namespace() -> None:
    cfg = parse_libvirt("<qemu:commandline><qemu:arg value='-set'/><qemu:arg value='device.hostdev0.x-igd-gms=1'/></qemu:commandline>")
    assert cfg.igd.id == "hostdev0" and cfg.igd.x_igd_gms == 1 and cfg.igd.host is None


@pytest.mark.parametrize(
    "xml",
    [
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><domain>&b;</domain>',
        '<!DOCTYPE domain SYSTEM "file:///etc/passwd"><domain/>',
        "<domain><devices><hostdev mode='subsystem' type='pci'><source>",
        "<domain><devices></hostdev></devices></domain>",
        "<foo><bar/></foo>",
    ],
)
def test_libvirt_bad_xml(xml: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_libvirt(xml)
    assert "\n" not in str(exc.value)


# ------------------------------------------------------------------------------------------------
# sniffing and hostile input


def test_parse_any_hints() -> None:
    assert parse_any(b"hostpci0: 00:02.0,legacy-igd=1\nvga: none\n", hint="conf").source == "proxmox"
    assert parse_any("-device vfio-pci,host=00:02.0", hint="cmdline").source == "qemu"
    with pytest.raises(BadInput, match="unknown VM definition kind"):
        parse_any("x", hint="vmware")


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "hello world\nthis is not a vm\n", "\x00\x01binary", "# only a comment\n"],
)
def test_not_a_vm_definition(text: str) -> None:
    with pytest.raises(BadInput):
        parse_any(text)


def test_ten_megabytes_of_garbage_is_refused_quickly() -> None:
    rng = random.Random(7)
    blob = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 160  # 10 MiB
    t0 = time.perf_counter()
    for fn in (parse_any, parse_qemu_cmdline, parse_libvirt, parse_proxmox):
        with pytest.raises(BadInput):
            fn(blob)
        with pytest.raises(BadInput):
            fn("-device x," * (1 << 20))  # 10 MiB of text
    assert time.perf_counter() - t0 < 5


def test_many_devices_and_sets_stay_linear() -> None:
    n = 20000
    text = "qemu-system-x86_64 -M pc -nodefaults " + " ".join(
        f"-device vfio-pci,host=00:02.0,id=d{i} -set device.d{i}.x-igd-gms=1 -set device.u{i}.x=1" for i in range(n)
    )
    t0 = time.perf_counter()
    cfg = parse_qemu_cmdline(text)
    assert len(cfg.assigned) == n and cfg.assigned[-1].x_igd_gms == 1
    assert len(cfg.notes) <= vmconfig.MAX_NOTES
    assert time.perf_counter() - t0 < 20


def test_garbage_under_the_size_limit_is_bounded() -> None:
    rng = random.Random(11)
    alphabet = "abc-=,.:'\"\\$(){}<>#; \n\t0123456789xyz"
    text = "".join(rng.choice(alphabet) for _ in range(1_500_000))
    t0 = time.perf_counter()
    for fn in (parse_qemu_cmdline, parse_proxmox, parse_any):
        try:
            fn(text)
        except BadInput:
            pass
    assert time.perf_counter() - t0 < 20


# ------------------------------------------------------------------------------------------------
# Quoted errors wrapped onto several lines (issue #22)

_OPREGION_ERR = "vfio error: 0000:00:02.0: does not support requested IGD OpRegion feature: No such device"


@pytest.mark.parametrize(
    "text",
    [
        # wrapped inside the message
        "qemu-system-x86_64: -device vfio-pci,host=00:02.0,bus=pci.0,addr=0x2,x-igd-opregion=on: vfio error: "
        "0000:00:02.0: does not\nsupport requested IGD OpRegion feature: No such device\n",
        # wrapped inside the quoted option, before its message starts
        "qemu-system-x86_64: -device vfio-pci,host=00:02.0,bus=pci.0,addr=0x2,\nx-igd-opregion=on: vfio error: "
        "0000:00:02.0: does not support requested IGD OpRegion feature: No such device\n",
    ],
    ids=["in-message", "in-option"],
)
def test_wrapped_qemu_error_is_joined_and_its_option_read(text: str) -> None:
    cfg = parse_qemu_cmdline(text)
    assert cfg.errors_quoted == [_OPREGION_ERR]
    igd = cfg.igd
    assert (igd.host, igd.guest_bus, igd.guest_slot, igd.x_igd_opregion, igd.origin) == (
        "0000:00:02.0", "pci.0", 2, True, "QEMU error echo")
    assert cfg.unparsed == []  # the continuation line is not read as a command


def test_error_quoted_in_a_comment_is_collected_but_is_not_an_option() -> None:
    text = (
        "#!/bin/sh\n"
        "# last time it said:\n"
        "# qemu-system-x86_64: -device vfio-pci,host=00:02.0,addr=2: PCI: slot 2 function 0 not\n"
        "#   available for vfio-pci, in use by VGA\n"
        "qemu-system-x86_64 -M q35 -nodefaults -device vfio-pci,host=00:02.0,bus=pcie.0,addr=0x10\n"
    )
    cfg = parse_qemu_cmdline(text)
    assert cfg.errors_quoted == ["PCI: slot 2 function 0 not available for vfio-pci, in use by VGA"]
    assert len(cfg.assigned) == 1 and cfg.igd.guest_slot == 0x10  # the commented addr=2 is not data
    assert cfg.machine_family == "q35"


def test_proxmox_description_and_task_error_wrapped() -> None:
    cfg = parse_proxmox(_pve(
        "#kvm: -device vfio-pci,host=0000:00:02.0,id=hostpci0,bus=pci.0,addr=0x2: vfio 0000:00:02.0: failed to",
        "#%20setup container for group 1: No available IOMMU models",
        "hostpci0: 0000:00:02.0,legacy-igd=1", "machine: pc-i440fx-9.2", "vga: none",
        "TASK ERROR: start failed: QEMU exited", "with code 1",
    ))
    assert cfg.errors_quoted == [
        "vfio 0000:00:02.0: failed to setup container for group 1: No available IOMMU models",
        "TASK ERROR: start failed: QEMU exited with code 1",
    ]
    assert cfg.igd.legacy_igd and cfg.machine_version == "9.2" and cfg.unparsed == []


def test_wrapped_error_stops_at_the_next_command() -> None:
    text = (
        "qemu-system-x86_64: -device vfio-pci,host=00:02.0: vfio 0000:00:02.0: group 1 is not viable\n"
        "qemu-system-x86_64 -M q35 -device vfio-pci,host=00:02.0,bus=pcie.0,addr=2\n"
    )
    cfg = parse_qemu_cmdline(text)
    assert cfg.errors_quoted == ["vfio 0000:00:02.0: group 1 is not viable"]
    assert cfg.machine_family == "q35" and cfg.igd.guest_bus == "pcie.0"


# ------------------------------------------------------------------------------------------------
# Comments, shebangs and other commands are never a QEMU start


def test_comments_and_shebang_never_start_qemu_with_bare_args() -> None:
    text = "#!/bin/sh\n# my IGD VM\n\n-M q35 -nodefaults -device vfio-pci,host=00:02.0,bus=pcie.0,addr=2 # -M pc\n"
    cfg = parse_qemu_cmdline(text, bare_args=True)
    assert (cfg.machine, cfg.machine_family, cfg.firmware) == ("q35", "q35", "seabios")
    assert cfg.igd.on_root_bus is True
    # bare options are the invocation: QEMU's defaults apply to what they leave out
    cfg = parse_qemu_cmdline("# comment\n-device vfio-pci,host=00:02.0,addr=2\n", bare_args=True)
    assert (cfg.machine_family, cfg.firmware) == ("i440fx", "seabios")
    # without bare_args a fragment says nothing about the machine
    assert parse_qemu_cmdline("# comment\n-device vfio-pci,host=00:02.0,addr=2\n").machine_family is None
    with pytest.raises(BadInput, match="no QEMU options found"):
        parse_qemu_cmdline("#!/bin/sh\n# -M q35 -device vfio-pci,host=00:02.0\n", bare_args=True)


def test_non_qemu_commands_are_not_an_invocation() -> None:
    text = (
        "echo qemu-system-x86_64 -M pc\n"
        "modprobe vfio-pci ids=8086:3e92\n"
        "if [ -e /dev/vfio/1 ]; then qemu-system-x86_64 -M q35 -nodefaults "
        "-device vfio-pci,host=00:02.0,bus=pcie.0,addr=0x2; fi\n"
    )
    cfg = parse_qemu_cmdline(text)
    assert cfg.machine == "q35" and len(cfg.assigned) == 1 and cfg.igd.guest_address == "00:02.0"
    with pytest.raises(BadInput):
        parse_qemu_cmdline("echo qemu-system-x86_64 -M pc\nvirsh start win10\n", bare_args=True)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("qemu_")))
def test_world_command_lines_read_the_same_as_vm_args(world_vm: Path, name: str) -> None:
    """Header comments and shebangs never make a QEMU start: read as --vm-args text, every world
    command line gives the machine and firmware a person reads off it."""
    path = world_vm / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    cfg = parse_qemu_cmdline(path.read_text(encoding="utf-8"), bare_args=True)
    exp = EXPECTED[name]
    if name.startswith("qemu_awilliam"):  # a bare fragment: as --vm-args it is the whole invocation
        assert (cfg.machine_family, cfg.firmware) == ("i440fx", "seabios")
    else:
        assert (cfg.machine_family, cfg.firmware) == (exp["family"], exp["firmware"])
    assert cfg.igd.host == exp["igd"]["host"]


# ------------------------------------------------------------------------------------------------
# Which kind of VM definition a text is


def test_vm_kind_names_qm_set_files(world_vm: Path) -> None:
    from igdscope.decode.vmtext import vm_kind

    text = (world_vm / "pve_longqt-35-ptl-qm-set.cmdline").read_text(encoding="utf-8")
    assert vm_kind(text) == "proxmox" and vm_kind(text, detail=True) == "proxmox-qm"
    conf = (world_vm / "pve_xiongyw-cfl-elitedesk-working.conf").read_text(encoding="utf-8")
    assert vm_kind(conf, detail=True) == "proxmox"
    xml = (world_vm / "libvirt_rikka0w0-skl-hd530-i440fx.xml").read_text(encoding="utf-8")
    assert vm_kind(xml, detail=True) == "libvirt"
    assert vm_kind("#!/bin/sh\n# hello\n", detail=True) is None


# ------------------------------------------------------------------------------------------------
# libvirt errors point at the user's lines


def test_libvirt_truncated_file_names_its_own_last_line() -> None:
    lines = ["<domain type='kvm'>", "  <name>win</name>", "  <os>", "    <type machine='pc-q35-9.2'>hvm</type>",
             "  </os>", "  <devices>"] + [f"    <disk type='file' device='disk'><source file='/d{i}'/></disk>" for i in range(9)] + [
             "    <hostdev mode='subsystem' type='pci'>"]
    assert len(lines) == 16
    with pytest.raises(BadInput) as exc:
        parse_libvirt("\n".join(lines) + "\n")
    assert str(exc.value) == "libvirt XML: truncated: the text ends (line 16) before every element is closed"


def test_libvirt_error_line_and_column_are_the_files() -> None:
    text = "<?xml version='1.0'?>\n<domain>\n  <devices>\n    <hostdev mode='subsystem' type='pci'>\n  </devices>\n</domain>\n"
    with pytest.raises(BadInput) as exc:
        parse_libvirt(text)
    # expat points at the name of the closing tag: line 5, third character after the two spaces
    assert str(exc.value) == "libvirt XML: not well-formed at line 5, column 5: mismatched tag"
    with pytest.raises(BadInput) as exc:
        parse_libvirt("<domain><name>a & b</name></domain>")
    assert "at line 1, column 18:" in str(exc.value)  # column of the user's text, not the wrapper's


# ------------------------------------------------------------------------------------------------
# Which QEMU runs: created-with versus running versus machine type


def test_created_with_qemu_is_never_the_running_qemu() -> None:
    cfg = parse_proxmox(_pve("hostpci0: 0000:00:02.0,legacy-igd=1", "machine: pc-q35-8.1+pve0",
                             "meta: creation-qemu=9.0.2,ctime=1700000000", "vga: none"))
    assert cfg.created_with_qemu == "9.0.2" and cfg.qemu_version_hint is None
    assert (cfg.machine_family, cfg.machine_version) == ("q35", "8.1")


@pytest.mark.parametrize(
    "machine, family, version",
    [("pc-q35-10.1", "q35", "10.1"), ("pc-i440fx-9.2+pve1", "i440fx", "9.2"), ("pc-q35-8.1+pve0", "q35", "8.1"),
     ("q35", "q35", None), ("pc", "i440fx", None), ("q35+pve0", "q35", None), ("pc-1.0", "i440fx", "1.0"),
     ("pc-i440fx-rhel7.6.0", "i440fx", None)],
)
def test_machine_version_is_the_machine_types(machine: str, family: str, version: str | None) -> None:
    cfg = parse_qemu_cmdline(f"qemu-system-x86_64 -machine {machine} -device vfio-pci,host=00:02.0")
    assert (cfg.machine_family, cfg.machine_version, cfg.qemu_version_hint) == (family, version, None)


@pytest.mark.parametrize(
    "binary, version",
    [("/opt/qemu-10.0.2/bin/qemu-system-x86_64", "10.0.2"), ("/usr/bin/qemu-system-x86_64", None),
     ("/usr/bin/qemu-system-x86_64-9.2", "9.2"), ("/opt/python3.11/bin/qemu-system-x86_64", None),
     ("/opt/qemu/9.1.0/bin/qemu-system-x86_64", "9.1.0"), ("/usr/libexec/qemu-kvm", None)],
)
def test_running_qemu_only_from_a_versioned_binary(binary: str, version: str | None) -> None:
    assert parse_qemu_cmdline(f"{binary} -M pc -device vfio-pci,host=00:02.0").qemu_version_hint == version
    xml = f"<domain type='kvm'><devices><emulator>{binary}</emulator></devices></domain>"
    assert parse_libvirt(xml).qemu_version_hint == version


# ------------------------------------------------------------------------------------------------
# GVT-g mdevs


_UUID = "a297db4a-f4c2-11e6-90f6-d3b88d6c9525"


def test_qemu_sysfsdev_mdev_is_the_igds() -> None:
    cfg = parse_qemu_cmdline(f"qemu-system-x86_64 -M pc -vga none -device vfio-pci,"
                             f"sysfsdev=/sys/bus/mdev/devices/{_UUID},display=on,x-igd-opregion=on")
    igd = cfg.igd
    assert igd is not None and (igd.mdev, igd.host, igd.mdev_parent_assumed) == (_UUID, "0000:00:02.0", True)
    assert igd.x_igd_opregion is True and igd.options["display"] == "on"
    assert any("parent is not named" in n for n in cfg.notes)
    # the parent named in the path
    cfg = parse_qemu_cmdline(f"qemu-system-x86_64 -M pc -device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:00:02.0/{_UUID}")
    assert (cfg.igd.mdev, cfg.igd.host, cfg.igd.mdev_parent_assumed) == (_UUID, "0000:00:02.0", False)
    # sysfsdev naming a PCI device is plain assignment
    cfg = parse_qemu_cmdline("qemu-system-x86_64 -M pc -device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:00:02.0")
    assert (cfg.igd.mdev, cfg.igd.host) == (None, "0000:00:02.0")


def test_libvirt_and_proxmox_mdevs_assign_the_igd() -> None:
    xml = f"""<domain type='kvm'><os><type machine='pc-i440fx-9.2'>hvm</type></os><devices>
      <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='on'>
        <source><address uuid='{_UUID}'/></source></hostdev>
      <hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address uuid='{_UUID[:-1]}6'/></source></hostdev>
    </devices></domain>"""
    cfg = parse_libvirt(xml)
    assert len(cfg.assigned) == 1  # vfio-ap is not a PCI device
    igd = cfg.igd
    assert (igd.mdev, igd.host, igd.mdev_parent_assumed, igd.options["display"]) == (_UUID, "0000:00:02.0", True, "on")
    cfg = parse_proxmox(_pve("hostpci0: 0000:00:02.0,mdev=i915-GVTg_V5_4", "machine: pc-i440fx-9.2", "vga: none"))
    igd = cfg.igd
    assert (igd.mdev, igd.host, igd.mdev_parent_assumed, igd.id) == ("i915-GVTg_V5_4", "0000:00:02.0", False, "hostpci0")


def test_libvirt_host_function_is_kept(world_vm: Path) -> None:
    cfg = parse_libvirt((world_vm / "libvirt_longqt-27-hostdev-function1-freeze.xml").read_text(encoding="utf-8"))
    assert [a.host for a in cfg.assigned] == ["0000:00:02.1"] and cfg.assigned[0].mdev is None
