"""Every VBT block in the registry has its parity tests: tests/test_parity_<module>.py, named after
the schema module under igdscope/schemas/vbtblocks/ that defines the block, lists it in its
``PARITY_BLOCKS`` table. A block added without its parity test fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from igdscope.schemas.vbtblocks import BLOCKS, MODULES

TESTS = Path(__file__).resolve().parent
# schema modules whose parity tests still share another module's test file: (file, table name)
SHARED_FILES = {"misc": ("mipi", "MISC_PARITY_BLOCKS")}


def declared(test_module: str, table: str = "PARITY_BLOCKS") -> tuple[int, ...] | None:
    """The literal tuple ``table`` of tests/test_parity_<test_module>.py, None without one."""
    path = TESTS / f"test_parity_{test_module}.py"
    if not path.exists():
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == table for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return None


def test_every_registered_block_has_a_parity_test_in_its_modules_file():
    missing = []
    for module in MODULES:
        name = module.__name__.rsplit(".", 1)[1]
        test_module, table = SHARED_FILES.get(name, (name, "PARITY_BLOCKS"))
        listed = declared(test_module, table)
        assert listed is not None, f"no {table} in tests/test_parity_{test_module}.py for vbtblocks/{name}.py"
        assert len(set(listed)) == len(listed), f"{table} of test_parity_{test_module}.py lists a block twice"
        missing += [f"block {i} ({name}.py)" for i in sorted(set(module.SPECS) - set(listed))]
        stray = sorted(set(listed) - set(module.SPECS))
        assert not stray, f"test_parity_{test_module}.py {table} lists blocks vbtblocks/{name}.py does not define: {stray}"
    assert not missing, "registered blocks without a parity test: " + ", ".join(missing)


def test_the_tables_cover_the_registry_exactly_once():
    seen: dict[int, str] = {}
    for module in MODULES:
        name = module.__name__.rsplit(".", 1)[1]
        test_module, table = SHARED_FILES.get(name, (name, "PARITY_BLOCKS"))
        for block_id in declared(test_module, table) or ():
            assert block_id not in seen, f"block {block_id} listed for {seen.get(block_id)} and {name}"
            seen[block_id] = name
    assert set(seen) == set(BLOCKS)
