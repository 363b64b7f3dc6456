"""The bare reference of `make bench`: a minimal Celery app, no Django and no project code.

The same no-op chain as ``bench.echo`` along the same queues, on the same Redis server (a
database of its own), with Celery's defaults but for what the project's workers must keep:
``acks_late``, one message prefetched per process, JSON. Its workers are started by the
benchmark with the pool and concurrency of the stack's workers:

    BARE_BROKER_URL=redis://… BARE_REPLY_URL=redis://… celery -A bench.bare worker -Q orders
"""

import os
from functools import cache

import redis
from celery import Celery
from kombu import Queue

QUEUES = ("gateway", "users", "billing", "orders", "notifications")

BROKER = os.environ.get("BARE_BROKER_URL", "redis://127.0.0.1:6379/12")
# Not the current app: the benchmark's process also holds the project's.
app = Celery("bare", set_as_current=False)
app.conf.update(
    # Read and write URLs, which CELERY_BROKER_URL in the environment (the project's, in the
    # benchmark's own process) does not override.
    broker_read_url=BROKER,
    broker_write_url=BROKER,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_queues=[Queue(name) for name in QUEUES],
    task_create_missing_queues=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bare.echo", acks_late=True)
def echo(route: list[list[str]], reply_key: str | None, sent_at: float) -> None:
    """What ``bench.echo`` does, in the bare app."""
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
    return redis.Redis.from_url(os.environ.get("BARE_REPLY_URL", "redis://127.0.0.1:6379/13"))
