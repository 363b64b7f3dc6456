"""The transport in kernel/messaging/broker.py overrides three methods of kombu's Redis QoS and
reads its ``_delivered`` map. It was written against kombu 5.7.0; if kombu changes what it
overrides, these fail, and the wrapper is to be read again (and dropped once kombu fixes the
fault it contains)."""

import inspect

import kombu
import pytest
from kombu.transport import redis as kombu_redis

from kernel.messaging import broker


def test_kombu_is_the_release_the_wrapper_was_written_for():
    assert kombu.__version__ == "5.7.0"


def test_the_overridden_methods_keep_their_signatures():
    for name in ("restore_unacked", "ack", "reject"):
        theirs = inspect.signature(getattr(kombu_redis.QoS, name))
        ours = inspect.signature(getattr(broker.QoS, name))
        assert list(ours.parameters) == list(theirs.parameters), name


class ClosedChannel:
    """A channel after its connection dropped, as kombu leaves it: no client any more."""

    client = None
    do_restore = False  # nothing for kombu's own restore at exit


def test_the_transport_uses_the_wrapped_qos():
    assert issubclass(broker.Transport, kombu_redis.Transport)
    assert broker.Transport.Channel.QoS is broker.QoS
    assert hasattr(broker.QoS(ClosedChannel()), "_delivered")


def test_an_acknowledgement_over_a_closed_channel_is_given_up_quietly(caplog):
    qos = broker.QoS(ClosedChannel())
    qos._delivered["tag"] = ({}, "", "queue")

    qos.ack("tag")
    qos.reject("tag", requeue=True)
    qos.restore_unacked()

    assert "broker channel closed" in caplog.text
    assert qos._delivered == {}


def test_kombu_itself_still_raises_there():
    """The fault the wrapper contains; once kombu stops raising, the wrapper can go."""
    qos = kombu_redis.QoS(ClosedChannel())
    qos._delivered["tag"] = ({}, "", "queue")
    with pytest.raises(AttributeError):
        qos.ack("tag")


def test_a_channel_keeps_one_client_for_its_commands_and_follows_a_new_pool():
    """kombu would build a client per command; this channel builds one per connection pool,
    and a new one when kombu replaces the pool after a disconnect."""
    from django.conf import settings
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, transport=broker.Transport) as connection:
        channel = connection.channel()
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        assert first.ping()
        channel._disconnect_pools()
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()
