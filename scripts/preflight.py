"""Check that PostgreSQL and Redis answer, and create the database if it is missing.

Prints one clear line and exits 1 when a service is down or refuses the project, instead of a
stack trace later. Reads the settings as the processes do: the environment first, then .env.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
# The server answered but said no: a password, a role or a pg_hba.conf rule, not a start.
PG_REFUSED = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "role",
    "permission denied",
)


def fail(line: str) -> None:
    print(f"preflight: {line}", file=sys.stderr)
    sys.exit(1)


def check_postgres(url: str, *, create: bool) -> None:
    config = environ.Env.db_url_config(url)
    where = f"{config['HOST'] or 'localhost'}:{config['PORT'] or 5432}"
    params = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "connect_timeout": 3,
    }
    try:
        conn = psycopg2.connect(dbname="postgres", **params)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        if any(word in reason for word in PG_REFUSED):
            fail(
                f"PostgreSQL at {where} refused the connection ({reason}). Give DATABASE_URL a "
                "user and password it accepts (see .env.example), or let that user in over TCP."
            )
        fail(f"PostgreSQL is not reachable at {where} ({reason}). Start it: {PG_START}")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if cursor.fetchone() is None and create:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"preflight: created database {config['NAME']} on {where}")
    conn.close()


def check_redis(url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or 6379
    where = f"{parts.hostname}:{port}"
    start = f"redis-server --daemonize yes --port {port} --save '' --appendonly no"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        fail(f"Redis at {where} refused the connection ({exc}). Check the password in the URL.")
    except redis.RedisError as exc:
        fail(f"Redis is not reachable at {where} ({exc}). Start it: {start}")


def main() -> None:
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/order_platform"
    )
    broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    check_postgres(database_url, create="--no-create" not in sys.argv)
    check_redis(broker_url)


if __name__ == "__main__":
    main()
