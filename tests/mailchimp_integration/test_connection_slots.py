"""Mailchimp allows 10 simultaneous connections per account: with Redis, the store's
processes share them, so two busy processes together never open an 11th."""
import os
import subprocess
import sys

import pytest
import redis
from django.conf import settings as django_settings

from mailchimp_integration.client import AccountSlots
from mailchimp_integration.exceptions import MailchimpRateLimited
from tests.conftest import BASE_DIR, missing_service

CALLS_PER_PROCESS = 20

BUSY_PROCESS = """
import concurrent.futures, django, sys
django.setup()
from mailchimp_integration.client import MailchimpClient
from mailchimp_integration.exceptions import MailchimpError
client = MailchimpClient(api_key=sys.argv[2], api_url=sys.argv[1])
def ping(_):
    try:
        client.request("GET", "/ping")
        return "ok"
    except MailchimpError as error:
        return f"{error.status} {error.title}"
with concurrent.futures.ThreadPoolExecutor(10) as threads:
    results = list(threads.map(ping, range(int(sys.argv[3]))))
print(",".join(results))
"""


@pytest.fixture
def redis_url():
    url = django_settings.REDIS_URL or os.environ.get("TEST_REDIS_URL", "")
    if not url:
        missing_service("REDIS_URL is not set: the shared connection slots need Redis")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis at {url} is not reachable: {error}")
    return url


def test_two_busy_processes_never_pass_ten_connections(redis_url, mailchimp_sandbox):
    mailchimp_sandbox.set_latency(0.2)
    mailchimp_sandbox.reset_stats()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILCHIMP_CONNECTION_LOCK_URL": redis_url,
        "MAILCHIMP_READ_TIMEOUT": "10",
    }
    command = [sys.executable, "-c", BUSY_PROCESS, mailchimp_sandbox.url,
               mailchimp_sandbox.api_key, str(CALLS_PER_PROCESS)]
    processes = [
        subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip().split(",") == ["ok"] * CALLS_PER_PROCESS
    # Each process alone may use 10; together they still never passed the account's 10.
    assert mailchimp_sandbox.stats()["refused"] == 0
    assert mailchimp_sandbox.peak_concurrency() == 10


def test_a_slot_whose_holder_died_lapses(redis_url):
    slots = AccountSlots(redis_url)
    account = "test-lapse"
    slots.redis.delete(f"mailchimp:connections:{account}")
    # A holder that never gives its slot back (its process was killed).
    held = slots.hold(account, limit=1, lease=0.5, wait=2)
    held.__enter__()
    with pytest.raises(MailchimpRateLimited, match="no free Mailchimp connection"):
        with slots.hold(account, limit=1, lease=0.5, wait=0.1):
            pass
    with slots.hold(account, limit=1, lease=0.5, wait=2):
        pass  # got it once the dead holder's lease ran out


def test_without_redis_calls_go_ahead(mailchimp_sandbox):
    slots = AccountSlots("redis://127.0.0.1:9/0")  # nothing listens there
    with slots.hold("unreachable", limit=1, lease=1, wait=1):
        pass
