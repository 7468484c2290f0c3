"""Benchmark: binary all 40 corpus files in one process -- the 33 VBTs with every block, the 6 option
ROMs (image chain, and their VBT with every block) and the OpRegion (header, mailboxes, and its VBT
with every block) -- and report the time beside start-ups measured in the same run, as ratios.

Target: decoding all 40 files in one process takes less than that process's start-up (ratio < 1).
A fresh interpreter is started that imports the decoders, then reads and decodes every file once;
the decoding (reading included, caches cold) is timed inside it, its start-up is the rest of its
wall time. The same ratio is given against the other start-ups below, for comparison.

Reported:
  one process        median wall time of the process the target is about (subprocess): a fresh
                     interpreter that imports the decoders, then reads and decodes all files once
    start-up         its wall time less the decoding: the start-up the target is measured against
    decoding         reading and decoding all files, first pass, timed inside that process
  python -c pass     median wall time of a fresh interpreter doing nothing (subprocess)
  bare interpreter   the same with ``-I -S`` (no site module, no .pth files, no editable-install
                     finder): what the interpreter itself costs, whatever environment it runs in
  tool start-up      median wall time of a fresh interpreter that imports the decoders and exits
                     (subprocess): the one-process start-up measured on its own, as a check
  import             importing the decoders (the modules of the tool start-up line: the schemas of
                     the VBT blocks, OpRegion and ROM), in this process (once, cold)
  first pass         the first binary of all files in this process (caches cold; the plain-data
                     parsers come from the shipped module igdscope/binary/_plain_generated.py, loaded at
                     the first binary, or with --generate are generated from the schemas as each is
                     first met)
  warm pass          median of --runs further passes over the same bytes (files read once, before)

Every pass decodes every block the way ``igdscope show`` does: schema parse to plain data (through
the generated parsers, the interpreted construct parser wherever they give up), version gates,
block hooks. Nothing is kept between passes but the generated parsers and small per-value tables.
``--interpreted`` runs the same passes with construct's interpreted parsers only
(``IGDSCOPE_INTERPRETED=1``), ``--generate`` generates the parsers at runtime instead of loading the
shipped ones, for comparison.

Also reported, as a floor: how long straight-line Python takes to build exactly the objects one
pass returns (their repr compiled once, then evaluated) -- the cost of the output itself, with no
decoding; the warm pass minus the floor is what reading, checking and interpreting cost.

Run: python tests/bench/bench_corpus.py [--runs N] [--corpus DIR] [--profile] [--interpreted] [--generate]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.shared import CORPUS

SUFFIXES = (".vbt", ".rom", ".opregion")


DECODER_IMPORTS = "import igdscope.decode.firmware, igdscope.schemas.opregion, igdscope.schemas.vbt"


def startup_time(runs: int, code: str = "pass", flags: tuple[str, ...] = ()) -> float:
    cmd = [sys.executable, *flags, "-c", code]
    subprocess.run(cmd, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_process(runs: int, paths: list[Path], setup: tuple[str, ...] = ()) -> tuple[float, float, float]:
    """Median (wall, start-up, decoding) seconds of a fresh process that imports the decoders, then
    reads and decodes every file in ``paths`` once with :func:`decode_all` (its source is handed to
    the child, so the child imports nothing the tool would not; ``setup`` are lines it runs first).
    Decoding is timed in the child; start-up is the wall time less the decoding."""
    code = "\n".join([
        "import sys, time",
        DECODER_IMPORTS,
        "from igdscope.decode import firmware",
        "from igdscope.schemas import opregion",
        *setup,
        inspect.getsource(decode_all),
        "t0 = time.perf_counter()",
        "files = [(p, open(p, 'rb').read()) for p in sys.argv[1:]]",
        "decode_all(files, firmware, opregion)",
        "print(time.perf_counter() - t0)",
    ])
    cmd = [sys.executable, "-c", code, *map(str, paths)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
    walls, decodes = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        walls.append(time.perf_counter() - t0)
        decodes.append(float(out))
    startups = [w - d for w, d in zip(walls, decodes)]
    return statistics.median(walls), statistics.median(startups), statistics.median(decodes)


def decode_all(files: list[tuple[str, bytes]], firmware, opregion, keep: list | None = None) -> int:
    """Decode every file the way ``igdscope show`` would, plus the VBT inside ROMs and the OpRegion
    with all its blocks. Returns the number of VBT blocks decoded (a sanity figure); ``keep``
    collects the results."""
    blocks = 0
    out = keep if keep is not None else []
    for name, data in files:
        if name.endswith(".vbt"):
            out.append(firmware.vbt_decode(data))
        elif name.endswith(".rom"):
            out.append(firmware.rom_summary(data))
            out.append(firmware.vbt_decode(data))
        else:
            out.append(opregion.parse_opregion(data))
            raw, _ = opregion.vbt_bytes(data)
            out.append(firmware.vbt_decode(raw))
        blocks += len(out[-1]["blocks"])
        if keep is None:
            out.clear()
    return blocks


def output_floor(results: list, runs: int) -> tuple[float, int]:
    """Seconds straight-line Python takes to build exactly these objects (each result's repr
    compiled once, then evaluated: dict and list displays of constants, no decoding at all), and
    how many objects there are. What any decoder returning this output must spend at least."""
    count = 0

    def plain(o):
        nonlocal count
        count += 1
        if isinstance(o, dict):
            return {str(k): plain(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [plain(v) for v in o]
        if isinstance(o, (bytes, bytearray, memoryview)):
            return bytes(o)
        if isinstance(o, bool) or o is None:
            return o
        for kind in (int, float, str):
            if isinstance(o, kind):
                return kind(o)
        return repr(o)  # anything else: a string stands for it

    codes = [compile(repr(plain(r)), "<output>", "eval") for r in results]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for code in codes:
            eval(code)  # noqa: S307 -- our own repr
        times.append(time.perf_counter() - t0)
    return statistics.median(times), count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="warm passes and python start-ups to take the median of")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--profile", action="store_true", help="print where a warm pass spends its time (cProfile)")
    ap.add_argument("--interpreted", action="store_true", help="construct's interpreted parsers only (no generated parsers)")
    ap.add_argument("--generate", action="store_true", help="generate the parsers at runtime (ignore the shipped module)")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"bench_corpus: {args.corpus} is absent (the shared corpus is not part of the repository)", file=sys.stderr)
        return 2
    paths = sorted(p for p in args.corpus.iterdir() if p.suffix in SUFFIXES)
    files = [(p.name, p.read_bytes()) for p in paths]

    setup = []
    if args.interpreted:
        setup.append("from igdscope import binary; binary.PLAIN_PARSERS = False")
    if args.generate:
        setup.append("from igdscope import plainparse; plainparse.USE_PRECOMPILED = False")
    wall, own_start, own_decode = one_process(args.runs, paths, tuple(setup))
    start = startup_time(args.runs)
    bare = startup_time(args.runs, flags=("-I", "-S"))
    tool_start = startup_time(args.runs, DECODER_IMPORTS)

    t0 = time.perf_counter()
    import igdscope.schemas.vbt  # noqa: F401 -- with every block module (DECODER_IMPORTS)
    from igdscope import binary
    from igdscope.binary import plainparse
    from igdscope.decode import firmware
    from igdscope.schemas import opregion

    t_import = time.perf_counter() - t0
    if args.interpreted:
        binary.PLAIN_PARSERS = False
    if args.generate:
        plainparse.USE_PRECOMPILED = False

    t0 = time.perf_counter()
    blocks = decode_all(files, firmware, opregion)
    t_first = time.perf_counter() - t0

    warm = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        decode_all(files, firmware, opregion)
        warm.append(time.perf_counter() - t0)
    t_warm = statistics.median(warm)
    results: list = []
    decode_all(files, firmware, opregion, results)
    t_floor, objects = output_floor(results, args.runs)

    kinds = {s: sum(1 for n, _ in files if n.endswith(s)) for s in SUFFIXES}
    print(f"corpus: {len(files)} files ({kinds['.vbt']} VBT, {kinds['.rom']} ROM, {kinds['.opregion']} OpRegion), "
          f"{sum(len(d) for _, d in files)} bytes, {blocks} VBT blocks decoded per pass")
    generated = sum(1 for _, parse in binary._parsers.values() if parse is not None)
    origin = "generated at runtime" if not plainparse.USE_PRECOMPILED else "shipped (igdscope/binary/_plain_generated.py)"
    print(f"parsers: {'interpreted only' if not binary.PLAIN_PARSERS else f'{generated} schemas with a generated parser, {origin}'}")
    print(f"output of one pass: {objects} Python objects (dicts, lists, values)")
    print(f"{'case':<16} {'seconds':>9} {'x start-up':>11} {'per file ms':>12}")
    for name, t in (("one process", wall), ("  start-up", own_start), ("  decoding", own_decode), ("python -c pass", start),
                    ("bare interpreter", bare), ("tool start-up", tool_start), ("import", t_import), ("first pass", t_first),
                    ("warm pass", t_warm), ("output floor", t_floor)):
        print(f"{name:<16} {t:9.3f} {t / own_start:11.2f} {t / len(files) * 1000:12.2f}")
    ratio = own_decode / own_start
    print(f"target: decoding all files in one process takes less than its start-up (ratio < 1): {'met' if ratio < 1 else 'NOT met'} "
          f"(decoding {ratio:.2f}x the start-up of the process that decodes)")
    for name, base in (("tool start-up measured on its own", tool_start), ("python -c pass", start), ("bare interpreter (-I -S)", bare)):
        print(f"beside {name}: first pass {t_first / base:.2f}, warm pass {t_warm / base:.2f}")
    print(f"building one pass's output alone (the output floor, no decoding) takes {t_floor / bare:.2f}x the bare interpreter's start-up")

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        decode_all(files, firmware, opregion)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
