from decimal import Decimal as D

import pytest

from costwatch.money import column_decimals, decimal_string, format_usd, format_usd_exact


def test_a_column_keeps_two_significant_digits_of_its_smallest_amount() -> None:
    column = [D("0.0106"), D("0.003458"), D("12.5"), None, D(0)]
    places = column_decimals(column)
    assert places == 4
    assert [format_usd(v, places) for v in column] == ["$0.0106", "$0.0035", "$12.5000", "unpriced", "$0.0000"]


@pytest.mark.parametrize(
    ("values", "places"),
    [
        ([], 2),
        ([None, D(0)], 2),
        ([D("1234.5")], 2),
        ([D("0.01")], 3),
        ([D("0.5")], 2),
        ([D("0.0099")], 4),
        ([D("0.00000000000123")], 10),
        ([D("-0.004")], 4),
    ],
)
def test_column_decimals(values, places) -> None:  # noqa: ANN001
    assert column_decimals(values) == places


def test_amounts_read_as_people_read_them() -> None:
    assert format_usd(D("1234567.891"), 2) == "$1,234,567.89"
    assert format_usd(D("0.005"), 2) == "$0.01"  # half up, not banker's
    assert format_usd(D("-0.001"), 2) == "$0.00"  # never "-$0.00"
    assert format_usd(D("-2.5"), 2) == "-$2.50"
    assert format_usd(D("0.003458")) == "$0.0035"
    assert format_usd(None) == "unpriced"


def test_exact_amounts_keep_every_digit() -> None:
    assert format_usd_exact(D("0.003458000")) == "$0.003458"
    assert format_usd_exact(D("0E-12")) == "$0"
    assert format_usd_exact(D("-1.50")) == "-$1.5"
    assert format_usd_exact(None) == "unpriced"
    assert decimal_string(D("1E+2")) == "100" and decimal_string(None) == ""
