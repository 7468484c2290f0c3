"""The ``igdscope`` command line. Text for people, ``--json`` for scripts.

This module never imports textual: only the TUI command does (a test checks ``sys.modules``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from igdscope import __version__
from igdscope.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NO_IGD,
    EXIT_OK,
    EXIT_PERMISSION,
    IgdscopeError,
)
from igdscope.textsafe import PrintableStream

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    a check failed, a diff found unexpected differences, or no plan can make the mode work
  2    usage error (bad command line)
  3    bad input: a file is truncated, corrupted, of an unknown kind or too large; or a
       file could not be written (no space, read-only file system, no such directory); or
       qm / pvesm refused a hook change (hook)
  4    no Intel display device on this machine (dump; check and plan without a VM config or --device)
  5    not permitted (needs root, or no permission to write the file)
  6    refused: a safety check stopped a write (the device is not what it must be, a
       backup exists or does not fit, the path is a symlink, a device or the input, a
       hook file of the same name that igdscope did not write), or a device write did not
       verify
  7    hook run: a guard stopped a VM start (the mode the VM asks for fails on this host)
  130  interrupted (Ctrl-C or a signal) before the work was done
"""

DUMP_HELP = """\
Collect one capture of this machine (host or guest): the IGD, host bridge 00:00.0 and LPC bridge
00:1f.0 config spaces, IDs, driver, IOMMU group, SR-IOV state and BAR sizes; the OpRegion
(debugfs when i915 owns the IGD, the vfio region with --vfio when vfio-pci does, /dev/mem
with --allow-devmem); every VBT copy; the option ROM; host facts (kernel, cmdline, modules, IOMMU,
/proc/iomem, QEMU version); the GGTT with --gtt. Whatever cannot be read is listed under errors.
Run as root for the full picture: unprivileged reads get 64 bytes of config space and no ROM.

examples:
  sudo igdscope dump -o host.json       write a capture for a bug report
  igdscope dump                         print what this machine has
  igdscope dump --demo -o demo.json     the built-in demo machine (Coffee Lake host)
  igdscope dump --demo guest --json     its QEMU legacy-mode guest
"""

SHOW_HELP = """\
Decode a capture or a raw file. The kind is sniffed from the content:
  capture   igdscope dump JSON            opregion  'IntelGraphicsMem' OpRegion dump
  vbt       '$VBT' video BIOS table        rom       0x55AA PCI option ROM
  config    binary config space (64/256/4096 bytes, e.g. /sys/bus/pci/devices/*/config)
  lspci     'lspci -xxx' / '-xxxx' hex dump text, as pasted into bug reports
FILE '-' reads standard input. An OpRegion or option ROM is followed by the VBT it carries,
decoded block by block (JSON: "vbt_decoded"). A capture is shown as a summary; --blob NAME shows
one of its blobs (opregion, rom, vbt/debugfs, opregion/rvda, config/BDF) as that kind of file.
A BIOS update or SPI flash dump is not sniffed: --kind vbt finds its VBT, plain or inside the
compressed sections (LZMA, LZMA+x86, Tiano, UEFI compression) its volumes are kept in.

examples:
  igdscope show host.json
  igdscope show host.json --blob opregion      the captured OpRegion, mailbox by mailbox
  igdscope show /sys/kernel/debug/dri/0/i915_vbt
  igdscope show /sys/kernel/debug/dri/0/i915_opregion
  lspci -s 00:02.0 -xxx | igdscope show -
  igdscope show cfg.bin --kind config --platform CFL
  igdscope show bios.bin --kind vbt            the VBT inside a BIOS image, and the section it is in
"""

EXTRACT_HELP = """\
Write raw firmware bytes out of a file.

extract vbt: the VBT, cut to its own vbt_size, e.g. for i915.vbt_firmware= (copy it under
/lib/firmware) or for intel_vbt_decode. Where it comes from, by kind (sniffed):
  vbt       the first '$VBT' in the file (padding after vbt_size is dropped); in a BIOS image
            (--kind vbt) the first in its compressed sections when there is no plain one
  rom       the first '$VBT' in the option ROM (as intel_vbt_decode finds it)
  opregion  what i915 uses: the extended VBT at a relative RVDA (OpRegion 2.1+) when it is in the
            file, else mailbox 4; an absolute RVDA (2.0) must be read from /dev/mem
  capture   the debugfs i915_vbt copy, else the OpRegion's, else the option ROM's
extract opregion / extract rom: the OpRegion or option ROM a capture holds, byte for byte as dump
read it (e.g. for intel_opregion_decode, or a romfile= to try).
Without -o the bytes go to standard output, which must not be a terminal. What was extracted,
and from where, is said on standard error (standard output with -o).

examples:
  igdscope extract vbt vbios.rom -o vbt.bin
  igdscope extract vbt bios.bin --kind vbt -o vbt.bin
  igdscope extract vbt /sys/kernel/debug/dri/0/i915_opregion > vbt.bin
  igdscope extract vbt host.json | intel_vbt_decode --file=/dev/stdin
  igdscope extract opregion host.json -o opregion.bin && intel_opregion_decode --file=opregion.bin
"""


CHECK_HELP = """\
Say whether QEMU's IGD legacy mode, plain assignment (UPT) and UPT with x-igd-opregion will work
with this host, kernel, QEMU version and VM configuration. Every rule prints its status (pass,
fail, warn, unknown), the evidence (register, file or argument, and its value) and what to
change; every failing rule is reported, not only the first. QEMU errors quoted in a config are
explained. Exit 0 when the mode the VM asks for works (without a VM config: when any mode
works), 1 when not.

The QEMU version is the installed one (the host capture's, or --qemu-version); a Proxmox
"meta: creation-qemu" is only the version the VM was created with. A versioned machine type
(pc-q35-10.1) is a lower bound. With no version known, every range of QEMU releases whose IGD
code differs is judged, and the verdict says where it changes.

Without a capture and with no Intel display on this machine, a VM config is judged alone: the
host's rules are "unknown"; --device names the IGD (hex device ID) for the QEMU rules.

examples:
  sudo igdscope check --proxmox /etc/pve/qemu-server/100.conf
  igdscope check host.json --libvirt win10.xml --qemu-version 9.2
  igdscope check host.json --vm-args "-M pc -device vfio-pci,host=00:02.0,addr=02.0,x-igd-opregion=on"
  igdscope check --libvirt pasted.xml --device 3e92 --qemu-version 10.1    a config alone
  sudo igdscope check --pid $(pgrep -f qemu-system) --json
"""


PLAN_HELP = """\
Write the VM configuration that makes one mode work on this host and QEMU: the machine type,
the IGD at guest 00:02.0 on the root bus, -vga none / -nodefaults, the x-igd-* properties the
QEMU version has (and only where they are needed), the ROM and the firmware. Every line says why
it is there (--explain adds the check rules it meets). The plan is judged by igdscope check
before it is printed: exit 0 when no rule fails for the mode. When the mode cannot work on this
host and QEMU, the failing rules are printed with what would make it possible (another QEMU
range, the other firmware, a ROM), and the exit code is 1.

Modes: legacy (QEMU's legacy IGD mode: i440fx, VBIOS, SeaBIOS), upt (plain assignment),
upt-opregion (plain assignment with the OpRegion, x-igd-opregion). Formats: qemu (command-line
arguments), libvirt (domain XML pieces, with <qemu:override> for the x-igd-* properties),
proxmox (VMID.conf lines and the same as qm set commands).

The QEMU version is --qemu-version, else the host capture's; with none known, the plan uses only
what every QEMU release has and says under which ranges it passes. Without a capture and with no
Intel display on this machine, --device names the IGD (hex device ID) and the host's rules stay
unknown.

examples:
  igdscope plan host.json --mode legacy                       QEMU arguments for legacy mode
  igdscope plan host.json --mode upt-opregion --format libvirt --firmware ovmf
  igdscope plan host.json --mode legacy --format proxmox --vmid 100 --rom /root/vbios.rom
  igdscope plan --device 7d55 --mode upt-opregion --qemu-version 10.0    why not, and what would
  igdscope plan host.json --mode upt --json                   for scripts

With a VM config (the same options as igdscope check: --vm-args, --pid, --libvirt, --proxmox), plan
amends that VM instead: only the changes that make its mode pass (the mode it asks for, or
--mode), each with the rule it fixes, as a unified diff in the config's own format (QEMU: the
argument list, one per line, and the amended command line; Proxmox: the .conf lines and qm set
commands). The amended text is read back and judged by check: exit 0 when the mode then passes,
1 when it cannot (the rules that still fail, or why no change can).

  igdscope plan host.json --proxmox /etc/pve/qemu-server/100.conf --vmid 100
  igdscope plan host.json --libvirt win10.xml --mode legacy --qemu-version 9.2
  igdscope plan host.json --vm-args "-M q35 -device vfio-pci,host=00:02.0,addr=0x18" --mode legacy
"""


DIFF_HELP = """\
Compare a host capture with its guest's (or two hosts, two moments, or two VBT / OpRegion / ROM /
config files). Host versus guest, igdscope knows per QEMU version what QEMU copies (host bridge
revision and subsystem IDs, the LPC identity at 00:1f.0), emulates (ASLS, BDSM, GMCH, BARs) and
passes through (the OpRegion, rewritten by vfio-pci): each difference is labelled expected (why)
or unexpected (what it breaks). Exit 0 when nothing unexpected differs, 1 otherwise.

examples:
  igdscope diff host.json guest.json
  igdscope diff host.json guest.json --qemu-version 9.2 --json
  igdscope diff old.vbt new.vbt
  igdscope diff bios-1.02.bin bios-1.05.bin --kind vbt   did the BIOS update change the VBT?
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="igdscope",
        description="See what Intel IGD passthrough (VFIO/QEMU legacy mode and UPT) depends on: decode it, check it, write the configuration that works, compare host and guest.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"igdscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("dump", help="collect a capture of this machine (or the demo machine)", description=DUMP_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--json", action="store_true", help="write the capture JSON to standard output (default: a readable summary)")
    d.add_argument("-o", "--output", metavar="FILE", help="write the capture JSON to FILE and print one line about it")
    d.add_argument("--root", metavar="DIR", default="/", help="read sysfs/procfs/debugfs//dev under DIR instead of / (fake trees, chroots)")
    d.add_argument("--gtt", action="store_true", help="also read the GGTT from BAR0 (up to 8 MiB, read-only mmap)")
    d.add_argument("--allow-devmem", action="store_true", help="read the OpRegion from /dev/mem at ASLS when debugfs and vfio cannot (read-only, bounded)")
    d.add_argument("--vfio", action="store_true", help="when vfio-pci owns the IGD, read the OpRegion from its vfio region (opening the device resets it, as QEMU does at VM start; refused while a VM holds it)")
    d.add_argument("--demo", nargs="?", const="host", choices=("host", "guest"), help="the built-in demo machine instead of this one: a Coffee Lake host, or its QEMU legacy-mode guest")
    d.add_argument("--no-udev", action="store_true", help="discover devices by walking sysfs instead of asking udev")

    s = sub.add_parser("show", help="decode a capture, VBT, OpRegion, option ROM, config space or lspci dump", description=SHOW_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("file", metavar="FILE", help="the file to decode ('-' for standard input)")
    s.add_argument("--json", action="store_true", help="plain JSON for scripts: integers kept, meanings beside them")
    s.add_argument("--kind", choices=("capture", "vbt", "opregion", "rom", "config", "lspci"), help="do not sniff: decode as this kind")
    s.add_argument("--platform", metavar="CODE", help="platform code (CFL, ADL-S, ...) when no IGD in the input identifies it")
    s.add_argument("--all-panels", action="store_true", help="VBT: print every panel of per-panel blocks, not only the selected one")
    s.add_argument("--device", metavar="[VVVV:]DDDD", help="ROM: say whether it belongs to this PCI device (hex IDs; vendor 8086 when omitted), e.g. --device 3e92")
    s.add_argument("--blob", metavar="NAME", help="capture: decode this blob as a file of its kind (opregion, rom, vbt/debugfs, opregion/rvda, config/BDF)")

    x = sub.add_parser("extract", help="write the raw VBT out of a VBT, option ROM, OpRegion or capture (or a capture's OpRegion or ROM)", description=EXTRACT_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    x.add_argument("what", choices=("vbt", "opregion", "rom"), help="what to extract: the VBT, or a capture's OpRegion or option ROM")
    x.add_argument("file", metavar="FILE", help="the file to extract from ('-' for standard input)")
    x.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of standard output")
    x.add_argument("--kind", choices=("capture", "vbt", "opregion", "rom"), help="do not sniff: read FILE as this kind")

    c = sub.add_parser("check", help="will legacy mode / UPT / UPT with OpRegion work? every failing rule with its evidence", description=CHECK_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("capture", nargs="?", metavar="CAPTURE", help="a host capture (igdscope dump -o); default: this machine")
    c.add_argument("--root", metavar="DIR", default="/", help="check the live machine under DIR")
    c.add_argument("--device", metavar="ID", help="the IGD's device ID (hex, e.g. 3e92) when judging a VM config without a host capture")
    _vm_options(c, "default: the host capture's, else the qemu binary on PATH")
    c.add_argument("--json", action="store_true")

    pl = sub.add_parser("plan", help="the VM configuration (QEMU, libvirt, Proxmox) that makes a mode work, or why none can", description=PLAN_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    pl.add_argument("capture", nargs="?", metavar="CAPTURE", help="a host capture (igdscope dump -o); default: this machine")
    pl.add_argument("--root", metavar="DIR", default="/", help="plan for the live machine under DIR")
    pl.add_argument("--mode", choices=("legacy", "upt", "upt-opregion"), help="the mode to configure (required without a VM config; with one, default: the mode it asks for)")
    pl.add_argument("--qemu-version", metavar="X.Y", help="the QEMU version the VM runs (default: the host capture's)")
    pl.add_argument("--firmware", choices=("seabios", "ovmf"), default="seabios", help="the guest firmware (default: seabios)")
    pl.add_argument("--format", choices=("qemu", "libvirt", "proxmox"), default="qemu", help="how to write the configuration (default: qemu)")
    pl.add_argument("--rom", metavar="FILE", help="a ROM to give the guest as romfile (a VBIOS for legacy mode; with a GOP for OVMF)")
    pl.add_argument("--device", metavar="ID", help="the IGD's device ID (hex, e.g. 3e92) when there is no capture")
    pl.add_argument("--vmid", metavar="N", default="VMID", help="Proxmox: the VM id in the qm set commands")
    pl.add_argument("--json", action="store_true", help="the plan, its reasons and every format as JSON")
    pl.add_argument("--explain", action="store_true", help="also name the check rules each line meets")
    vmsrc = pl.add_mutually_exclusive_group()
    vmsrc.add_argument("--vm-args", metavar="ARGS", help="amend this QEMU command line (quoted) instead of writing a new configuration")
    vmsrc.add_argument("--pid", type=int, metavar="PID", help="amend the QEMU command line of a running VM (/proc/PID/cmdline)")
    vmsrc.add_argument("--libvirt", metavar="DOMAIN.xml", help="amend this libvirt domain XML")
    vmsrc.add_argument("--proxmox", metavar="VMID.conf", help="amend this Proxmox VM config (VMID.conf or qm config output)")

    df = sub.add_parser("diff", help="compare two captures (host and guest, two hosts, two moments) or two files of one kind", description=DIFF_HELP, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    df.add_argument("a", metavar="A", help="a capture or a VBT / OpRegion / ROM / config space file")
    df.add_argument("b", metavar="B", help="the other one ('-' for standard input)")
    df.add_argument("--qemu-version", metavar="X.Y", help="the QEMU that made the guest (default: the host capture's)")
    df.add_argument("--kind", choices=("capture", "vbt", "opregion", "rom", "config", "lspci"),
                    help="do not sniff: read both files as this kind (--kind vbt: the VBTs of two BIOS images, plain or in compressed sections)")
    df.add_argument("--json", action="store_true")

    from igdscope.cli import gtt

    gtt.add_parsers(sub, EXIT_CODES_HELP)

    from igdscope.cli import hook

    hook.add_parsers(sub, EXIT_CODES_HELP)

    t = sub.add_parser("tui", help="the interactive view: live on this machine, on a capture, or host and guest side by side", description="""Open igdscope's terminal UI: live on this machine (--root like every live command),
offline on a capture, or host and guest side by side (--guest).
Keys: 1-8 screens, ? bindings, e export a capture, q quit.

The Checks screen (7) judges the host with the VM configuration given as for igdscope check
(--vm-args / --pid / --libvirt / --proxmox, --qemu-version); the Diff screen (8) compares host
and guest by the rules of --qemu-version (default: the host capture's).""", epilog="""examples:
  sudo igdscope tui                                  live on this machine
  igdscope tui host.json                             one capture, offline
  igdscope tui host.json --guest guest.json          host and guest side by side (screen 8)
  igdscope tui host.json --proxmox 100.conf          checks (screen 7) with that VM's config
""", formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("capture", nargs="?", metavar="CAPTURE", help="a capture to open offline (default: live)")
    t.add_argument("--guest", metavar="GUEST.json", help="diff mode: the guest capture beside CAPTURE (the host)")
    t.add_argument("--root", metavar="DIR", default="/", help="live: read the machine under DIR")
    t.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="live polling interval (adjust with +/-, pause with p)")
    _vm_options(t, "for the Checks and Diff screens; default: the host capture's")

    m = sub.add_parser("demo", help="the built-in demo machine in the terminal UI (host and guest)", description="Open the built-in demo machine - a Coffee Lake desktop host with its IGD bound to vfio-pci, and the guest QEMU gives it in legacy mode - in the terminal UI. When standard output is not a terminal, or with --text/--json, print the decoded capture instead.")
    m.add_argument("--text", action="store_true", help="print the decoded host capture instead of opening the UI")
    m.add_argument("--json", action="store_true", help="the decoded host capture as JSON")
    m.add_argument("--guest", action="store_true", help="with --text/--json: the guest capture instead of the host")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; ``argv`` None: this process's arguments (the ``igdscope`` command)."""
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_OK
    try:
        if args.command == "tui" or (args.command == "demo" and _demo_opens_tui(args)):
            return _run(args)  # the terminal UI escapes what it shows itself
        # Everything else is text for a terminal or a pipe, and much of it comes from firmware and
        # captures: control characters in it are written as escapes, never sent raw, and a character
        # the terminal's encoding cannot take is written as a \\u escape instead of stopping the output.
        saved = sys.stdout, sys.stderr
        for stream in saved:
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
        sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)
        try:
            return _run(args)
        finally:
            sys.stdout, sys.stderr = saved
    finally:
        if argv is not None:  # called as a library (tests): give back the signal handlers
            from igdscope import outfile

            outfile.unsettle()


def _run(args) -> int:
    try:
        if args.command == "tui":
            from igdscope import tui
            from igdscope.decode.files import load_capture

            for path in (args.capture, args.guest):
                if path and os.path.isfile(path):
                    load_capture(path, "tui")  # a VBT, VM config, ... named as what it is, before the screen opens

            return tui.run(args.capture, root=args.root, guest_path=args.guest, interval=args.interval, vm=vm_from_args(args), qemu_version=args.qemu_version)
        if args.command == "gtt":
            from igdscope.cli import gtt

            return gtt.cmd(args)
        if args.command == "hook":
            from igdscope.cli import hook

            return hook.cmd(args)
        return {"dump": cmd_dump, "show": cmd_show, "demo": cmd_demo, "extract": cmd_extract, "check": cmd_check, "diff": cmd_diff, "plan": cmd_plan}[args.command](args)
    except IgdscopeError as exc:
        print(f"igdscope: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("igdscope: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file or device the OS refused where no command expected it: one line
        from igdscope.outfile import os_error

        err = os_error(exc.filename or "a file", exc, "read or write")
        print(f"igdscope: {err}", file=sys.stderr)
        return err.exit_code


def _json_bytes(obj: object) -> str:
    # byte strings are hex everywhere in igdscope's JSON; one left as bytes must not crash the output
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _emit_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=1, default=_json_bytes) + "\n")


def cmd_dump(args) -> int:
    from igdscope.decode.model import decode_capture

    if args.demo:
        from igdscope.sources import demo

        cap = demo.host_capture() if args.demo == "host" else demo.guest_capture()
    else:
        from igdscope.sources import live
        from igdscope.sources.sysfs import Root

        root = Root(args.root)
        if not root.path("sys").is_dir():
            print(f"igdscope: {root.path('sys')} does not exist: --root must name a tree with sys/ (and proc/)", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            cap = live.collect(root, gtt=args.gtt, allow_devmem=args.allow_devmem, vfio=args.vfio, use_udev=False if args.no_udev else None)
        except live.NoIntelDisplay as exc:
            print(f"igdscope: {exc}; nothing to capture (try 'igdscope dump --demo')", file=sys.stderr)
            return EXIT_NO_IGD
        except PermissionError as exc:
            print(f"igdscope: {exc}", file=sys.stderr)
            return EXIT_PERMISSION
    decoded = decode_capture(cap)
    if args.output:
        from igdscope import outfile

        outfile.write_file(args.output, cap.to_json(decoded))
        outfile.settle()
        from igdscope.cli.render import plural

        print(f"wrote {args.output}: {cap.machine} capture, {plural(len(cap.devices), 'device')}, {plural(len(cap.blobs), 'blob')}, {plural(len(cap.errors), 'error')}")
        return EXIT_OK
    if args.json:
        sys.stdout.write(cap.to_json(decoded))
        return EXIT_OK
    from igdscope.cli import render

    sys.stdout.write(render.render_capture(decoded, cap))
    return EXIT_OK


def _read_input(name: str) -> bytes:
    from igdscope.decode.files import read_input

    return read_input(name)


def _device_ids(text: str) -> tuple[int, int]:
    """'3e92' or '8086:3e92' (hex) -> (device, vendor)."""
    from igdscope.errors import BadInput

    parts = text.lower().removeprefix("0x").split(":")
    try:
        vals = [int(p.removeprefix("0x"), 16) for p in parts]
    except ValueError:
        vals = []
    if len(vals) not in (1, 2) or not all(0 <= v <= 0xFFFF for v in vals):
        raise BadInput(f"--device {text!r}: give a hex device ID like 3e92 or vendor:device like 8086:3e92")
    return (vals[-1], vals[0] if len(vals) == 2 else 0x8086)


def cmd_show(args) -> int:
    from igdscope import capture, platforms
    from igdscope.cli import render
    from igdscope.decode.files import decode_blob, decode_file, sniff, unknown_kind
    from igdscope.decode.model import decode_capture
    from igdscope.errors import BadInput

    name = "stdin" if args.file == "-" else args.file
    data = _read_input(args.file)
    kind = args.kind or sniff(data)
    if kind is None:
        raise unknown_kind(name, data, "; give --kind")
    plat = None
    if args.platform:
        plat = platforms.by_name(args.platform)
        if plat is None:
            raise BadInput(f"unknown platform {args.platform!r} (codes are in specs/platforms.tsv)")
    if args.blob is not None and kind != "capture":
        raise BadInput(f"--blob is for captures; {name} is a {kind}")
    if kind == "capture" and args.blob is not None:
        cap = capture.loads(data, name=name)
        dec = decode_blob(cap, args.blob, plat, name)
        kind = dec["kind"]
    elif kind == "capture":
        cap = capture.loads(data, name=name)
        dec = decode_capture(cap, args.platform)
        if args.json:
            _emit_json({"kind": "capture", **dec})
        else:
            sys.stdout.write(render.render_capture(dec, cap))
        return EXIT_OK
    else:
        dec = decode_file(data, kind, plat, name)
    if args.device:
        if kind != "rom":
            raise BadInput(f"--device is for option ROMs; {name} is a {kind}")
        from igdscope.schemas import rom

        dec["match"] = rom.match_device(dec, *_device_ids(args.device))
    if args.json:
        _emit_json(dec)
        return EXIT_OK
    if "blob" in dec:
        sys.stdout.write(render.render_blob_origin(dec["blob"], name) + "\n")
    if kind == "config":
        sys.stdout.write(render.render_config(dec["device"]) + "\n")
    elif kind == "lspci":
        sys.stdout.write(render.render_lspci(dec))
    elif kind == "vbt":
        sys.stdout.write(render.render_vbt(dec, args.all_panels))
    elif kind == "opregion":
        sys.stdout.write(render.render_opregion(dec, args.all_panels))
    elif kind == "rom":
        sys.stdout.write(render.render_rom(dec) + "\n" + render.render_vbt_inside(dec.get("vbt_decoded"), args.all_panels))
    return EXIT_OK


def _demo_opens_tui(args) -> bool:
    return not (args.text or args.json or args.guest) and sys.stdout.isatty() and sys.stdin.isatty()


def cmd_demo(args) -> int:
    if _demo_opens_tui(args):
        from igdscope import tui

        return tui.run(demo=True)
    from igdscope.cli import render
    from igdscope.decode.model import decode_capture
    from igdscope.sources import demo

    cap = demo.guest_capture() if args.guest else demo.host_capture()
    dec = decode_capture(cap)
    if args.json:
        _emit_json(dec)
    else:
        sys.stdout.write(render.render_capture(dec, cap))
    return EXIT_OK


def cmd_extract(args) -> int:
    from igdscope.decode.files import extract_blob, extract_vbt, sniff, unknown_kind
    from igdscope.errors import EXIT_USAGE

    to_stdout = args.output in (None, "-")
    label = {"vbt": "VBT", "opregion": "OpRegion", "rom": "option ROM"}[args.what]
    if to_stdout and sys.stdout.isatty():
        print(f"igdscope: refusing to write a binary {label} to a terminal: give -o OUT or redirect standard output", file=sys.stderr)
        return EXIT_USAGE
    name = "stdin" if args.file == "-" else args.file
    data = _read_input(args.file)
    kind = args.kind or sniff(data)
    if kind is None:
        raise unknown_kind(name, data, "; give --kind")
    if args.what == "vbt":
        raw, where = extract_vbt(data, kind, name)
        about, warning = _vbt_about(raw, where, name)
    else:
        raw, where = extract_blob(data, kind, args.what, name)
        about, warning = f"{len(raw)}-byte {label} from {where}", None
    if warning:
        print(f"igdscope: warning: {warning}", file=sys.stderr)
    if to_stdout:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        print(f"igdscope: wrote {about} to standard output", file=sys.stderr)
        return EXIT_OK
    from igdscope import outfile

    outfile.write_file(args.output, raw, inputs=(outfile.input_stat(args.file),))
    outfile.settle()
    print(f"wrote {args.output}: {about}")
    return EXIT_OK


def _vbt_about(raw: bytes, where: str, name: str) -> tuple[str, str | None]:
    """What ``extract vbt`` says about the VBT it writes, and a warning when it is cut short."""
    vbt_size = int.from_bytes(raw[0x18:0x1A], "little")
    bdb_at = int.from_bytes(raw[0x1C:0x20], "little")
    bdb = int.from_bytes(raw[bdb_at + 16 : bdb_at + 18], "little") if bdb_at + 18 <= len(raw) else None
    about = f"{len(raw)}-byte VBT" + (f" (BDB version {bdb})" if bdb is not None else "") + f" from {where}"
    warning = f"the VBT is truncated: vbt_size says {vbt_size} bytes, only {len(raw)} are present in {name}" if len(raw) < vbt_size else None
    return about, warning


def cmd_diff(args) -> int:
    from igdscope.cli import diff as diffcli

    return diffcli.run(args.a, args.b, as_json=args.json, qemu_version=args.qemu_version, kind=args.kind)


def vm_from_args(args):
    """The VM configuration named by --vm-args / --pid / --libvirt / --proxmox (None: none given)."""
    from igdscope.analysis import vmconfig
    from igdscope.errors import BadInput

    if args.vm_args is not None:
        _vm_args_kind(args.vm_args, args.command)
        return vmconfig.parse_qemu_cmdline(args.vm_args, bare_args=True)
    if args.pid is not None:
        try:
            raw = Path(args.root, "proc", str(args.pid), "cmdline").read_bytes()
        except OSError as exc:
            raise BadInput(f"/proc/{args.pid}/cmdline: {exc.strerror}") from None
        import shlex

        return vmconfig.parse_qemu_cmdline(" ".join(shlex.quote(a) for a in raw.decode("utf-8", "replace").split("\0") if a))
    if args.libvirt or args.proxmox:
        from igdscope.decode import files

        path = args.libvirt or args.proxmox
        data = files.read_input(path)
        kind = files.what_is(data)
        want = ("libvirt",) if args.libvirt else ("proxmox", "proxmox-qm")
        if kind is not None and kind not in want:
            raise files.not_a(path, kind, files.KIND_NAMES[want[0]], args.command)
        text = data.decode("utf-8", "replace")
        return vmconfig.parse_libvirt(text) if args.libvirt else vmconfig.parse_proxmox(text)
    return None


def _vm_text(args) -> tuple[str, str, bool] | None:
    """The VM definition named by --vm-args / --pid / --libvirt / --proxmox as (kind, text, bare
    arguments), read and refused as vm_from_args does (None: none given)."""
    if args.vm_args is not None:
        vm_from_args(args)  # the same refusals (empty, a file name, another kind of text)
        return "qemu", args.vm_args, True
    if args.pid is not None:
        from igdscope.errors import BadInput

        try:
            raw = Path(args.root, "proc", str(args.pid), "cmdline").read_bytes()
        except OSError as exc:
            raise BadInput(f"/proc/{args.pid}/cmdline: {exc.strerror}") from None
        import shlex

        return "qemu", " ".join(shlex.quote(a) for a in raw.decode("utf-8", "replace").split("\0") if a), False
    if args.libvirt or args.proxmox:
        from igdscope.decode import files

        vm_from_args(args)  # refuses another kind, and text that is no VM definition
        data = files.read_input(args.libvirt or args.proxmox)
        return ("libvirt" if args.libvirt else "proxmox"), data.decode("utf-8", "replace"), False
    return None


def _vm_args_kind(text: str, command: str) -> None:
    """Refuse --vm-args text that is another kind of VM definition, or a file name (the option takes
    the command line itself), with the option that reads it."""
    import shlex

    from igdscope.decode import files, vmtext
    from igdscope.errors import BadInput

    word = text.strip()
    if word and not word.startswith("-") and not any(c.isspace() for c in word) and Path(word).is_file():
        data = files.read_input(word)
        kind = files.what_is(data)
        fix = files.use_instead(kind, word, command) if kind is not None else f'igdscope {command} --vm-args "$(cat {shlex.quote(word)})"'
        what = f"{files.KIND_NAMES[kind]}" if kind is not None else "a file"
        raise BadInput(f"--vm-args takes the QEMU command line itself, not a file name; {word} is {what}: use {fix}")
    kind = vmtext.vm_kind(text, detail=True)
    if kind in ("libvirt", "proxmox", "proxmox-qm"):
        raise BadInput(f"the --vm-args text is {vmtext.KIND_NAMES[kind]}, not a QEMU command line: "
                       f"save it to a file and use igdscope {command} {vmtext.KIND_OPTION[kind]} FILE")


def _vm_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--qemu-version", metavar="X.Y", help=f"the QEMU version the VM runs ({what})")
    vmsrc = p.add_mutually_exclusive_group()
    vmsrc.add_argument("--vm-args", metavar="ARGS", help="the VM's QEMU command line (quoted)")
    vmsrc.add_argument("--pid", type=int, metavar="PID", help="read the QEMU command line of a running VM from /proc/PID/cmdline")
    vmsrc.add_argument("--libvirt", metavar="DOMAIN.xml", help="a libvirt domain XML")
    vmsrc.add_argument("--proxmox", metavar="VMID.conf", help="a Proxmox VM config (qm config output or /etc/pve/qemu-server/VMID.conf)")


def cmd_check(args) -> int:
    from igdscope.analysis import check
    from igdscope.cli import check as checkcli

    device = _device_ids(args.device)[0] if args.device else None
    vm = vm_from_args(args)
    if args.capture:
        from igdscope.decode.files import load_capture

        cap = load_capture(args.capture, "check")
    else:
        from igdscope.sources import live
        from igdscope.sources.sysfs import Root

        try:
            cap = live.collect(Root(args.root))
        except live.NoIntelDisplay as exc:
            if vm is None:
                print(f"igdscope: {exc}; nothing to check (give a capture, or a VM config to judge alone: --libvirt/--proxmox/--vm-args)", file=sys.stderr)
                return EXIT_NO_IGD
            cap = None
    result = check.run_checks(cap, vm, args.qemu_version, device=device)
    if args.json:
        _emit_json(result)
    else:
        sys.stdout.write(checkcli.render(result))
    return checkcli.exit_code(result)


def cmd_plan(args) -> int:
    from igdscope.analysis import plan as planner
    from igdscope.analysis import qemu
    from igdscope.cli import plan as plancli
    from igdscope.errors import BadInput

    device = _device_ids(args.device)[0] if args.device else None
    qv = None
    if args.qemu_version is not None:
        qv = qemu.version(args.qemu_version)
        if qv is None:
            raise BadInput(f"--qemu-version {args.qemu_version!r}: give a QEMU version like 9.2 or 10.0.3")
    if args.vmid != "VMID" and not args.vmid.isdigit():
        raise BadInput(f"--vmid {args.vmid!r}: a Proxmox VM id is a number")
    vm = _vm_text(args)
    if vm is None and args.mode is None:
        print("igdscope plan: --mode is required without a VM config (--vm-args, --pid, --libvirt, --proxmox)", file=sys.stderr)
        return 2
    if args.capture:
        from igdscope.decode.files import load_capture

        cap = load_capture(args.capture, "plan")
    else:
        from igdscope.sources import live
        from igdscope.sources.sysfs import Root

        try:
            cap = live.collect(Root(args.root))
        except live.NoIntelDisplay as exc:
            if device is None and vm is None:
                print(f"igdscope: {exc}; nothing to plan for (give a capture, or --device ID to plan for that IGD)", file=sys.stderr)
                return EXIT_NO_IGD
            cap = None
    if vm is not None:
        from igdscope.analysis import amend

        kind, text, bare = vm
        a = amend.amend(cap, text, kind, args.mode.replace("-", "_") if args.mode else None,
                        qemu.text(qv) if qv else None, args.rom, device, bare=bare)
        if args.json:
            _emit_json(plancli.amend_json(a, args.vmid))
        else:
            sys.stdout.write(plancli.render_amend(a, args.vmid, args.explain))
        return plancli.amend_exit_code(a)
    p = planner.plan(cap, args.mode.replace("-", "_"), qv, args.firmware, args.rom, device)
    if args.json:
        _emit_json(plancli.as_json(p, args.format, args.vmid))
    else:
        sys.stdout.write(plancli.render(p, args.format, args.vmid, args.explain))
    return plancli.exit_code(p)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
