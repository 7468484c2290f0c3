"""Shared fixtures: the capture JSON Schema validator and the shared fact/corpus directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the shared corpus and reference files are not part of the repository)")
    return path
