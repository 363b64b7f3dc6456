import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

# The money model at the boundary. A deposit may take a balance to DEPOSIT_CAP and no further;
# a refund is never refused, so it may take a balance past the cap, by at most the debits it gives
# back. Balances are stored with BALANCE_DIGITS digits (10^18), a bound only about 10^12 refunded
# orders of the largest price on top of a full balance could reach; a single entry's amount stays
# within numeric(12, 2). docs/architecture.md ("Money at the boundary") has the argument.
DEPOSIT_CAP = Decimal("9999999999.99")
BALANCE_DIGITS = 20


class AccountQuerySet(models.QuerySet):
    def locked(self) -> "AccountQuerySet":
        """Lock the rows for the rest of the transaction: every balance change goes through here."""
        return self.select_for_update()


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A plain id, not a foreign key: users live in another domain.
    user_id = models.UUIDField(unique=True)
    balance = models.DecimalField(max_digits=BALANCE_DIGITS, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="account_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"account of {self.user_id}: {self.balance}"


class LedgerEntry(models.Model):
    """One change of one balance. The balance is always the sum of its entries."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        DEBIT = "debit"
        REFUND = "refund"

    # The transaction id made by whoever asked: a repeated request cannot book twice.
    id = models.UUIDField(primary_key=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="Signed.")
    balance_after = models.DecimalField(max_digits=BALANCE_DIGITS, decimal_places=2)
    # What the entry is for (the order of a debit or a refund); unique per kind.
    reference = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"],
                condition=Q(reference__isnull=False),
                name="ledger_one_entry_per_kind_and_reference",
            ),
            models.CheckConstraint(
                condition=(Q(kind="debit", amount__lt=0) | (~Q(kind="debit") & Q(amount__gt=0))),
                name="ledger_amount_sign_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["account", "-created_at"], name="ledger_account_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"
