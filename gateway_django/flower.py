"""The Celery app as Flower loads it (``scripts/entrypoint.sh flower``): the same configuration,
with kombu's own Redis transport.

Flower knows a broker by its URL's scheme, and the workers' transport
(``kernel.messaging.broker``) would make that scheme its class path: the Broker tab and
``/api/queues/length`` would answer "'redis' broker is not supported". Flower only reads the
broker (events, taken without acknowledgement, and the queues' lengths), so the fault that
transport contains, an acknowledgement on a channel closed by a reconnect, never reaches it.
"""

from gateway_django.celery import app

app.conf.broker_transport = None  # the scheme of CELERY_BROKER_URL: redis

__all__ = ["app"]
