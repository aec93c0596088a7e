"""Skip a test whose tool is missing here, but fail it in CI, where a skip would hide a gap."""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


def require_binary(name: str) -> None:
    """Skip (fail in CI) unless the program `name` is on PATH."""
    if shutil.which(name) is None:
        _missing(f"the program {name!r}")


def require_module(name: str) -> None:
    """Skip (fail in CI) unless the Python module `name` can be imported."""
    if importlib.util.find_spec(name) is None:
        _missing(f"the Python module {name!r}")
