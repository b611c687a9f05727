"""Tests of the mapping stage: the callData sent for each lead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.mapping import build_call_data

ConfigFactory = Callable[..., Config]
LeadsFactory = Callable[..., pd.DataFrame]


def call_data_of(
    make_config: ConfigFactory,
    frame: pd.DataFrame,
    variables: dict[str, Any],
) -> list[dict[str, str]]:
    """Return the call data of every row of `frame` for these config variables."""
    config = make_config(call_data=variables)

    return build_call_data(frame, config.call_data).tolist()


def test_constants_sent_every_row(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """A constant is sent on every row, even with no column variables."""
    frame = make_leads({"Phone": ["+1 201 555 0123", "+1 201 555 0124"]})

    rows = call_data_of(make_config, frame, {"campaign": {"value": "Spring"}})

    assert rows == [{"campaign": "Spring"}, {"campaign": "Spring"}]


def test_default_fills_empty_cell(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """An empty or blank cell is replaced by the variable's default."""
    frame = make_leads({"Company": ["Acme", "", "   "]})
    variables = {"companyName": {"column": "Company", "default": "your company"}}

    rows = call_data_of(make_config, frame, variables)

    assert rows == [
        {"companyName": "Acme"},
        {"companyName": "your company"},
        {"companyName": "your company"},
    ]


def test_empty_cell_left_out(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """A variable with an empty cell and no default is not sent at all."""
    frame = make_leads({"First Name": ["Ann", ""], "Last Name": ["", ""]})
    variables = {"firstName": "First Name", "lastName": "Last Name"}

    rows = call_data_of(make_config, frame, variables)

    assert rows == [{"firstName": "Ann"}, {}]


def test_empty_default_is_sent(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """A default of "" is sent as an empty value, not left out."""
    frame = make_leads({"Notes": [""]})
    variables = {"notes": {"column": "Notes", "default": ""}}

    rows = call_data_of(make_config, frame, variables)

    assert rows == [{"notes": ""}]


def test_keys_follow_config_order(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """Keys come in the order of the config, constants in their place."""
    frame = make_leads({"First Name": ["Ann"], "Company": [""], "Email": ["a@x.test"]})
    variables = {
        "firstName": "First Name",
        "campaign": {"value": "Spring"},
        "companyName": {"column": "Company", "default": "your company"},
        "emailAddress": "Email",
    }

    rows = call_data_of(make_config, frame, variables)

    assert list(rows[0]) == ["firstName", "campaign", "companyName", "emailAddress"]


def test_values_sent_as_text(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """Cells are sent as the text the file shows, trimmed, never as numbers."""
    frame = make_leads(
        {
            "Zip": ["07030"],
            "Amount": ["1.50"],
            "Phone": ["2015550123"],
            "Name": [" Ann "],
        }
    )
    variables = {
        "zip": "Zip",
        "amount": "Amount",
        "callback": "Phone",
        "firstName": "Name",
    }

    rows = call_data_of(make_config, frame, variables)

    assert rows[0]["zip"] == "07030"
    assert rows[0]["amount"] == "1.50"
    assert rows[0]["callback"] == "2015550123"
    assert rows[0]["firstName"] == "Ann"
    assert all(isinstance(value, str) for value in rows[0].values())


def test_one_column_two_variables(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """Two variables may read the same column."""
    frame = make_leads({"First Name": ["Ann"]})
    variables = {"firstName": "First Name", "greetingName": "First Name"}

    rows = call_data_of(make_config, frame, variables)

    assert rows == [{"firstName": "Ann", "greetingName": "Ann"}]


def test_index_kept(make_config: ConfigFactory, make_leads: LeadsFactory) -> None:
    """The result is keyed by the frame's source rows."""
    frame = make_leads({"First Name": ["Ann", "Bea"]}, first_row=10)
    config = make_config(call_data={"firstName": "First Name"})

    call_data = build_call_data(frame, config.call_data)

    assert call_data.index.equals(frame.index)
    assert call_data[11] == {"firstName": "Bea"}


def test_no_variables_no_data(
    make_config: ConfigFactory, make_leads: LeadsFactory
) -> None:
    """Without call variables every row gets an empty dict."""
    frame = make_leads({"Phone": ["+1 201 555 0123", "+1 201 555 0124"]})

    rows = call_data_of(make_config, frame, {})

    assert rows == [{}, {}]


def test_empty_frame(make_config: ConfigFactory, make_leads: LeadsFactory) -> None:
    """A frame without rows gives an empty result."""
    frame = make_leads({"First Name": []})

    rows = call_data_of(make_config, frame, {"firstName": "First Name"})

    assert rows == []
