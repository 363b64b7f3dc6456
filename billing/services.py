import logging
from decimal import Decimal
from uuid import UUID

from django.db import transaction

from billing.models import Account, LedgerEntry
from kernel.catalog import AccountCreated, TransactionCreated, TransactionRejected
from kernel.outbox import publish

logger = logging.getLogger(__name__)

MAX_BALANCE = Decimal("9999999999.99")  # numeric(12, 2)


@transaction.atomic
def account_open(*, user_id: UUID) -> Account:
    account, created = Account.objects.get_or_create(user_id=user_id)
    if created:
        publish(AccountCreated(account_id=account.id, user_id=user_id))
    return account


@transaction.atomic
def account_deposit(*, transaction_id: UUID, user_id: UUID, amount: Decimal) -> LedgerEntry | None:
    """Credit ``amount`` under the account's row lock, with its ledger row, or refuse."""
    account = Account.objects.locked().filter(user_id=user_id).first()
    reason = None
    if account is None:
        reason = "no_account"
    elif account.balance + amount > MAX_BALANCE:
        reason = "balance_limit"
    if reason:
        logger.info("deposit %s refused: %s", transaction_id, reason)
        publish(
            TransactionRejected(
                transaction_id=transaction_id, user_id=user_id, amount=amount, reason=reason
            )
        )
        return None
    account.balance += amount
    account.save(update_fields=["balance", "updated_at"])
    entry = LedgerEntry.objects.create(
        id=transaction_id,
        account=account,
        kind=LedgerEntry.Kind.DEPOSIT,
        amount=amount,
        balance_after=account.balance,
    )
    publish(
        TransactionCreated(
            transaction_id=transaction_id, user_id=user_id, amount=amount, balance=account.balance
        )
    )
    return entry
