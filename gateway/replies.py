"""The wake-up channel: an answer event for a request that waits goes onto a Redis list.

The gateway's worker pushes each answer event it consumes onto ``reply:<correlation id>``, where
the HTTP request blocks on it. This is only how a waiting request learns at once; the outcome
itself is kept in PostgreSQL (``gateway.models.Operation``), so a Redis that lost the list loses
nothing but the wait. No table of another domain is read.
"""

import logging
import time
from functools import cache
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


def wake(envelope: Envelope) -> None:
    """Hand an answer event to the request that may be waiting for it."""
    key = _reply_key(envelope.correlation_id)
    pipe = client().pipeline()
    pipe.rpush(key, envelope.model_dump_json())
    pipe.expire(key, REPLY_TTL)
    pipe.execute()


def wait(*, correlation_id: UUID, types: set[str], timeout: float | None = None) -> Envelope | None:
    """Block until an answer of one of ``types`` arrives for this request, or the time is up."""
    deadline = time.monotonic() + (settings.GATEWAY_REPLY_TIMEOUT if timeout is None else timeout)
    key = _reply_key(correlation_id)
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            item = client().blpop([key], timeout=max(remaining, 0.01))
        except redis.RedisError:
            # No wake-up channel: answer 202; the outcome is still kept and readable later.
            logger.warning("reply channel unavailable for %s", correlation_id, exc_info=True)
            return None
        if item is None:
            return None
        envelope = Envelope.model_validate_json(item[1])
        if envelope.type in types:
            return envelope
    return None
