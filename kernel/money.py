"""Money is Decimal, two places, everywhere: this is the one place that says how."""

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
# What a client may ask to move at once (a deposit, an order's price).
MAX_AMOUNT = Decimal("1000000.00")
# The same rule as one pattern, for the API and its OpenAPI schema: 0.01 to 1000000.00, plain
# notation, no leading zeros, at most two decimals.
# Digits are ASCII ([0-9], not \d, which also matches fullwidth or Arabic-Indic digits), and the
# pattern is matched whole (fullmatch: "$" would let a trailing line break through).
AMOUNT_PATTERN = (
    r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9])|1000000(?:\.0{1,2})?)$"
)
# Plain notation only: no sign, no exponent, no more than two decimals.
_PLAIN = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")


class MoneyError(ValueError):
    pass


def parse_money(value: object) -> Decimal:
    """Turn user or wire input into a Decimal with two places, refusing anything ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MoneyError('Enter the amount as a decimal string such as "12.50".')
    text = str(value) if not isinstance(value, float) else repr(value)
    if text.startswith("-"):
        raise MoneyError("The amount must be positive.")
    if not _PLAIN.fullmatch(text):
        if any(char.isdigit() and not char.isascii() for char in text):
            raise MoneyError(
                "Write the amount with the ASCII digits 0 to 9 only; fullwidth, Arabic-Indic and "
                "other digits are not read as numbers here."
            )
        if text != text.strip():
            raise MoneyError("Nothing may come before or after the amount, not even a space.")
        raise MoneyError(
            "Enter a plain decimal number with at most 10 digits before the point "
            "and at most two after it."
        )
    try:
        return Decimal(text).quantize(CENT)
    except InvalidOperation as exc:  # unreachable after the pattern, kept for safety of Decimal
        raise MoneyError("Not a number.") from exc


def money_str(amount: Decimal) -> str:
    """The wire form: a string with exactly two places, "12.50"."""
    return f"{amount.quantize(CENT):f}"
