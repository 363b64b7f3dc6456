"""Traces: one order, one trace, across the API and every worker, through the events' envelopes.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (OTLP over HTTP/protobuf: a collector, or Jaeger
itself on 4318), or when ``settings.TRACING_SPAN_EXPORTER`` names an exporter class (the tests'
file of spans). Otherwise nothing of the SDK is loaded: every span is the API's no-op, and an
envelope carries no trace.

What is traced: each HTTP request but the probes and /metrics
(:class:`kernel.telemetry.http.RequestSpanMiddleware`, which continues an incoming W3C
``traceparent`` and answers the trace in ``traceresponse``); each delivery of an event to a
consumer (:func:`consuming`, held by kernel/telemetry/deliveries.py), a child of the span that
published the event; and inside a request or a delivery whose trace is kept, every SQL statement
(Django's ``execute_wrapper``, :func:`_statement`) and Redis command (broker, reply channel,
cache). In a trace the sampler leaves out (beyond the share ``OTEL_TRACES_SAMPLER_ARG`` or this
process's ``TRACES_PER_MINUTE``), no statement is wrapped at all and the Redis instrumentation
is suppressed (:func:`kept_only`), and a delivery makes neither a span nor an SDK context: its
envelope's context is carried on as it came (:func:`consuming`). Measured in
docs/performance.md, "What metrics and tracing cost".

The publisher's context travels in the envelope (``Envelope.trace``), stored in the outbox row
with it, so an event the relay or the sweep sends again joins the trace of the step that
published it, not the relay's. A SQL or Redis call outside any request or delivery (the broker's
polling and acknowledgements, beat's housekeeping) starts no trace, and in a worker or beat it is
not instrumented at all (:func:`suppress_outside_traces`).
"""

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

_enabled = False
# This process's budget of traces (None without one), and the provider's generator of ids.
_budget: "Budget | None" = None
_ids: Any = None
# The envelope carries the W3C trace context only (traceparent, tracestate), never baggage.
_envelope_format = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("kernel.messaging")
# A version 00 traceparent whose ids are not all zeros (the only kind this project writes), with
# its flags; anything else an envelope carries is read by the propagator.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})")
# The trace context of the delivery being applied when the sampler left its trace out, as the
# envelope carried it: no span and no SDK context is made for it (:func:`consuming`).
_left_out: ContextVar[dict[str, str] | None] = ContextVar("left_out_trace", default=None)


def enabled() -> bool:
    return _enabled


def setup() -> bool:
    """Start tracing in this process if it is configured; once. Returns whether it is on."""
    global _enabled
    if _enabled:
        return True
    from django.conf import settings

    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    exporter_path = getattr(settings, "TRACING_SPAN_EXPORTER", "")
    if not endpoint and not exporter_path:
        return False

    from django.utils.module_loading import import_string
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter_path:
        exporter = import_string(exporter_path)()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # the endpoint and its options from OTEL_EXPORTER_OTLP_*
    service = os.environ.get("OTEL_SERVICE_NAME") or "order-platform"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}), sampler=_sampler())
    # Spans leave in batches from a thread of their own (re-made in a forked worker child).
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    global _ids
    _ids = provider.id_generator
    RedisInstrumentor().instrument(tracer_provider=provider)
    from celery import signals

    # In the main thread, before a worker forks its pool's processes.
    signals.worker_init.connect(suppress_outside_traces, weak=False)
    signals.beat_init.connect(suppress_outside_traces, weak=False)
    _enabled = True
    logger.info("tracing on: service %s, spans to %s", service, endpoint or exporter_path)
    return True


def _sampler() -> Any:
    """Which traces are kept: every one whose parent was (so an order's trace is whole or
    absent), and of the traces that start here, the share ``OTEL_TRACES_SAMPLER_ARG`` gives
    (1, all, unless set: the ``parentbased_traceidratio`` sampler's argument, as OpenTelemetry
    names it), decided on the trace id, so every process decides alike; and of those, no more
    than ``TRACES_PER_MINUTE`` a minute in this process when that is set (:class:`Budget`).
    A parent's decision is followed whatever the budget: a trace kept upstream (a mesh's edge,
    the request that published an event) stays whole."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )

    share = TraceIdRatioBased(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0))
    per_minute = float(os.environ.get("TRACES_PER_MINUTE") or 0)
    global _budget
    _budget = budget = Budget(per_minute) if per_minute > 0 else None

    class Roots(Sampler):
        """A trace starts at a request or a delivery, never at a client call of its own."""

        def should_sample(self, parent_context, trace_id, name, kind=None, *args, **kwargs):
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            kept = share.should_sample(parent_context, trace_id, name, kind, *args, **kwargs)
            if budget is None or not kept.decision.is_sampled() or budget.take():
                return kept
            return SamplingResult(Decision.DROP)

        def get_description(self) -> str:
            return "RootsAtRequestsAndDeliveries"

    return ParentBased(root=Roots())


class Budget:
    """How many traces this process may still start: a bucket of ``per_minute`` that refills
    at ``per_minute`` a minute. A quiet system has every order traced (the share allowing);
    under load the traces kept, and what they cost (docs/performance.md), stop growing with
    the traffic. Each process has its own: an API process, a worker's pool process."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = max(1.0, per_minute)  # room for one trace, however low the rate
        self.rate = per_minute / 60
        self.clock = clock
        self.tokens = self.size
        self.since = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.size, self.tokens + (now - self.since) * self.rate)
            self.since = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True

    def spent(self) -> bool:
        """Whether :meth:`take` would refuse now; takes nothing."""
        with self.lock:
            return self.tokens + (self.clock() - self.since) * self.rate < 1


def out_of_budget() -> bool:
    """Whether this process has spent its budget of traces for now, so that a trace starting
    here now would be left out whatever the share."""
    return _budget is not None and _budget.spent()


@contextmanager
def left_out_root() -> Iterator[None]:
    """Inside, a trace that starts here and is left out, made without asking the SDK for a span
    (for want of budget, :func:`out_of_budget`): the current span is a non-recording one with
    fresh ids, as the sampler's refusal would make, so what is published inside carries the
    decision on, and the log lines name it."""
    span = trace.NonRecordingSpan(
        trace.SpanContext(_ids.generate_trace_id(), _ids.generate_span_id(), is_remote=False)
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


def current_trace() -> dict[str, str] | None:
    """The W3C trace context of the running span, for the envelope of an event published now
    (in a delivery of a trace left out, the context it came with); None when tracing is off or
    nothing is traced here."""
    if not _enabled:
        return None
    if (left_out := _left_out.get()) is not None:
        return left_out
    carrier: dict[str, str] = {}
    _envelope_format.inject(carrier)
    return carrier or None


@contextmanager
def kept_only() -> Iterator[None]:
    """What runs inside is traced below its span only if that span is kept: its SQL statements
    are spans (each connection of this thread wraps its statements while inside), its Redis
    commands too; in a trace the sampler left out, no statement is wrapped and the Redis
    instrumentation returns at once instead of making a span nobody records (measured:
    docs/performance.md, "What metrics and tracing cost")."""
    if not _enabled:
        yield
        return
    if not trace.get_current_span().is_recording():
        with _suppressed():
            yield
        return
    # The Redis instrumentation's own switch (what ``suppress_instrumentation`` sets) turned on
    # again: in a worker, calls outside a kept delivery are suppressed by default.
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, False))
    try:
        with ExitStack() as statements:
            from django.db import connections

            for connection in connections.all(initialized_only=False):
                if _statement not in connection.execute_wrappers:
                    statements.enter_context(connection.execute_wrapper(_statement))
            yield
    finally:
        context.detach(token)


@contextmanager
def _suppressed() -> Iterator[None]:
    """The Redis instrumentation off inside (in a worker or beat it already is)."""
    if context.get_value(_SUPPRESS_INSTRUMENTATION_KEY) is True:
        yield
        return
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        context.detach(token)


def _statement(execute: Callable, sql: str, params: Any, many: bool, call: dict) -> Any:
    """One SQL statement of a kept trace: a client span, named by its operation, with
    OpenTelemetry's database attributes (semantic conventions, the stable names)."""
    connection = call["connection"]
    database = connection.settings_dict
    operation = sql.split(None, 1)[0].upper() if sql.strip() else "SQL"
    attributes = {
        "db.system.name": connection.vendor,
        "db.namespace": database["NAME"] or "",
        "db.operation.name": operation,
        "db.query.text": sql,
        "server.address": database["HOST"] or "localhost",
    }
    if database["PORT"]:
        attributes["server.port"] = int(database["PORT"])
    with _tracer.start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes):
        return execute(sql, params, many, call)


def suppress_outside_traces(**_: Any) -> None:
    """From now on in this thread, and in the processes it forks, Redis calls are not
    instrumented unless :func:`kept_only` says otherwise: a worker's and beat's own calls (the
    broker's polling and acknowledgements, the relay, housekeeping) belong to no trace, and each
    would otherwise still cost a span the sampler drops. Held for the life of the process."""
    if _enabled:
        context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def annotate(**attributes: str) -> None:
    """Name the current request's span with these attributes (its correlation id)."""
    if _enabled:
        trace.get_current_span().set_attributes(attributes)


@contextmanager
def consuming(consumer: str, message: Any) -> Iterator[None]:
    """The span of one delivery of ``message`` to ``consumer``: a child of the span that
    published it, whichever process sends it (the dispatch after commit, the relay, a replay).

    A delivery of a trace the sampler left out, which is what most deliveries are, costs next
    to nothing: its ``traceparent`` is read for its flag alone, no span or SDK context is made,
    its calls are not instrumented, and what it publishes carries on the context it came with
    (:func:`current_trace`), so stays out of the trace alike (measured: docs/performance.md)."""
    if not _enabled:
        yield
        return
    envelope = message if isinstance(message, dict) else {}
    carrier = envelope.get("trace")
    if isinstance(carrier, dict):
        header = _TRACEPARENT.fullmatch(str(carrier.get("traceparent", "")))
        if header is not None and not int(header[1], 16) & 1:
            token = _left_out.set(carrier)
            try:
                with _suppressed():
                    yield
            finally:
                _left_out.reset(token)
            return
    parent = _envelope_format.extract(carrier) if isinstance(carrier, dict) else None
    published = trace.get_current_span(parent).get_span_context()
    if published.is_valid and not published.trace_flags.sampled:  # not this project's writing
        token = context.attach(parent)
        try:
            with kept_only():
                yield
        finally:
            context.detach(token)
        return
    event_type = str(envelope.get("type", "?"))
    with (
        _tracer.start_as_current_span(
            f"{consumer} {event_type}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.operation.type": "process",
                "messaging.destination.name": consumer,
                "messaging.message.id": str(envelope.get("id", "")),
                "messaging.message.conversation_id": str(envelope.get("correlation_id", "")),
                "event.type": event_type,
            },
        ),
        kept_only(),
    ):
        yield


def log_ids() -> dict[str, str]:
    """The trace and span a log line names, when tracing is on and there is one: the running
    span's, or in a delivery of a trace left out, its publisher's, as the envelope carried it."""
    if not _enabled:
        return {}
    if (left_out := _left_out.get()) is not None:
        traceparent = left_out["traceparent"]
        return {"trace_id": traceparent[3:35], "span_id": traceparent[36:52]}
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}"}
