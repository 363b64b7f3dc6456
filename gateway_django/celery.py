"""The one Celery app. Every process (API server, domain workers, beat, flower) loads it."""

import logging
import os
from typing import Any

from celery import Celery, bootsteps, signals
from celery.apps import worker as celery_worker
from celery.beat import PersistentScheduler
from django.conf import settings

from kernel.messaging import heartbeat
from kernel.telemetry import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_django.settings.local")

app = Celery("gateway_django")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def setup_logging(loglevel: int | None = None, **kwargs: Any) -> None:
    """Workers and beat log through settings.LOGGING, like the API: Celery configures nothing of
    its own (a receiver of this signal replaces its setup), so every line has the one format.
    The command's ``-l`` is the level of Celery's own loggers."""
    logs.configure(settings.LOGGING)
    if loglevel:
        logging.getLogger("celery").setLevel(loglevel)
    # What a task prints goes through the log too, as Celery does by default.
    app.log.redirect_stdouts("WARNING")
    if settings.LOG_FORMAT == "json":
        celery_worker.safe_say = logs.say_json  # its shutdown notices, as JSON lines too


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Touches HEARTBEAT_FILE from the worker's own event loop while it consumes.

    The step starts once the consumer is connected and consuming, and stops while it reconnects,
    so a file gone stale means a loop that is stuck or a broker lost for that long.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = settings.HEARTBEAT_FILE
        self.enabled = bool(self.path)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        heartbeat.touch(self.path)
        self.tref = parent.timer.call_repeatedly(
            heartbeat.INTERVAL, heartbeat.touch, (self.path,), priority=10
        )

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop


app.steps["consumer"].add(WorkerHeartbeat)


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler, touching HEARTBEAT_FILE on every turn of beat's loop (every few seconds:
    the shortest period in CELERY_BEAT_SCHEDULE bounds the sleep between turns)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if settings.HEARTBEAT_FILE:
            heartbeat.touch(settings.HEARTBEAT_FILE)
        return super().tick(*args, **kwargs)
