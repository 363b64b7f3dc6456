"""Gunicorn settings of the API processes (the Procfile's web process; the image's command).

Each process runs its requests as greenlets on one gevent loop. A request waiting for its answer
event parks its greenlet on the reply channel's socket: it pins no thread, so how many requests
may wait at once is WEB_CONNECTIONS per process, not a thread count. psycopg2 is made to yield
while it waits on PostgreSQL too (psycogreen), so one slow query does not stall the process.
"""

import os

from kernel.telemetry import logs

worker_class = "gevent"
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
# gunicorn's own lines (and the access log, when it goes to the output) in the format of every
# other line; the master loads no Django, so the format is chosen as settings.LOG_FORMAT is.
logconfig_dict = logs.config(
    log_format=logs.default_format(),
    level=os.environ.get("LOG_LEVEL", "INFO"),
    loggers={
        "gunicorn.error": {"level": "INFO", "propagate": True},
        **({"gunicorn.access": {"level": "INFO", "propagate": True}} if accesslog == "-" else {}),
    },
)
# Long enough for a request that waits the whole GATEWAY_REPLY_TIMEOUT, and then some.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 20
# Idle keep-alive connections stay open this long: longer than a load balancer's idle timeout
# (60 s on most), so that the server is never the side that closes one as a request arrives on it.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))


def post_fork(server, worker) -> None:
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def child_exit(server, worker) -> None:
    # A process that is gone no longer counts in the live gauges of /metrics (kernel/telemetry).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
