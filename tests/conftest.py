"""Shared fixtures: where the third-party test input lives, and the capture JSON Schema validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (third-party test input is read in place, never copied)")
    return SHARED


@pytest.fixture(scope="session")
def capture_validator():
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "specs" / "capture.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    def validate(doc):
        validator.validate(doc)

    return validate
