"""Bench: a full list sync at 200 audiences × 5 categories × 20 groups, and the lists page.

Measures, against the local Mailchimp sandbox on a real port:
- the HTTP calls of a full sync (target: 1 + lists + categories),
- its SQL queries, at 10 and at 200 lists (target: the same number),
- its wall time with 50 ms latency injected, against the serial sum of the same calls
  (measured by running the same sync one connection at a time; target: at most 1/8 of it),
  and the peak number of simultaneous connections the sandbox saw (target: at most 10),
- the SQL queries of the admin "Mailchimp lists" page at 10 and at 1,000 audiences (target:
  equal).

Runs on its own test database (created and dropped here):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/sync_lists.py

Options: --lists 200 --categories 5 --groups 20 --latency 0.05 --skip-serial
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")



def start_sandbox():
    """The sandbox in a process of its own (its own GIL), driven by its control API."""
    from mailchimp_integration.sandbox.bench import start_sandbox as start

    return start()


def account_seed(*, lists: int, categories: int, groups: int) -> dict:
    """A Mailchimp account of that shape; ids fixed, so a bigger account extends a smaller one."""
    return {
        "account_name": "Bench",
        "lists": [
            {
                "id": f"list{n:06d}", "name": f"Audience {n:04d}", "member_count": 1000 + n,
                "categories": [
                    {
                        "id": f"cat{n:04d}{c:02d}", "title": f"Category {n}.{c}",
                        "interests": [
                            {"id": f"int{n:04d}{c:02d}{g:02d}", "name": f"Group {n}.{c}.{g}",
                             "subscriber_count": g}
                            for g in range(groups)
                        ],
                    }
                    for c in range(categories)
                ],
            }
            for n in range(lists)
        ],
    }


def timed_sync(*, max_connections: int):
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mailchimp_integration import services

    settings.MAILCHIMP_MAX_CONNECTIONS = max_connections
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = services.audience_sync_all()
        elapsed = time.perf_counter() - started
    return result, elapsed, len(queries)


def lists_page_queries(*, audiences: int, categories: int, groups: int) -> int:
    """SQL queries of one render of the admin lists page with `audiences` in the database."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from mailchimp_integration.models import Audience, Interest, InterestCategory

    Interest.objects.all().delete()
    InterestCategory.objects.all().delete()
    Audience.objects.all().delete()
    now = timezone.now()
    rows = Audience.objects.bulk_create(
        Audience(
            mailchimp_id=f"a{n}", name=f"Audience {n:04d}", last_seen_at=now, active=n % 2 == 0
        )
        for n in range(audiences)
    )
    category_rows = InterestCategory.objects.bulk_create(
        InterestCategory(
            audience=a, mailchimp_id=f"c{a.pk}.{c}", name=f"Category {c}", last_seen_at=now
        )
        for a in rows
        for c in range(categories)
    )
    Interest.objects.bulk_create(
        (
            Interest(audience_id=c.audience_id, category=c, mailchimp_id=f"i{c.pk}.{g}",
                     name=f"Group {g}", last_seen_at=now)
            for c in category_rows
            for g in range(groups)
        ),
        batch_size=5000,
    )
    User = get_user_model()
    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        **{User.USERNAME_FIELD: "bench@example.com"}, password="bench-password-123"
    )
    client = Client()
    client.force_login(admin)
    url = reverse("admin:mailchimp_integration_audience_changelist")
    client.get(url)  # warm: sessions, content types
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--categories", type=int, default=5)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--skip-serial", action="store_true", help="estimate the serial sum")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test.runner import DiscoverRunner
    from django.test.utils import setup_test_environment, teardown_test_environment

    from mailchimp_integration.models import Audience, Interest, InterestCategory

    setup_test_environment()
    settings.DEBUG = False
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    sandbox = start_sandbox()
    report: list[str] = []
    try:
        settings.MAILCHIMP_API_URL = sandbox.url
        settings.MAILCHIMP_API_KEY = sandbox.api_key
        settings.MAILCHIMP_READ_TIMEOUT = 30

        # SQL queries do not grow with the lists: the same steady-state sync at 10 and at N.
        small = 10
        shape = {"categories": args.categories, "groups": args.groups}
        sandbox.load_seed(account_seed(lists=small, **shape))
        timed_sync(max_connections=10)
        _, _, queries_small = timed_sync(max_connections=10)
        sandbox.load_seed(account_seed(lists=args.lists, **shape))
        sandbox.clear_requests()
        first, first_time, first_queries = timed_sync(max_connections=10)
        calls = len(sandbox.requests())
        _, _, queries_large = timed_sync(max_connections=10)
        assert Audience.objects.count() == args.lists
        assert Interest.objects.count() == args.lists * args.categories * args.groups
        expected_calls = 1 + args.lists + args.lists * args.categories
        totals = (
            f"{Audience.objects.count()} audiences, {InterestCategory.objects.count()} categories, "
            f"{Interest.objects.count()} groups"
        )

        # Wall time with latency, 10 connections, against the same calls made one at a time.
        sandbox.set_latency(args.latency)
        sandbox.reset_stats()
        _, parallel_time, _ = timed_sync(max_connections=10)
        peak = sandbox.peak_concurrency()
        if args.skip_serial:
            serial_time = calls * args.latency
            serial_label = (
                f"{serial_time:.2f} s (estimated: {calls} × {args.latency * 1000:.0f} ms)"
            )
        else:
            _, serial_time, _ = timed_sync(max_connections=1)
            serial_label = f"{serial_time:.2f} s (measured, 1 connection)"
        sandbox.set_latency(0)

        page_small = lists_page_queries(audiences=10, **shape)
        page_large = lists_page_queries(audiences=1000, **shape)

        report += [
            f"Full sync of {args.lists} audiences × {args.categories} categories × "
            f"{args.groups} groups ({totals}):",
            f"  HTTP calls:            {calls} (target 1 + lists + categories = {expected_calls})"
            f"  {'OK' if calls == expected_calls else 'OVER'}",
            f"  SQL queries:           first sync {first_queries}; steady state {queries_small} at "
            f"{small} lists, {queries_large} at {args.lists} lists"
            f"  {'OK' if queries_small == queries_large else 'GROWS'}",
            f"  wall time, no latency: {first_time:.2f} s (first sync, {first.created} created)",
            f"  wall time, {args.latency * 1000:.0f} ms latency: {parallel_time:.2f} s with "
            f"10 connections vs serial sum {serial_label}: "
            f"1/{serial_time / parallel_time:.1f}"
            f"  {'OK' if parallel_time <= serial_time / 8 else 'SLOW'}",
            f"  peak simultaneous connections seen by the sandbox: {peak}"
            f"  {'OK' if peak <= 10 else 'OVER'}",
            "Admin 'Mailchimp lists' page:",
            f"  SQL queries: {page_small} at 10 audiences, {page_large} at 1,000 audiences"
            f"  {'OK' if page_small == page_large else 'GROWS'}",
        ]
    finally:
        sandbox.stop()
        runner.teardown_databases(old_config)
        teardown_test_environment()
    print("\n".join(report))


if __name__ == "__main__":
    main()
