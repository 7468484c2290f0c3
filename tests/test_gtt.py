"""GGTT PTE formats, the full-speed decoder (checked against construct's own parse), summaries and
DMAR fault lines from real logs (the write path: tests/test_gtt_write.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from igdscope.analysis import dmar
from igdscope.decode import gtt as gttmod
from igdscope.schemas import gtt as G
from igdscope.sources import demo

FORMATS = sorted(G.FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_bit_fields_cover_every_bit_once(name):
    fmt = G.FORMATS[name]
    fields = G.bit_fields(fmt)
    covered = 0
    for _, hi, lo in fields:
        m = ((1 << (hi - lo + 1)) - 1) << lo
        assert covered & m == 0
        covered |= m
    assert covered == (1 << (fmt.size * 8)) - 1


def test_known_layouts():
    assert dict((n, (h, lo)) for n, h, lo in G.bit_fields(G.FORMATS["gen8"]))["addr"] == (45, 12)
    assert dict((n, (h, lo)) for n, h, lo in G.bit_fields(G.FORMATS["hsw"]))["addr_hi"] == (10, 4)
    assert dict((n, (h, lo)) for n, h, lo in G.bit_fields(G.FORMATS["mtl"]))["pat1"] == (53, 53)
    # gen6: PA[39:32] in PTE bits 11:4 (i915: pte[11:4] = pa >> 32)
    v = G.build_pte(G.FORMATS["gen6"], 0xAB_1234_5000, valid=1, cache=2)
    assert v == 0x12345000 | (0xAB << 4) | (2 << 1) | 1
    assert G.parse_pte(v, G.FORMATS["gen6"])["address"] == 0xAB_1234_5000
    hsw = G.build_pte(G.FORMATS["hsw"], 0x7F_0000_1000, valid=1, cache_hi=1)
    assert hsw == 0x1000 | (0x7F << 4) | (1 << 11) | 1
    with pytest.raises(ValueError):
        G.build_pte(G.FORMATS["hsw"], 0x80_0000_0000)  # 39 bits only
    assert G.build_pte(G.FORMATS["mtl"], 0x8000, present=1, pat0=1, pat1=1, dm=1) == 0x8000 | (3 << 52) | 3


def _check_rows(fmt, values):
    data = np.array(values, dtype="<u8" if fmt.size == 8 else "<u4").tobytes()
    t = gttmod.decode_table(data, fmt)
    for i, v in enumerate(values):
        slow = G.parse_pte(v, fmt)
        assert int(t["address"][i]) == slow["address"]
        assert bool(gttmod.present(t["raw"][i : i + 1], fmt)[0]) == slow["is_present"]
        for name, _, _ in G.bit_fields(fmt):
            assert int(t[name][i]) == int(slow[name]), name


@pytest.mark.parametrize("name", FORMATS)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_fast_path_agrees_with_construct(name, data):
    fmt = G.FORMATS[name]
    bits = fmt.size * 8
    random_values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=64))
    max_addr = {"gen6": 1 << 40, "hsw": 1 << 39, "gen8": 1 << 46, "mtl": 1 << 46}[name]
    realistic = [G.build_pte(fmt, a << 12, **{fmt.present: 1}) for a in data.draw(st.lists(st.integers(0, (max_addr >> 12) - 1), min_size=1, max_size=32))]
    _check_rows(fmt, random_values + realistic)


def test_demo_table_summary():
    data = demo.gtt()
    fmt = G.FORMATS["gen8"]
    s = gttmod.summary(data, fmt, dsm=(demo.BDSM, demo.DSM))
    assert s["entries"] == 1 << 20 and s["present"] == 1 << 20
    assert s["scratch_value"] == demo.HOST_SCRATCH | 1
    fb_pages = 1920 * 1080 * 4 // 4096 + 1
    assert s["largest_runs"][0] == {"first": 0, "entries": fb_pages, "address": demo.BDSM}
    assert s["largest_runs"][1] == {"first": 4096, "entries": 512, "address": 0x24A100000}
    # independent count of entries in stolen memory, plain Python over the raw values
    vals = memoryview(data).cast("Q").tolist()
    expect = sum(1 for v in vals if v != demo.HOST_SCRATCH | 1 and v & 1 and demo.BDSM <= (v & 0x3FFFFFFFF000) < demo.BDSM + demo.DSM)
    assert s["stolen"]["entries"] == expect
    assert s["scratch_entries"] + s["mapped_entries"] == s["present"]


def test_summary_of_a_table_without_a_whole_entry(tmp_path, capsys):
    fmt = G.FORMATS["gen8"]
    s = gttmod.summary(b"\x01\x02\x03", fmt, dsm=(demo.BDSM, demo.DSM))
    assert s == {**gttmod.summary(bytes(8), fmt, dsm=(demo.BDSM, demo.DSM)), "entries": 0, "aperture_bytes": 0, "empty_entries": 0, "most_common_value": None, "most_common_count": 0}
    assert s["stolen"] == {"base": demo.BDSM, "size": demo.DSM, "entries": 0, "runs": []}
    # `gtt show --summary` of a file holding 3 bytes (a GGTT cut short) prints the empty table
    from igdscope.cli.main import main

    raw = tmp_path / "gtt.bin"
    raw.write_bytes(b"\x01\x02\x03")
    assert main(["gtt", "show", "--file", str(raw), "--platform", "CFL", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "GGTT: 0 entries of 8 bytes" in out and "present 0, not present 0" in out


def test_changed_and_entries_mapping():
    fmt = G.FORMATS["gen8"]
    a = demo.gtt()
    b = bytearray(a)
    for i in (5, 6, 7, 1000):
        b[i * 8 : i * 8 + 8] = (0).to_bytes(8, "little")
    c = gttmod.changed(a, bytes(b), fmt)
    assert c["changed"] == 4 and c["runs"][0] == {"first": 5, "entries": 3} and c["indices"] == [5, 6, 7, 1000]
    assert gttmod.entries_mapping(a, fmt, demo.BDSM + 3 * 4096 + 0x10) == [3]


# -- DMAR fault lines from real logs -----------------------------------------------------------------

EXPECTED_FAULTS = {
    "doc-example_linux-intel-iommu-rst.txt": [("write", 0x6DF084000, 0x05)] * 2,
    "gen12-adlp_dasharo-641-nv41.txt": [("read", 0x7CD80000, 0x01), ("read", 0x7CD87000, 0x01)],
    "gen12-adls_intel-gfx-dma-mask-39bit.txt": [("write", 0x7EFFFF9000, 0x05)],  # wrapped after "fault addr"
    "gen12-tgl_sof-test-744.txt": [("read", 0x70AD5000, 0x07), ("read", 0x7C346000, 0x06)],  # [0x00:0x02.0]
    "gen9-glk_intel-gfx-ci-shard.txt": [("read", 0xFA700000, 0x06), ("read", 0xFA70E000, 0x06), ("read", 0xFA700000, 0x06)],
    "gen9-skl-32bit_lkml-iommu-dma-domain.txt": [("read", 0x8900A000, 0x05)],
    "gen9-skl_i915ovmfpkg-16-hd530-vm-start.txt": [("write", 0x0, 0x02), ("read", 0xB4000000, 0x06), ("read", 0xB403D000, 0x06)],
    "gen9-skl_rikka0w0-uefi-wip.txt": [("write", 0x0, 0x02), ("read", 0x98000000, 0x06), ("read", 0x9803E000, 0x06)],
    "gen9.5-cfl_xiongyw-elitedesk-vm-start.txt": [],
    "multi-gen_lkml-pci-remove.txt": [("write", 0x4B822000, 0x02)],  # mail-quoted
    "unknown-gen_intel-gfx-async-flip.txt": [("read", 0x0, 0x06)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAULTS))
def test_real_fault_logs(shared_dir, name):
    path = shared_dir / "world" / "dmesg" / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    faults = dmar.parse(path.read_text())
    assert [(f.access, f.address, f.reason) for f in faults] == EXPECTED_FAULTS[name]
    assert all(f.requester == "0000:00:02.0" for f in faults)
    assert all(f.reason_text for f in faults)


def test_every_log_file_has_expectations(shared_dir):
    d = shared_dir / "world" / "dmesg"
    assert {p.name for p in d.glob("*.txt")} <= set(EXPECTED_FAULTS)


def test_fault_line_forms():
    lines = [
        "Nov 23 12:00:01 pve kernel: DMAR: [DMA Read] Request device [0000:00:02.0] PASID ffffffff fault addr 8b803000 [fault reason 06] PTE Read access is not set",
        "<3>[  1.0] DMAR: [DMA Write NO_PASID] Request device [00:1f.3] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set",
        "DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 0x8 [fault reason 0x25] Blocked a compatibility format interrupt request",
    ]
    f = dmar.parse("\n".join(lines))
    assert [(x.access, x.requester, x.address, x.reason) for x in f] == [("read", "0000:00:02.0", 0x8B803000, 6), ("write", "0000:00:1f.3", 0x1000, 5), ("interrupt remapping", "0000:f0:1f.0", 0x8, 0x25)]
    assert dmar.parse_address("0x8b803000") == 0x8B803000 and dmar.parse_address(lines[0]) == 0x8B803000
    with pytest.raises(ValueError):
        dmar.parse_address("nonsense")


def test_fault_parse_is_linear_in_a_hostile_line():
    # "DMAR:[DMA Read" over and over with no closing bracket: every start used to scan to the end
    # of the line (20000 repeats, 280 KB: most of a minute); real bracket tags are a few characters
    import time

    line = "DMAR:[DMA Read" * 20000 + " Request device [00:02.0] fault addr 1000"
    t0 = time.perf_counter()
    assert dmar.parse(line) == []
    assert dmar.parse(line + "\nDMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x2000")[0].pasid == "NO_PASID"
    assert time.perf_counter() - t0 < 5


def test_classify_against_the_demo_host():
    where = dmar.Landscape("host", (demo.BDSM, demo.DSM), (demo.BGSM, demo.GSM), demo.TOLUD, (("BAR0", demo.HOST_BAR0, 16 << 20),), demo.gtt(), G.FORMATS["gen8"])
    r = dmar.classify(demo.BDSM + 0x3010, where, 6)
    assert r["regions"][0]["name"].startswith("data stolen memory") and r["regions"][0]["offset"] == 0x3010
    assert r["gtt_entries"] == [{"index": 3, "graphics_address": 0x3000}]
    assert any("invalidate the GGTT" in m for m in r["meaning"]) and any("not mapped" in m for m in r["meaning"])
    r = dmar.classify(demo.BGSM + 0x100, where)
    assert r["regions"][0]["name"] == "GTT stolen memory (GSM)"
    r = dmar.classify(0x0, where, 2)
    assert any("address 0" in m for m in r["meaning"]) and any("context entry" in m for m in r["meaning"])
    r = dmar.classify(0x7_0000_0000, where)
    assert r["regions"] == [{"name": "outside stolen memory and the captured GGTT (above TOLUD)"}]
    # a log line (or a typo) with more than 16 hex digits: no PTE maps it, nothing to overflow
    wide = (1 << 64) + demo.BDSM + 0x3000
    assert gttmod.entries_mapping(demo.gtt(), G.FORMATS["gen8"], wide) == []
    r = dmar.classify(wide, where, 6)
    assert r["gtt_entries"] == [] and r["regions"] == [{"name": "outside stolen memory and the captured GGTT (above TOLUD)"}]


def test_fault_address_wider_than_64_bits_from_a_log(tmp_path, monkeypatch, capsys):
    import io

    from igdscope.cli.main import main

    cap = tmp_path / "host.json"
    cap.write_text(demo.host_capture().to_json())
    wide = (1 << 64) + demo.BDSM + 0x3000
    line = f"DMAR: [DMA Read] Request device [00:02.0] fault addr {wide:x} [fault reason 06] PTE Read access is not set\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(line))
    assert main(["gtt", "faults", str(cap), "--json"]) == 1
    (f,) = json.loads(capsys.readouterr().out)["faults"]
    assert f["address"] == wide and f["where"]["gtt_entries"] == [] and f["where"]["regions"][0]["name"].startswith("outside stolen memory")
    assert main(["gtt", "fault", hex(wide), str(cap)]) == 0
    assert capsys.readouterr().out.startswith(f"access of {wide:#x} by 0000:00:02.0\n  in: outside stolen memory")


def _cli(*args, stdin=None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "igdscope", *args], capture_output=True, text=True, input=stdin, timeout=120)


def test_cli_gtt_commands(tmp_path, shared_dir):
    cap = tmp_path / "host.json"
    assert _cli("dump", "--demo", "-o", str(cap)).returncode == 0
    r = _cli("gtt", "show", str(cap), "--summary", "--json")
    s = json.loads(r.stdout)
    assert r.returncode == 0 and s["scratch_value"] == demo.HOST_SCRATCH | 1 and s["stolen"]["base"] == demo.BDSM
    r = _cli("gtt", "show", str(cap), "--range", "0:4", "--json")
    rows = json.loads(r.stdout)["entries"]
    assert [e["address"] for e in rows] == [demo.BDSM + i * 4096 for i in range(4)] and all(e["present"] == 1 for e in rows)
    r = _cli("gtt", "fault", f"{demo.BDSM + 0x2000:#x}", str(cap), "--json")
    assert json.loads(r.stdout)["where"]["gtt_entries"][0]["index"] == 2
    log = (shared_dir / "world" / "dmesg" / "gen9-glk_intel-gfx-ci-shard.txt").read_text()
    r = _cli("gtt", "faults", str(cap), "--json", stdin=log)
    assert r.returncode == 1 and [f["address"] for f in json.loads(r.stdout)["faults"]] == [0xFA700000, 0xFA70E000, 0xFA700000]
    r = _cli("gtt", "faults", str(cap), stdin="nothing here\n")
    assert r.returncode == 0 and "no DMAR faults" in r.stdout
    raw = tmp_path / "gtt.bin"
    raw.write_bytes(demo.gtt()[: 64 * 8])
    r = _cli("gtt", "show", "--file", str(raw))
    assert r.returncode == 3 and "--platform" in r.stderr
    r = _cli("gtt", "show", "--file", str(raw), "--platform", "CFL", "--range", "0:2")
    assert r.returncode == 0 and "0x000000008b800001" in r.stdout and "0x8b800000" in r.stdout


def _plain_summary(vals: list[int], fmt_name: str, dsm, max_runs: int) -> dict:
    """The GGTT summary computed entry by entry in plain Python, from the PTE layouts as the
    datasheets give them (gen8: present bit 0, address bits 45:12; gen6: valid bit 0, PA 31:12 in
    bits 31:12 and PA 39:32 in bits 11:4)."""
    from collections import Counter

    if fmt_name == "gen8":
        size, address = 8, (lambda v: v & 0x3FFF_FFFF_F000)
    else:
        size, address = 4, (lambda v: (v & 0xFFFF_F000) | (((v >> 4) & 0xFF) << 32))
    n = len(vals)
    sample = Counter(vals[:: max(1, n // 4096)])
    best = max(sample.values())
    candidate = min(v for v, c in sample.items() if c == best)  # the sample's most common, lowest first
    count = vals.count(candidate)
    scratch = candidate if count > 1 and candidate != 0 else None
    mapped = [bool(v & 1) and v != scratch for v in vals]
    runs: list[list[int]] = []  # [first, entries, address]
    for i, v in enumerate(vals):
        if not mapped[i]:
            continue
        last = runs[-1] if runs else None
        if last and last[0] + last[1] == i and last[2] + last[1] * 4096 == address(v):
            last[1] += 1
        else:
            runs.append([i, 1, address(v)])

    def index_runs(hits: list[bool]) -> list[dict]:
        out: list[dict] = []
        for i, h in enumerate(hits):
            if h and out and out[-1]["first"] + out[-1]["entries"] == i:
                out[-1]["entries"] += 1
            elif h:
                out.append({"first": i, "entries": 1})
        return out[:max_runs]

    n_present = sum(1 for v in vals if v & 1)
    s = {
        "format": fmt_name, "entries": n, "pte_size": size, "aperture_bytes": n * 4096,
        "present": n_present, "most_common_value": candidate, "most_common_count": count,
        "scratch_value": scratch, "scratch_entries": count if scratch is not None else 0,
        "mapped_entries": sum(mapped), "occupancy": round(sum(mapped) / n, 6), "empty_entries": n - n_present,
        "mapped_runs": len(runs),
        "largest_runs": [{"first": f, "entries": k, "address": a} for f, k, a in sorted(runs, key=lambda r: (-r[1], r[0]))[:max_runs]],
        "scratch_runs": index_runs([v == scratch for v in vals]) if scratch is not None else [],
    }
    if dsm is not None:
        base, length = dsm
        hits = [m and base <= address(v) < base + length for m, v in zip(mapped, vals)]
        s["stolen"] = {"base": base, "size": length, "entries": sum(hits), "runs": index_runs(hits)}
    return s


def _table(rng, n: int, density: float, *, fmt_name: str = "gen8", scratch: int = 0x7000 | 1, runs: int = 30) -> list[int]:
    """``n`` entries: the scratch value, mapped pages (contiguous stretches of ``runs`` pages among
    random ones, flags varying), and a few not present."""
    vals = np.full(n, scratch, dtype=np.uint64)
    mapped = rng.random(n) < density
    page = rng.integers(0x100, 0x80000, size=n).astype(np.uint64)
    for s in range(0, n - runs, 997):
        page[s : s + runs] = page[s] + np.arange(runs, dtype=np.uint64)
    pte = page << np.uint64(12) | np.uint64(1)
    if fmt_name == "gen8":
        pte |= rng.integers(0, 2, size=n).astype(np.uint64) << np.uint64(1)  # lm: not part of the address
    else:
        pte = (pte & np.uint64(0xFFFFF001)) | (((page >> np.uint64(20)) & np.uint64(0xFF)) << np.uint64(4))
    vals[mapped] = pte[mapped]
    vals[rng.random(n) < 0.01] = 0
    return [int(v) for v in vals]


def _few_runs(rng) -> list[int]:
    vals = [0x7001] * 3000
    for first, k in ((40, 9), (90, 7), (200, 51), (700, 2), (2990, 10)):
        for j in range(k):
            vals[first + j] = ((0x5000 + first + j) << 12) | 1
    vals[97] = (0x5000 + 97) << 12  # would continue 90..96, not present
    vals[699] = (0x5000 + 699) << 12  # would lead into 700..701, not present
    vals[198] = 0x6001  # the page just below the scratch page, then the scratch page (entry 199)
    for i in range(1000, 3000, 37):  # single pages, never contiguous with a neighbour
        vals[i] = ((0x90000 + 2 * i) << 12) | 1
    return vals


SUMMARY_CASES = {
    # name: (entries, builder)
    "sparse": (20000, lambda rng: _table(rng, 20000, 0.02)),
    "dense": (20000, lambda rng: _table(rng, 20000, 0.97)),
    "gen6": (9000, lambda rng: _table(rng, 9000, 0.6, fmt_name="gen6", scratch=0x3000 | 1)),
    "zeros": (5000, lambda rng: [0 if x == (0x7000 | 1) else x for x in _table(rng, 5000, 0.3)]),
    # every entry a distinct page, one contiguous mapping broken in a few places: no scratch value
    "distinct": (7000, lambda rng: [((0x1000 + i + (i > 128) * 0x100 + (i > 4000) * 0x100) << 12) | 1 for i in range(7000)]),
    # distinct entries but for one value held twice: the sample sees it once, the table twice
    "one pair": (9000, lambda rng: [((0x1000 + 2 * i) << 12) | 1 for i in range(8999)] + [(0x1000 << 12) | 1]),
    "all scratch": (3000, lambda rng: [0x7001] * 3000),
    # a few runs (fewer than the listed maximum, so single entries are listed too), ending on block
    # starts (with blocks of 48) and followed by an entry whose address would continue them but
    # that is not present or is the scratch page
    "few runs": (3000, _few_runs),
    "tiny": (3, lambda rng: [0x5001, 0x6001, 0]),
}


@pytest.mark.parametrize("chunk", [48, 1 << 16], ids=["small blocks", "default blocks"])
@pytest.mark.parametrize("case", sorted(SUMMARY_CASES))
def test_summary_matches_a_plain_computation(case, chunk, monkeypatch):
    """Every field of the summary against an entry-by-entry Python computation, on tables of the
    different kinds the fast pass treats differently; with small blocks, runs of every kind cross
    many block boundaries."""
    monkeypatch.setattr(gttmod, "CHUNK", chunk)
    n, build = SUMMARY_CASES[case]
    vals = build(np.random.default_rng(len(case)))
    assert len(vals) == n
    fmt_name = "gen6" if case == "gen6" else "gen8"
    fmt = G.FORMATS[fmt_name]
    data = np.array(vals, dtype="<u8" if fmt.size == 8 else "<u4").tobytes()
    for dsm, max_runs in (((0x100000, 0x4000000), 10), (None, 64), ((0x1000000, 0x800000), 1)):
        got = gttmod.summary(data, fmt, dsm=dsm, max_runs=max_runs)
        assert got == _plain_summary(vals, fmt_name, dsm, max_runs), (dsm, max_runs)


def test_summary_kinds_are_what_they_claim():
    """The cases above reach the branches they are named for (a scratch value or none, runs)."""
    fmt = G.FORMATS["gen8"]

    def s(case):
        return gttmod.summary(np.array(SUMMARY_CASES[case][1](np.random.default_rng(len(case))), dtype="<u8").tobytes(), fmt)

    assert s("distinct")["scratch_value"] is None and s("distinct")["mapped_runs"] == 3
    assert s("one pair")["scratch_value"] == (0x1000 << 12) | 1 and s("one pair")["most_common_count"] == 2
    assert s("zeros")["most_common_value"] == 0 and s("zeros")["scratch_value"] is None
    assert s("all scratch")["scratch_runs"] == [{"first": 0, "entries": 3000}] and s("all scratch")["mapped_entries"] == 0
    dense = s("dense")
    assert dense["largest_runs"][0]["entries"] >= 30 and dense["mapped_entries"] > 19000
