"""Every VBT block in the registry has its parity tests: tests/test_parity_<module>.py, named after
the schema module under igdscope/schemas/vbtblocks/ that defines the block, lists it in its
``PARITY_BLOCKS`` table. A block added without its parity test fails here.

Each of those files also lists in ``CORPUS_COMPARED`` the blocks it compares with the reference
decodes beside the corpus (the ``*.igt.txt`` files igt 1.27.1 wrote); a block of its module those
decodes show decoded must be listed there, so a block the corpus can check is never left unchecked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from igdscope.schemas.vbtblocks import BLOCKS, MODULES
from tests.support.igt_compare import corpus_blocks_decoded_by_igt
from tests.support.shared import CORPUS

TESTS = Path(__file__).resolve().parent


def declared(test_module: str, table: str = "PARITY_BLOCKS") -> tuple[int, ...] | None:
    """The literal tuple ``table`` of tests/test_parity_<test_module>.py, None without one."""
    path = TESTS / f"test_parity_{test_module}.py"
    if not path.exists():
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == table for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return None


def module_names() -> list[str]:
    return [module.__name__.rsplit(".", 1)[1] for module in MODULES]


def test_every_registered_block_has_a_parity_test_in_its_modules_file():
    missing = []
    for module, name in zip(MODULES, module_names()):
        listed = declared(name)
        assert listed is not None, f"no PARITY_BLOCKS in tests/test_parity_{name}.py for vbtblocks/{name}.py"
        assert len(set(listed)) == len(listed), f"PARITY_BLOCKS of test_parity_{name}.py lists a block twice"
        missing += [f"block {i} ({name}.py)" for i in sorted(set(module.SPECS) - set(listed))]
        stray = sorted(set(listed) - set(module.SPECS))
        assert not stray, f"test_parity_{name}.py PARITY_BLOCKS lists blocks vbtblocks/{name}.py does not define: {stray}"
    assert not missing, "registered blocks without a parity test: " + ", ".join(missing)


def test_the_tables_cover_the_registry_exactly_once():
    seen: dict[int, str] = {}
    for name in module_names():
        for block_id in declared(name) or ():
            assert block_id not in seen, f"block {block_id} listed for {seen.get(block_id)} and {name}"
            seen[block_id] = name
    assert set(seen) == set(BLOCKS)


def test_no_parity_file_is_left_over():
    """Each tests/test_parity_*.py with a PARITY_BLOCKS table belongs to a schema module: no block's
    tests live in another module's file or in a file of no module."""
    files = {p.stem.removeprefix("test_parity_") for p in TESTS.glob("test_parity_*.py")}
    with_table = {f for f in files if declared(f) is not None}
    assert with_table == set(module_names())


def test_corpus_compared_tables_hold_their_modules_blocks():
    for module, name in zip(MODULES, module_names()):
        compared = declared(name, "CORPUS_COMPARED")
        assert compared is not None, f"no CORPUS_COMPARED in tests/test_parity_{name}.py for vbtblocks/{name}.py"
        assert len(set(compared)) == len(compared), f"CORPUS_COMPARED of test_parity_{name}.py lists a block twice"
        stray = sorted(set(compared) - set(module.SPECS))
        assert not stray, f"test_parity_{name}.py CORPUS_COMPARED lists blocks vbtblocks/{name}.py does not define: {stray}"


def test_every_block_the_corpus_decodes_is_compared_in_its_modules_file():
    """A block igt decodes in the corpus's reference decodes is compared with them by the parity file
    of its module (listed in its CORPUS_COMPARED, which drives that file's comparison)."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    decoded = corpus_blocks_decoded_by_igt()
    assert {1, 2, 11, 52} <= decoded  # the reference decodes are read
    missing = []
    for module, name in zip(MODULES, module_names()):
        compared = set(declared(name, "CORPUS_COMPARED") or ())
        missing += [f"block {i} (test_parity_{name}.py)" for i in sorted(decoded & set(module.SPECS) - compared)]
    assert not missing, "blocks the corpus's reference decodes show, not compared with them: " + ", ".join(missing)
    assert decoded <= set(BLOCKS)  # igt decodes no block igdscope has no schema for
