"""Celery: the app (`celery -A tasks ...`), thin task adapters over sdr, and the beat schedule."""

from tasks.app import app, init_app

__all__ = ["app", "init_app"]
