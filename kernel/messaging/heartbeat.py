"""A file that a worker or beat process touches while its loop runs, and the check of its age.

A liveness probe that asks a worker over the broker (`celery inspect ping`) is a broadcast that
every worker answers, each period, for each pod. A file touched from the process's own loop costs
nothing and says the same thing: the loop turns. The writers are in gateway_django/celery.py;
the check is here, free of Django and Celery, so that a probe starts in milliseconds:

    python -m kernel.messaging.heartbeat /tmp/heartbeat --max-age 60
"""

import argparse
import os
import sys
import time
from pathlib import Path

#: How often a worker touches its file; a check's max age must be a few times this.
INTERVAL = 10.0


def touch(path: str | os.PathLike[str]) -> None:
    """Record that the process is alive now."""
    Path(path).touch()


def age(path: str | os.PathLike[str], *, now: float | None = None) -> float | None:
    """Seconds since the file was last touched, or None if it does not exist."""
    try:
        modified = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified


def is_fresh(path: str | os.PathLike[str], max_age: float, *, now: float | None = None) -> bool:
    seconds = age(path, now=now)
    return seconds is not None and seconds <= max_age


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 if the heartbeat file is fresh.")
    parser.add_argument("path")
    parser.add_argument("--max-age", type=float, default=6 * INTERVAL)
    args = parser.parse_args(argv)
    seconds = age(args.path)
    if seconds is None:
        print(f"no heartbeat at {args.path}", file=sys.stderr)
        return 1
    if seconds > args.max_age:
        print(f"heartbeat {seconds:.0f}s old (at most {args.max_age:.0f}s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
