"""The invariants of the design, checked against the database after every flow test."""

from decimal import Decimal

from django.db.models import Sum

from billing.models import Account, LedgerEntry


def assert_money_invariants() -> None:
    """Every balance is the sum of its ledger and never negative."""
    sums = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")))
    for account in Account.objects.all():
        assert account.balance >= 0, account
        assert account.balance == sums.get(account.id, Decimal("0.00")), (
            f"{account}: ledger sums to {sums.get(account.id)}"
        )
