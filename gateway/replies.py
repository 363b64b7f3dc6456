"""The reply channel: answer events wait in Redis, keyed by the correlation id of the request.

The gateway's worker pushes each answer event it consumes onto ``reply:<correlation id>`` (where
the HTTP request blocks on it) and files it under ``operation:<correlation id>`` (where a request
answered 202 can read its outcome later). No table of another domain is read.
"""

import json
import logging
import time
from functools import cache
from typing import Any
from uuid import UUID

import redis
from django.conf import settings

from kernel.messaging.events import Envelope

logger = logging.getLogger(__name__)

REPLY_TTL = 300  # an answer nobody waits for is dropped after this long
# Above any API process's WEB_CONNECTIONS (gateway_django/gunicorn.py), which bounds the waits.
MAX_WAITING = 10_000


@cache
def client() -> redis.Redis:
    """One connection per waiting request, each blocked in BLPOP for up to GATEWAY_REPLY_TIMEOUT.

    Both limits are set here rather than left to redis-py, whose version 8 changed them: no read
    timeout (Redis itself ends the wait; 8's default of 5 s cut longer waits short and answered
    202 to requests whose answers were on their way), and room for as many connections as an API
    process holds waiting requests (8's default pool of 100 refused the 101st waiter at once).
    """
    return redis.Redis.from_url(
        settings.REPLY_REDIS_URL,
        decode_responses=True,
        socket_timeout=None,
        socket_keepalive=True,
        max_connections=MAX_WAITING,
    )


def _reply_key(correlation_id: UUID | str) -> str:
    return f"reply:{correlation_id}"


def _operation_key(correlation_id: UUID | str) -> str:
    return f"operation:{correlation_id}"


def operation_start(*, correlation_id: UUID, kind: str, user_id: UUID | str | None) -> None:
    """Remember what a request was, so its outcome can be shown to its owner only."""
    meta = json.dumps({"kind": kind, "user_id": str(user_id) if user_id else None})
    key = _operation_key(correlation_id)
    pipe = client().pipeline()
    pipe.hset(key, "_meta", meta)
    pipe.expire(key, settings.GATEWAY_OPERATION_TTL)
    try:
        pipe.execute()
    except redis.RedisError:
        # The request still goes on; only its /operation/ page will be missing.
        logger.warning("could not record operation %s", correlation_id, exc_info=True)


def answer(envelope: Envelope) -> None:
    """Called by the gateway's worker for every answer event: wake the waiter, file the outcome."""
    data = envelope.model_dump_json()
    reply, operation = _reply_key(envelope.correlation_id), _operation_key(envelope.correlation_id)
    pipe = client().pipeline()
    pipe.rpush(reply, data)
    pipe.expire(reply, REPLY_TTL)
    pipe.hset(operation, envelope.type, data)
    pipe.expire(operation, settings.GATEWAY_OPERATION_TTL)
    pipe.execute()


def wait(*, correlation_id: UUID, types: set[str], timeout: float | None = None) -> Envelope | None:
    """Block until an answer of one of ``types`` arrives for this request, or the time is up."""
    deadline = time.monotonic() + (settings.GATEWAY_REPLY_TIMEOUT if timeout is None else timeout)
    key = _reply_key(correlation_id)
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            item = client().blpop([key], timeout=max(remaining, 0.01))
        except redis.RedisError:
            # No reply channel: answer 202 and let the client read the outcome later.
            logger.warning("reply channel unavailable for %s", correlation_id, exc_info=True)
            return None
        if item is None:
            return None
        envelope = Envelope.model_validate_json(item[1])
        if envelope.type in types:
            return envelope
    return None


def operation_get(correlation_id: UUID | str) -> tuple[dict[str, Any], dict[str, Envelope]] | None:
    """The request's description and the answers filed for it so far, or None if unknown."""
    try:
        raw = client().hgetall(_operation_key(correlation_id))
    except redis.RedisError:
        logger.warning("operation store unavailable for %s", correlation_id, exc_info=True)
        return None
    if "_meta" not in raw:
        return None
    meta = json.loads(raw.pop("_meta"))
    return meta, {name: Envelope.model_validate_json(data) for name, data in raw.items()}
