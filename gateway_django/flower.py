"""The Celery app as Flower loads it (``scripts/entrypoint.sh flower``): the same configuration,
with kombu's own Redis transport.

Flower knows a broker by its URL's scheme, and the workers' transport
(``kernel.messaging.broker``) would make that scheme its class path: the Broker tab and
``/api/queues/length`` would answer "'redis' broker is not supported". Flower only reads the
broker (events, taken without acknowledgement, and the queues' lengths), so the fault that
transport contains, an acknowledgement on a channel closed by a reconnect, never reaches it.
"""

import os

from django.conf import settings

from gateway_django.celery import app

app.conf.broker_transport = None  # the scheme of CELERY_BROKER_URL: redis

# Flower asks the workers for task events every few seconds unless told not to. It asks only
# where the settings send them (development): elsewhere they cost too much for a list nobody
# watches (docs/performance.md), and an operator turns them on for a while with
# `celery -A gateway_django control enable_events` (then `disable_events`).
os.environ.setdefault("FLOWER_ENABLE_EVENTS", str(settings.CELERY_WORKER_SEND_TASK_EVENTS).lower())

__all__ = ["app"]
