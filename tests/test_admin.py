"""The admin cannot corrupt the system: the tables the domains write are read-only there; what
staff do goes through the domains (a user joins as a registered one does, an order is cancelled
through its refund saga, a dead letter is sent again to its consumer), with the real workers; an
order's page draws its saga as it happened."""

import re
import uuid
from decimal import Decimal
from functools import partial

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing.models import Account, LedgerEntry
from billing.tests.factories import AccountFactory
from contracts.catalog import OrderRequested
from kernel.messaging.context import message_context
from kernel.messaging.events import Envelope
from kernel.messaging.models import DeadLetter, InboxEvent, OutboxEvent
from kernel.messaging.outbox import publish
from notifications.models import Contact, Notification
from orders.models import Order
from orders.tests.factories import OrderFactory
from tests.flows import PASSWORD, balance, customer, deposit, emails, login, order
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


# --- Actions through the domain, and the order's saga drawn ------------------------------------


def _saga_page(admin_client, order_id: str) -> str:
    page = admin_client.get(f"/admin/orders/order/{order_id}/change/")
    assert page.status_code == 200
    return page.content.decode()


def _drawn(page: str) -> list[str]:
    """The events the sequence diagram draws, an arrow (or a note) each, in order."""
    start = page.index('<svg class="saga-sequence"')
    svg = page[start : page.index("</svg>", start)]
    return re.findall(r'data-event="(\w+)"', svg)


@pytest.mark.usefixtures("live")
def test_staff_cancel_a_confirmed_order_through_the_refund_saga(admin_client, api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    placed = order(alice.client, "40.00", description="a lamp")
    assert placed["status"] == "confirmed"
    action = {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [placed["id"]]}

    asked = admin_client.post("/admin/orders/order/", action)

    assert asked.status_code == 200  # the confirmation page, nothing done yet
    assert placed["id"] in asked.content.decode() and 'value="yes"' in asked.content.decode()
    assert 'name="action" value="cancel_selected"' in asked.content.decode()
    assert 'value="Yes, cancel 1 order"' in asked.content.decode()
    assert Order.objects.get(pk=placed["id"]).status == "confirmed"
    assert not OutboxEvent.objects.filter(type="RefundRequested").exists()

    done = admin_client.post("/admin/orders/order/", action | {"confirmed": "yes"}, follow=True)

    assert "Cancel requested for 1 order(s)" in done.content.decode()
    cancelled = eventually(
        lambda: Order.objects.filter(pk=placed["id"], status="cancelled").first(),
        what="the refund saga to cancel the order",
    )
    assert cancelled.refunded == Decimal("40.00")
    assert balance(alice.client) == Decimal("100.00")
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    eventually(lambda: emails(alice.client, "order_cancelled"), what="the customer's letter")

    page = eventually(
        lambda: (p := _saga_page(admin_client, placed["id"])) and "Compensated" in p and p,
        what="the page to show the compensation",
    )
    drawn = _drawn(page)
    assert drawn[:1] == ["OrderRequested"] and "OrderConfirmed" in drawn
    compensation = drawn[drawn.index("RefundRequested") :]
    assert compensation == [
        "RefundRequested",
        "RefundCompleted",
        "OrderCancelled",
        "OrderCancelled",  # to notifications and to the gateway
    ]
    assert "Compensated: 40.00 refunded" in page
    assert "Cancel this order" not in page  # nothing left to cancel


@pytest.mark.django_db
def test_an_order_that_is_not_confirmed_is_not_cancelled_from_the_admin(admin_client):
    rejected = OrderFactory(status=Order.Status.REJECTED, reason="insufficient_funds")
    action = {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [str(rejected.pk)]}

    asked = admin_client.post("/admin/orders/order/", action).content.decode()

    assert "these will not be" in asked and "rejected" in asked
    assert 'value="Yes, cancel' not in asked
    assert "Cancel this order" not in _saga_page(admin_client, rejected.pk)

    done = admin_client.post("/admin/orders/order/", action | {"confirmed": "yes"}, follow=True)

    assert "only a confirmed order can be cancelled; this one is rejected" in done.content.decode()
    assert Order.objects.get(pk=rejected.pk).status == "rejected"
    assert not OutboxEvent.objects.filter(type="RefundRequested").exists()


@pytest.mark.django_db
def test_staff_who_may_only_view_orders_cannot_cancel_them(client, django_user_model):
    viewer = django_user_model.objects.create_user(
        username="viewer", email="viewer@example.com", password=PASSWORD
    )
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    confirmed = OrderFactory()

    listing = client.get("/admin/orders/order/").content.decode()
    client.post(
        "/admin/orders/order/",
        {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [confirmed.pk], "confirmed": "yes"},
    )

    assert "cancel_selected" not in listing
    assert Order.objects.get(pk=confirmed.pk).status == "confirmed"


@pytest.mark.usefixtures("live")
def test_a_confirmed_orders_page_draws_its_whole_saga(admin_client, api):
    alice = customer(api)
    deposit(alice.client, "50.00")
    placed = order(alice.client, "20.00")

    page = eventually(
        lambda: (p := _saga_page(admin_client, placed["id"])) and "Complete:" in p and p,
        what="every consumer to apply the saga's events",
    )

    assert _drawn(page) == [
        "OrderRequested",
        "OrderCreated",  # a note: nobody consumes it
        "TransactionRequested",
        "TransactionCompleted",
        "OrderConfirmed",
        "OrderConfirmed",
    ]
    assert page.count("✓") == 4 and "✗" not in page  # every expected step of ORDER_SAGA
    assert '<g class="message waiting"' not in page
    assert '<g class="message dead-lettered"' not in page
    assert "Cancel this order" in page


@pytest.mark.usefixtures("live")
def test_a_rejected_orders_page_shows_where_its_saga_stopped(admin_client, api):
    bob = customer(api)
    placed = order(bob.client, "20.00")
    assert placed["status"] == "rejected"

    page = eventually(
        lambda: (p := _saga_page(admin_client, placed["id"])) and "Stopped" in p and p,
        what="the page to say where the saga stopped",
    )

    assert "Stopped before TransactionCompleted (billing)" in page
    assert "reason insufficient_funds" in page
    drawn = _drawn(page)
    assert "TransactionFailed" in drawn and "OrderRejected" in drawn
    assert "TransactionCompleted" not in drawn and "OrderConfirmed" not in drawn


@pytest.mark.django_db
def test_a_saga_waiting_on_a_consumer_or_dead_lettered_says_so(admin_client):
    placed = OrderFactory(status=Order.Status.PENDING)
    saga = uuid.uuid4()
    with message_context(correlation=saga):  # written, never sent: this test has no workers
        (requested,) = publish(
            OrderRequested(order_id=placed.id, user_id=placed.user_id, price="10.00")
        )
    Order.objects.filter(pk=placed.pk).update(correlation_id=saga)

    page = _saga_page(admin_client, placed.pk)
    assert "Waiting for orders to apply OrderRequested." in page
    assert '<g class="message waiting"' in page

    DeadLetter.objects.create(
        consumer="orders",
        event_id=requested.id,
        event_type="OrderRequested",
        message=requested.model_dump(mode="json"),
        reason="failed",
    )
    page = _saga_page(admin_client, placed.pk)
    assert "Stopped: orders could not apply OrderRequested (dead letter, failed)" in page
    assert '<g class="message dead-lettered"' in page


@pytest.mark.usefixtures("live")
def test_a_dead_letter_is_replayed_after_a_page_that_lists_it(admin_client, api):
    alice = customer(api)
    deposit_request = Envelope(
        id=uuid.uuid4(),
        type="TransactionRequested",
        version=1,
        occurred_at=timezone.now(),
        correlation_id=uuid.uuid4(),
        payload={
            "transaction_id": str(uuid.uuid4()),
            "user_id": alice.user_id,
            "amount": "7.00",
            "kind": "deposit",
        },
    ).model_dump(mode="json")
    letter = DeadLetter.objects.create(
        consumer="billing",
        event_id=deposit_request["id"],
        event_type="TransactionRequested",
        message=deposit_request,
        reason="failed",
        attempts=7,
    )
    action = {"action": "replay_selected", ACTION_CHECKBOX_NAME: [letter.pk]}

    asked = admin_client.post("/admin/kernel/deadletter/", action).content.decode()

    assert "billing" in asked and deposit_request["id"] in asked and "never" in asked
    assert 'name="action" value="replay_selected"' in asked
    assert 'value="Yes, replay 1 message"' in asked
    assert DeadLetter.objects.get(pk=letter.pk).replayed_at is None
    assert not_replayed(admin_client) == [letter.pk]

    confirmed = action | {"confirmed": "yes"}
    done = admin_client.post("/admin/kernel/deadletter/", confirmed, follow=True)

    assert "1 message(s) sent again" in done.content.decode()
    eventually(lambda: balance(alice.client) == Decimal("7.00"), what="billing to apply it")
    replayed = eventually(
        lambda: DeadLetter.objects.filter(pk=letter.pk, closed_at__isnull=False).first(),
        what="the relay to close the dead letter",
    )
    assert replayed.replayed_at is not None
    assert not_replayed(admin_client) == []
    listing = admin_client.get("/admin/kernel/deadletter/?state=all&replayed=yes")
    assert [row.pk for row in listing.context["cl"].result_list] == [letter.pk]


def not_replayed(admin_client) -> list[int]:
    listing = admin_client.get("/admin/kernel/deadletter/?state=all&replayed=no")
    return [row.pk for row in listing.context["cl"].result_list]
