"""Processes the tests start: Celery workers, and for the fault tests a private redis-server.

Each runs in its own session (process group), so a kill takes its children with it, and the
machine's own Redis is never touched.
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import BASE_DIR, read_log, wait_for

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_file(prefix: str) -> str:
    handle = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)
    handle.close()
    return handle.name


def _end_group(process: subprocess.Popen, sig: int, *, timeout: float = 10) -> None:
    """Signal the process's whole group, then make sure it is gone."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Children of a killed prefork worker may outlive their parent for a moment.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class PrivateRedis:
    """`redis-server` on a free port, no persistence; stop() and start() again on that port."""

    def __init__(self):
        if not os.path.exists(REDIS_SERVER):
            from tests.conftest import missing_service

            missing_service(f"{REDIS_SERVER} is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = _log_file("redis-")
        self.process: subprocess.Popen | None = None

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(self.ping, timeout=10, message=f"redis-server did not start:\n"
                                                 f"{read_log(self.log)}")

    def stop(self) -> None:
        if self.process is not None:
            _end_group(self.process, signal.SIGTERM)
            self.process = None


class Worker:
    """`celery -A shop worker` with the given environment (test database, broker, sandbox)."""

    def __init__(self, *, env: dict, name: str = "faults"):
        self.env = env
        self.name = name
        self.log = _log_file(f"celery-{name}-")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "shop", "worker",
                 "--loglevel=INFO", "--concurrency=2", "--pool=prefork",
                 "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--hostname", f"{self.name}-{uuid.uuid4().hex[:8]}@%h"],
                cwd=Path(BASE_DIR), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        offset = len(read_log(self.log))

        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"celery worker exited with {self.process.returncode}:\n"
                            f"{read_log(self.log)}")
            return "ready." in read_log(self.log)[offset:]

        wait_for(ready, timeout=60, message=f"the celery worker {self.name} did not become ready")
        return self

    def kill(self) -> None:
        """SIGKILL, the worker and its pool processes: no chance to ack, finish or clean up."""
        if self.process is not None:
            _end_group(self.process, signal.SIGKILL)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _end_group(self.process, signal.SIGTERM)
            self.process = None


@contextlib.contextmanager
def celery_app_broker(url: str):
    """Send this process's tasks to `url` for a while (Django settings are loaded only once)."""
    from shop.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options")}

    def drop_connections():
        # Forget the pools without closing them: kombu keeps one pool per broker URL in a
        # process-wide registry, so a closed one would come back for that URL, unusable.
        app._pool = None
        app.amqp._producer_pool = None

    drop_connections()
    app.conf.broker_url = url
    app.conf.broker_transport_options = settings.REDIS_BROKER_TRANSPORT_OPTIONS
    try:
        yield app
    finally:
        drop_connections()
        app.conf.update(saved)


def worker_env(*, sandbox_server, database_url: str, broker_url: str, queue: str,
               **overrides: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_url,
        "CACHE_URL": broker_url,
        "SHOP_TEST_QUEUE": queue,
        "MAILCHIMP_API_URL": sandbox_server.url,
        "MAILCHIMP_API_KEY": sandbox_server.api_key,
        "MAILCHIMP_READ_TIMEOUT": "1",
        "MAILCHIMP_CONNECT_TIMEOUT": "1",
        "SUBSCRIPTIONS_RETRY_BASE_SECONDS": "0.2",
        "SUBSCRIPTIONS_RETRY_MAX_SECONDS": "2",
        # The sweeps the tests trigger send everything waiting; a send's time limit (and so
        # the age of a dead worker's claim) is short.
        "SUBSCRIPTIONS_SWEEP_GRACE_SECONDS": "0",
        "SUBSCRIPTIONS_PUSH_TIME_LIMIT": "12",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **overrides,
    }
