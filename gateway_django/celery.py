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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Beat sends nothing but housekeeping, which stays out of Flower's task list
        # (kernel.messaging.tasks.housekeeping): no "task sent" event for it either.
        self.app.conf.task_send_sent_event = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if settings.HEARTBEAT_FILE:
            heartbeat.touch(settings.HEARTBEAT_FILE)
        return super().tick(*args, **kwargs)


@signals.worker_ready.connect
def serve_worker_metrics(**kwargs: Any) -> None:
    """A worker's metrics on METRICS_PORT: its pool's processes, added up (kernel/telemetry)."""
    from kernel.telemetry import metrics  # see serve_beat_metrics

    metrics.serve()


@signals.beat_init.connect
def serve_beat_metrics(**kwargs: Any) -> None:
    """Beat's metrics on METRICS_PORT, with the gauges read from the database and the broker
    when scraped: one process in the system computes them, so no series is counted twice."""
    # Imported here, not with this module: gunicorn's master imports this package before gevent
    # patches threading in each API process, and django.db imported then would make one
    # connection store shared by every greenlet of the process.
    from kernel.telemetry import metrics

    metrics.serve(scrape_time=True)
