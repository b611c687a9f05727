"""Mapping stage: turn each lead row into the `callData` of its NLPearl call."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.config import CallVariable


def build_call_data(
    frame: pd.DataFrame, variables: Mapping[str, CallVariable]
) -> pd.Series:
    """Return one dict of variable id to text per row, keyed like `frame`.

    A constant is always sent. A column's value is sent as the text the file
    shows; an empty cell falls back to the variable's default or is left out.
    Keys keep the order of `variables`, which is the order of the config.
    """
    constants = {key: v.value for key, v in variables.items() if v.value is not None}
    from_columns = {key: v for key, v in variables.items() if v.column is not None}
    columns = [frame[v.column].tolist() for v in from_columns.values()]

    rows = []
    for cells in zip(*columns, strict=True) if columns else ([()] * len(frame)):
        data = dict(constants)
        for (key, variable), cell in zip(from_columns.items(), cells, strict=True):
            value = cell.strip() or variable.default
            if value is not None:
                data[key] = value
        rows.append({key: data[key] for key in variables if key in data})

    return pd.Series(rows, index=frame.index, dtype=object)
