import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_and_quick(monkeypatch):
    """Tests run in the quick profile with progress bars off, whatever the caller's environment."""
    monkeypatch.setenv("KEXUE_PROFILE", "quick")
    monkeypatch.setenv("KEXUE_PROGRESS", "0")


def quoted(value, text: str) -> bool:
    """``value`` is what a chapter prints as ``text`` (rounded to ``text``'s decimals): the
    record tests hold every number a chapter quotes to its record with it."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10 ** -decimals + 1e-9


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/book/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.book)
