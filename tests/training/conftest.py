"""The fixture that registers the tiny training datasets of :mod:`training_datasets` for one test."""

from __future__ import annotations

import pytest
from training_datasets import PoisonedSquares, Squares

from benchmark.datasets import DATASETS


@pytest.fixture
def squares():
    """Register the test datasets for the duration of one test."""
    added = {"test_squares": Squares, "test_poisoned_squares": PoisonedSquares}
    DATASETS.update(added)
    try:
        yield Squares()
    finally:
        for name in added:
            DATASETS.pop(name, None)
