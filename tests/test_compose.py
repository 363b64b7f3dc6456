"""compose.yaml, checked without an engine: valid against the Compose specification's own JSON
schema (schemas/compose-spec.json: schema/compose-spec.json of compose-spec/compose-spec at
170098b, Apache-2.0), one worker per domain queue, and every role of the image run as locked
down as the chart runs it.

Where PostgreSQL's and Redis' images can be pulled, `docker compose up` runs it; here none can,
so scripts/containers.sh runs this check as its last step instead."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
APP_ROLES = {"migrate", "web", "beat", "flower"} | {f"worker-{q}" for q in settings.DOMAIN_QUEUES}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # merge keys (<<) resolved


def test_compose_yaml_follows_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_one_worker_per_domain_queue_and_every_role(compose):
    services = compose["services"]
    assert set(services) == APP_ROLES | {"postgresql", "redis"}
    for queue in settings.DOMAIN_QUEUES:
        assert services[f"worker-{queue}"]["command"] == ["worker", queue]
    assert services["beat"]["command"] == ["beat"]
    assert services["migrate"]["restart"] == "no"


def test_every_role_runs_the_one_image_locked_down(compose):
    services = compose["services"]
    images = {services[role]["image"] for role in APP_ROLES}
    assert len(images) == 1
    for role in APP_ROLES:
        service = services[role]
        assert service["user"] == "10001:10001", role
        assert service["read_only"] is True, role
        assert [mount.split(":")[0] for mount in service["tmpfs"]] == ["/tmp"], role
        assert service["cap_drop"] == ["ALL"], role
        env = service["environment"]
        assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?"), role  # no default
        for url in ("DATABASE_URL", "CELERY_BROKER_URL", "REPLY_REDIS_URL", "CACHE_URL"):
            assert url in env, (role, url)
        if role.startswith("worker-") or role == "beat":
            assert env["HEARTBEAT_FILE"].startswith("/tmp/"), role  # the image's health check
        if role not in ("migrate", "flower"):
            assert services[role]["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }
    assert services["flower"]["ports"][0].startswith("127.0.0.1:")  # never on every interface


def test_the_datastores_keep_their_data(compose):
    services, volumes = compose["services"], compose["volumes"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    for name in ("postgresql", "redis"):
        (volume,) = services[name]["volumes"]
        assert volume.split(":")[0] in volumes
