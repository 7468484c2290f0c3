"""Hostile input for every kind `igdscope show` accepts: random bytes, truncations and bit flips of
real files. Each either decodes (partially, with findings) or raises the project's BadInput —
never another exception."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from igdscope.decode.files import decode_file, sniff
from igdscope.errors import BadInput
from igdscope.sources import demo

SEEDS = {
    "config": lambda: demo.igd_config(),
    "opregion": lambda: demo.opregion(),
    "vbt": lambda: demo.vbt(),
    "rom": lambda: demo.option_rom(),
}


def _decode(data: bytes, kind: str):
    try:
        return decode_file(data, kind, None, "fuzz")
    except BadInput:
        return None


@pytest.mark.parametrize("kind", sorted(SEEDS) + ["lspci"])
@given(data=st.binary(max_size=9000))
@settings(max_examples=150, deadline=None)
def test_random_bytes_never_crash(kind, data):
    _decode(data, kind)
    sniff(data)


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_truncations_and_bit_flips_of_valid_files(kind):
    good = SEEDS[kind]()
    rng = random.Random(kind)
    for cut in sorted({0, 1, 2, 16, 47, 48, 63, 64, 255, 256, len(good) // 2, len(good) - 1} | {rng.randrange(len(good)) for _ in range(20)}):
        _decode(good[:cut], kind)
    for _ in range(200):
        bad = bytearray(good)
        for _ in range(rng.randrange(1, 8)):
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        _decode(bytes(bad), kind)


def test_corpus_files_truncated(shared_dir):
    corpus = shared_dir / "corpus"
    files = [p for p in corpus.iterdir() if p.suffix in (".vbt", ".rom", ".opregion")]
    if not files:
        pytest.skip("no corpus files")
    for p in files:
        data = p.read_bytes()
        kind = sniff(data)
        assert kind in ("vbt", "rom", "opregion"), p.name
        full = decode_file(data, kind, None, p.name)
        assert full["kind"] == kind
        for cut in (len(data) // 3, len(data) // 2, len(data) - 7):
            _decode(data[:cut], kind)
