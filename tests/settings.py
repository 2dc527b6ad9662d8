"""Settings for the test suite: the project's settings, isolated from a running dev store.

The Celery worker started by the tests is another process; it gets this module through
DJANGO_SETTINGS_MODULE and the same per-run queue through the environment, so a `make run`
worker never picks up a test's task, nor a test worker a stale one.
"""
import os
import tempfile
import uuid

from shop.settings import *  # noqa: F403
from shop.settings import REDIS_URL, celery_queues

# A test run never talks to the sandbox of a `make run` in the same checkout: only to what the
# environment or the test itself names.
MAILCHIMP_API_KEY = os.environ.get("MAILCHIMP_API_KEY", "")
MAILCHIMP_API_URL = os.environ.get("MAILCHIMP_API_URL", "")

# Each test process keeps its own counters (the footer's per-IP limit), never a shared Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The send's time limit the test workers have (tests/processes.py): the sender's task options
# travel with each message, so this process must send with the same limits.
SUBSCRIPTIONS_PUSH_TIME_LIMIT = int(os.environ.get("SUBSCRIPTIONS_PUSH_TIME_LIMIT", "12"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Uploaded pictures go to a folder of this run, never the dev store's var/media.
MEDIA_ROOT = os.environ.setdefault("SHOP_TEST_MEDIA_ROOT", tempfile.mkdtemp(prefix="media-"))
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("SHOP_TEST_QUEUE", f"test-{uuid.uuid4().hex}")
CELERY_MAINTENANCE_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-maintenance"
CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = celery_queues(
    CELERY_TASK_DEFAULT_QUEUE, CELERY_MAINTENANCE_QUEUE
)
if not REDIS_URL:
    _broker_dir = os.environ.setdefault("SHOP_TEST_BROKER_DIR", tempfile.mkdtemp(prefix="broker-"))
    for _sub in ("queue", "processed", "control"):
        os.makedirs(os.path.join(_broker_dir, _sub), exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": os.path.join(_broker_dir, "queue"),
        "data_folder_out": os.path.join(_broker_dir, "queue"),
        "processed_folder": os.path.join(_broker_dir, "processed"),
        "store_processed": False,
        "control_folder": os.path.join(_broker_dir, "control"),
    }
