"""Shared fixtures: a valid config to adjust per test, and lead frames as loaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from pipeline.config import Config

# The smallest valid config: US default, no call variables, the in-process sandbox.
BASE_CONFIG: dict[str, dict[str, Any]] = {
    "input": {"path": "leads.csv"},
    "phone": {"column": "Phone", "default_country": "US"},
    "call_data": {},
    "nlpearl": {"outbound_id": "outbound-test", "sandbox": True},
    "output": {"path": "results.xlsx"},
}


@pytest.fixture
def make_config() -> Callable[..., Config]:
    """Return a factory for a Config whose sections are updated by keyword.

    `make_config(phone={"country_column": "Country"})` keeps every other key of
    the base `phone` section and adds `country_column`.
    """

    def build(**sections: dict[str, Any]) -> Config:
        data = {name: dict(values) for name, values in BASE_CONFIG.items()}
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)

        return Config.model_validate(data)

    return build


@pytest.fixture
def make_leads() -> Callable[..., pd.DataFrame]:
    """Return a factory for a lead frame shaped like `load_leads` returns it.

    Every cell is a Python str and the index, named `source_row`, counts up
    from `first_row`, as the row numbers of a CSV file with a header line.
    """

    def build(columns: dict[str, Sequence[str]], first_row: int = 2) -> pd.DataFrame:
        length = len(next(iter(columns.values()), []))
        index = pd.Index(
            range(first_row, first_row + length), dtype="int64", name="source_row"
        )

        return pd.DataFrame(
            {name: list(cells) for name, cells in columns.items()},
            index=index,
            dtype=object,
        )

    return build
