"""The Celery side of digest: the app, its config, the beat schedule, thin tasks.

`celery -A scheduler worker` and `celery -A scheduler beat` find `app` here.
This package is the only place that imports Celery; `digest/` never imports it.
"""

from scheduler.celery_app import app

__all__ = ["app"]
