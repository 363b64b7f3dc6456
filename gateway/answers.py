"""How each command the gateway sends is settled: the answer events and the HTTP answer of each.

Read by the API, which waits for the answer, and by the gateway's worker, which keeps the final
answer of a keyed order request (``gateway.handlers``).
"""

from rest_framework import status

from gateway.operations import operation
from kernel.messaging.events import Envelope
from kernel.web.errors import error_body

REJECTIONS = {
    "username_taken": "That username is already taken.",
    "email_taken": "That email address is already registered.",
    "no_account": "Your account is not open yet; try again in a moment.",
    "balance_limit": "The deposit would take the balance over its limit.",
    "not_placed_yet": "The order is still being placed; try again in a moment.",
    "not_cancellable": "Only a confirmed order can be cancelled; this one is {status}.",
}


def _rejected(envelope: Envelope, code: int = status.HTTP_409_CONFLICT) -> tuple[int, dict]:
    reason = envelope.payload["reason"]
    message = REJECTIONS.get(reason, reason).format(**envelope.payload)
    return code, error_body(reason, message)


def _cancel_rejected(envelope: Envelope) -> tuple[int, dict]:
    # The gateway sends a cancel only for an order it accepted from this user, so an order the
    # orders domain does not know is one it has not placed yet: "not yet", never "not found".
    if envelope.payload["reason"] == "not_found":
        return status.HTTP_409_CONFLICT, error_body(
            "order_not_placed_yet", REJECTIONS["not_placed_yet"]
        )
    return _rejected(envelope)


def _order(
    envelope: Envelope, order_status: str, code: int = status.HTTP_201_CREATED
) -> tuple[int, dict]:
    payload = envelope.payload
    body = {
        "id": payload["order_id"],
        "status": order_status,
        "reason": payload.get("reason", ""),
        "price": payload["price"],
        "description": payload.get("description", ""),
    }
    if "refunded" in payload:
        body["refunded"] = payload["refunded"]
    return code, body


REGISTER = operation(
    "register",
    {
        "UserCreated": lambda e: (
            status.HTTP_201_CREATED,
            {k: e.payload[k] for k in ("user_id", "username", "email", "first_name", "last_name")},
        ),
        "RegistrationRejected": _rejected,
    },
)

DEPOSIT = operation(
    "deposit",
    {
        "TransactionCreated": lambda e: (
            status.HTTP_201_CREATED,
            {
                "transaction_id": e.payload["transaction_id"],
                "kind": "deposit",
                "amount": e.payload["amount"],
                "balance": e.payload["balance"],
            },
        ),
        "TransactionRejected": _rejected,
    },
)

ORDER = operation(
    "order",
    {
        "OrderConfirmed": lambda e: _order(e, "confirmed"),
        "OrderRejected": lambda e: _order(e, "rejected"),
    },
)

CANCEL = operation(
    "cancel",
    {
        "OrderCancelled": lambda e: _order(e, "cancelled", status.HTTP_200_OK),
        "OrderCancelRejected": _cancel_rejected,
    },
)
