from uuid import UUID

from django.db.models import QuerySet

from billing.models import Account, LedgerEntry


def account_get(*, user_id: UUID | str) -> Account | None:
    return Account.objects.filter(user_id=user_id).first()


def ledger_list(*, user_id: UUID | str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account__user_id=user_id).order_by("-created_at", "id")
