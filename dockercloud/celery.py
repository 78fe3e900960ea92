"""The Celery application: the same tasks run in separate workers or inside the web process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")

app = Celery("dockercloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
