"""Fixtures shared by the whole suite: services, the browser, the Celery worker."""
import os
import time
from pathlib import Path

import pytest

pytest_plugins = ["mailchimp_integration.sandbox.pytest_plugin"]

BASE_DIR = Path(__file__).resolve().parent.parent

# Playwright's sync API runs an event loop in the test thread; Django's database setup
# must still be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _flush_retrying_a_deadlock() -> None:
    """A transactional test ends with a TRUNCATE of every table. The session's live server
    and real worker may still be finishing a request or a task the test started (a webhook
    retry, a push), holding a lock on one table and waiting for another: PostgreSQL then
    aborts one side. When the flush is the side aborted, try again: the other side's
    transaction has finished by then (a worker task aborted is retried by Celery)."""
    from django.db.backends.base.operations import BaseDatabaseOperations
    from django.db.utils import OperationalError

    flush = BaseDatabaseOperations.execute_sql_flush
    if getattr(flush, "retries_a_deadlock", False):
        return

    def execute_sql_flush(self, sql_list):
        for attempt in range(5):
            try:
                return flush(self, sql_list)
            except OperationalError as error:
                if "deadlock detected" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    execute_sql_flush.retries_a_deadlock = True
    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_retrying_a_deadlock()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_service(reason: str):
    """Skip locally when a service is missing; in CI a missing service is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: services must be present)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        missing_service(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def wait_for(condition, *, timeout: float = 15.0, interval: float = 0.1, message: str = ""):
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(message or f"condition not met within {timeout} s")
        time.sleep(interval)


def database_url_for_test_db() -> str:
    """The URL of the test database pytest-django created, for another process to use."""
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{settings['NAME']}"


def require_redis_if_configured():
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        missing_service(f"Redis at {settings.REDIS_URL} is not reachable: {error}")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, worker_extra_env):
    """A real `celery worker` process on the test database and the configured broker.

    Tests that use it need `transactional_db` (the worker only sees committed rows) and
    should poll with `wait_for`.
    """
    require_redis_if_configured()
    with django_db_blocker.unblock():
        database_url = database_url_for_test_db()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        **worker_extra_env,
    }
    from tests.processes import Worker  # it uses this module's helpers

    worker = Worker(env=env, name=f"test-{os.getpid()}").start()
    yield worker.process
    worker.stop()


@pytest.fixture(scope="session")
def worker_extra_env(mailchimp_sandbox_server, tmp_path_factory):
    """The one worker's environment: the session's sandbox, short timeouts, fast retries.

    Defined here only: the worker is session-scoped, so an override in a sub-folder's
    conftest would silently lose to whichever folder started the worker first.
    """
    return {
        "MAILCHIMP_API_URL": mailchimp_sandbox_server.url,
        "MAILCHIMP_API_KEY": mailchimp_sandbox_server.api_key,
        "MAILCHIMP_READ_TIMEOUT": "2",
        "MAILCHIMP_CONNECT_TIMEOUT": "1",
        "SUBSCRIPTIONS_RETRY_BASE_SECONDS": "0.2",
        "SUBSCRIPTIONS_RETRY_MAX_SECONDS": "2",
        "ECOMMERCE_RETRY_BASE_SECONDS": "0.2",
        "ECOMMERCE_RETRY_MAX_SECONDS": "2",
        # The store's public address, as the e-commerce tests' own settings say it.
        "SITE_URL": "https://shop.example.com",
        "ECOMMERCE_CART_INTERVAL_SECONDS": "3",
        "ECOMMERCE_STOCK_DELAY_SECONDS": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path_factory.mktemp("worker-mail")),
        # A sweep the tests trigger sends every confirmation still unsent, however recent.
        "CHECKOUT_CONFIRMATION_GRACE_SECONDS": "0",
    }


WORKER_TIMINGS = ("ECOMMERCE_CART_INTERVAL_SECONDS", "ECOMMERCE_STOCK_DELAY_SECONDS")


@pytest.fixture(autouse=True)
def _timings_as_the_worker(request, settings):
    """Delays chosen where a change is saved (the cart interval, the stock delay) are the
    worker's short ones in the test process too, or a test's change would wait a minute."""
    if request.node.get_closest_marker("worker") is None:
        return
    extra = request.getfixturevalue("worker_extra_env")
    for name in WORKER_TIMINGS:
        setattr(settings, name, float(extra[name]))


def read_log(path: str) -> str:
    with open(path, errors="replace") as handle:
        return handle.read()


def point_store_at_sandbox(settings, sandbox) -> None:
    """The store's MAILCHIMP_* settings on the sandbox, with timeouts short enough for tests."""
    settings.MAILCHIMP_API_URL = sandbox.url
    settings.MAILCHIMP_API_KEY = sandbox.api_key
    settings.MAILCHIMP_READ_TIMEOUT = 2
    settings.MAILCHIMP_CONNECT_TIMEOUT = 1


@pytest.fixture
def no_mailchimp_key_in_environment(settings):
    """Only a key entered in the admin counts, encrypted with SECRET_KEY alone."""
    settings.MAILCHIMP_API_KEY = ""
    settings.MAILCHIMP_ENCRYPTION_KEYS = []
    settings.SECRET_KEY_FALLBACKS = []
