"""The store: project settings, URLs, the Celery app and the storefront apps."""
from shop.celery import app as celery_app

__all__ = ["celery_app"]
