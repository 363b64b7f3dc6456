import logging
from decimal import Decimal
from uuid import UUID, uuid4

from django.db import transaction
from django.db.models import Exists

from billing.models import DEPOSIT_CAP, Account, LedgerEntry
from contracts.catalog import (
    AccountCreated,
    RefundCompleted,
    TransactionCompleted,
    TransactionCreated,
    TransactionFailed,
    TransactionRejected,
)
from kernel.messaging.outbox import publish

logger = logging.getLogger(__name__)


# Each service is one step: called by a handler it joins the handler's transaction (no savepoint);
# called alone it is a transaction of its own.
@transaction.atomic(savepoint=False)
def account_open(*, user_id: UUID) -> Account:
    account, created = Account.objects.get_or_create(user_id=user_id)
    if created:
        publish(AccountCreated(account_id=account.id, user_id=user_id))
    return account


@transaction.atomic(savepoint=False)
def account_deposit(*, transaction_id: UUID, user_id: UUID, amount: Decimal) -> LedgerEntry | None:
    """Credit ``amount`` under the account's row lock, with its ledger row, or refuse."""
    account = Account.objects.locked().filter(user_id=user_id).first()
    reason = None
    if account is None:
        reason = "no_account"
    elif account.balance + amount > DEPOSIT_CAP:
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


@transaction.atomic(savepoint=False)
def account_debit(
    *, transaction_id: UUID, order_id: UUID, user_id: UUID, amount: Decimal
) -> LedgerEntry | None:
    """Take an order's price under the account's row lock if the balance covers it."""
    debits = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DEBIT, reference=order_id)
    # The lock and the check for an earlier debit of this order in one round trip.
    account = (
        Account.objects.locked().filter(user_id=user_id).annotate(debited=Exists(debits)).first()
    )
    if account is not None and account.debited:
        done = debits.get()
        logger.warning("order %s is debited already (%s)", order_id, done.id)
        return done
    reason = None
    if account is None:
        reason = "no_account"
    elif account.balance < amount:
        reason = "insufficient_funds"
    if reason:
        publish(
            TransactionFailed(
                transaction_id=transaction_id,
                order_id=order_id,
                user_id=user_id,
                amount=amount,
                reason=reason,
            )
        )
        return None
    account.balance -= amount
    account.save(update_fields=["balance", "updated_at"])
    entry = LedgerEntry.objects.create(
        id=transaction_id,
        account=account,
        kind=LedgerEntry.Kind.DEBIT,
        amount=-amount,
        balance_after=account.balance,
        reference=order_id,
    )
    publish(
        TransactionCompleted(
            transaction_id=transaction_id, order_id=order_id, user_id=user_id, amount=amount
        )
    )
    return entry


@transaction.atomic(savepoint=False)
def account_refund(*, order_id: UUID, user_id: UUID) -> LedgerEntry | None:
    """Give back an order's debit, once. With no debit to undo, say so with an amount of 0.

    Never refused: a refund may take the balance past DEPOSIT_CAP (see ``billing.models``).
    """
    account = Account.objects.locked().filter(user_id=user_id).first()
    entries = {
        entry.kind: entry
        for entry in LedgerEntry.objects.filter(
            reference=order_id, kind__in=[LedgerEntry.Kind.DEBIT, LedgerEntry.Kind.REFUND]
        )
    }
    debit, refund = entries.get(LedgerEntry.Kind.DEBIT), entries.get(LedgerEntry.Kind.REFUND)
    if account is None or debit is None or refund is not None:
        publish(
            RefundCompleted(
                order_id=order_id,
                user_id=user_id,
                refund_transaction_id=refund.id if refund else None,
                amount=refund.amount if refund else Decimal("0.00"),
            )
        )
        return refund
    amount = -debit.amount
    account.balance += amount
    account.save(update_fields=["balance", "updated_at"])
    refund = LedgerEntry.objects.create(
        id=uuid4(),
        account=account,
        kind=LedgerEntry.Kind.REFUND,
        amount=amount,
        balance_after=account.balance,
        reference=order_id,
    )
    publish(
        RefundCompleted(
            order_id=order_id, user_id=user_id, refund_transaction_id=refund.id, amount=amount
        )
    )
    return refund
