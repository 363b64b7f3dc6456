"""Tracing off costs nothing and writes nothing; the envelope's trace field is optional."""

import os
import subprocess
import sys
import uuid

import pytest
from django.utils import timezone

from kernel.messaging import outbox
from kernel.messaging.events import Envelope, Event
from kernel.messaging.models import OutboxEvent
from kernel.telemetry import tracing


def test_tracing_is_off_without_an_endpoint_and_no_sdk_is_loaded():
    # The suite's own process runs without OTEL_EXPORTER_OTLP_ENDPOINT nor a span file.
    assert not tracing.enabled()
    assert tracing.current_trace() is None
    assert "opentelemetry.sdk.trace" not in sys.modules


def test_an_envelope_stored_before_the_trace_field_still_parses():
    stored = {
        "id": str(uuid.uuid4()),
        "type": "UserCreated",
        "version": 1,
        "occurred_at": timezone.now().isoformat(),
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": {},
    }
    assert Envelope.model_validate(stored).trace is None


class Probe(Event):
    """An event of no catalog: it is only written, never sent."""

    value: int


@pytest.mark.django_db(transaction=True)
def test_with_tracing_off_a_published_envelope_carries_no_trace(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        [envelope] = outbox.publish(Probe(value=1))
    assert envelope.trace is None
    assert OutboxEvent.objects.get(id=envelope.id).envelope["trace"] is None


SAMPLED = """
import random
from opentelemetry.trace import (
    SpanKind, NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context,
)
from kernel.telemetry import tracing
sampler = tracing._sampler()
def decide(kind, parent=None):
    result = sampler.should_sample(parent, random.getrandbits(128), "span", kind)
    return result.decision.is_sampled()
def child_of(sampled):
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(1, 2, is_remote=True, trace_flags=flags))
    return set_span_in_context(span)
roots = sum(decide(SpanKind.SERVER) for _ in range(1000))
print(roots, decide(SpanKind.CLIENT), decide(SpanKind.CONSUMER, child_of(True)),
      decide(SpanKind.CONSUMER, child_of(False)))
"""


@pytest.mark.parametrize(
    ("share", "per_minute", "kept"),
    [
        ("", "", (1000, 1000)),
        ("0.25", "", (150, 350)),
        ("0", "", (0, 0)),
        # A thousand roots at once: the process's budget of 30 a minute keeps 30 of them (one
        # more for each 2 s the loop might take on a loaded machine).
        ("", "30", (30, 32)),
        ("0.25", "30", (30, 32)),
        ("0", "30", (0, 0)),
    ],
)
def test_the_share_of_traces_kept_is_decided_at_their_root_and_followed_by_every_child(
    share, per_minute, kept
):
    # In a process of its own: this suite's process must not load the SDK (the test above).
    out = subprocess.run(
        [sys.executable, "-c", SAMPLED],
        env={**os.environ, "OTEL_TRACES_SAMPLER_ARG": share, "TRACES_PER_MINUTE": per_minute},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    low, high = kept
    assert low <= int(out[0]) <= high  # roots: a request or a delivery with no trace yet
    # A client call never starts a trace; a child follows its parent's decision, whatever share.
    assert out[1:] == ["False", "True", "False"]


def test_a_process_budget_of_traces_refills_at_its_rate_up_to_a_minute_of_them():
    now = [0.0]
    budget = tracing.Budget(12, clock=lambda: now[0])
    assert sum(budget.take() for _ in range(20)) == 12  # a minute's worth at once, no more
    now[0] += 4.9
    assert budget.spent() and not budget.take()  # one more every 5 s
    now[0] += 0.2
    assert not budget.spent() and not budget.spent()  # asking takes nothing
    assert budget.take() and not budget.take()
    now[0] += 3600
    assert sum(budget.take() for _ in range(20)) == 12  # an idle hour saves no more than that
    # Below one a minute, one trace at a time.
    slow = tracing.Budget(0.5, clock=lambda: now[0])
    assert [slow.take(), slow.take()] == [True, False]
    now[0] += 120
    assert slow.take()


KEPT_ONLY = """
import django
django.setup()
from django.db import connection
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from kernel.telemetry import tracing
assert tracing.enabled()
def traced():
    # Redis commands instrumented, and SQL statements wrapped into spans.
    statements = tracing._statement in connection.execute_wrappers
    return f"{is_instrumentation_enabled()}/{statements}"
def delivered(flags):
    parent = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}"}
    with tracing.consuming("orders", {"type": "OrderRequested", "trace": parent}):
        return traced()
from django.http import HttpResponse
from django.test import RequestFactory
from kernel.telemetry.http import RequestSpanMiddleware
def requested(**headers):
    middleware = RequestSpanMiddleware(lambda request: HttpResponse(traced()))
    return middleware(RequestFactory().get("/", headers=headers)).content.decode()
left_out = f"00-{'ab' * 16}-{'cd' * 8}-00"
print(delivered("01"), delivered("00"), requested(traceparent=left_out), requested(), traced())
# A worker (or beat) starting: from then on its own calls are suppressed, a kept delivery's not.
from celery import signals
signals.worker_init.send(sender=None)
print(delivered("01"), delivered("00"), traced())
# What a delivery publishes: a kept one, its own span's context; one left out, the context it
# came with (it made no span), still not sampled.
for flags in ("01", "00"):
    parent = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}"}
    with tracing.consuming("orders", {"type": "OrderRequested", "trace": parent}):
        print(tracing.current_trace()["traceparent"] == parent["traceparent"])
        # Its log lines name the trace: its own span in a kept one, the publisher's otherwise.
        ids = tracing.log_ids()
        print(ids["trace_id"] == "ab" * 16, ids["span_id"] == "cd" * 8)
"""


def _traced_process(script: str, tmp_path, **env: str) -> str:
    """What ``script`` prints, run in a process of its own with Django's test settings and
    tracing on, to a file of spans (this suite's process must not load the SDK)."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
            "TRACING_SPAN_FILE": str(tmp_path / "spans.jsonl"),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout


SPENT = """
import django
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from kernel.telemetry import tracing
from kernel.telemetry.http import RequestSpanMiddleware
def view(request):
    published = tracing.current_trace()["traceparent"]
    return HttpResponse(f"{is_instrumentation_enabled()} {published}")
middleware = RequestSpanMiddleware(view)
def requested(**headers):
    response = middleware(RequestFactory().get("/", headers=headers))
    instrumented, published = response.content.decode().split()
    return instrumented, published, response["traceresponse"], tracing.out_of_budget()
kept = f"00-{'ab' * 16}-{'cd' * 8}-01"
for answer in (requested(), requested(), requested(), requested(traceparent=kept)):
    print(*answer)
"""


def test_a_request_left_out_for_want_of_budget_still_carries_its_decision(tmp_path):
    # A budget of one trace: the first request is kept and spends it; the next ones start a
    # trace left out without the SDK's span, yet answer it and publish it not sampled, each its
    # own; a caller's kept trace is still followed.
    out = _traced_process(SPENT, tmp_path, TRACES_PER_MINUTE="1")
    answers = [line.split() for line in out.splitlines()]
    assert [(instrumented, spent) for instrumented, _, _, spent in answers] == [
        ("True", "True"),
        ("False", "True"),
        ("False", "True"),
        ("True", "True"),
    ]
    for _, published, answered, _ in answers:
        assert published.split("-")[1] == answered.split("-")[1]  # the trace it answered
    sampled = [int(published[-2:], 16) & 1 for _, published, _, _ in answers]
    assert sampled == [1, 0, 0, 1]
    assert answers[1][1] != answers[2][1]  # ids of its own each
    assert answers[3][1].split("-")[1] == "ab" * 16


def test_sql_and_redis_calls_are_instrumented_only_inside_a_kept_trace(tmp_path):
    # A delivery of a kept trace instruments its calls, and so does a request that starts a
    # kept trace (every one, the share unset); a delivery of a trace left out, and a request
    # continuing one, suppress the instrumentations; outside both, nothing is suppressed until
    # the process starts as a worker: then its calls outside a kept delivery are.
    out = _traced_process(KEPT_ONLY, tmp_path).split()
    assert out == [
        "True/True",
        "False/False",
        "False/False",
        "True/True",
        "True/False",
        "True/True",
        "False/False",
        "False/False",
        "False",  # a kept delivery publishes in its own span: ids of its own
        "True",
        "False",
        "True",  # one left out publishes, and logs, in its publisher's
        "True",
        "True",
    ]
