"""kombu's Redis transport, with one fault of it contained and one cost of it taken out.

When the broker connection drops, kombu closes the channel after the connection. Whatever the
old channel still does afterwards (put its unacknowledged messages back; acknowledge a task that
finishes after the reconnect) reaches for a connection that is gone and raises
``AttributeError: 'NoneType' object has no attribute …``, which Celery takes for an
unrecoverable error and stops the worker (kombu 5.7.0, seen when Redis restarts). Here those
calls give up quietly and the worker goes on with its new connection. Nothing is lost: a message
not acknowledged stays in Redis' unacknowledged set and comes back after the visibility timeout
(the inbox makes that copy harmless), and if Redis lost it (restarted empty) the outbox sweep
sends it again.

The cost: kombu builds a new ``redis.Redis`` client object (and its table of response
callbacks) for every synchronous command it sends: each publish, and the bookkeeping of each
delivery and of each acknowledgement. A client holds no connection of its own (it borrows one
from the channel's pool per command), so the channel keeps one for as long as its pool lives.
"""

import logging

from kombu.transport import redis

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def _on_closed_channel(self, action: str) -> None:
        logger.warning(
            "broker channel closed: cannot %s; the outbox sweep and the visibility "
            "timeout cover it",
            action,
        )

    def restore_unacked(self, client=None):
        try:
            return super().restore_unacked(client)
        except AttributeError:
            self._on_closed_channel(f"restore {len(self._delivered)} unacknowledged messages")
            self._delivered.clear()
            return None

    def ack(self, delivery_tag):
        try:
            super().ack(delivery_tag)
        except AttributeError:
            self._on_closed_channel("acknowledge a message")

    def reject(self, delivery_tag, requeue=False):
        try:
            super().reject(delivery_tag, requeue=requeue)
        except AttributeError:
            self._on_closed_channel("reject a message")


class Channel(redis.Channel):
    QoS = QoS
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool  # made anew after a disconnect: the client follows it
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
