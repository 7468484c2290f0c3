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
from igdscope.errors import EXIT_BAD_INPUT, EXIT_NO_IGD, EXIT_OK, EXIT_PERMISSION, IgdscopeError

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  a check failed or a diff found unexpected differences
  2  usage error (bad command line)
  3  bad input: a file is truncated, corrupted, of an unknown kind or too large
  4  no Intel display device on this machine (dump)
  5  not permitted (needs root)
  6  a safety check refused a write
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
FILE '-' reads standard input.

examples:
  igdscope show host.json
  igdscope show /sys/kernel/debug/dri/0/i915_vbt
  lspci -s 00:02.0 -xxx | igdscope show -
  igdscope show cfg.bin --kind config --platform CFL
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="igdscope",
        description="See what Intel IGD passthrough (VFIO/QEMU legacy mode and UPT) depends on: decode, check, compare.",
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

    m = sub.add_parser("demo", help="show the built-in demo machine (host and guest captures)", description="Decode the built-in demo machine: a Coffee Lake desktop host with its IGD bound to vfio-pci, and the guest QEMU gives it in legacy mode.")
    m.add_argument("--json", action="store_true", help="the decoded host capture as JSON")
    m.add_argument("--guest", action="store_true", help="the guest capture instead of the host")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_OK
    try:
        return {"dump": cmd_dump, "show": cmd_show, "demo": cmd_demo}[args.command](args)
    except IgdscopeError as exc:
        print(f"igdscope: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("igdscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _emit_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")


def cmd_dump(args) -> int:
    from igdscope import decoders

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
    decoded = decoders.decode_capture(cap)
    if args.output:
        text = cap.to_json(decoded)
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(f"igdscope: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"wrote {args.output}: {cap.machine} capture, {_n(len(cap.devices), 'device')}, {_n(len(cap.blobs), 'blob')}, {_n(len(cap.errors), 'error')}")
        return EXIT_OK
    if args.json:
        sys.stdout.write(cap.to_json(decoded))
        return EXIT_OK
    from igdscope import render

    sys.stdout.write(render.render_capture(decoded, cap))
    return EXIT_OK


def _read_input(name: str) -> bytes:
    from igdscope.capture import MAX_FILE_BYTES
    from igdscope.errors import BadInput

    if name == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        try:
            with open(name, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except IsADirectoryError:
            raise BadInput(f"{name}: is a directory") from None
        except OSError as exc:
            raise BadInput(f"{name}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"{name}: larger than {MAX_FILE_BYTES >> 20} MiB; not a file igdscope decodes")
    if not data:
        raise BadInput(f"{name}: empty")
    return data


def cmd_show(args) -> int:
    from igdscope import capture, decoders, formats, platforms, render
    from igdscope.errors import BadInput

    name = "stdin" if args.file == "-" else args.file
    data = _read_input(args.file)
    kind = args.kind or formats.sniff(data)
    if kind is None:
        raise BadInput(f"{name}: unknown kind ({len(data)} bytes, starts {data[:8].hex()}); give --kind")
    plat = None
    if args.platform:
        plat = platforms.by_name(args.platform)
        if plat is None:
            raise BadInput(f"unknown platform {args.platform!r} (codes are in specs/platforms.tsv)")
    if kind == "capture":
        cap = capture.loads(data, name=name)
        dec = decoders.decode_capture(cap, args.platform)
        if args.json:
            _emit_json({"kind": "capture", **dec})
        else:
            sys.stdout.write(render.render_capture(dec, cap))
        return EXIT_OK
    dec = formats.decode_file(data, kind, plat, name)
    if args.json:
        _emit_json(dec)
        return EXIT_OK
    if kind == "config":
        sys.stdout.write(render.render_config(dec["device"]) + "\n")
    elif kind == "lspci":
        sys.stdout.write(render.render_lspci(dec))
    elif kind == "vbt":
        sys.stdout.write(render.render_vbt(dec))
    elif kind == "opregion":
        sys.stdout.write(render.render_opregion(dec))
    elif kind == "rom":
        sys.stdout.write(render.render_rom(dec) + "\n")
    return EXIT_OK


def cmd_demo(args) -> int:
    from igdscope import decoders, render
    from igdscope.sources import demo

    cap = demo.guest_capture() if args.guest else demo.host_capture()
    dec = decoders.decode_capture(cap)
    if args.json:
        _emit_json(dec)
    else:
        sys.stdout.write(render.render_capture(dec, cap))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
