# One image for every role of the system; the role is the container's command
# (scripts/entrypoint.sh: web, worker QUEUE, beat, flower, migrate, wait-for-migrations).
#
#   docker build -t order-platform .
#   docker build --build-arg BASE_IMAGE=<another Debian 12 image with python3> -t order-platform .
#
# BASE_IMAGE is any Debian 12 image whose python3 is 3.11 with venv; the default is the official
# one. Both stages use it, so the virtualenv's interpreter is the same in the final image.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# The uv that make install uses (the Makefile's UV_VERSION; tests/test_containers.py holds them equal).
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies are the versions uv.lock pins, as for make install and CI (not the ranges of
# pyproject.toml resolved anew at each build), checked against the lock's hashes, in a layer of
# their own that a change of the code does not rebuild. uv only reads the lock, in a virtualenv
# of its own that stays in this stage; pip installs. Every package ships wheels: no compiler.
COPY pyproject.toml uv.lock ./
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install "uv==${UV_VERSION}" \
 && /opt/uv/bin/uv export --frozen --no-emit-project --format requirements-txt --output-file requirements.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --require-hashes --requirement requirements.txt

FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="order-platform" \
      org.opencontainers.image.description="Django REST gateway and four domains talking through events on Redis" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=gateway_django.settings.production \
    WEB_BIND=0.0.0.0:8000 \
    FLOWER_ADDRESS=0.0.0.0
# A fixed UID and GID, so that a cluster's runAsUser and file permissions can name them.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code stays owned by root: the app user can read it, never change it.
COPY . .
# Static files are collected into the image (var/static, served by WhiteNoise), and the code is
# compiled once here: the root filesystem is read-only when it runs. The production settings
# want a secret to load at all; this one exists only in this build step, never in the image.
RUN DJANGO_SECRET_KEY=only-to-collect-static-files-at-build-time DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v 0 \
 && python -m compileall -q gateway_django kernel contracts gateway users billing orders notifications
USER 10001:10001
EXPOSE 8000 5555
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/scripts/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["web"]
