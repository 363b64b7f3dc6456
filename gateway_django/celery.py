"""The one Celery app. Every process (API server, domain workers, beat, flower) loads it."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_django.settings.local")

app = Celery("gateway_django")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
