"""Tests of the validation stage: statuses, reason codes, details and duplicates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import pytest

from pipeline.config import Config
from pipeline.validate import validate_leads

NOT_A_NUMBER = "The string supplied did not seem to be a phone number."

# One lead: (phone, country, first name).
Lead = tuple[str, str, str]


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    """Return a config with a country column and a required first name."""
    return make_config(
        phone={"country_column": "Country"},
        call_data={"firstName": {"column": "First Name", "required": True}},
    )


@pytest.fixture
def leads(make_leads: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """Return a factory for a lead frame from (phone, country, first name) rows."""

    def build(rows: Sequence[Lead], first_row: int = 2) -> pd.DataFrame:
        columns = {
            "Phone": [phone for phone, _, _ in rows],
            "Country": [country for _, country, _ in rows],
            "First Name": [name for _, _, name in rows],
        }

        return make_leads(columns, first_row=first_row)

    return build


def test_valid_row_pending(config: Config, leads: Callable[..., pd.DataFrame]) -> None:
    """A row that passes every check is pending, with its E.164 number."""
    outcome = validate_leads(leads([("(201) 555-0123", "", "Ann")]), config)

    assert list(outcome.columns) == [
        "phone_e164",
        "status",
        "reason",
        "detail",
        "phone_note",
    ]
    assert outcome.at[2, "phone_e164"] == "+12015550123"
    assert outcome.at[2, "status"] == "pending"
    assert outcome.at[2, "reason"] == ""
    assert outcome.at[2, "detail"] == ""
    assert outcome.at[2, "phone_note"] == ""


@pytest.mark.parametrize(
    ("lead", "reason", "detail"),
    [
        pytest.param(
            ("", "", "Ann"), "phone_missing", "'Phone' is empty", id="phone_missing"
        ),
        pytest.param(
            (" ", "US", "Ann"), "phone_missing", "'Phone' is empty", id="phone-blank"
        ),
        pytest.param(
            ("+1 201 555 0123", "Narnia", "Ann"),
            "country_unknown",
            "'Narnia' in 'Country' is not a known country",
            id="country_unknown",
        ),
        pytest.param(
            ("2.01555E+09", "", "Ann"),
            "phone_digits_lost",
            "'2.01555E+09' is in scientific notation, so its last digits are lost. "
            "Format the phone column as Text and export the file again",
            id="phone_digits_lost",
        ),
        pytest.param(
            ("call me", "", "Ann"),
            "phone_unparseable",
            f"'call me': {NOT_A_NUMBER}",
            id="phone_unparseable",
        ),
        pytest.param(
            ("+1 555 0100", "", "Ann"),
            "phone_invalid",
            "'+1 555 0100' is not a valid number for US",
            id="phone_invalid",
        ),
        pytest.param(
            ("+1 201 555 0123", "", ""),
            "required_missing",
            "'First Name' is empty",
            id="required_missing",
        ),
        pytest.param(
            ("+1 201 555 0123", "", "  "),
            "required_missing",
            "'First Name' is empty",
            id="required-blank",
        ),
    ],
)
def test_reason_code_and_detail(
    config: Config,
    leads: Callable[..., pd.DataFrame],
    lead: Lead,
    reason: str,
    detail: str,
) -> None:
    """Each failed check rejects the row with its reason code and exact detail."""
    outcome = validate_leads(leads([lead]), config)

    assert outcome.at[2, "status"] == "rejected"
    assert outcome.at[2, "reason"] == reason
    assert outcome.at[2, "detail"] == detail


@pytest.mark.parametrize(
    ("lead", "reason"),
    [
        (("", "Narnia", ""), "phone_missing"),
        (("2.01555E+09", "Narnia", ""), "phone_digits_lost"),
        (("call me", "Narnia", ""), "country_unknown"),
        (("call me", "", ""), "phone_unparseable"),
        (("+1 555 0100", "", ""), "phone_invalid"),
    ],
)
def test_reason_precedence(
    config: Config, leads: Callable[..., pd.DataFrame], lead: Lead, reason: str
) -> None:
    """A row failing several checks gets the reason that ranks first."""
    outcome = validate_leads(leads([lead]), config)

    assert outcome.at[2, "reason"] == reason


def test_precedence_per_row(config: Config, leads: Callable[..., pd.DataFrame]) -> None:
    """Rows failing different checks in one frame each keep their own reason."""
    frame = leads(
        [
            ("call me", "", ""),
            ("", "", "Ann"),
            ("+1 201 555 0123", "", ""),
            ("+1 201 555 0124", "Narnia", "Bea"),
        ]
    )

    outcome = validate_leads(frame, config)

    assert outcome["reason"].tolist() == [
        "phone_unparseable",
        "phone_missing",
        "required_missing",
        "country_unknown",
    ]


def test_required_phone_column_missing(
    make_config: Callable[..., Config], make_leads: Callable[..., pd.DataFrame]
) -> None:
    """An empty phone is phone_missing even when the phone column is required."""
    config = make_config(input={"required_columns": ["Phone"]})

    outcome = validate_leads(make_leads({"Phone": [""]}), config)

    assert outcome.at[2, "reason"] == "phone_missing"
    assert outcome.at[2, "detail"] == "'Phone' is empty"


def test_required_from_input_section(
    make_config: Callable[..., Config], make_leads: Callable[..., pd.DataFrame]
) -> None:
    """A column in input.required_columns must be filled."""
    config = make_config(input={"required_columns": ["Email"]})
    frame = make_leads(
        {
            "Phone": ["+1 201 555 0123", "+1 201 555 0124"],
            "Email": ["", "b@example.com"],
        }
    )

    outcome = validate_leads(frame, config)

    assert outcome.at[2, "reason"] == "required_missing"
    assert outcome.at[2, "detail"] == "'Email' is empty"
    assert outcome.at[3, "status"] == "pending"


@pytest.mark.parametrize(
    ("variable", "status"),
    [
        pytest.param(
            {"column": "Company", "required": True}, "rejected", id="required"
        ),
        pytest.param(
            {"column": "Company", "required": True, "default": "your company"},
            "pending",
            id="required-with-default",
        ),
        pytest.param(
            {"column": "Company", "required": True, "default": ""},
            "pending",
            id="required-with-empty-default",
        ),
        pytest.param({"column": "Company"}, "pending", id="optional"),
    ],
)
def test_required_call_variable(
    make_config: Callable[..., Config],
    make_leads: Callable[..., pd.DataFrame],
    variable: dict[str, object],
    status: str,
) -> None:
    """A required call variable needs its cell filled unless it has a default."""
    config = make_config(call_data={"companyName": variable})
    frame = make_leads({"Phone": ["+1 201 555 0123"], "Company": [""]})

    outcome = validate_leads(frame, config)

    assert outcome.at[2, "status"] == status


def test_duplicate_written_differently(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A later row with the same number in another format is skipped."""
    frame = leads(
        [
            ("+1 201 555 0123", "", "Ann"),
            ("(201) 555-0123", "US", "Bea"),
            ("1.201.555.0123", "United States", "Cy"),
        ]
    )

    outcome = validate_leads(frame, config)

    assert outcome.at[2, "status"] == "pending"
    assert outcome.at[3, "status"] == "skipped"
    assert outcome.at[3, "reason"] == "duplicate_phone"
    assert outcome.at[3, "detail"] == "same number as row 2"
    assert outcome.at[4, "detail"] == "same number as row 2"
    assert outcome.at[4, "phone_e164"] == "+12015550123"


def test_duplicate_across_regions(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A UK national number and its +44 form on a US row are the same lead."""
    frame = leads([("020 7946 0000", "GB", "Ann"), ("+44 20 7946 0000", "US", "Bea")])

    outcome = validate_leads(frame, config)

    assert outcome.at[3, "status"] == "skipped"
    assert outcome.at[3, "detail"] == "same number as row 2"


def test_rejected_row_not_first(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A rejected row does not count as the first with its number."""
    frame = leads(
        [
            ("+1 201 555 0123", "", ""),
            ("201-555-0123", "", "Bea"),
            ("201 555 0123", "", "Cy"),
        ]
    )

    outcome = validate_leads(frame, config)

    assert outcome.at[2, "reason"] == "required_missing"
    assert outcome.at[3, "status"] == "pending"
    assert outcome.at[4, "detail"] == "same number as row 3"


def test_country_column_overrides_default(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A UK national number is valid on a GB row and invalid on a US row."""
    frame = leads(
        [
            ("020 7946 0001", "GB", "Ann"),
            ("020 7946 0002", "United Kingdom", "Bea"),
            ("020 7946 0003", "US", "Cy"),
            ("020 7946 0004", "", "Di"),
        ]
    )

    outcome = validate_leads(frame, config)

    assert outcome.at[2, "phone_e164"] == "+442079460001"
    assert outcome.at[3, "phone_e164"] == "+442079460002"
    assert outcome.at[4, "reason"] == "phone_invalid"
    assert outcome.at[4, "detail"] == "'020 7946 0003' is not a valid number for US"
    assert outcome.at[5, "detail"] == "'020 7946 0004' is not a valid number for US"


def test_default_country_without_column(
    make_config: Callable[..., Config], make_leads: Callable[..., pd.DataFrame]
) -> None:
    """Without a country column every row is read under the default region."""
    config = make_config(phone={"default_country": "gb"})

    outcome = validate_leads(make_leads({"Phone": ["020 7946 0005"]}), config)

    assert outcome.at[2, "phone_e164"] == "+442079460005"


def test_index_preserved(config: Config, leads: Callable[..., pd.DataFrame]) -> None:
    """The outcome keeps the source rows, and details name them, not positions."""
    frame = leads(
        [("+1 201 555 0123", "", "Ann"), ("", "", "Bea"), ("201 555 0123", "", "Cy")]
    )
    frame.index = pd.Index([7, 12, 40], name="source_row")

    outcome = validate_leads(frame, config)

    assert outcome.index.equals(frame.index)
    assert outcome.index.name == "source_row"
    assert outcome.at[12, "reason"] == "phone_missing"
    assert outcome.at[40, "detail"] == "same number as row 7"


def test_empty_frame(config: Config, leads: Callable[..., pd.DataFrame]) -> None:
    """A frame without rows gives an empty outcome with every column."""
    outcome = validate_leads(leads([]), config)

    assert len(outcome) == 0
    assert list(outcome.columns) == [
        "phone_e164",
        "status",
        "reason",
        "detail",
        "phone_note",
    ]


def mixed_lead(position: int) -> Lead:
    """Return one of four kinds of lead in turn: UK valid, empty, invalid, nameless.

    The UK numbers repeat after 1,000 of them, so row 4002 has the number of row 2.
    """
    kind, serial = position % 4, position // 4
    if kind == 0:
        return (f"020 7946 {serial % 1000:04d}", "UK", "Ann")
    if kind == 1:
        return ("", "", "Bea")
    if kind == 2:
        return ("+1 555 0100", "", "Cy")

    return ("+1 201 555 0100", "", "")


def test_twenty_thousand_rows(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A 20,000-row frame with every kind of row validates with the right counts."""
    rows = [mixed_lead(position) for position in range(20_000)]

    outcome = validate_leads(leads(rows), config)

    assert len(outcome) == 20_000
    assert outcome["status"].value_counts().to_dict() == {
        "rejected": 15_000,
        "skipped": 4_000,
        "pending": 1_000,
    }
    assert outcome["reason"].value_counts().to_dict() == {
        "phone_missing": 5_000,
        "phone_invalid": 5_000,
        "required_missing": 5_000,
        "duplicate_phone": 4_000,
        "": 1_000,
    }
    assert outcome.at[4002, "detail"] == "same number as row 2"


def test_phone_note_per_row(config: Config, leads: Callable[..., pd.DataFrame]) -> None:
    """Repairs, extensions and other numbers are noted on their own row only."""
    frame = leads(
        [
            ("2079460018", "GB", "Ann"),
            ("201-555-0123 x12", "", "Bea"),
            ("201-555-0124 / 201-555-0125", "US", "Cy"),
            ("+1 201 555 0126", "", "Di"),
        ]
    )

    outcome = validate_leads(frame, config)

    assert outcome["phone_e164"].tolist() == [
        "+442079460018",
        "+12015550123",
        "+12015550124",
        "+12015550126",
    ]
    assert outcome["phone_note"].tolist() == [
        "repaired: leading 0 restored",
        "extension 12",
        "other numbers: +12015550125",
        "",
    ]


def test_unknown_country_has_no_number_or_note(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """A row of an unknown country gets neither an E.164 number nor a phone note."""
    outcome = validate_leads(leads([("201-555-0123 x12", "Narnia", "Ann")]), config)

    assert outcome.at[2, "reason"] == "country_unknown"
    assert outcome.at[2, "phone_e164"] == ""
    assert outcome.at[2, "phone_note"] == ""


def test_same_number_other_extension_duplicate(
    config: Config, leads: Callable[..., pd.DataFrame]
) -> None:
    """Two extensions of one number are one call: the later row is skipped."""
    frame = leads([("201-555-0123 x1", "", "Ann"), ("201-555-0123 x2", "", "Bea")])

    outcome = validate_leads(frame, config)

    assert outcome.at[3, "status"] == "skipped"
    assert outcome.at[3, "detail"] == "same number as row 2"
    assert outcome.at[3, "phone_note"] == "extension 2"
