"""The admin cannot corrupt the system: the tables the domains write are read-only there, and a
user staff make joins the system as a registered one does, with the real workers."""

import uuid
from decimal import Decimal
from functools import partial

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Account, LedgerEntry
from billing.tests.factories import AccountFactory
from kernel.messaging.models import DeadLetter, InboxEvent, OutboxEvent
from notifications.models import Contact, Notification
from orders.tests.factories import OrderFactory
from tests.flows import PASSWORD, login
from tests.support import eventually
from users.models import User


def _rows() -> dict[str, object]:
    """One row of every table only a domain writes, by its admin path."""
    account = AccountFactory(user_id=uuid.uuid4())
    event = uuid.uuid4()
    return {
        "orders/order": OrderFactory(user_id=account.user_id),
        "billing/account": account,
        "billing/ledgerentry": LedgerEntry.objects.create(
            id=uuid.uuid4(),
            account=account,
            kind="deposit",
            amount=Decimal("5.00"),
            balance_after=Decimal("5.00"),
        ),
        "notifications/notification": Notification.objects.create(
            user_id=account.user_id,
            kind="welcome",
            reference=account.user_id,
            email="ada@example.com",
            subject="Welcome",
            body="Hello",
        ),
        "notifications/contact": Contact.objects.create(
            user_id=account.user_id, username="ada", email="ada@example.com"
        ),
        "kernel/outboxevent": OutboxEvent.objects.create(
            id=event, type="UserCreated", correlation_id=uuid.uuid4(), envelope={}
        ),
        "kernel/inboxevent": InboxEvent.objects.create(
            consumer="billing", event_id=event, event_type="UserCreated"
        ),
        "kernel/deadletter": DeadLetter.objects.create(
            consumer="billing", event_type="UserCreated", message={}, reason="failed"
        ),
    }


@pytest.mark.django_db
def test_the_tables_the_domains_write_cannot_be_added_to_changed_or_deleted(admin_client):
    for model, row in _rows().items():
        base = f"/admin/{model}/"
        listing = admin_client.get(base)
        assert listing.status_code == 200, model
        assert f'href="{base}add/"' not in listing.content.decode(), model
        assert b"delete_selected" not in listing.content, model
        assert admin_client.get(f"{base}add/").status_code == 403, model
        assert admin_client.get(f"{base}{row.pk}/change/").status_code == 200, model  # to read
        assert admin_client.post(f"{base}{row.pk}/change/", {}).status_code == 403, model
        assert admin_client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert type(row).objects.filter(pk=row.pk).exists(), model


@pytest.mark.django_db
def test_the_admin_index_names_its_tables_in_good_english(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "Ledger entries" in index and "Ledger entrys" not in index


def _has_joined(user_id: uuid.UUID) -> bool:
    return (
        Account.objects.filter(user_id=user_id).exists()
        and Contact.objects.filter(user_id=user_id).exists()
    )


@pytest.mark.usefixtures("live")
def test_users_made_by_staff_join_the_system_like_registered_ones(admin_client, monkeypatch):
    added = admin_client.post(
        "/admin/users/user/add/",
        {
            "username": "opal",
            "email": "opal@example.com",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert added.status_code == 302, added.content
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com")

    for username in ("opal", "root"):
        user = User.objects.get(username=username)
        eventually(partial(_has_joined, user.id), what=f"{username}'s account and contact")
        account = login(username).get("/account/")
        assert account.status_code == 200, account.content
        assert account.json()["balance"] == "0.00"
    assert Contact.objects.get(username="root").email == "root@example.com"


@pytest.mark.django_db
def test_a_user_without_an_email_address_is_not_made(admin_client):
    form = {"username": "nomail", "usable_password": "true"}
    form |= {"password1": PASSWORD, "password2": PASSWORD}
    assert admin_client.post("/admin/users/user/add/", form).status_code == 200  # the form again
    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", username="nomail2")
    assert not User.objects.filter(username__startswith="nomail").exists()
    assert not OutboxEvent.objects.filter(type="UserCreated", envelope__payload__username="nomail")
