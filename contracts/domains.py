"""The domains of the system, once. Each is a Django app of that name and a Celery queue of that
name, served by a worker of its own; settings, the chart's worker list, the import contracts and
the benchmark derive from this tuple or are checked against it by a test."""

DOMAINS: tuple[str, ...] = ("gateway", "users", "billing", "orders", "notifications")
