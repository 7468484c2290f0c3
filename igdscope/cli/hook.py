"""``igdscope hook``: pre-start guards for Proxmox VE and libvirt that stop a doomed start.

``hook proxmox VMID`` / ``hook libvirt`` show (dry run, the default), write (``--install``) or
remove (``--uninstall``) a small shell script; the script runs ``igdscope hook run ...`` when the
VM starts. ``hook run`` judges the VM's configuration with ``check`` on a live capture of this
host and exits 1 with the failing rules of the VM's mode on standard error.

The guard never blocks a VM for igdscope's own sake: when igdscope cannot capture the host, cannot
read the configuration, or fails in any other way, it warns on standard error and exits 0 (the
installed script does the same when igdscope cannot even be run). Only failing rules block.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from igdscope.errors import EXIT_BLOCKED, EXIT_OK, EXIT_REFUSED, BadInput, IgdscopeError

PVE_CONFIG_DIR = "/etc/pve/qemu-server"
PVE_LOCAL_SNIPPETS = "/var/lib/vz/snippets"  # the snippets directory of Proxmox's "local" storage
LIBVIRT_HOOKS_DIR = "/etc/libvirt/hooks/qemu.d"
LIBVIRT_HOOK_NAME = "50-igdscope"
LOG_DIR = "/var/log/igdscope"
ROOT_ENV = "IGDSCOPE_ROOT"  # the tree hook run reads as this machine (fake trees, chroots); default /
MARK = "# igdscope-hook:"
PREVIOUS = "# igdscope-previous-hookscript:"
MAX_XML = 16 << 20

HOOK_HELP = """\
Pre-start guards: a Proxmox hookscript or a libvirt qemu hook that judges the VM's configuration
on this host when it starts (with igdscope check, on a live capture) and stops the start when the
mode the VM asks for fails, with the failing rules on standard error and a capture kept for the
bug report (in --log-dir, default /var/log/igdscope). Dry run by default: what would be written and
run is printed and nothing is changed; --install writes it, --uninstall takes it away again.

A guard blocks only for failing rules: when igdscope itself fails (no capture, an unreadable
config, a crash, igdscope not found) it warns on standard error and lets the VM start.

examples:
  igdscope hook proxmox 100                 show the hookscript and the qm command
  sudo igdscope hook proxmox 100 --install  write local:snippets/igdscope-100.sh and set it
  sudo igdscope hook proxmox 100 --uninstall   give VM 100 its previous hookscript back
  sudo igdscope hook libvirt --install      write /etc/libvirt/hooks/qemu.d/50-igdscope
"""

RUN_HELP = """\
What the installed hooks run (not usually typed by hand).
  hook run proxmox VMID PHASE     at pre-start: judge /etc/pve/qemu-server/VMID.conf; other phases: exit 0
  hook run libvirt GUEST OPERATION SUBOP EXTRA   the domain XML on standard input; at prepare begin
                                  only, and only a domain with a host 00:02.x hostdev, is judged
Exit 7 (the installed script then exits 1: the start is stopped) when the VM's mode fails on this
host; 0 otherwise, including every failure of igdscope itself (warned on standard error). The host is read under $IGDSCOPE_ROOT
(default /) or --root.
"""


def add_parsers(sub, epilog: str) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    h = sub.add_parser("hook", help="pre-start guards for Proxmox and libvirt: stop a doomed VM start (dry run by default)", description=HOOK_HELP, epilog=epilog, formatter_class=fmt)
    hs = h.add_subparsers(dest="hook_target", metavar="TARGET", required=True)

    p = hs.add_parser("proxmox", help="a hookscript for one Proxmox VM (qm set VMID --hookscript)", description=HOOK_HELP, epilog=epilog, formatter_class=fmt)
    p.add_argument("vmid", metavar="VMID")
    _action(p)
    p.add_argument("--storage", default="local", help="the Proxmox storage with the snippets content type (default: local)")
    p.add_argument("--snippets-dir", metavar="DIR", help="that storage's snippets directory (default: /var/lib/vz/snippets for local, else asked of pvesm)")
    p.add_argument("--config-dir", metavar="DIR", default=PVE_CONFIG_DIR, help=f"where the VM configs are (default {PVE_CONFIG_DIR})")
    p.add_argument("--log-dir", metavar="DIR", default=LOG_DIR, help=f"where a blocked start keeps its capture (default {LOG_DIR})")

    lv = hs.add_parser("libvirt", help="a qemu hook in /etc/libvirt/hooks/qemu.d (libvirt 6.5.0+)", description=HOOK_HELP, epilog=epilog, formatter_class=fmt)
    _action(lv)
    lv.add_argument("--hooks-dir", metavar="DIR", default=LIBVIRT_HOOKS_DIR, help=f"libvirt's qemu hook directory (default {LIBVIRT_HOOKS_DIR})")
    lv.add_argument("--log-dir", metavar="DIR", default=LOG_DIR, help=f"where a blocked start keeps its capture (default {LOG_DIR})")

    r = hs.add_parser("run", help="what the installed hooks run at VM start", description=RUN_HELP, epilog=epilog, formatter_class=fmt)
    rs = r.add_subparsers(dest="run_target", metavar="TARGET", required=True)
    rp = rs.add_parser("proxmox", help="as Proxmox runs a hookscript: VMID PHASE")
    rp.add_argument("vmid", metavar="VMID")
    rp.add_argument("phase", metavar="PHASE", help="pre-start, post-start, pre-stop, post-stop")
    rp.add_argument("--config-dir", metavar="DIR", default=PVE_CONFIG_DIR)
    rl = rs.add_parser("libvirt", help="as libvirt runs a qemu hook: GUEST OPERATION SUBOP EXTRA, the domain XML on standard input")
    rl.add_argument("guest", metavar="GUEST")
    rl.add_argument("operation", metavar="OPERATION")
    rl.add_argument("subop", metavar="SUBOP")
    rl.add_argument("extra", metavar="EXTRA", nargs="?", default="-")
    for x in (rp, rl):
        x.add_argument("--root", metavar="DIR", default=None, help=f"read the host under DIR (default ${ROOT_ENV}, else /)")
        x.add_argument("--log-dir", metavar="DIR", default=LOG_DIR)
        x.add_argument("--qemu-version", metavar="X.Y", help="the QEMU that runs the VM (default: qemu-system-x86_64 on PATH)")


def _action(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--install", action="store_true", help="write the hook (and, for Proxmox, set it on the VM)")
    g.add_argument("--uninstall", action="store_true", help="remove igdscope's hook (Proxmox: give the VM its previous hookscript back)")
    p.add_argument("--dry-run", action="store_true", help="print what would be written and run, change nothing (the default without --install/--uninstall; with them: what they would do)")


def cmd(args) -> int:
    if args.hook_target != "run":
        args.dry_run = args.dry_run or not (args.install or args.uninstall)
    if args.hook_target == "run":
        return run_proxmox(args) if args.run_target == "proxmox" else run_libvirt(args)
    if args.hook_target == "proxmox":
        return proxmox(args)
    return libvirt(args)


# -- the scripts -----------------------------------------------------------------------------------


def _igdscope_command() -> str:
    """How the scripts run this igdscope: this Python with ``-m igdscope`` (its site-packages, or
    PYTHONPATH when the caller sets one)."""
    return f"{shlex.quote(sys.executable)} -m igdscope"


# igdscope hook run exits 7 (EXIT_BLOCKED) only to stop the start; any other failure (igdscope
# missing, a crash, a signal) must not block the VM
_VERDICT = """\
rc=$?
[ "$rc" -eq 7 ] && exit 1
[ "$rc" -ne 0 ] && echo "igdscope hook: igdscope itself failed (exit $rc): {what} not blocked" >&2
exit 0
"""


def proxmox_script(vmid: str, previous: str | None, previous_path: str | None, config_dir: str, log_dir: str) -> str:
    opts = _opts(("--config-dir", config_dir, PVE_CONFIG_DIR), ("--log-dir", log_dir, LOG_DIR))
    lines = [
        "#!/bin/sh",
        f"{MARK} proxmox {vmid}",
        f"{PREVIOUS} {previous or ''}",
        f"# Written by 'igdscope hook proxmox {vmid} --install'; 'igdscope hook proxmox {vmid} --uninstall' removes",
        "# it and gives the VM its previous hookscript back. Proxmox runs it as: SCRIPT VMID PHASE.",
        "# At pre-start igdscope judges the VM's config on this host and exits 1 with the failing rules",
        "# (Proxmox then aborts the start); when igdscope itself fails, it warns and the VM starts.",
    ]
    if previous_path:
        lines += [
            f"previous={shlex.quote(previous_path)}",
            '"$previous" "$@" || { rc=$?; echo "igdscope hook: the previous hookscript $previous failed (exit $rc)" >&2; exit "$rc"; }',
        ]
    lines += ['[ "$2" = pre-start ] || exit 0', f'{_igdscope_command()} hook run proxmox "$1" "$2"{opts}']
    return "\n".join(lines) + "\n" + _VERDICT.format(what="VM $1")


def libvirt_script(log_dir: str) -> str:
    opts = _opts(("--log-dir", log_dir, LOG_DIR))
    return "\n".join([
        "#!/bin/sh",
        f"{MARK} libvirt",
        "# Written by 'igdscope hook libvirt --install'; 'igdscope hook libvirt --uninstall' removes it.",
        "# libvirt runs it as: SCRIPT GUEST OPERATION SUBOP EXTRA, the domain XML on standard input.",
        "# At prepare begin igdscope judges a domain with a host 00:02.x hostdev on this host and exits 1",
        "# with the failing rules (libvirt then does not start it); it never calls back into libvirt;",
        "# when igdscope itself fails, it warns and the guest starts.",
        'if [ "$2" != prepare ] || [ "$3" != begin ]; then cat >/dev/null; exit 0; fi',
        f'{_igdscope_command()} hook run libvirt "$1" "$2" "$3" "$4"{opts}',
    ]) + "\n" + _VERDICT.format(what="guest $1")


def _opts(*items: tuple[str, str, str]) -> str:
    return "".join(f" {flag} {shlex.quote(str(Path(val).resolve()))}" for flag, val, default in items if val != default)


def is_ours(path: Path, kind: str) -> bool | None:
    """None: no file; True: a hook igdscope wrote (of ``kind``); False: anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    import stat

    if not stat.S_ISREG(st.st_mode):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace").splitlines()
    except OSError:
        return False
    return len(head) > 1 and head[0] == "#!/bin/sh" and head[1].startswith(f"{MARK} {kind}")


def _previous_of(path: Path) -> str | None:
    for line in path.read_text("utf-8", "replace").splitlines()[:8]:
        if line.startswith(PREVIOUS):
            return line[len(PREVIOUS):].strip() or None
    return None


def _write(path: Path, text: str) -> None:
    from igdscope import outfile

    outfile.write_file(path, text, mode=0o755)
    os.chmod(path, 0o755)  # the umask must not leave the hook unrunnable


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        from igdscope.outfile import os_error

        raise os_error(path, exc, "remove") from None


def _tool(argv: list[str]) -> str:
    """Run a Proxmox tool (qm, pvesm); its standard output, or one line when it fails."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise BadInput(f"cannot run {argv[0]}: {exc.strerror} (is this a Proxmox VE host?)") from None
    except subprocess.TimeoutExpired:
        raise BadInput(f"{' '.join(argv)} did not finish in 60 s") from None
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise BadInput(f"{shlex.join(argv)} failed: {why}")
    return r.stdout


def _banner(args) -> str:
    return "dry run: nothing is written or run" + ("" if args.install else " (--install does it)")


# -- Proxmox ------------------------------------------------------------------------------------


def _vmid(text: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{2,8}", text):
        raise BadInput(f"VMID {text!r}: a Proxmox VM ID is a number from 100 to 999999999")
    return text


def _pve_hookscript(conf_text: str) -> str | None:
    """The ``hookscript:`` of a VM config's current section (snapshots follow in [sections])."""
    for line in conf_text.splitlines():
        if line.startswith("["):
            break
        m = re.match(r"hookscript:\s*(\S.*?)\s*$", line)
        if m:
            return m.group(1)
    return None


def _volid_ok(volid: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*:[^\s\x00-\x1f\x7f]+", volid):
        raise BadInput(f"the VM's hookscript {volid!r} is not a Proxmox volume ID (STORAGE:snippets/NAME)")
    return volid


def proxmox(args) -> int:
    vmid = _vmid(args.vmid)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", args.storage):
        raise BadInput(f"--storage {args.storage!r} is not a Proxmox storage ID")
    conf_path = Path(args.config_dir, f"{vmid}.conf")
    try:
        conf = conf_path.read_text("utf-8", "replace")
    except FileNotFoundError:
        raise BadInput(f"{conf_path}: no such VM config (is VM {vmid} on this node?)") from None
    except OSError as exc:
        from igdscope.outfile import os_error

        raise os_error(conf_path, exc, "read") from None
    name = f"igdscope-{vmid}.sh"
    volid = f"{args.storage}:snippets/{name}"
    sdir = args.snippets_dir or (PVE_LOCAL_SNIPPETS if args.storage == "local" else None)
    if sdir is None:
        path = Path(_tool(["pvesm", "path", volid]).strip())
    else:
        path = Path(sdir, name)
    current = _pve_hookscript(conf)
    if current is not None:
        _volid_ok(current)
    ours = is_ours(path, f"proxmox {vmid}")
    if ours is False:
        print(f"igdscope: refusing to write {path}: it exists and igdscope did not write it (remove or rename it, or give --storage/--snippets-dir)", file=sys.stderr)
        return EXIT_REFUSED
    if args.uninstall:
        return _proxmox_uninstall(vmid, path, volid, current, ours, args.dry_run)
    if current == volid and ours:
        print(f"VM {vmid} already has igdscope's hookscript {volid} ({path}); nothing to do")
        return EXIT_OK
    previous = None if current == volid else current
    prev_path = None
    if previous is not None:
        pst, _, prest = previous.partition(":")
        prev_path = str(Path(sdir, prest.removeprefix("snippets/")).resolve()) if pst == args.storage and sdir is not None and prest.startswith("snippets/") else _tool(["pvesm", "path", previous]).strip()
    text = proxmox_script(vmid, previous, prev_path, args.config_dir, args.log_dir)
    qm = ["qm", "set", vmid, "--hookscript", volid]
    if args.dry_run:
        print(_banner(args))
        print(f"VM {vmid} ({conf_path}): hookscript now {current or 'none'}" + ("; igdscope's runs it first with the same arguments, and its failure still stops the start" if previous else ""))
        print(f"would write {path} (mode 0755):")
        sys.stdout.write(_fence(text))
        print(f"would run: {shlex.join(qm)}")
        return EXIT_OK
    _write(path, text)
    try:
        _tool(qm)
    except IgdscopeError:
        _remove(path)  # the VM still has its hookscript: leave nothing of ours behind
        raise
    print(f"wrote {path} (mode 0755)" + (f", chained to the previous hookscript {previous}" if previous else ""))
    print(f"ran: {shlex.join(qm)}")
    print(f"VM {vmid} is now judged at every start; undo with: igdscope hook proxmox {vmid} --uninstall")
    return EXIT_OK


def _proxmox_uninstall(vmid: str, path: Path, volid: str, current: str | None, ours: bool | None, dry: bool) -> int:
    if ours is None:
        print(f"igdscope: VM {vmid} has no igdscope hookscript ({path} does not exist); nothing to do", file=sys.stderr)
        return EXIT_OK
    previous = _previous_of(path)
    qm = None
    if current == volid:  # give back exactly what the VM had before
        qm = ["qm", "set", vmid, "--hookscript", previous] if previous else ["qm", "set", vmid, "--delete", "hookscript"]
    left = f"VM {vmid}'s hookscript is {current or 'none'}, not igdscope's: its config is left alone"
    if dry:
        print("dry run: nothing is written or run (--uninstall without --dry-run does it)")
        print(f"would run: {shlex.join(qm)}" if qm else left)
        print(f"would remove {path}")
        return EXIT_OK
    if qm:
        _tool(qm)
        print(f"ran: {shlex.join(qm)}")
    else:
        print(left)
    _remove(path)
    print(f"removed {path}")
    return EXIT_OK


# -- libvirt --------------------------------------------------------------------------------------


def libvirt(args) -> int:
    d = Path(args.hooks_dir)
    path = d / LIBVIRT_HOOK_NAME
    ours = is_ours(path, "libvirt")
    if ours is False:
        print(f"igdscope: refusing to write {path}: it exists and igdscope did not write it (remove or rename it)", file=sys.stderr)
        return EXIT_REFUSED
    if args.uninstall:
        if ours is None:
            print(f"igdscope: {path} does not exist; nothing to do", file=sys.stderr)
            return EXIT_OK
        if args.dry_run:
            print("dry run: nothing is written or run (--uninstall without --dry-run does it)")
            print(f"would remove {path}")
            return EXIT_OK
        _remove(path)
        print(f"removed {path}")
        return EXIT_OK
    text = libvirt_script(args.log_dir)
    if args.dry_run:
        print(_banner(args))
        print(f"would write {path} (mode 0755)" + ("" if d.is_dir() else f", creating {d}") + ":")
        sys.stdout.write(_fence(text))
        print("nothing is run; libvirt (6.5.0 or later) runs every executable in that directory, in name order")
        return EXIT_OK
    if not d.is_dir():
        try:
            d.mkdir(mode=0o755, parents=True)
        except OSError as exc:
            from igdscope.outfile import os_error

            raise os_error(d, exc, "create") from None
    _write(path, text)
    print(f"wrote {path} (mode 0755)")
    print("libvirt looks for hook scripts when its daemon starts: restart libvirtd (or virtqemud) once; undo with: igdscope hook libvirt --uninstall")
    return EXIT_OK


def _fence(text: str) -> str:
    return "-----\n" + text + "-----\n"


# -- the runtime side -----------------------------------------------------------------------------


def run_proxmox(args) -> int:
    if args.phase != "pre-start":
        return EXIT_OK
    what = f"VM {args.vmid}"
    try:
        vmid = _vmid(args.vmid)
        from igdscope.analysis import vmconfig

        conf = Path(args.config_dir, f"{vmid}.conf")
        try:
            text = conf.read_bytes()
        except OSError as exc:
            return _own_failure(what, f"cannot read {conf}: {exc.strerror}")
        vm = vmconfig.parse_proxmox(text)
        return _judge(what, vm, args, vmid)
    except Exception as exc:  # noqa: BLE001 - the guard never blocks for its own failure
        return _own_failure(what, _describe(exc))


def run_libvirt(args) -> int:
    what = f"guest {args.guest}"
    try:
        xml = sys.stdin.buffer.read(MAX_XML + 1) if sys.stdin is not None and sys.stdin.buffer is not None else b""
    except (OSError, ValueError) as exc:
        xml = b""
        if args.operation == "prepare" and args.subop == "begin":
            return _own_failure(what, f"cannot read the domain XML on standard input: {exc}")
    if (args.operation, args.subop) != ("prepare", "begin"):
        return EXIT_OK
    try:
        if len(xml) > MAX_XML:
            return _own_failure(what, "the domain XML on standard input is larger than 16 MiB")
        if not xml.strip():
            return _own_failure(what, "no domain XML on standard input")
        from igdscope.analysis import guard, vmconfig

        vm = vmconfig.parse_libvirt(xml)
        if not guard.assigns_igd(vm):
            return EXIT_OK
        name = re.sub(r"[^A-Za-z0-9._-]", "_", args.guest)[:64] or "guest"
        return _judge(what, vm, args, name)
    except Exception as exc:  # noqa: BLE001 - the guard never blocks for its own failure
        return _own_failure(what, _describe(exc))


def _judge(what: str, vm, args, label: str) -> int:
    from igdscope.analysis import guard
    from igdscope.sources import live
    from igdscope.sources.sysfs import Root

    if not guard.assigns_igd(vm):
        return EXIT_OK
    root = args.root or os.environ.get(ROOT_ENV) or "/"
    try:
        cap = live.collect(Root(root))
    except live.NoIntelDisplay as exc:
        print(f"igdscope: {what} assigns host 00:02.x but {exc}; not judged", file=sys.stderr)
        return EXIT_OK
    # the QEMU that will run the VM is the one on PATH, also when the host is read under a root
    j = guard.judge(cap, vm, args.qemu_version or cap.host.get("qemu_version") or live.qemu_version())
    qv = j.qemu_version or "?"
    if not j.block:
        if j.verdict == "works":
            print(f"igdscope: {what}: {j.mode} works on this host (QEMU {qv})")
        elif j.verdict == "unknown":
            print(f"igdscope: warning: {what}: {j.mode} not judged for certain on this host (QEMU {qv}; unknown: {', '.join(j.unknown)}); not blocked", file=sys.stderr)
        return EXIT_OK
    err = sys.stderr
    print(f"igdscope: {what} asks for {j.mode}, which fails on this host (QEMU {qv}): start stopped; failing: {', '.join(r['id'] for r in j.failing)}", file=err)
    for r in j.failing:
        print(f"  {r['id']}: {r['evidence']}", file=err)
        if r["fix"]:
            print(f"    fix: {r['fix']}", file=err)
    saved = _keep_capture(cap, args.log_dir, label)
    print(f"igdscope: {saved}", file=err)
    return EXIT_BLOCKED


def _keep_capture(cap, log_dir: str, label: str) -> str:
    """Save the capture the verdict came from; what was done, in one line (a failure to save
    does not change the verdict)."""
    from igdscope import outfile
    from igdscope.decode.model import decode_capture

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = Path(log_dir, f"{label}-{stamp}.json")
    try:
        Path(log_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        for n in range(1, 100):
            try:
                outfile.write_file(path, cap.to_json(decode_capture(cap)), replace=False, mode=0o600)
                break
            except outfile.WriteRefused:
                if not path.exists() or path.is_symlink():
                    raise
                path = Path(log_dir, f"{label}-{stamp}-{n}.json")
    except (IgdscopeError, OSError) as exc:
        return f"warning: the capture was not kept: {_describe(exc)}"
    return f"capture kept for the bug report: {path} (igdscope check {path} --proxmox/--libvirt CONFIG shows every rule)"


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, IgdscopeError) else f"{type(exc).__name__}: {exc}"


def _own_failure(what: str, why: str) -> int:
    print(f"igdscope: warning: {what} not judged, igdscope failed: {why}; the start is not blocked", file=sys.stderr)
    return EXIT_OK

