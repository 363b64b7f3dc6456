"""Check that PostgreSQL and Redis answer, and create the database if it is missing.

Prints one clear line and exits 1 when a service is down, instead of a stack trace later.
"""

import os
import sys
from urllib.parse import urlsplit

import environ
import psycopg2
import redis
from psycopg2 import sql

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = "redis-server --daemonize yes --port 6379 --save '' --appendonly no"


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
    where = f"{parts.hostname}:{parts.port or 6379}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        fail(f"Redis is not reachable at {where} ({exc}). Start it: {REDIS_START}")


def main() -> None:
    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/order_platform"
    )
    broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    check_postgres(database_url, create="--no-create" not in sys.argv)
    check_redis(broker_url)


if __name__ == "__main__":
    main()
