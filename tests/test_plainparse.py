"""The generated plain-data parsers (igdscope.plainparse) against construct's interpreted ones.

For every schema the decoders parse through ``decode_plain`` -- every VBT block schema and the
helper schemas of the block hooks and the block walk -- the generated parser must return exactly
``to_plain(schema.parse(data, **params))`` (same types, same key order) or raise (then
``decode_plain`` runs the interpreted parser); when the interpreted parser raises, the generated
one must raise too. Checked on every block of the corpus (where the generated parser must not
give up), on mutated corpus blocks (built ones for the ids the corpus lacks), on random bytes at
random BDB versions, and on small schemas that use what the block schemas use rarely.

Examples per schema: ``IGDSCOPE_PLAIN_EXAMPLES`` (default 40).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import construct as cs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igdscope import binary as D
from igdscope.binary import plainparse
from igdscope.decode.firmware import vbt_decode
from igdscope.binary import DecodeError, decode, decode_plain, plain_parser, to_plain
from igdscope.schemas import opregion
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import base as vbtbase
from igdscope.schemas.common import Flags, Raw, Text
from igdscope.schemas.vbtblocks import lfp, mipi
from igdscope.schemas.vbtblocks.base import UpTo
from tests.support.shared import CORPUS

EXAMPLES = int(os.environ.get("IGDSCOPE_PLAIN_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# every schema parsed through decode_plain: the block registry's and the hooks' helpers (the ones
# the schema modules ship, that the parsers are generated for when the package is built)
SCHEMAS: dict[str, cs.Construct] = plainparse.shipped_schemas()
VERSIONS = [0, 1, 105, 106, 108, 151, 152, 154, 155, 158, 160, 161, 164, 165, 170, 171, 175, 177, 186, 190, 195, 198, 199,
            203, 204, 209, 211, 212, 216, 217, 219, 224, 226, 227, 228, 229, 230, 231, 233, 234, 236, 237, 239, 240, 244,
            245, 247, 249, 251, 253, 256, 257, 260, 261, 263, 264, 300]


def same(a: Any, b: Any, path: str = "$") -> str | None:
    """None when ``a`` and ``b`` are the same plain data (types, key order, values), else where not."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r:.60} != {type(b).__name__} {b!r:.60}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            if (r := same(a[k], b[k], f"{path}.{k}")) is not None:
                return r
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if (r := same(x, y, f"{path}[{i}]")) is not None:
                return r
        return None
    return None if a == b else f"{path}: {a!r:.60} != {b!r:.60}"


def check(schema: cs.Construct, data: bytes, params: dict[str, Any], must_compile: bool = False) -> None:
    parser = plain_parser(schema)
    assert parser is not None, "no generated parser"
    try:
        want: Any = to_plain(schema.parse(data, **params))
    except Exception as exc:  # noqa: BLE001 -- the interpreted parser's verdict, whatever it is
        want = exc
    try:
        got = parser(data, dict(params))
    except Exception as exc:  # noqa: BLE001
        assert not must_compile, f"the generated parser gave up ({type(exc).__name__}: {exc})"
        return
    assert not isinstance(want, Exception), f"the interpreted parser raises {type(want).__name__}: {want}, the generated one returned"
    diff = same(got, want)
    assert diff is None, diff


def corpus_blocks() -> list[tuple[str, int, int, bytes]]:
    if not CORPUS.is_dir():
        return []
    out = []
    for p in sorted(CORPUS.iterdir()):
        if p.suffix not in (".vbt", ".rom", ".opregion"):
            continue
        data = p.read_bytes()
        if p.suffix == ".opregion":
            data, _ = opregion.vbt_bytes(data)
        res = V.walk_blocks(data, V.find_vbt(data))
        for b in res["blocks"]:
            out.append((p.name, b["id"], res["bdb_version"], bytes(b["raw"])))
    return out


BLOCKS = corpus_blocks()


def _need_corpus() -> None:
    if not BLOCKS:
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")


def test_every_schema_has_a_generated_parser():
    for name, schema in SCHEMAS.items():
        assert plain_parser(schema) is not None, name


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped", "generated-now"])
def test_corpus_blocks_generated_equals_interpreted(shipped, monkeypatch):
    """Both kinds of generated parser: the shipped ones and those generated at runtime."""
    _need_corpus()
    monkeypatch.setattr(D, "_parsers", {})
    monkeypatch.setattr(plainparse, "_shipped", None)
    monkeypatch.setattr(plainparse, "USE_PRECOMPILED", shipped)
    made = _spy_generation(monkeypatch)
    checked = 0
    for name, block_id, version, raw in BLOCKS:
        spec = V.BLOCKS.get(block_id)
        if spec is None or not vbtbase.in_range(version, spec.min_bdb, spec.max_bdb):
            continue
        try:
            check(spec.schema, raw, _params(version, raw, block_id), must_compile=True)
        except AssertionError as exc:
            raise AssertionError(f"{name} block {block_id} (BDB {version}): {exc}") from None
        checked += 1
    assert checked >= 1000
    modules = {parse.__module__ for _, parse in D._parsers.values() if parse is not None}
    if shipped:  # the shipped parsers ran, nothing was generated
        assert modules == {plainparse.GENERATED_MODULE} and not made, made[:5]
    else:
        assert plainparse.GENERATED_MODULE not in modules and len(made) >= len(D._parsers)


def test_corpus_decodes_use_only_checked_schemas(monkeypatch):
    """Every schema ``decode_plain`` meets while decoding the corpus is one this file checks, and
    the corpus never falls back to the interpreted parser."""
    _need_corpus()
    fell_back: list[str] = []
    real_decode = D.decode

    def spy_decode(schema, data, what, **context):
        fell_back.append(what)
        return real_decode(schema, data, what, **context)

    monkeypatch.setattr(D, "_parsers", {})
    monkeypatch.setattr(D, "decode", spy_decode)
    for p in sorted(CORPUS.iterdir()):
        if p.suffix in (".vbt", ".rom", ".opregion"):
            data = p.read_bytes()
            if p.suffix == ".opregion":
                data, _ = opregion.vbt_bytes(data)
            vbt_decode(data)
    known = {id(s) for s in SCHEMAS.values()}
    seen = [schema for schema, _ in D._parsers.values()]
    assert seen and all(id(s) in known for s in seen), {type(s).__name__ for s in seen if id(s) not in known}
    assert not fell_back, fell_back[:5]


def test_decode_plain_matches_decode_and_its_errors():
    # a truncated header: the same DecodeError with the field path as decode() gives
    for data in (b"", b"$VBT", bytes(47)):
        with pytest.raises(DecodeError) as slow:
            to_plain(decode(V.VbtHeader, data, "VBT header"))
        with pytest.raises(DecodeError) as fast:
            decode_plain(V.VbtHeader, data, "VBT header")
        assert str(fast.value) == str(slow.value)
    good = V.demo_vbt()[:48]
    assert same(decode_plain(V.VbtHeader, good, "VBT header"), to_plain(decode(V.VbtHeader, good, "VBT header"))) is None


def _params(version: int, data: bytes, name: str | int = "") -> dict[str, Any]:
    """A schema's parse parameters; a block's (by id or shipped name "block N") as decode_block
    gives them, from the block alone (block 42: the pointers i915 generates without block 41)."""
    block = name if isinstance(name, int) else (int(name.split()[1]) if name.startswith("block ") else None)
    if block is None:
        return {"bdb_version": version, "block_size": len(data)}
    return V.block_params(block, data, version)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@SETTINGS
@given(data=st.binary(max_size=1000), version=st.sampled_from(VERSIONS) | st.integers(0, 300))
def test_random_bytes(name, data, version):
    check(SCHEMAS[name], data, _params(version, data, name))


def _seeds(block_id: int) -> list[tuple[int, bytes]]:
    """Blocks to mutate: the corpus's, else built ones (zeros and a count pattern of the struct
    size, or MIPI sequence blocks of each version)."""
    samples = [(v, raw) for _, i, v, raw in BLOCKS if i == block_id]
    if samples:
        return samples
    if block_id == V.BDB_MIPI_SEQUENCE:
        panel = {"panel_id": 0, "sequences": [{"seq_id": 1, "elements": [
            {"operation": 1, "transfer_mode": 1, "data_type": 0x05, "data": b"\x29"},
            {"operation": 2, "delay_us": 20000}, {"operation": 3, "gpio_number": 3, "value": True}]}]}
        return [(v, mipi.build_sequence_block(seq, [panel])) for v, seq in ((190, 1), (200, 2), (230, 3))]
    size = V.BLOCKS[block_id].full_size or 64
    return [(v, data) for v in (150, 230) for data in (bytes(size), bytes(i & 0xFF for i in range(size)))]


@st.composite
def mutated_block(draw, block_id: int):
    version, raw = draw(st.sampled_from(_seeds(block_id)))
    data = bytearray(raw)
    for _ in range(draw(st.integers(0, 4))):
        if data:
            at = draw(st.integers(0, min(len(data) - 1, draw(st.sampled_from([8, 64, 4096])))))
            data[at] = draw(st.sampled_from([0, 1, 2, 3, 4, 7, 8, 9, 10, 13, 14, 0x1C, 0x21, 0x26, 0x7F, 0x80, 0xFE, 0xFF]) | st.integers(0, 255))
    cut = draw(st.sampled_from([None, 0, 1, 2, 3, 5, 8]) | st.integers(0, len(data)))
    if cut is not None:
        data = data[:cut]
    data += draw(st.binary(max_size=40))
    version = draw(st.sampled_from([version, version, *VERSIONS]))
    return version, bytes(data)


@pytest.mark.parametrize("block_id", sorted(V.BLOCKS))
@SETTINGS
@given(data=st.data())
def test_mutated_corpus_blocks(block_id, data):
    version, raw = data.draw(mutated_block(block_id))
    check(V.BLOCKS[block_id].schema, raw, _params(version, raw, block_id))


# -- the generator on small schemas: constructs the block schemas use rarely or not at all ----------

_v = cs.this._params.bdb_version
SYNTHETIC: dict[str, cs.Construct] = {
    "counted array": cs.Struct("n" / cs.Int8ul, "a" / cs.Array(cs.this.n, cs.Struct("x" / cs.Int16ul)), "rest" / Raw()),
    "runtime merge": vbtbase.FlatStruct(
        "k" / cs.Int8ul,
        cs.IfThenElse(cs.this.k > 5, vbtbase.FlatStruct("a" / cs.Int8ul), vbtbase.FlatStruct("b" / cs.Int16ul, "c" / cs.Int8ul)),
        "z" / cs.Int8ul,
        "zz" / cs.Computed(cs.this.z * 2),
    ),
    "switch on an enum": cs.Struct(
        "op" / vbtbase.EnumIn(cs.Int8ul, a=1, b=2),
        "body" / cs.Switch(cs.this.op, {"a": cs.Int16ul, "b": cs.Struct("x" / cs.Int8ul)}, default=cs.Pass),
        "tail" / cs.Switch(cs.this.op, {"a": cs.Int8ul}, default=cs.Error),
    ),
    "check": cs.Struct("v" / cs.Int8ul, cs.Check(cs.this.v < 200), "w" / cs.Int8ul),
    "greedy range": cs.Struct("items" / cs.GreedyRange(cs.Struct("x" / cs.Int16ul, "y" / cs.Int8ul)), "rest" / Raw()),
    "flags": cs.Struct("f" / cs.FlagsEnum(cs.Int8ul, a=1, b=2, c=4), "g" / Flags(cs.Int16ul, x=1, y=0x100)),
    "bits": cs.Struct(
        "s" / cs.BitStruct("a" / cs.BitsInteger(3), "b" / cs.BitsInteger(12), "c" / cs.Flag, "d" / cs.BitsInteger(16, swapped=True),
                           "e" / cs.Array(2, cs.BitsInteger(4)), "f" / vbtbase.EnumIn(cs.BitsInteger(8), one=1)),
        "r3" / cs.ByteSwapped(cs.BitStruct("x" / cs.BitsInteger(5), "y" / cs.BitsInteger(19))),
        "r4" / cs.ByteSwapped(cs.BitStruct("x" / cs.BitsInteger(15), "y" / cs.Flag, "z" / cs.BitsInteger(16))),
        "flag" / cs.Flag,
    ),
    "nested context": cs.Struct(
        "n" / cs.Int8ul,
        "inner" / cs.Struct("m" / cs.Int8ul, "sum" / cs.Computed(cs.this._.n + cs.this.m), "data" / Raw(cs.this._.n % 4)),
    ),
    "text and bytes": cs.Struct("t" / Text(6), "n" / cs.Int8ul, "b" / Raw(cs.this.n), "g" / cs.Bytes(2), "rest" / Raw()),
    "parameter choices": cs.Struct(
        "a" / cs.IfThenElse(_v >= 200, cs.Int16ul, cs.Int8ul),
        "s" / cs.Switch(_v, {100: cs.Int8ul, 200: cs.Int32ul}, default=cs.Int16ul),
        "l" / cs.Array(2, vbtbase.FlatStruct("x" / cs.Int8ul, cs.If(_v > 150, vbtbase.FlatStruct("y" / cs.Int8ul)))),
    ),
    "zero filled": cs.Struct("n" / cs.Int8ul, "e" / vbtbase.ZeroFilled(cs.this.n, cs.Struct("a" / cs.Int16ul, "b" / cs.Int8ul))),
    # integers in one unpack: a count from the data (up to 255, the limit 5 or the bytes cut it), a
    # signed big-endian count, none (as many as fit); the bytes of a cut item are left for "rest"
    "up to n integers": cs.Struct("n" / cs.Int8sl, "a" / UpTo(cs.this.n, cs.Int16ul, 5), "b" / UpTo(None, cs.Int32sb, 3),
                                  "c" / UpTo(cs.this.n - 3, cs.Int8ul), "rest" / Raw()),
}


def test_synthetic_schemas_have_generated_parsers():
    for name, schema in SYNTHETIC.items():
        assert plain_parser(schema) is not None, name


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
@SETTINGS
@given(data=st.binary(max_size=40), version=st.sampled_from([0, 100, 150, 151, 199, 200, 255]))
def test_synthetic_schemas(name, data, version):
    check(SYNTHETIC[name], data, _params(version, data))


# -- the shipped parsers (igdscope/binary/_plain_generated.py) ------------------------------------------


@pytest.fixture
def fresh_parsers(monkeypatch):
    """No parser cached yet (in decode) and the shipped module not loaded yet."""
    monkeypatch.setattr(D, "_parsers", {})
    monkeypatch.setattr(plainparse, "_shipped", None)
    monkeypatch.setattr(plainparse, "USE_PRECOMPILED", True)


def test_built_module_is_current():
    """The build (pip install, or python -m igdscope.schemas.plaingen) wrote the parsers of
    exactly the schemas as they are now; the source tree does not keep them."""
    path = plainparse.generated_path()
    assert path.exists(), f"{path.name} is not built: pip install -e . (or python -m igdscope.schemas.plaingen)"
    assert path.read_text() == plainparse.generate_module(SCHEMAS), f"{path.name} is stale: run python -m igdscope.schemas.plaingen"
    assert plainparse.shipped_state() == "current"
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], capture_output=True, cwd=path.parent).returncode == 0
    assert not tracked, "the generated parsers are a build product, not a source"


def test_only_the_shipped_schemas_sources_key_the_fingerprint(tmp_path):
    names = {Path(f).name for f in plainparse._sources}
    assert {"vbt.py", "common.py", "general.py", "lfp.py", "features.py", "misc.py", "mipi.py", "dtd.py", "legacy.py", "base.py"} <= names
    assert not names & {"pci.py", "opregion.py", "rom.py", "gtt.py", "vfio.py", "specgen.py"}  # not compiled: edits there change nothing
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("A = 1")
    b.write_text("B = 1")
    one = plainparse.source_fingerprint([str(a)])
    assert one == plainparse.source_fingerprint([str(a)]) and len(one) == 32
    a.write_text("A = 2")
    two = plainparse.source_fingerprint([str(a)])
    three = plainparse.source_fingerprint([str(a), str(b)])
    assert len({one, two, three}) == 3


def test_an_exception_from_generated_code_is_not_hidden(monkeypatch):
    """Only the generated code's own give-ups (Bail, Short, struct.error) hand an input to the
    interpreted parser; any other exception is a bug, and it reaches the caller (and the tests)."""
    schema = V.VbtHeader
    data = V.demo_vbt()[:48]

    def broken(buf, params):
        raise KeyError("a bug in generated code")

    monkeypatch.setitem(D._parsers, id(schema), (schema, broken))
    with pytest.raises(KeyError):
        decode_plain(schema, data, "VBT header")
    for give_up in (D.Bail, D.Short, struct.error):
        def gives_up(buf, params, exc=give_up):
            raise exc()

        monkeypatch.setitem(D._parsers, id(schema), (schema, gives_up))
        assert decode_plain(schema, data, "VBT header")["signature"].startswith("$VBT")  # the interpreted parser decided


def _spy_generation(monkeypatch) -> list[str]:
    made: list[str] = []
    real_init, real_spec = plainparse.PlainParser.__init__, plainparse.PlainParser.specialise

    def init(self, schema):
        made.append(f"parser {type(schema).__name__}")
        real_init(self, schema)

    def specialise(self, key):
        made.append(f"specialisation {key}")
        return real_spec(self, key)

    monkeypatch.setattr(plainparse.PlainParser, "__init__", init)
    monkeypatch.setattr(plainparse.PlainParser, "specialise", specialise)
    return made


def test_shipped_parsers_cover_every_schema_and_bdb_version(fresh_parsers, monkeypatch):
    """Every named schema has a shipped parser, and every BDB version 0-400 (and the u16 extremes)
    selects a shipped specialisation: a decode generates nothing at runtime."""
    made = _spy_generation(monkeypatch)
    for name, schema in SCHEMAS.items():
        parser = plain_parser(schema)
        assert parser is not None and parser.__module__ == plainparse.GENERATED_MODULE, name
        for version in [*range(401), 0xFFFE, 0xFFFF]:
            data = bytes(range(64)) * 8
            try:
                parser(data, {"bdb_version": version, "block_size": len(data)})
            except Exception:  # noqa: BLE001 -- giving up is fine here; generating is not
                pass
    assert not made, made[:5]


def test_corpus_and_demo_decode_without_generating(fresh_parsers, monkeypatch):
    made = _spy_generation(monkeypatch)
    datas = [V.demo_vbt()]
    if CORPUS.is_dir():
        for p in sorted(CORPUS.iterdir()):
            if p.suffix in (".vbt", ".rom", ".opregion"):
                data = p.read_bytes()
                datas.append(opregion.vbt_bytes(data)[0] if p.suffix == ".opregion" else data)
    for data in datas:
        vbt_decode(data)
    assert D._parsers and not made, made[:5]


def test_shipped_parsers_give_what_runtime_generation_gives(monkeypatch):
    """The demo VBT and every built block decode the same through shipped and runtime parsers."""
    datas = [V.demo_vbt()] + [p.read_bytes() for p in sorted(CORPUS.glob("*.vbt"))[:6]]

    def run(shipped: bool) -> list:
        monkeypatch.setattr(D, "_parsers", {})
        monkeypatch.setattr(plainparse, "_shipped", None)
        monkeypatch.setattr(plainparse, "USE_PRECOMPILED", shipped)
        return [vbt_decode(d) for d in datas]

    shipped, generated = run(True), run(False)
    assert same(shipped, generated) is None


def test_stale_shipped_module_is_ignored(fresh_parsers, monkeypatch):
    """Sources that differ from those the module was generated from (a schema edited, the module
    not regenerated): nothing shipped is used, the parsers are generated, decoding still works."""
    monkeypatch.setattr(plainparse, "source_fingerprint", lambda sources=None: "edited since")
    assert plainparse.shipped_state() == "stale"
    made = _spy_generation(monkeypatch)
    assert plainparse.precompiled_parser(V.VbtHeader) is plainparse._NOT_SHIPPED
    header = decode_plain(V.VbtHeader, V.demo_vbt()[:48], "VBT header")
    assert header["signature"].startswith("$VBT") and made == ["parser Struct", "specialisation ()"]


def test_literal_rebuilds_every_kind_of_constant():
    import struct

    enum = cs.Enum(cs.Int8ul, a=1, b=7)
    values = {
        "names": {0: "zero", 1: "one's"},
        "index": {"u8_u8": 0, "u32_u32": 1},
        "tuple": (1, "x", None),
        "decmapping": enum.decmapping,
        "unpack": struct.Struct("<HB4s").unpack_from,
        "iter_unpack": struct.Struct("<H").iter_unpack,
        "function": lfp.pnp_mfg_id,
    }
    ns = {"_Struct": struct.Struct, "_enum_dec": plainparse.enum_decmapping, "_resolve": plainparse.resolve}
    for name, value in values.items():
        rebuilt = eval(plainparse._literal(value), ns)  # noqa: S307 -- our own generated source
        if name == "unpack":
            assert rebuilt(b"\x01\x02\x03abcd") == value(b"\x01\x02\x03abcd") == (0x201, 3, b"abcd")
        elif name == "iter_unpack":
            assert list(rebuilt(b"\x01\x02\x03\x04")) == list(value(b"\x01\x02\x03\x04")) == [(0x201,), (0x403,)]
        elif name == "decmapping":
            assert rebuilt == value and all(type(v) is cs.EnumIntegerString and int(v) == k for k, v in rebuilt.items())
        else:
            assert rebuilt == value and type(rebuilt) is type(value), name
    assert eval(plainparse._literal(values["function"]), ns) is lfp.pnp_mfg_id  # noqa: S307
    for bad in (object(), lambda x: x, {1: object()}):
        with pytest.raises(plainparse.Unsupported):
            plainparse._literal(bad)
