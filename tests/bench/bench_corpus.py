"""Benchmark: decode all 40 corpus files in one process -- the 33 VBTs with every block, the 6 option
ROMs (image chain, and their VBT with every block) and the OpRegion (header, mailboxes, and its VBT
with every block) -- and report the time beside the bare interpreter's start-up (``python -c
pass``) measured in the same run, as a ratio. Target: decoding faster than start-up (ratio < 1).

Reported:
  python -c pass     median wall time of a fresh interpreter doing nothing (subprocess)
  import             importing what the decoders need, in this process (once, cold)
  first pass         the first decode of all files in this process (lazy imports, caches cold, and
                     the plain-data parsers generated from the schemas -- igdscope.plainparse -- made
                     as each schema is first met)
  warm pass          median of --runs further passes over the same bytes (files read once, before)

Every pass decodes every block the way ``igdscope show`` does: schema parse to plain data (through
the generated parsers, the interpreted construct parser wherever they give up), version gates,
block hooks. Nothing is kept between passes but the generated parsers and small per-value tables.
``--interpreted`` runs the same passes with construct's interpreted parsers only
(``IGDSCOPE_INTERPRETED=1``), for comparison.

Run: python tests/bench/bench_corpus.py [--runs N] [--corpus DIR] [--profile] [--interpreted]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SUFFIXES = (".vbt", ".rom", ".opregion")


def startup_time(runs: int) -> float:
    cmd = [sys.executable, "-c", "pass"]
    subprocess.run(cmd, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def decode_all(files: list[tuple[str, bytes]], formats, opregion) -> int:
    """Decode every file the way ``igdscope show`` would, plus the VBT inside ROMs and the OpRegion
    with all its blocks. Returns the number of VBT blocks decoded (a sanity figure)."""
    blocks = 0
    for name, data in files:
        if name.endswith(".vbt"):
            blocks += len(formats.vbt_decode(data)["blocks"])
        elif name.endswith(".rom"):
            formats.rom_summary(data)
            blocks += len(formats.vbt_decode(data)["blocks"])
        else:
            opregion.parse_opregion(data)
            raw, _ = opregion.vbt_bytes(data)
            blocks += len(formats.vbt_decode(raw)["blocks"])
    return blocks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="warm passes and python start-ups to take the median of")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--profile", action="store_true", help="print where a warm pass spends its time (cProfile)")
    ap.add_argument("--interpreted", action="store_true", help="construct's interpreted parsers only (no generated parsers)")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"bench_corpus: {args.corpus} is absent (the shared corpus is not part of the repository)", file=sys.stderr)
        return 2
    paths = sorted(p for p in args.corpus.iterdir() if p.suffix in SUFFIXES)
    files = [(p.name, p.read_bytes()) for p in paths]

    start = startup_time(args.runs)

    t0 = time.perf_counter()
    from igdscope import decode, formats
    from igdscope.schemas import opregion

    t_import = time.perf_counter() - t0
    if args.interpreted:
        decode.PLAIN_PARSERS = False

    t0 = time.perf_counter()
    blocks = decode_all(files, formats, opregion)
    t_first = time.perf_counter() - t0

    warm = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        decode_all(files, formats, opregion)
        warm.append(time.perf_counter() - t0)
    t_warm = statistics.median(warm)

    kinds = {s: sum(1 for n, _ in files if n.endswith(s)) for s in SUFFIXES}
    print(f"corpus: {len(files)} files ({kinds['.vbt']} VBT, {kinds['.rom']} ROM, {kinds['.opregion']} OpRegion), "
          f"{sum(len(d) for _, d in files)} bytes, {blocks} VBT blocks decoded per pass")
    generated = sum(1 for _, parse in decode._parsers.values() if parse is not None)
    print(f"parsers: {'interpreted only' if not decode.PLAIN_PARSERS else f'{generated} schemas with a generated parser'}")
    print(f"{'case':<16} {'seconds':>9} {'x start-up':>11} {'per file ms':>12}")
    for name, t in (("python -c pass", start), ("import", t_import), ("first pass", t_first), ("warm pass", t_warm)):
        print(f"{name:<16} {t:9.3f} {t / start:11.2f} {t / len(files) * 1000:12.2f}")
    ratio = t_warm / start
    print(f"target: decoding all files faster than start-up (warm ratio < 1): {'met' if ratio < 1 else 'NOT met'} (warm {ratio:.2f}, first {t_first / start:.2f})")

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        decode_all(files, formats, opregion)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
