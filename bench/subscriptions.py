"""Bench: footer signups and the push to Mailchimp, against the sandbox on a real port.

Measures:
- the time of a footer signup POST with the sandbox at 0 ms and at 2 s latency, in one run
  (target ratio <= 1.05: no request waits on Mailchimp), and its SQL queries;
- the time from signup to member-in-sandbox with an idle worker (target: under 1 s);
- a backlog of N (10,000) waiting subscriptions — the admin action on N existing customers —
  pushed with 50 ms latency injected: API calls (target: at most 1.1 × ceil(N / 500)), wall
  time, and the peak of simultaneous connections (target: at most 10).

Runs on its own test database (created and dropped here) and a real Celery worker:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/subscriptions.py [--backlog 10000] [--signups 20]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def wait(condition, *, timeout: float, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--signups", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.runner import DiscoverRunner
    from django.test.utils import (
        CaptureQueriesContext,
        setup_test_environment,
        teardown_test_environment,
    )
    from django.utils import timezone

    from mailchimp_integration.models import Audience, Interest, InterestCategory
    from mailchimp_integration.sandbox.bench import start_sandbox
    from subscriptions import services
    from subscriptions.models import Push, Source, Subscription
    from tests.conftest import database_url_for_test_db
    from tests.processes import Worker

    setup_test_environment()
    settings.DEBUG = False
    settings.SUBSCRIPTIONS_FOOTER_RATE_LIMIT = 10**9
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    sandbox = start_sandbox()
    worker = None
    report: list[str] = []
    try:
        settings.MAILCHIMP_API_URL = sandbox.url
        settings.MAILCHIMP_API_KEY = sandbox.api_key
        list_id = sandbox.create_list("Newsletter")
        category_id = sandbox.create_category(list_id, "Topics")
        interest_id = sandbox.create_interest(list_id, category_id, "Offers")
        now = timezone.now()
        audience = Audience.objects.create(mailchimp_id=list_id, name="Newsletter",
                                           last_seen_at=now, active=True,
                                           subscribe_by_default=True)
        category = InterestCategory.objects.create(audience=audience, mailchimp_id=category_id,
                                                   name="Topics", last_seen_at=now)
        Interest.objects.create(audience=audience, category=category, mailchimp_id=interest_id,
                                name="Offers", last_seen_at=now, active=True,
                                subscribe_by_default=True)
        connection.close()  # the worker shares the test database; our writes are committed

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
               "DATABASE_URL": database_url_for_test_db(),
               "MAILCHIMP_API_URL": sandbox.url, "MAILCHIMP_API_KEY": sandbox.api_key,
               "MAILCHIMP_READ_TIMEOUT": "30"}
        worker = Worker(env=env, name="bench").start()
        client = Client()
        counter = iter(range(10**9))

        def signup() -> float:
            email = f"bench{next(counter)}@example.com"
            started = time.perf_counter()
            response = client.post("/newsletter/signup/", {"email": email},
                                   REMOTE_ADDR="198.51.100.1")
            elapsed = time.perf_counter() - started
            assert response.status_code == 302, response.status_code
            return elapsed

        for _ in range(3):
            signup()  # warm-up
        # Interleaved, in alternating order, so the machine's noise falls on both alike.
        samples: dict[float, list[float]] = {0.0: [], 2.0: []}
        for round_number in range(args.signups):
            order = (0.0, 2.0) if round_number % 2 == 0 else (2.0, 0.0)
            for latency in order:
                sandbox.set_latency(latency)
                samples[latency].append(signup())
        sandbox.set_latency(0)
        timings = {latency: statistics.median(values) for latency, values in samples.items()}
        ratio = timings[2.0] / timings[0.0]
        report.append(f"footer signup POST, median of {args.signups}: "
                      f"{timings[0.0] * 1000:.1f} ms at 0 ms, {timings[2.0] * 1000:.1f} ms at 2 s "
                      f"latency; ratio {ratio:.3f} (target <= 1.05)")

        with CaptureQueriesContext(connection) as queries:
            signup()
        report.append(f"SQL queries per footer signup: {len(queries)} "
                      "(session, subscription, its groups, the outbox row)")

        # Let the worker drain the signups above, then measure one push with it idle.
        wait(lambda: not Push.objects.exclude(state=Push.State.DONE).exists(), timeout=120)
        time.sleep(1.0)
        email = "idle@example.com"
        started = time.perf_counter()
        client.post("/newsletter/signup/", {"email": email}, REMOTE_ADDR="198.51.100.2")
        member_hash = __import__("hashlib").md5(email.encode()).hexdigest()
        import requests

        def in_sandbox() -> bool:
            response = requests.get(f"{sandbox.url}/lists/{list_id}/members/{member_hash}",
                                    auth=("x", sandbox.api_key), timeout=5)
            return response.status_code == 200

        wait(in_sandbox, timeout=30, interval=0.005)
        report.append(f"signup to member in sandbox, idle worker: "
                      f"{(time.perf_counter() - started) * 1000:.0f} ms (target < 1000 ms)")

        # The backlog: the admin action on N existing customers.
        User = get_user_model()
        User.objects.bulk_create(
            [User(email=f"old{n}@example.com", first_name="Old", last_name=f"Customer{n}",
                  password="!") for n in range(args.backlog)],
            batch_size=2000,
        )
        user_ids = list(User.objects.filter(email__startswith="old").values_list("pk", flat=True))
        sandbox.set_latency(args.latency)
        sandbox.clear_requests()
        sandbox.reset_stats()
        started = time.perf_counter()
        services.subscriptions_subscribe_users(user_ids=user_ids, audience_ids=[audience.pk],
                                               source=Source.ADMIN)
        queued = time.perf_counter() - started
        wait(lambda: Subscription.objects.filter(
            source=Source.ADMIN, state=Subscription.State.SUBSCRIBED).count() == args.backlog,
            timeout=600, interval=0.2)
        wall = time.perf_counter() - started
        # The tags go in one /batches call once the members are in; the worker then follows
        # that batch (GET /batches/{id}) until Mailchimp has run it. Both count.
        wait(lambda: any(c.startswith("GET /3.0/batches/") for c in sandbox.requests()),
             timeout=120, interval=0.2)
        calls = [c for c in sandbox.requests() if c.split(" ", 1)[1].startswith("/3.0/")]
        stats = sandbox.stats()
        budget = 1.1 * math.ceil(args.backlog / 500)
        failed = Push.objects.filter(state=Push.State.FAILED).count()
        report.append(
            f"backlog of {args.backlog} (admin action) at {args.latency * 1000:.0f} ms latency: "
            f"{len(calls)} API calls (target <= {budget:.0f}: "
            f"{sum(c.startswith('POST /3.0/lists/') for c in calls)} batch subscribe + "
            f"{sum(c.startswith('POST /3.0/batches') for c in calls)} /batches for the tags + "
            f"{sum(c.startswith('GET /3.0/batches/') for c in calls)} to follow it), "
            f"wall {wall:.1f} s (writing the backlog {queued:.1f} s), "
            f"peak {stats['peak_in_flight']} simultaneous connections (target <= 10), "
            f"{failed} failed")
    except BaseException:
        print("\n".join(report))
        if worker is not None:
            print(Path(worker.log).read_text()[-3000:])
        raise
    finally:
        if worker is not None:
            worker.stop()
        sandbox.stop()
        runner.teardown_databases(old_config)
        teardown_test_environment()
    print("\n".join(report))


if __name__ == "__main__":
    main()
