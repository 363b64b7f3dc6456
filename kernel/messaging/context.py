"""Which request and which event the current code works for, so every publish can say so."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID

_correlation_id: ContextVar[UUID | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[UUID | None] = ContextVar("causation_id", default=None)


def correlation_id() -> UUID | None:
    return _correlation_id.get()


def causation_id() -> UUID | None:
    return _causation_id.get()


@contextmanager
def message_context(*, correlation: UUID, causation: UUID | None = None) -> Iterator[None]:
    corr_token = _correlation_id.set(correlation)
    cause_token = _causation_id.set(causation)
    try:
        yield
    finally:
        _causation_id.reset(cause_token)
        _correlation_id.reset(corr_token)
