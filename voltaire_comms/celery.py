"""The Celery application: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voltaire_comms.settings.base")

app = Celery("voltaire_comms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="voltaire_comms.ping", time_limit=10)
def ping() -> dict[str, object]:
    """Health check: proves a worker consumes the broker and reports which process ran it."""
    return {"pong": True, "pid": os.getpid()}
