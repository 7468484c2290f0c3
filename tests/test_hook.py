"""``igdscope hook``: the pre-start guards, installed and then run the way Proxmox VE and libvirt
run them (Proxmox: ``SCRIPT VMID PHASE``; libvirt: ``SCRIPT GUEST OPERATION SUBOP EXTRA`` with the
domain XML on standard input), on a fake sysfs tree of the demo host, with fake ``qm`` / ``virsh``
/ ``qemu-system-x86_64`` on PATH. The fake ``qm set`` edits the VM config as Proxmox's does, so
install and uninstall are judged by the config they leave behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from igdscope import capture
from igdscope.analysis import guard, vmconfig
from igdscope.sources import demo
from tests.support.fakesys import build_tree, tree_digest
from tests.support.shared import WORLD, need

REPO = Path(__file__).resolve().parents[1]

FAKE_QM = r'''#!{python}
# a stand-in for Proxmox's qm: records its arguments, and applies "set VMID --hookscript V" /
# "set VMID --delete hookscript" to VMID.conf in $FAKE_PVE_CONF as qm does
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["FAKE_QM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if os.environ.get("FAKE_QM_FAIL"):
    print("400 Parameter verification failed.", file=sys.stderr)
    sys.exit(255)
conf = os.path.join(os.environ["FAKE_PVE_CONF"], args[1] + ".conf")
lines = open(conf).read().splitlines(keepends=True)
lines = [ln for ln in lines if not ln.startswith("hookscript:")]
if args[2] == "--hookscript":
    lines.insert(0, "hookscript: " + args[3] + "\n")
open(conf, "w").write("".join(lines))
'''

FAKE_QEMU = '#!/bin/sh\necho "QEMU emulator version ${FAKE_QEMU_VERSION:-10.1.2} (pve-qemu-kvm)"\n'
FAKE_VIRSH = '#!/bin/sh\necho "$@" >> "$FAKE_VIRSH_LOG"\n'

DOOMED_PVE = "boot: order=scsi0\nbios: seabios\nmachine: q35\nhostpci0: 0000:00:02.1,legacy-igd=1\nvga: none\n"
# plain assignment (UPT) on q35 at 00:02.0, judged with QEMU 9.2 (x-igd-opregion off by default):
# no rule of that mode needs what the fake tree cannot give (the OpRegion through vfio)
UPT_PVE = "machine: q35\nbios: seabios\nhostpci0: 0000:00:02.0,pcie=1\nvga: std\n"

DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <os><type arch='x86_64' machine='pc-q35-9.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>
    {hostdev}
  </devices>
</domain>
"""
IGD_FN1 = """<hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x00' slot='0x02' function='0x1'/></source>
    </hostdev>"""
NIC = """<hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source>
    </hostdev>"""


class Host:
    """A fake Proxmox/libvirt host under tmp_path: the demo machine's sysfs tree, the VM config
    directory, a snippets directory, libvirt's hook directory, a log directory and fake tools."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.root = build_tree(demo.host_capture(), tmp / "root")
        self.conf = tmp / "qemu-server"
        self.snippets = tmp / "snippets"
        self.hooks = tmp / "hooks" / "qemu.d"
        self.logs = tmp / "log"
        self.bin = tmp / "bin"
        for d in (self.conf, self.snippets, self.bin):
            d.mkdir(parents=True)
        self.qm_log = tmp / "qm.log"
        self.virsh_log = tmp / "virsh.log"
        self._tool("qm", FAKE_QM.replace("{python}", sys.executable))
        self._tool("qemu-system-x86_64", FAKE_QEMU)
        self._tool("virsh", FAKE_VIRSH)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "FAKE_QM_LOG": str(self.qm_log),
            "FAKE_PVE_CONF": str(self.conf),
            "FAKE_VIRSH_LOG": str(self.virsh_log),
            "IGDSCOPE_ROOT": str(self.root),
        }

    def _tool(self, name: str, text: str) -> None:
        p = self.bin / name
        p.write_text(text)
        p.chmod(0o755)

    def igdscope(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "igdscope", *args], check=False, capture_output=True, text=True, env={**self.env, **env}, timeout=120)

    def pve(self, *args: str) -> subprocess.CompletedProcess:
        return self.igdscope("hook", "proxmox", "100", "--snippets-dir", str(self.snippets), "--config-dir", str(self.conf), "--log-dir", str(self.logs), *args)

    def lv(self, *args: str) -> subprocess.CompletedProcess:
        return self.igdscope("hook", "libvirt", "--hooks-dir", str(self.hooks), "--log-dir", str(self.logs), *args)

    def run_script(self, script: Path, *argv: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
        """Run an installed hook as Proxmox (argv VMID PHASE) or libvirt (argv, XML on stdin) do."""
        return subprocess.run([str(script), *argv], input=stdin if stdin is not None else "", check=False, capture_output=True, text=True, env={**self.env, **env}, timeout=120, cwd="/")

    def qm_calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.qm_log.read_text().splitlines()] if self.qm_log.exists() else []

    def vm(self, text: str) -> Path:
        p = self.conf / "100.conf"
        p.write_text(text)
        return p

    def previous(self, body: str) -> Path:
        p = self.snippets / "old-hook.sh"
        p.write_text("#!/bin/sh\n" + body)
        p.chmod(0o755)
        return p

    def captures(self) -> list[Path]:
        return sorted(self.logs.glob("*.json")) if self.logs.is_dir() else []


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


OURS = "igdscope-100.sh"


# -- Proxmox ----------------------------------------------------------------------------------------


def test_proxmox_dry_run_prints_the_script_and_the_command_and_writes_nothing(host: Host):
    host.vm(DOOMED_PVE + "hookscript: local:snippets/old-hook.sh\n")
    host.previous("exit 0\n")
    before = tree_digest(host.tmp)
    r = host.pve()
    assert r.returncode == 0, r.stderr
    assert tree_digest(host.tmp) == before
    assert host.qm_calls() == []
    out = r.stdout
    assert out.startswith("dry run: nothing is written or run")
    assert f"would write {host.snippets / OURS} (mode 0755):" in out
    script = out.split("-----\n")[1]
    assert script.startswith("#!/bin/sh\n# igdscope-hook: proxmox 100\n# igdscope-previous-hookscript: local:snippets/old-hook.sh\n")
    assert f"previous={host.snippets / 'old-hook.sh'}" in script
    assert 'hook run proxmox "$1" "$2"' in script
    assert out.rstrip().endswith("would run: qm set 100 --hookscript local:snippets/igdscope-100.sh")
    # --install --dry-run shows the same, and still writes nothing
    r2 = host.pve("--install", "--dry-run")
    assert r2.returncode == 0 and r2.stdout.splitlines()[0] == "dry run: nothing is written or run"
    assert r2.stdout.splitlines()[1:] == out.splitlines()[1:]
    assert tree_digest(host.tmp) == before


def test_proxmox_install_then_a_doomed_start_is_stopped_with_the_rules(host: Host):
    conf = host.vm(DOOMED_PVE)
    r = host.pve("--install")
    assert r.returncode == 0, r.stderr
    assert host.qm_calls() == [["set", "100", "--hookscript", "local:snippets/igdscope-100.sh"]]
    assert conf.read_text().splitlines()[0] == "hookscript: local:snippets/igdscope-100.sh"
    script = host.snippets / OURS
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert r.stdout.splitlines()[:2] == [f"wrote {script} (mode 0755)", "ran: qm set 100 --hookscript local:snippets/igdscope-100.sh"]

    run = host.run_script(script, "100", "pre-start")
    assert run.returncode == 1
    first = run.stderr.splitlines()[0]
    assert first.startswith("igdscope: VM 100 asks for upt, which fails on this host (QEMU 10.1.2): start stopped; failing: vm.igd")
    assert "  vm.igd: the VM is given host 00:02.1, not the IGD 00:02.0" in run.stderr
    # the capture the verdict came from is kept, and it is this host's
    (kept,) = host.captures()
    assert kept.name.startswith("100-") and f"capture kept for the bug report: {kept}" in run.stderr
    cap = capture.loads(kept.read_bytes(), name=str(kept))
    assert cap.device("igd").device == 0x3E92 and cap.device("igd").bdf == "0000:00:02.0"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    # the other phases are not judged
    for phase in ("post-start", "pre-stop", "post-stop"):
        other = host.run_script(script, "100", phase)
        assert (other.returncode, other.stderr) == (0, ""), phase
    assert len(host.captures()) == 1


def test_proxmox_legacy_igd_on_q35_is_stopped_with_proxmox_and_qemu_rules(host: Host):
    host.vm("machine: q35\nbios: seabios\nhostpci0: 0000:00:02.0,legacy-igd=1\nvga: none\n")
    assert host.pve("--install").returncode == 0
    run = host.run_script(host.snippets / OURS, "100", "pre-start")
    assert run.returncode == 1
    head = run.stderr.splitlines()[0]
    assert "asks for legacy, which fails" in head
    failing = head.split("failing: ")[1].split(", ")
    assert "pve.legacy_igd" in failing and "vm.machine" in failing
    assert "  pve.legacy_igd: " in run.stderr


def test_proxmox_chained_previous_hookscript_that_fails_aborts_the_start_first(host: Host):
    marker = host.tmp / "previous-ran"
    host.previous(f'echo "$@" > {marker}\necho "previous says no" >&2\nexit 3\n')
    host.vm(UPT_PVE + "hookscript: local:snippets/old-hook.sh\n")
    assert host.pve("--install").returncode == 0
    run = host.run_script(host.snippets / OURS, "100", "pre-start", FAKE_QEMU_VERSION="9.2.0")
    assert run.returncode == 3
    assert marker.read_text() == "100 pre-start\n"
    assert "previous says no" in run.stderr
    assert f"the previous hookscript {host.snippets / 'old-hook.sh'} failed (exit 3)" in run.stderr
    assert "igdscope: VM 100" not in run.stderr and "igdscope: VM 100" not in run.stdout  # igdscope did not run


def test_proxmox_chained_previous_passes_and_igdscope_passes(host: Host):
    marker = host.tmp / "previous-ran"
    host.previous(f'echo "$@" >> {marker}\n')
    host.vm(UPT_PVE + "hookscript: local:snippets/old-hook.sh\n")
    assert host.pve("--install").returncode == 0
    run = host.run_script(host.snippets / OURS, "100", "pre-start", FAKE_QEMU_VERSION="9.2.0")
    assert (run.returncode, run.stderr) == (0, "")
    assert "igdscope: VM 100: upt works on this host (QEMU 9.2.0)" in run.stdout
    # the previous hookscript still runs at every phase, with Proxmox's arguments
    assert host.run_script(host.snippets / OURS, "100", "post-stop").returncode == 0
    assert marker.read_text() == "100 pre-start\n100 post-stop\n"
    assert host.captures() == []


def test_proxmox_relative_directories_are_made_absolute_in_the_script(host: Host):
    # Proxmox runs the hookscript from its own working directory
    marker = host.tmp / "previous-ran"
    host.previous(f'echo "$@" >> {marker}\n')
    host.vm(UPT_PVE + "hookscript: local:snippets/old-hook.sh\n")
    r = subprocess.run([sys.executable, "-m", "igdscope", "hook", "proxmox", "100", "--snippets-dir", "snippets", "--config-dir", "qemu-server", "--log-dir", "log", "--install"],
                       check=False, capture_output=True, text=True, env=host.env, cwd=host.tmp, timeout=120)
    assert r.returncode == 0, r.stderr
    text = (host.snippets / OURS).read_text()
    assert f"previous={host.snippets.resolve() / 'old-hook.sh'}\n" in text and f"--config-dir {host.conf.resolve()} --log-dir {host.logs.resolve()}" in text
    host.vm(DOOMED_PVE + "hookscript: local:snippets/igdscope-100.sh\n")
    run = host.run_script(host.snippets / OURS, "100", "pre-start")
    assert run.returncode == 1 and marker.read_text() == "100 pre-start\n"
    assert [p.parent for p in host.captures()] == [host.logs]


def test_proxmox_uninstall_restores_the_previous_hookscript_exactly(host: Host):
    original = UPT_PVE + "hookscript: local:snippets/old-hook.sh\n"
    conf = host.vm(original)
    old = host.previous("exit 0\n")
    other = host.snippets / "unrelated.sh"
    other.write_text("#!/bin/sh\n")
    assert host.pve("--install").returncode == 0
    assert conf.read_text() != original
    before = tree_digest(host.tmp)
    dry = host.pve("--uninstall", "--dry-run")
    assert dry.returncode == 0 and tree_digest(host.tmp) == before
    assert "would run: qm set 100 --hookscript local:snippets/old-hook.sh" in dry.stdout
    r = host.pve("--uninstall")
    assert r.returncode == 0, r.stderr
    assert host.qm_calls()[-1] == ["set", "100", "--hookscript", "local:snippets/old-hook.sh"]
    assert sorted(p.name for p in host.snippets.iterdir()) == ["old-hook.sh", "unrelated.sh"]
    assert old.read_text() == "#!/bin/sh\nexit 0\n"
    # the fake qm puts the line first; the setting is what it was
    assert sorted(conf.read_text().splitlines()) == sorted(original.splitlines())


def test_proxmox_uninstall_without_a_previous_hookscript_deletes_the_setting(host: Host):
    conf = host.vm(UPT_PVE)
    assert host.pve("--install").returncode == 0
    r = host.pve("--uninstall")
    assert r.returncode == 0, r.stderr
    assert host.qm_calls() == [["set", "100", "--hookscript", "local:snippets/igdscope-100.sh"], ["set", "100", "--delete", "hookscript"]]
    assert conf.read_text() == UPT_PVE
    assert list(host.snippets.iterdir()) == []
    again = host.pve("--uninstall")
    assert again.returncode == 0 and "nothing to do" in again.stderr and len(host.qm_calls()) == 2


def test_proxmox_refuses_to_overwrite_a_file_it_did_not_write(host: Host):
    host.vm(UPT_PVE)
    foreign = host.snippets / OURS
    foreign.write_text("#!/bin/sh\n# the admin's own script\nexit 0\n")
    for action in ("--install", "--uninstall", "--dry-run"):
        r = host.pve(action)
        assert r.returncode == 6, action
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"igdscope: refusing to write {foreign}: it exists and igdscope did not write it")
    assert foreign.read_text() == "#!/bin/sh\n# the admin's own script\nexit 0\n"
    assert host.qm_calls() == []


def test_proxmox_a_failing_qm_leaves_nothing_behind(host: Host):
    conf = host.vm(UPT_PVE)
    r = host.igdscope(
        "hook", "proxmox", "100", "--snippets-dir", str(host.snippets), "--config-dir", str(host.conf), "--install", FAKE_QM_FAIL="1")
    assert r.returncode == 3
    assert r.stderr == "igdscope: qm set 100 --hookscript local:snippets/igdscope-100.sh failed: 400 Parameter verification failed.\n"
    assert list(host.snippets.iterdir()) == [] and conf.read_text() == UPT_PVE


def test_proxmox_bad_vmid_and_missing_config_are_one_line(host: Host):
    r = host.igdscope("hook", "proxmox", "12x", "--config-dir", str(host.conf))
    assert r.returncode == 3 and r.stderr == "igdscope: VMID '12x': a Proxmox VM ID is a number from 100 to 999999999\n"
    r = host.pve()
    assert r.returncode == 3 and r.stderr == f"igdscope: {host.conf / '100.conf'}: no such VM config (is VM 100 on this node?)\n"


def test_proxmox_guard_never_blocks_for_its_own_failure(host: Host):
    host.vm(DOOMED_PVE)
    assert host.pve("--install").returncode == 0
    script = host.snippets / OURS
    # no Intel display under the root: not judged, not blocked
    empty = host.tmp / "empty"
    (empty / "sys/bus/pci/devices").mkdir(parents=True)
    r = host.run_script(script, "100", "pre-start", IGDSCOPE_ROOT=str(empty))
    assert r.returncode == 0 and "not judged" in r.stderr and "no Intel display device" in r.stderr
    # the VM config cannot be read
    (host.conf / "100.conf").unlink()
    r = host.run_script(script, "100", "pre-start")
    assert r.returncode == 0
    assert r.stderr.startswith("igdscope: warning: VM 100 not judged, igdscope failed: cannot read ") and "the start is not blocked" in r.stderr
    # igdscope cannot run at all (its Python gone from PATH does not matter: a broken import does)
    host.vm(DOOMED_PVE)
    broken = host.tmp / "broken"
    (broken / "igdscope").mkdir(parents=True)
    (broken / "igdscope" / "__init__.py").write_text("raise ImportError('damaged install')\n")
    r = host.run_script(script, "100", "pre-start", PYTHONPATH=str(broken))
    assert r.returncode == 0
    assert "ImportError: damaged install" in r.stderr
    assert r.stderr.endswith("igdscope hook: igdscope itself failed (exit 1): VM 100 not blocked\n")
    assert host.captures() == []


# -- libvirt ----------------------------------------------------------------------------------------


def test_libvirt_dry_run_writes_nothing(host: Host):
    before = tree_digest(host.tmp)
    r = host.lv()
    assert r.returncode == 0, r.stderr
    assert tree_digest(host.tmp) == before and not host.hooks.exists()
    assert f"would write {host.hooks / '50-igdscope'} (mode 0755), creating {host.hooks}:" in r.stdout
    script = r.stdout.split("-----\n")[1]
    assert script.startswith("#!/bin/sh\n# igdscope-hook: libvirt\n")
    assert "virsh" not in script


def test_libvirt_install_and_run_as_libvirt_does(host: Host):
    r = host.lv("--install")
    assert r.returncode == 0, r.stderr
    script = host.hooks / "50-igdscope"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755

    # a domain without an IGD hostdev passes at once, capture or not
    plain = DOMAIN.format(name="web", hostdev=NIC)
    r = host.run_script(script, "web", "prepare", "begin", "-", stdin=plain, IGDSCOPE_ROOT=str(host.tmp / "nowhere"))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")

    doomed = DOMAIN.format(name="win11", hostdev=IGD_FN1)
    r = host.run_script(script, "win11", "prepare", "begin", "-", stdin=doomed)
    assert r.returncode == 1
    assert r.stderr.startswith("igdscope: guest win11 asks for upt, which fails on this host (QEMU 10.1.2): start stopped; failing: vm.igd")
    (kept,) = host.captures()
    assert kept.name.startswith("win11-")
    # only prepare begin is judged
    for op in (("start", "begin", "-"), ("started", "begin", "-"), ("release", "end", "-"), ("prepare", "end", "-")):
        r = host.run_script(script, "win11", *op, stdin=doomed)
        assert (r.returncode, r.stderr) == (0, ""), op
    assert len(host.captures()) == 1
    # it never calls back into libvirt
    assert not host.virsh_log.exists()


def test_libvirt_world_snippet_with_host_function_1_is_stopped(host: Host):
    xml = need(WORLD / "vm" / "libvirt_longqt-27-hostdev-function1-freeze.xml").read_text()
    assert host.lv("--install").returncode == 0
    r = host.run_script(host.hooks / "50-igdscope", "yusyel", "prepare", "begin", "-", stdin=xml)
    assert r.returncode == 1
    assert "failing: vm.igd" in r.stderr.splitlines()[0]


def test_libvirt_bad_xml_warns_and_does_not_block(host: Host):
    assert host.lv("--install").returncode == 0
    r = host.run_script(host.hooks / "50-igdscope", "x", "prepare", "begin", "-", stdin="<domain><devices>")
    assert r.returncode == 0
    assert r.stderr.startswith("igdscope: warning: guest x not judged, igdscope failed: libvirt XML") and r.stderr.count("\n") == 1


def test_libvirt_refuses_a_foreign_file_and_uninstall_removes_only_ours(host: Host):
    host.hooks.mkdir(parents=True)
    neighbour = host.hooks / "10-other"
    neighbour.write_text("#!/bin/sh\nexit 0\n")
    foreign = host.hooks / "50-igdscope"
    foreign.write_text("#!/bin/bash\necho mine\n")
    r = host.lv("--install")
    assert r.returncode == 6 and r.stderr.startswith(f"igdscope: refusing to write {foreign}")
    assert foreign.read_text() == "#!/bin/bash\necho mine\n"
    foreign.unlink()
    assert host.lv("--install").returncode == 0
    r = host.lv("--uninstall")
    assert r.returncode == 0 and r.stdout == f"removed {foreign}\n"
    assert [p.name for p in host.hooks.iterdir()] == ["10-other"]


# -- the decision ------------------------------------------------------------------------------------


def test_assigns_igd_reads_the_host_address():
    assert guard.assigns_igd(vmconfig.parse_libvirt(DOMAIN.format(name="a", hostdev=IGD_FN1)))
    assert not guard.assigns_igd(vmconfig.parse_libvirt(DOMAIN.format(name="a", hostdev=NIC)))
    assert guard.assigns_igd(vmconfig.parse_proxmox(UPT_PVE))
    assert not guard.assigns_igd(vmconfig.parse_proxmox("machine: q35\nhostpci0: 0000:01:00.0,pcie=1\n"))


def test_judge_blocks_only_the_vms_failing_mode():
    cap = demo.host_capture()
    j = guard.judge(cap, vmconfig.parse_proxmox(DOOMED_PVE), "10.1")
    assert (j.block, j.mode, j.verdict) == (True, "upt", "fails")
    assert [r["id"] for r in j.failing] == ["vm.igd"]
    ok = guard.judge(cap, vmconfig.parse_proxmox(UPT_PVE), "9.2")
    assert (ok.block, ok.mode, ok.verdict, ok.failing) == (False, "upt", "works", [])
    none = guard.judge(cap, vmconfig.parse_proxmox("machine: q35\n"), "9.2")
    assert (none.block, none.mode, none.verdict) == (False, None, "no-igd")
