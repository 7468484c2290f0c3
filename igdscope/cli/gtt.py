"""``igdscope gtt``: show a GGTT, say where DMAR faults land, invalidate and restore.

Only ``invalidate`` and ``restore`` import the write path (:mod:`igdscope.analysis.invalidate`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from igdscope.errors import EXIT_FINDINGS, EXIT_OK, BadInput, NoIGD

GTT_HELP = """\
The IGD's global GTT (GGTT): every PTE decoded (gen6/7 32-bit, Haswell, gen8-gen12 64-bit,
Meteor Lake with PAT bits), a summary of runs (the scratch page, contiguous mappings, entries in
stolen memory), where a DMAR fault address lands, and the one write igdscope makes: a GGTT
invalidation, with a backup first and a verified restore.

examples:
  igdscope gtt show host.json --summary
  sudo igdscope gtt show --range 0:64
  sudo igdscope gtt show --watch               (a line whenever entries change, 10 times a second)
  igdscope gtt show --file gtt.bin --platform CFL --json
  igdscope gtt fault 0x8b803000 host.json
  dmesg | igdscope gtt faults host.json
  sudo igdscope gtt invalidate                 (a dry run: says what it would do)
  sudo igdscope gtt invalidate --yes --backup gtt-backup.json
  sudo igdscope gtt restore gtt-backup.json
"""


SHOW_HELP = """\
Decode GGTT entries (--range), summarise the whole table (--summary), or watch the live table
change (--watch). The table comes from a capture, a raw dump (--file with --platform), or the
live machine: resource0's GGTT half, mapped read-only (as root; --root DIR reads a copy of
/sys and /proc under DIR instead).
"""

WATCH_EPILOG = """\
--watch reads the live GGTT every SECONDS (default 0.1) through one read-only mapping of
resource0 and prints a line only when something changed: the time, how many entries changed and
which (index ranges), and for changes of at most 8 entries each entry's old and new value decoded.
A read that takes longer than the interval does not make reads pile up: the watch skips to the
next slot and counts an overrun. When the device goes away (resource0 gone: the device was
removed) it says so and keeps polling until it is back, then says what differs from the last
read before it went. Ctrl-C or SIGTERM stops it with a summary (reads, changes, slowest read)
and exit status 0; --count N stops it after N reads (the first is the baseline). With --json
every event is one JSON object per line ("event": start, change, gone, back, stop). It needs
the live machine: a capture or a --file dump does not change.

watch examples:
  sudo igdscope gtt show --watch
  sudo igdscope gtt show --watch 1 --range 0:4096
  sudo igdscope gtt show --watch --json | jq -c 'select(.event == "change") | .runs'

  $ igdscope gtt show --root /tmp/igd-fake --watch --count 30     (a fake tree being changed)
  watching the GGTT of 0000:00:02.0 (CFL, gen8 PTEs, 1048576 entries) every 0.1 s through ...
  22:38:38.976  3 entries changed: 5-7
      entry 5  0x000000008b805001 (0x8b805000, present) \u2192 0x0000000000000000 (0x0, not present)
      entry 6  0x000000008b806001 (0x8b806000, present) \u2192 0x0000000000000000 (0x0, not present)
      entry 7  0x000000008b807001 (0x8b807000, present) \u2192 0x0000000000000000 (0x0, not present)
  22:38:39.454  2023 entries changed: 0-4, 8-2025
  22:38:39.954  1 entry changed: 4100
      entry 4100  0x000000024a104001 (0x24a104000, present) \u2192 0x000000024b000001 (0x24b000000, present)
  22:38:40.351  device gone: /sys/bus/pci/devices/0000:00:02.0/resource0: does not exist; polling until it returns
  22:38:40.855  device back; no entry differs from the last read before it went
  stopped (--count reached) after 30 ticks in 2.9 s: 3 changes (2027 entries), slowest tick 25.3 ms, 0 overruns

"""


INVALIDATE_HELP = """\
Write 0 to every entry of the IGD's GGTT, as QEMU's legacy mode did at VM start, so the IGD no
longer translates through host addresses its last owner left there. Without --yes: a dry run
that says what would be written and whether it would be refused.

Before anything is written: the device must be an Intel display function the platform table
knows (its sysfs attributes and config space agree), with the BAR0 size of its generation; no
i915/xe (only no driver, vfio-pci or pci-stub) bound and no process holding it; resource0 a real
sysfs file; no other igdscope writing it. Then every entry is backed up to a NEW file (an
existing one is never replaced), fsync'ed; the zeros are written in chunks, each read back;
then the GGTT TLBs are flushed. Ctrl-C, SIGTERM, SIGHUP or SIGQUIT stop between chunks (before
the first: nothing written); 'igdscope gtt restore BACKUP' puts every entry back.

examples:
  sudo igdscope gtt invalidate                         the dry run
  sudo igdscope gtt invalidate --yes --backup gtt-before.json
  sudo igdscope gtt invalidate --yes --json            the default backup name, a JSON report
"""

RESTORE_HELP = """\
Write the entries of a backup made by 'igdscope gtt invalidate' back, verify every one, flush
the GGTT TLBs. The whole backup is checked first (exit 3 when damaged: format, fields, sha256
of the entries); then that it is of this device (address, vendor, device, revision, PTE
format, entry count) in this boot (exit 6 otherwise: a backup from an earlier boot holds that
boot's host addresses; --allow-other-boot if you really mean it). Nothing is written until all
of that holds.

examples:
  sudo igdscope gtt restore gtt-before.json
  sudo igdscope gtt restore gtt-before.json --method bar4 --json
"""


def add_parsers(sub: argparse._SubParsersAction, epilog: str) -> None:
    g = sub.add_parser("gtt", help="the IGD's GGTT: show, classify DMAR faults, invalidate/restore", description=GTT_HELP, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    gs = g.add_subparsers(dest="gtt_command", metavar="ACTION")
    gs.required = True

    def source_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("capture", nargs="?", metavar="CAPTURE", help="a capture (igdscope dump --gtt); default: this machine")
        p.add_argument("--root", metavar="DIR", default="/", help="read the live machine under DIR")
        p.add_argument("--file", metavar="RAW", help="a raw GGTT dump (needs --platform)")
        p.add_argument("--platform", metavar="CODE", help="platform code (CFL, ADL-S, ...) for --file, or to override")

    s = gs.add_parser("show", help="decode entries, summarise the table, or watch it change", description=SHOW_HELP, epilog=WATCH_EPILOG + epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    source_args(s)
    s.add_argument("--range", metavar="A:B", help="entries A to B (default 0:32; with --watch: the whole table); hex or decimal")
    s.add_argument("--summary", action="store_true", help="the summary of runs instead of entries")
    s.add_argument("--watch", nargs="?", const=0.1, type=float, metavar="SECONDS",
                   help="read the live GGTT every SECONDS (default 0.1) and print a line whenever entries change; Ctrl-C stops")
    s.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N reads (the first read is the baseline)")
    s.add_argument("--json", action="store_true", help="JSON (with --watch: JSON Lines, one object per event)")

    f = gs.add_parser("fault", help="where one DMAR fault address lands")
    f.add_argument("address", metavar="ADDR|LINE", help="an address (hex) or a whole DMAR fault line")
    source_args(f)
    f.add_argument("--json", action="store_true")

    fs = gs.add_parser("faults", help="read a kernel log on standard input and classify every DMAR fault")
    source_args(fs)
    fs.add_argument("--json", action="store_true")
    fs.add_argument("--device", metavar="BDF", default=None, help="only faults of this requester (default: the IGD)")

    inv = gs.add_parser("invalidate", help="write 0 to every GGTT entry, after a backup (dry run without --yes)", description=INVALIDATE_HELP, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    res = gs.add_parser("restore", help="write a backup's entries back and verify them", description=RESTORE_HELP, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    res.add_argument("backup_file", metavar="BACKUP", help="a backup written by 'igdscope gtt invalidate'")
    for w in (inv, res):
        w.add_argument("--root", metavar="DIR", default="/", help="the machine's /sys and /proc under DIR (a chroot); writes go only to real sysfs files")
        w.add_argument("--device", metavar="BDF", default="0000:00:02.0" if w is inv else None,
                       help="the IGD's PCI address (default: 0000:00:02.0)" if w is inv else "the IGD's PCI address (default: the one the backup names)")
        w.add_argument("--method", choices=("mmio", "bar4"), default="mmio", help="mmio: BAR0's GTT half via resource0 (default); bar4: the I/O index/data window via resource4 (pre-gen11)")
        w.add_argument("--ignore-open", action="store_true", help="write even when a process holds the device or its vfio group open (never when i915/xe is bound)")
        w.add_argument("--json", action="store_true", help="one JSON object: the plan (dry run) or what was written")
    inv.add_argument("--backup", metavar="FILE", help="a new file for the backup (never replaced; default: igdscope-gtt-backup-<device>-boot<id>-<time>.json here)")
    inv.add_argument("--yes", action="store_true", help="really write (without it: a dry run)")
    res.add_argument("--allow-other-boot", action="store_true", help="restore a backup made in another boot of this machine (its entries hold that boot's host addresses)")


# -- sources ---------------------------------------------------------------------------------------


def _load(args) -> tuple[Any, Any]:
    """(capture, platform) from the arguments."""
    from igdscope import capture as capmod
    from igdscope.decode.devices import capture_platform

    if args.file:
        from igdscope.capture import Blob, Capture

        if not args.platform:
            raise BadInput("--file needs --platform (the PTE format depends on the generation)")
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise BadInput(f"{args.file}: cannot read: {exc.strerror}") from None
        if len(data) > 16 << 20:
            raise BadInput(f"{args.file}: larger than a GGTT (8 MiB at most)")
        cap = Capture(blobs={"gtt": Blob(data, "file", args.file)})
        return cap, capture_platform(cap, args.platform)
    if args.capture:
        cap = capmod.load(args.capture)
        return cap, capture_platform(cap, args.platform)
    from igdscope.sources import live
    from igdscope.sources.sysfs import Root

    try:
        cap = live.collect(Root(args.root), gtt=True)
    except live.NoIntelDisplay as exc:
        raise NoIGD(str(exc)) from None
    return cap, capture_platform(cap, args.platform)


CAPTURE_ADDS = "a capture of the machine (igdscope dump --gtt, or this command run on it) adds where each address lands: stolen memory, the GTT stolen memory, the IGD's BARs and the GGTT entries that map it"


def _load_for_faults(args) -> tuple[Any, Any, str | None]:
    """(capture, platform, why there is none): fault and faults work from the log alone when no
    capture is given and this machine has no Intel display device."""
    if args.capture or args.file:
        return (*_load(args), None)
    try:
        return (*_load(args), None)
    except NoIGD as exc:
        return None, None, f"no capture, and {exc}: classified from the log alone; {CAPTURE_ADDS}"


def landscape(cap, plat):
    from igdscope.analysis import dmar
    from igdscope.decode.model import StolenMemory, decode
    from igdscope.schemas.gtt import format_for

    stolen = decode(cap, plat.platform if plat else None, with_gtt_summary=False).stolen if cap.devices else StolenMemory()
    dsm = (stolen.bdsm, stolen.dsm_bytes or 0) if stolen.bdsm is not None else None
    dev = cap.device("igd")
    bars = tuple((f"BAR{r['bar']}" if r["bar"] != 6 else "ROM", r["start"], r["size"]) for r in (dev.resources if dev else []))
    return dmar.Landscape(cap.machine, dsm, stolen.gsm, stolen.tolud, bars, cap.blob("gtt"), format_for(plat))


def _range(text: str | None, n: int) -> tuple[int, int]:
    if not text:
        return 0, min(32, n)
    try:
        a, _, b = text.partition(":")
        start = int(a, 0) if a else 0
        stop = int(b, 0) if b else n
    except ValueError:
        raise BadInput(f"--range {text!r}: expected A:B (numbers)") from None
    if not 0 <= start <= stop:
        raise BadInput(f"--range {text!r}: start must not exceed stop")
    return start, min(stop, n)


def _hx(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


# -- commands --------------------------------------------------------------------------------------


def cmd(args) -> int:
    return {"show": cmd_show, "fault": cmd_fault, "faults": cmd_faults, "invalidate": cmd_invalidate, "restore": cmd_restore}[args.gtt_command](args)


def cmd_show(args) -> int:
    from igdscope.cli.render import table
    from igdscope.decode import gtt as gttmod
    from igdscope.schemas.gtt import format_for

    if args.watch is not None:
        return cmd_watch(args)
    if args.count is not None:
        raise BadInput("--count goes with --watch")
    cap, plat = _load(args)
    fmt = format_for(plat)
    data = cap.blob("gtt")
    if data is None:
        raise BadInput("no GGTT in this capture (take it with igdscope dump --gtt)")
    if fmt is None:
        raise BadInput("the GGTT's PTE format is unknown (platform unknown or older than gen6); give --platform")
    if args.summary:
        where = landscape(cap, plat)
        s = gttmod.summary(data, fmt, dsm=where.dsm)
        if args.json:
            print(json.dumps(s))
            return EXIT_OK
        print(f"GGTT: {s['entries']} entries of {fmt.size} bytes ({fmt.title}), aperture {s['aperture_bytes'] >> 20} MiB")
        print(f"  present {s['present']}, not present {s['empty_entries']}")
        if s.get("scratch_value") is not None:
            print(f"  scratch page value {_hx(s['scratch_value'])} in {s['scratch_entries']} entries ({len(s['scratch_runs'])} runs listed)")
        print(f"  mapped (present, not scratch) {s['mapped_entries']} entries in {s['mapped_runs']} contiguous runs; occupancy {s['occupancy'] * 100:.2f}%")
        if "stolen" in s:
            print(f"  entries pointing into stolen memory ({_hx(s['stolen']['base'])}, {s['stolen']['size'] >> 20} MiB): {s['stolen']['entries']}")
        print("  largest runs:")
        print(table(([r["first"], _hx(r["first"] * 4096), r["entries"], _hx(r["address"])] for r in s["largest_runs"][:16]), ["entry", "graphics address", "entries", "physical address"], indent=4))
        return EXIT_OK
    ptes = gttmod.as_array(data, fmt)
    start, stop = _range(args.range, len(ptes))
    t = gttmod.decode_table(data, fmt, start, stop)
    names = [n for n in t if n not in ("index", "raw", "address") and not n.startswith("ignored")]
    if args.json:
        rows = [{"index": int(t["index"][i]), "raw": int(t["raw"][i]), "address": int(t["address"][i]), **{n: int(t[n][i]) for n in names}} for i in range(len(t["index"]))]
        print(json.dumps({"format": fmt.name, "entries": rows}))
        return EXIT_OK
    print(f"GGTT entries {start}..{stop - 1} of {len(ptes)} ({fmt.title})")
    print(table(([int(t["index"][i]), _hx(int(t["index"][i]) * 4096), f"{int(t['raw'][i]):#0{fmt.size * 2 + 2}x}", _hx(int(t["address"][i])), *(int(t[n][i]) for n in names)] for i in range(len(t["index"]))), ["entry", "graphics addr", "raw", "physical", *names]))
    return EXIT_OK


def cmd_watch(args) -> int:
    import errno

    from igdscope import platforms
    from igdscope.capture import Capture
    from igdscope.decode.devices import capture_platform
    from igdscope.errors import NeedsPrivilege
    from igdscope.schemas.gtt import format_for
    from igdscope.sources import gttwatch, live
    from igdscope.sources.sysfs import Root

    if args.capture or args.file:
        what = f"{args.capture} is a capture" if args.capture else f"--file {args.file} is a dump"
        raise BadInput(f"--watch reads the live GGTT (this machine, or --root DIR); {what} and does not change")
    if args.summary:
        raise BadInput("--watch prints changes as they happen; it does not go with --summary")
    if not 0 < args.watch <= 3600:
        raise BadInput(f"--watch {args.watch:g}: the interval must be more than 0 and at most 3600 seconds")
    if args.count is not None and args.count < 1:
        raise BadInput(f"--count {args.count}: must be at least 1")

    def unavailable(exc: live.GttUnavailable) -> Exception:
        return NeedsPrivilege(str(exc)) if exc.errno in (errno.EACCES, errno.EPERM) else BadInput(str(exc))

    root = Root(args.root)
    try:
        site = live.gtt_site(root)
    except live.NoIntelDisplay as exc:
        raise NoIGD(str(exc)) from None
    except live.GttUnavailable as exc:
        raise unavailable(exc) from None
    plat = capture_platform(Capture(), args.platform) if args.platform else platforms.lookup(site.device_id)
    fmt = format_for(plat)
    if fmt is None:
        raise BadInput(f"{site.bdf} ({site.device_id:04x}): the GGTT's PTE format is unknown (platform unknown or older than gen6); give --platform")
    if fmt.size != site.pte_size:
        raise BadInput(f"--platform {args.platform}: {fmt.size}-byte PTEs, but {site.bdf}'s GGTT has {site.pte_size}-byte ones")
    entries = site.size // fmt.size
    first, stop = _range(args.range, entries) if args.range else (0, entries)
    if first >= stop:
        raise BadInput(f"--range {args.range}: selects no entry (the table has {entries})")

    def emit(ev: dict) -> None:
        if args.json:
            print(json.dumps(ev), flush=True)
        else:
            print("\n".join(watch_text(ev, fmt.size)), flush=True)

    w = gttwatch.Watch(root, site, fmt, args.watch, emit, count=args.count, first=first, stop=stop, platform=plat.platform if plat else None)
    try:
        w.run()
    except live.GttUnavailable as exc:
        raise unavailable(exc) from None
    return EXIT_OK


def _classify_all(faults, where) -> list[dict]:
    from igdscope.analysis import dmar

    out = []
    for f in faults:
        res = f.plain()
        res["where"] = dmar.classify(f.address, where, f.reason) if f.address is not None else None
        out.append(res)
    return out


def _print_classification(res: dict) -> None:
    w = res["where"]
    head = f"{res['access']} of {_hx(res['address'])} by {res['requester']}"
    if res.get("reason") is not None:
        head += f", fault reason {res['reason']:#04x} ({res['reason_text']})"
    print(head)
    if w is None:
        print("  (no address in the line)")
        return
    for r in w["regions"]:
        extra = f" at +{r['offset']:#x} from {_hx(r['base'])}" if "base" in r else ""
        print(f"  in: {r['name']}{extra}")
    for e in w["gtt_entries"][:8]:
        print(f"  GGTT entry {e['index']} (graphics address {_hx(e['graphics_address'])}) maps this page")
    for m in w["meaning"]:
        print(f"  - {m}")


def _landscape_or_none(cap, plat):
    from igdscope.analysis import dmar

    return landscape(cap, plat) if cap is not None else dmar.Landscape()


def cmd_fault(args) -> int:
    from igdscope.analysis import dmar

    try:
        address = dmar.parse_address(args.address)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    cap, plat, without = _load_for_faults(args)
    found = dmar.parse(args.address)
    fault = found[0] if found else dmar.Fault(0, "access", "0000:00:02.0", address, None, "", None)
    res = _classify_all([fault], _landscape_or_none(cap, plat))[0]
    if args.json:
        print(json.dumps({**res, "capture": cap is not None, "without_capture": without}))
    else:
        _print_classification(res)
        if without:
            print(f"  ({without})")
    return EXIT_OK


def cmd_faults(args) -> int:
    from igdscope.analysis import dmar

    text = sys.stdin.read(64 << 20)
    log = dmar.parse_log(text)
    faults = log.faults
    cap, plat, without = _load_for_faults(args)
    igd = cap.device("igd") if cap is not None else None
    device = args.device or (igd.bdf if igd else "0000:00:02.0")
    if len(device) == 7:
        device = "0000:" + device
    mine = [f for f in faults if f.requester == device]
    res = _classify_all(mine, _landscape_or_none(cap, plat))
    if args.json:
        print(json.dumps({"device": device, "faults": res, "other_devices": len(faults) - len(mine),
                          "suppressed": log.suppressed, "suppressed_total": log.suppressed_total,
                          "capture": cap is not None, "without_capture": without}))
        return EXIT_FINDINGS if res else EXIT_OK
    sup = ""
    if log.suppressed:
        sup = f"; {log.suppressed_total} more fault report(s) suppressed by the kernel's rate limit (" + ", ".join(f"{k} {v}" for k, v in log.suppressed.items()) + "), device not logged"
    if not faults:
        print("no DMAR faults in the input" + sup)
        if without and log.suppressed:
            print(f"({without})")
        return EXIT_OK
    print(f"{len(mine)} DMAR fault(s) of {device}" + (f" ({len(faults) - len(mine)} of other devices not shown)" if len(faults) > len(mine) else "") + sup)
    if without:
        print(f"({without})")
    for r in res:
        print(f"line {r['line']}: ", end="")
        _print_classification(r)
    return EXIT_FINDINGS if res else EXIT_OK


def _print_plan(p: dict) -> None:
    print(f"GGTT invalidation of {p['device']} ({p['id']}, {p['platform']}, {p['format']} PTEs)")
    print(f"  entries: {p['entries']} ({p['bytes']} bytes) through {p['method']}")
    print(f"  value: {p['value']:#x} - {p['why_zero']}")
    print(f"  then: {p['tlb_flush']}")
    print(f"  driver: {p['driver'] or 'none'}; holders: {'; '.join(p['holders']) or 'none'}")


def _root(args):
    from igdscope.sources.sysfs import Root

    return args.root if isinstance(args.root, Root) else Root(args.root)


def cmd_invalidate(args) -> int:
    from igdscope import outfile
    from igdscope.analysis import invalidate as gw

    root = _root(args)
    t = gw.target(root, args.device)
    p = gw.plan(t, args.method)
    backup = Path(args.backup) if args.backup else gw.default_backup(t)
    p["backup"] = str(backup)
    try:
        gw.check(t, args.ignore_open)
        outfile.check_target(backup, replace=False)
    except (gw.Refused, outfile.WriteRefused) as exc:
        if args.yes:
            raise
        p["refused"] = str(exc)
    if not args.yes:
        if args.json:
            print(json.dumps({"dry_run": True, **p}))
        else:
            _print_plan(p)
            print(f"  backup: {backup}")
            print(f"dry run: nothing written; --yes would be refused: {p['refused']}" if "refused" in p else "dry run: nothing written; add --yes to do it")
        return gw.Refused.exit_code if "refused" in p else EXIT_OK
    out = gw.invalidate(root, t, backup, args.method, gw.progress_bar() if not args.json else None, ignore_open=args.ignore_open)
    if out.backup:
        print(f"backup of {t.entries} entries written to {backup} (restore: igdscope gtt restore {backup})", file=sys.stderr)
    return _report(out, args.json, "invalidate")


def _report(out, as_json: bool, what: str) -> int:
    from igdscope.errors import EXIT_INTERRUPTED, EXIT_REFUSED

    doc = {"written": out.written, "verified": out.verified, "total": out.total, "interrupted": out.interrupted, "mismatches": out.mismatches[:64],
           "mismatch_count": len(out.mismatches), "tlb_flushed": out.flushed, "backup": out.backup, "nothing_to_do": out.nothing_to_do}
    if as_json:
        print(json.dumps(doc))
    elif out.nothing_to_do:
        print(f"every one of the {out.total} entries is already 0: nothing written, no backup made")
    elif out.interrupted and not out.written:
        print(f"interrupted by {out.interrupted} before any entry was written: the GGTT is as it was" + (f"; the backup {out.backup} is complete" if out.backup else ""))
    elif out.interrupted:
        print(f"interrupted by {out.interrupted} after {out.written} of {out.total} entries (all verified, TLBs flushed); restore with: igdscope gtt restore {out.backup}"
              if what == "invalidate" else f"interrupted by {out.interrupted} after {out.written} of {out.total} entries (verified, TLBs flushed); run the restore again to finish")
    elif out.mismatches:
        print(f"{len(out.mismatches)} entries did not read back as written (first: {out.mismatches[:8]}); restore with: igdscope gtt restore {out.backup}")
    else:
        print(f"wrote and verified {out.written} entries, flushed the GGTT TLBs" + (f"; backup: {out.backup}" if what == "invalidate" else f" from {out.backup}"))
    if out.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_REFUSED if out.mismatches else EXIT_OK


def cmd_restore(args) -> int:
    from igdscope.analysis import invalidate as gw

    device = gw.pci_address(args.device) if args.device else None
    out = gw.restore(_root(args), Path(args.backup_file), device, args.method, gw.progress_bar() if not args.json else None,
                     ignore_open=args.ignore_open, allow_other_boot=args.allow_other_boot)
    return _report(out, args.json, "restore")


# -- the watch's text lines -----------------------------------------------------------------------

RANGES_SHOWN = 8  # index ranges written out in a text line; the rest are counted


def ranges(runs: list[dict[str, int]], total: int, shown: int = RANGES_SHOWN) -> str:
    """``5-7, 1000, 4096-8191`` for at most ``shown`` runs, then how many more there are."""
    parts = [str(r["first"]) if r["entries"] == 1 else f"{r['first']}-{r['first'] + r['entries'] - 1}" for r in runs[:shown]]
    more = total - min(len(runs), shown)
    return ", ".join(parts) + (f" \u2026 and {more} more" if more > 0 else "")


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _pte(value: int, address: int, is_present: bool, size: int) -> str:
    return f"{value:#0{size * 2 + 2}x} ({address:#x}, {'present' if is_present else 'not present'})"


def watch_text(ev: dict[str, Any], size: int) -> list[str]:
    """The text lines of one event of ``gtt show --watch``; ``size`` is the PTE size in bytes."""
    kind = ev["event"]
    stamp = ev.get("time", "")[11:23]  # HH:MM:SS.mmm of the ISO time
    if kind == "start":
        what = f"entries {ev['first']}..{ev['first'] + ev['entries'] - 1}" if ev["first"] else f"{ev['entries']} entries"
        plat = f"{ev['platform']}, " if ev.get("platform") else ""
        return [f"watching the GGTT of {ev['device']} ({plat}{ev['format']} PTEs, {what}) every {ev['interval']:g} s through {ev['path']} (read-only); Ctrl-C stops"]
    if kind in ("change", "back"):
        n = ev["changed"]
        if kind == "back":
            head = f"{stamp}  device back; " + ("no entry differs from the last read before it went" if not n else f"{n} {'entry differs' if n == 1 else 'entries differ'} from the last read before it went: ")
        else:
            head = f"{stamp}  {n} {'entry' if n == 1 else 'entries'} changed: "
        lines = [head + (ranges(ev["runs"], ev["runs_total"]) if n else "")]
        width = max((len(str(e["index"])) for e in ev["entries"]), default=1)
        for e in ev["entries"]:
            lines.append(f"    entry {e['index']:>{width}}  {_pte(e['old'], e['old_address'], e['old_present'], size)} \u2192 {_pte(e['new'], e['new_address'], e['new_present'], size)}")
        return lines
    if kind == "gone":
        return [f"{stamp}  device gone: {ev['reason']}; polling until it returns"]
    if kind == "stop":
        why = {"SIGINT": "Ctrl-C", "SIGTERM": "SIGTERM", "count": "--count reached"}.get(ev["reason"], ev["reason"])
        return [f"stopped ({why}) after {_n(ev['ticks'], 'tick')} in {ev['seconds']:.1f} s: {_n(ev['changes'], 'change')} "
                f"({_n(ev['changed_entries'], 'entry', 'entries')}), slowest tick {ev['slowest_tick_ms']:.1f} ms, {_n(ev['overruns'], 'overrun')}"]
    return [str(ev)]
