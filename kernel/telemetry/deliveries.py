"""Each delivery of an event, from Celery's start of the task to its end, is named in the log
context and is a span of the publisher's trace.

Held from ``task_prerun`` to ``task_postrun`` rather than inside the task, so that Celery's own
line about the task ("succeeded in 0.01s: 'applied'", a retry, a failure) carries the event's
fields and trace too. The messaging kernel needs no hook of its own for it.
"""

from contextlib import ExitStack
from typing import Any

from celery import signals, states

from kernel.messaging import context
from kernel.messaging.outbox import DELIVER_TASK
from kernel.telemetry import tracing

_open: dict[str, ExitStack] = {}


def _begin(sender: Any = None, task_id: str | None = None, args: Any = (), **_: Any) -> None:
    if getattr(sender, "name", None) != DELIVER_TASK or task_id is None or len(args) != 2:
        return
    consumer, message = args
    held = ExitStack()
    held.enter_context(context.delivery_context(consumer, message))
    held.enter_context(tracing.consuming(consumer, message))
    _open[task_id] = held


def _end(
    task_id: str | None = None, state: str | None = None, retval: Any = None, **_: Any
) -> None:
    held = _open.pop(task_id, None) if task_id else None
    if held is None:
        return
    if state in (states.FAILURE, states.RETRY) and isinstance(retval, BaseException):
        held.__exit__(type(retval), retval, retval.__traceback__)
    else:
        held.close()


def connect() -> None:
    signals.task_prerun.connect(_begin, weak=False, dispatch_uid="telemetry-delivery-begin")
    signals.task_postrun.connect(_end, weak=False, dispatch_uid="telemetry-delivery-end")
