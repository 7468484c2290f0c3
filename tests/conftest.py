"""Shared fixtures: the capture JSON Schema validator and the shared fact/corpus directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# the helpers' own checks (fakes that assert how they are used) report like the tests' asserts
pytest.register_assert_rewrite("tests.support")

from tests.support.shared import SHARED, need

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "specs" / "capture.schema.json"


@pytest.fixture(scope="session")
def capture_validator() -> Callable[[Any], None]:
    """A callable ``validate(doc)`` that raises ``jsonschema.ValidationError`` when ``doc`` (a capture
    as ``Capture.to_dict()`` / ``json.loads(to_json())`` gives it) breaks specs/capture.schema.json.

    The raised error is the most relevant one (``jsonschema.exceptions.best_match``); its message
    also says how many violations there were in all.
    """
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (a test dependency) is not installed")
    from jsonschema.exceptions import best_match

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    def validate(doc: Any) -> None:
        errors = list(validator.iter_errors(doc))
        if errors:
            err = best_match(errors)
            err.message = f"{err.message} (at {err.json_path}; {len(errors)} violation(s) in all)"
            raise err

    return validate


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (reference fact sheets, corpus, field data): test input only."""
    return need(SHARED)


@pytest.fixture(autouse=True)
def _signal_handlers_given_back():
    """A write that completed settles the process's signal handlers (signals no longer change
    the exit status); the test process goes on, so it gets them back after every test."""
    yield
    from igdscope import outfile

    outfile.unsettle()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (the long runs of the fault-injection matrix) run only when asked
    for with ``-m slow``; the default run has their fast cases."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [it for it in items if "slow" in it.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [it for it in items if "slow" not in it.keywords]
