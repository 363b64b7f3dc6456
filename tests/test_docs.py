"""The API's documentation pages load nothing from outside the service: Swagger UI and ReDoc
come from its own static files (drf-spectacular-sidecar), collected as the image collects them
and served by WhiteNoise, so the docs work offline and in a cluster that reaches nothing. And
the README tells an operator what the service offers them."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from gateway_django import health
from tests.support import ROOT

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", "-v", "0")
    return settings.STATIC_ROOT


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_use_only_the_services_own_static_files(collected, page):
    client = Client()  # a new client: WhiteNoise reads the collected files when it starts
    html = client.get(page).content.decode()
    assert not re.search(r"https?://|\"//", html), "an asset from another host"
    assets = ASSET.findall(html)
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, html
    for url in assets:
        assert url.startswith("/static/drf_spectacular_sidecar/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        served = b"".join(response.streaming_content)
        assert served and served == (collected / url.removeprefix("/static/")).read_bytes()
    assert client.get("/api/schema/").status_code == 200


def test_the_readme_tells_an_operator_what_to_find():
    readme = (ROOT / "README.md").read_text()
    for needle in (
        "manage.py createsuperuser",
        "DJANGO_SUPERUSER_EMAIL",
        "var/flower-credentials",
        "FLOWER_BASIC_AUTH",
        "/api/redoc/",
        "GET /metrics",
        "METRICS_PORT",
        "METRICS_TOKEN",
    ):
        assert needle in readme, needle
    for check in health.CHECKS:  # every check /readyz makes, as it names it
        assert f'"{check}"' in readme, check


def test_the_readmes_screenshots_are_committed_and_small():
    readme = (ROOT / "README.md").read_text()
    images = set(re.findall(r"\((docs/images/[\w.-]+\.png)\)", readme))
    shown = ("admin-order-cancelled", "flower-broker", "api-docs")
    assert {f"docs/images/{name}.png" for name in shown} <= images
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        assert path.stat().st_size < 200_000, image
