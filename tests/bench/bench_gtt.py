"""Benchmark: the full-speed GGTT path on a full gen8+ table (1,048,576 entries, 8 MiB), as
ratios against baselines measured in the same process:

  copy 8 MiB            np.copy of the table's bytes (the memory-bandwidth floor)
  decode + analysis     igdscope.gtt.summary (present, scratch, runs, stolen entries)   target <= 15x copy
                        on the demo host's table (mostly scratch) and on a fully mapped one
  full decode           igdscope.gtt.decode_table (every field of every entry)
  construct per entry   schemas.gtt.parse_pte on a sample, scaled to the table           expect >= 1000x slower
  re-read + changes     mmap read of resource0's GTT half from a file + gtt.changed      target <= 30 ms
  watch tick            one tick of 'gtt show --watch' (the same read, kept mapped,      target <= 30 ms
                        compared with the last; one entry changed per tick)               (a 10 Hz watch)
  peak extra memory     tracemalloc over a full decode                                    target <= 64 MiB
                        and over the summary (decode + analysis)

Run: python tests/bench/bench_gtt.py [--runs N]
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from igdscope.decode import gtt
from igdscope.sources import gttwatch
from igdscope.schemas import gtt as G
from igdscope.sources import demo, live
from igdscope.sources.sysfs import Root


def median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    fmt = G.FORMATS["gen8"]
    data = demo.gtt()
    raw = np.frombuffer(data, dtype=np.uint8)
    copy = median(lambda: raw.copy(), args.runs)
    analysis = median(lambda: gtt.summary(data, fmt, dsm=(demo.BDSM, demo.DSM)), args.runs)
    full = median(lambda: gtt.decode_table(data, fmt), max(5, args.runs // 3))
    rng = np.random.default_rng(1)  # worst case: every entry a distinct mapped page
    dense = ((rng.integers(0x100000, 0x400000, size=len(data) // 8, dtype=np.uint64) << np.uint64(12)) | np.uint64(1)).astype("<u8").tobytes()
    dense_analysis = median(lambda: gtt.summary(dense, fmt, dsm=(demo.BDSM, demo.DSM)), args.runs)
    sample = memoryview(data).cast("Q")[:: 1024].tolist()
    t = time.perf_counter()
    for v in sample:
        G.parse_pte(v, fmt)
    per_entry = (time.perf_counter() - t) / len(sample)
    construct_full = per_entry * (len(data) // 8)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "resource0")
        with open(path, "wb") as fh:
            fh.truncate(16 << 20)
            fh.seek(8 << 20)
            fh.write(data)
        fd = os.open(path, os.O_RDONLY)
        mm = mmap.mmap(fd, 8 << 20, mmap.MAP_SHARED, mmap.PROT_READ, offset=8 << 20)

        def reread():
            new = np.frombuffer(mm, dtype="<u4").copy().tobytes()
            return gtt.changed(data, new, fmt)

        rr = median(reread, args.runs)
        mm.close()
        os.close(fd)
        site = live.GttSite("bench", 0x3E92, "resource0", 8 << 20, 8 << 20, 8)
        events = []
        w = gttwatch.Watch(Root(d), site, fmt, 0.1, events.append)
        w.begin()
        wfd = os.open(path, os.O_WRONLY)
        flip = [0]

        def tick():
            flip[0] ^= 1
            os.pwrite(wfd, (flip[0] | 0x1000).to_bytes(8, "little"), (8 << 20) + 12345 * 8)
            w.tick()

        wt = median(tick, args.runs)
        os.close(wfd)
        w._close()
        assert len(events) == args.runs and all(e["changed"] == 1 for e in events)
    tracemalloc.start()
    gtt.decode_table(data, fmt)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    gtt.summary(dense, fmt, dsm=(demo.BDSM, demo.DSM))
    peak_summary = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{'case':<26} {'median ms':>10} {'x copy':>8}")
    print(f"{'copy 8 MiB':<26} {copy * 1e3:10.2f} {1:8.1f}")
    print(f"{'decode + analysis':<26} {analysis * 1e3:10.2f} {analysis / copy:8.1f}   target <= 15x: {'met' if analysis / copy <= 15 else 'NOT met'}")
    print(f"{'  same, every entry mapped':<26} {dense_analysis * 1e3:10.2f} {dense_analysis / copy:8.1f}   (worst case)")
    print(f"{'full decode (all fields)':<26} {full * 1e3:10.2f} {full / copy:8.1f}")
    print(f"{'construct, whole table':<26} {construct_full * 1e3:10.0f} {construct_full / copy:8.0f}   fast path is {construct_full / full:.0f}x faster (full decode), {construct_full / analysis:.0f}x (analysis); expect >= 1000x")
    print(f"{'re-read + changes':<26} {rr * 1e3:10.2f} {rr / copy:8.1f}   target <= 30 ms: {'met' if rr <= 0.030 else 'NOT met'}")
    print(f"{'watch tick':<26} {wt * 1e3:10.2f} {wt / copy:8.1f}   target <= 30 ms: {'met' if wt <= 0.030 else 'NOT met'}")
    print(f"{'peak extra memory':<26} {peak / (1 << 20):9.1f}M {'':>8}   target <= 64 MiB: {'met' if peak <= 64 << 20 else 'NOT met'}")
    print(f"{'  during the dense summary':<26} {peak_summary / (1 << 20):9.1f}M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
