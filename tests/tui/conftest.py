"""The TUI tests' pytest wiring: ``async def`` tests run on a fresh event loop, and the ``clock``
fixture. The helpers they share (settle, tick, SIZE, ...) are in tests/support/tui.py."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from tests.support.tui import Clock


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh event loop (no async plugin needed). The test gets the
    values of the parameters it names (as pytest passes them: those without a default)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        params = inspect.signature(pyfuncitem.obj).parameters.values()
        args = {p.name: pyfuncitem.funcargs[p.name] for p in params
                if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()
