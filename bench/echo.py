"""The pipeline's ceiling: a no-op task passed along the queues a saga's events take.

Loaded by the workers of the benchmark's own stack only (``CELERY_IMPORTS=bench.echo``).
"""

from functools import cache

import redis
from celery import shared_task
from django.conf import settings


@shared_task(name="bench.echo", acks_late=True)
def echo(route: list[list[str]], reply_key: str | None, sent_at: float) -> None:
    """Pass a message along ``route`` as a saga's events go, doing nothing else: the pipeline's
    ceiling (make bench).

    Each hop lists the queues its message goes to, as an event goes to each of its consumers:
    the first carries the rest of the route, the others end there. At the end of the route the
    message is pushed onto the Redis list ``reply_key``, as the gateway wakes a waiting request.
    """
    if route:
        first, *others = route[0]
        echo.apply_async((route[1:], reply_key, sent_at), queue=first)
        for queue in others:
            echo.apply_async(([], None, sent_at), queue=queue)
        return
    if reply_key is None:
        return
    pipe = _reply_client().pipeline()
    pipe.rpush(reply_key, sent_at)
    pipe.expire(reply_key, 300)
    pipe.execute()


@cache
def _reply_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REPLY_REDIS_URL)
