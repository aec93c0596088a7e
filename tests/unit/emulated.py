"""Fixtures for adapter tests against the provider emulator; import both into a test module."""
import pytest

from providers.emulator import Emulator


@pytest.fixture(scope="module")
def emulator():
    """One emulator per test module."""
    with Emulator() as running:
        yield running


@pytest.fixture(autouse=True)
def clean(emulator):
    """Each test starts with no faults and an empty request log."""
    emulator.reset()
    yield
