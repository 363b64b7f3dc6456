"""Local development: the defaults of base.py plus a development secret."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=PUBLISHED_SECRET_KEYS[0])  # noqa: F405
SIMPLE_JWT.update(jwt_keys_from_env(SECRET_KEY))  # noqa: F405
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=True)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
