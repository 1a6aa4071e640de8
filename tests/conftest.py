"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.ami").read_bytes()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
