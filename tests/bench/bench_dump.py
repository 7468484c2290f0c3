"""Benchmark: `igdscope dump --json --demo` as a whole process (target: median <= 0.35 s on the
2-core development machine), reported beside baselines measured in the same run:

  python        the bare interpreter start (python -c pass)
  imports       python importing the library a dump needs (construct)

The ratios say how much igdscope's own work costs over those, whatever the machine's speed.
Run: python tests/bench/bench_dump.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_S = 0.35


def median_time(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    cases = {
        "python": [py, "-c", "pass"],
        "imports": [py, "-c", "import construct"],
        "dump --json --demo": [py, "-m", "igdscope", "dump", "--json", "--demo"],
        "show demo capture": None,
    }
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        subprocess.run([py, "-m", "igdscope", "dump", "--demo", "-o", tmp.name], check=True, stdout=subprocess.DEVNULL)
        cases["show demo capture"] = [py, "-m", "igdscope", "show", tmp.name]
        for cmd in cases.values():  # warm the page cache
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = {name: median_time(cmd, args.runs) for name, cmd in cases.items()}
    base = res["python"]
    print(f"{'case':<22} {'median s':>9} {'x python':>9} {'x imports':>10}")
    for name, t in res.items():
        print(f"{name:<22} {t:9.3f} {t / base:9.2f} {t / res['imports']:10.2f}")
    ok = res["dump --json --demo"] <= TARGET_S
    print(f"target: dump --json --demo <= {TARGET_S} s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
