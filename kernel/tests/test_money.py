from decimal import Decimal

import pytest

from kernel.money import MoneyError, money_str, parse_money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", "12.50"),
        ("0.01", "0.01"),
        (7, "7.00"),
        (12.25, "12.25"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_plain_amounts_are_read_with_two_places(raw, expected):
    assert money_str(parse_money(raw)) == expected
    assert isinstance(parse_money(raw), Decimal)


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "1e3",
        "1E+2",
        "NaN",
        "Infinity",
        "1.001",
        "",
        " 1",
        "1,00",
        "+1",
        "0x10",
        True,
        None,
        [1],
        "12345678901",
        float("nan"),
        float("inf"),
        1e-7,
    ],
)
def test_anything_else_is_refused(raw):
    with pytest.raises(MoneyError):
        parse_money(raw)
