"""Bench: Mailchimp's webhooks answered and applied, and a reconciliation (issue "Two-way sync").

Measures, against the local Mailchimp sandbox, gunicorn and a Celery worker on real ports:
- the answer time of Mailchimp's webhook POSTs (one unsubscribe each, form-encoded as
  Mailchimp sends them) from 20 concurrent clients, against a trivial view (the store's
  liveness check, /alive/: no database, no cache) in alternating rounds of the same run:
  median and p99 of each, target ratio <= 2; the webhook URL's GET check is shown beside;
- the same events applied by a real worker, each a hint it reads the member back for: the
  time from the last POST answered until every event is applied and every subscription opted
  out (target <= 10 s), and events lost (answered 200 but not stored; target 0);
- a reconciliation (full) of N (100,000) members changed in Mailchimp, in this process: API
  calls (target <= pages of 1,000 + 1) and SQL queries per page (target: the same on each).

Runs on its own test database (created and dropped here); the web and the worker run the
production settings (shop.settings: Redis broker and shared cache) on queues of their own.
The broker and cache are --redis-url (default: REDIS_URL, else a private redis-server):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_webhooks \\
    REDIS_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/webhooks.py \\
        [--posts 2000] [--clients 20] [--members 100000] [--web-workers 4] [--pause-worker]

On a 2-core machine the worker applying the events takes CPU from the web while the POSTs are
answered; --pause-worker measures the web alone (the worker applies everything afterwards).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

FIRED_AT = "2026-12-05 10:00:00"
ALIVE_PATH = "/alive/"  # the trivial view: the store's liveness check
PAGE = 1000  # the reconciliation's page (the API's maximum count)
SEED_CHUNK = 5000  # members per members-bulk call

MISSED: list[str] = []


def mark(what: str, ok: bool) -> str:
    """`OK` or `MISSED` after a figure and its target; the misses make the exit status 1."""
    if not ok:
        MISSED.append(what)
    return "OK" if ok else "MISSED"


def wait(condition, *, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)


def p99(values: list[float]) -> float:
    """Nearest rank: the value 99% of the samples are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def interrupted(signum, frame):
    raise KeyboardInterrupt


def end_group(process: subprocess.Popen | None) -> None:
    """SIGTERM the process's session (it and its children), SIGKILL if it lingers."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class Gunicorn:
    """`gunicorn shop.wsgi` with `workers` sync workers on a free port, in its own session."""

    def __init__(self, *, env: dict, workers: int):
        from tests.processes import free_port

        self.env, self.workers = env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        handle = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)
        handle.close()
        self.log = handle.name
        self.process: subprocess.Popen | None = None

    def start(self, *, ready_path: str) -> Gunicorn:
        import requests

        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "shop.wsgi:application",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                 "--timeout", "60"],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n"
                                   f"{Path(self.log).read_text()[-3000:]}")
            try:
                return requests.get(self.url + ready_path, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait(answers, timeout=60, interval=0.2)
        return self

    def stop(self) -> None:
        end_group(self.process)
        self.process = None


def sandbox_list(sandbox, name: str):
    """A list in the sandbox and its audience in the store (switched on)."""
    from django.utils import timezone

    from mailchimp_integration.models import Audience

    list_id = sandbox.create_list(name)
    return Audience.objects.create(mailchimp_id=list_id, name=name, last_seen_at=timezone.now(),
                                   active=True)


def sandbox_seed(sandbox, list_id: str, emails: list[str], *, status: str) -> None:
    for start in range(0, len(emails), SEED_CHUNK):
        sandbox.members_bulk(list_id, [{"email": email, "status": status}
                                       for email in emails[start:start + SEED_CHUNK]])


def sandbox_unique_ids(sandbox, list_id: str) -> dict[str, str]:
    """email -> Mailchimp's unique_email_id of every member of the list."""
    import requests

    found, offset = {}, 0
    while True:
        response = requests.get(
            f"{sandbox.url}/lists/{list_id}/members", auth=("x", sandbox.api_key), timeout=60,
            params={"count": PAGE, "offset": offset,
                    "fields": "members.email_address,members.unique_email_id"})
        response.raise_for_status()
        page = response.json()["members"]
        found.update({m["email_address"]: m["unique_email_id"] for m in page})
        if len(page) < PAGE:
            return found
        offset += PAGE


def subscribed_in_store(audience, emails: list[str], unique_ids: dict[str, str]) -> None:
    """Subscriptions the store pushed and Mailchimp confirmed a day ago: subscribed, with an
    opt-in on record that Mailchimp has (consent == sent_consent), nothing left to send."""
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from subscriptions.models import ConsentEvent, Source, Subscription

    day_ago = timezone.now() - timedelta(days=1)
    rows = Subscription.objects.bulk_create(
        (Subscription(
            email=email, audience=audience, opted_in=True, state=Subscription.State.SUBSCRIBED,
            source=Source.FOOTER, mailchimp_email=email,
            mailchimp_unique_id=unique_ids.get(email, ""), mailchimp_status="subscribed",
            mailchimp_last_changed=day_ago, mailchimp_changed_by="store",
            wanted_version=1, sent_version=1, last_pushed_at=day_ago, created_at=day_ago,
        ) for email in emails),
        batch_size=5000,
    )
    ConsentEvent.objects.bulk_create(
        (ConsentEvent(subscription=row, action=ConsentEvent.Action.OPT_IN,
                      actor=ConsentEvent.Actor.ANONYMOUS, source=Source.FOOTER, at=day_ago,
                      ip="203.0.113.7", wording="Send me the news.") for row in rows),
        batch_size=5000,
    )
    opt_in = Subquery(ConsentEvent.objects.filter(subscription=OuterRef("pk"))
                      .values("pk")[:1])
    Subscription.objects.filter(audience=audience).update(consent=opt_in)
    Subscription.objects.filter(audience=audience).update(sent_consent=opt_in)


class Clients:
    """`count` HTTP clients, each a thread with its own session, sending rounds of requests."""

    def __init__(self, count: int):
        import requests

        self.sessions = [requests.Session() for _ in range(count)]
        self.last_post_answered = 0.0

    def round(self, jobs: list[tuple[str, str, str, list | None]]
              ) -> list[tuple[str, float, int]]:
        """Send `jobs` (kind, method, URL, form fields) spread over the clients, all at once;
        each answer as (kind, seconds, status)."""
        results: list[tuple[str, float, int]] = []

        def client(session, mine):
            for kind, method, url, fields in mine:
                started = time.perf_counter()
                response = session.request(method, url, data=fields, timeout=30,
                                           allow_redirects=False)
                elapsed = time.perf_counter() - started
                if method == "POST":
                    self.last_post_answered = max(self.last_post_answered, time.monotonic())
                results.append((kind, elapsed, response.status_code))

        count = len(self.sessions)
        threads = [threading.Thread(target=client, args=(session, jobs[n::count]))
                   for n, session in enumerate(self.sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def close(self) -> None:
        for session in self.sessions:
            session.close()


def unsubscribe_fields(email: str, *, list_id: str, unique_id: str) -> list[tuple[str, str]]:
    """Mailchimp's unsubscribe webhook POST, field for field (see the sandbox's `_emit`)."""
    from mailchimp_integration.sandbox.webhooks import form_fields

    return form_fields("unsubscribe", {
        "list_id": list_id, "action": "unsub", "reason": "manual", "id": unique_id,
        "email": email, "email_type": "html", "ip_opt": "203.0.113.7", "web_id": "1",
        "merges": {"EMAIL": email, "FNAME": "", "LNAME": "", "INTERESTS": ""},
    }, FIRED_AT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn's workers")
    parser.add_argument("--pause-worker", action="store_true",
                        help="stop the worker (SIGSTOP) while the POSTs are answered and let it "
                             "apply them afterwards: the answer times of the web alone, as with "
                             "the worker on other cores")
    parser.add_argument("--round", type=int, default=0,
                        help="requests per round (default: 5 per client)")
    parser.add_argument("--apply-timeout", type=float, default=120.0,
                        help="how long to wait for the events to be applied")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""),
                        help="broker and cache (default: REDIS_URL, else a private "
                             "redis-server on a free port)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)

    private_redis = None
    if not args.redis_url:
        from tests.processes import PrivateRedis

        private_redis = PrivateRedis()
    try:
        if private_redis is not None:
            private_redis.start()
        os.environ["REDIS_URL"] = args.redis_url or private_redis.url
        os.environ.pop("CACHE_URL", None)
        report = run(args)
    finally:
        if private_redis is not None:
            private_redis.stop()
    print("\n".join(report))
    print(f"targets missed: {', '.join(MISSED)}" if MISSED else "every target met")
    sys.exit(1 if MISSED else 0)


def run(args) -> list[str]:
    """Everything on the test database, the sandbox, gunicorn and the worker; each process
    started here is stopped here, whatever happens (Ctrl-C, SIGTERM, an error)."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.runner import DiscoverRunner
    from django.test.utils import setup_test_environment, teardown_test_environment

    from mailchimp_integration.sandbox.bench import start_sandbox
    from tests.conftest import database_url_for_test_db
    from tests.processes import Worker

    setup_test_environment()
    settings.DEBUG = False
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old_config = None
    sandbox = worker = web = None
    report: list[str] = []
    try:
        old_config = runner.setup_databases()
        sandbox = start_sandbox()
        settings.MAILCHIMP_API_URL = sandbox.url
        settings.MAILCHIMP_API_KEY = sandbox.api_key
        settings.MAILCHIMP_READ_TIMEOUT = 60

        from mailchimp_integration import webhooks

        hooked = sandbox_list(sandbox, "Webhooks")
        warm = sandbox_list(sandbox, "Warm-up")
        emails = [f"hook{n:06d}@example.com" for n in range(args.posts)]
        # Unsubscribed in Mailchimp just now: each POST below is that person's webhook.
        sandbox_seed(sandbox, hooked.mailchimp_id, emails, status="unsubscribed")
        unique_ids = sandbox_unique_ids(sandbox, hooked.mailchimp_id)
        subscribed_in_store(hooked, emails, unique_ids)
        endpoint, secret = webhooks.endpoint_secret_new(audience=hooked)
        warm_endpoint, warm_secret = webhooks.endpoint_secret_new(audience=warm)
        hook_path = webhooks.endpoint_path(endpoint, secret)
        warm_path = webhooks.endpoint_path(warm_endpoint, warm_secret)
        connection.close()  # the web and the worker share the test database

        # The production settings, so the web processes and the worker share the Redis cache
        # (tests.settings keeps a cache per process), on queues no other worker consumes.
        queue = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
        served_env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings",
            "DATABASE_URL": database_url_for_test_db(), "REDIS_URL": os.environ["REDIS_URL"],
            "CACHE_URL": os.environ["REDIS_URL"], "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_MAINTENANCE_QUEUE": f"{queue}-maintenance", "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SHOP_VAR_DIR": tempfile.mkdtemp(prefix="bench-webhooks-var-"),
            "MAILCHIMP_API_URL": sandbox.url, "MAILCHIMP_API_KEY": sandbox.api_key,
            "MAILCHIMP_READ_TIMEOUT": "60", "PYTHONUNBUFFERED": "1",
        }
        apply_mark_forget(os.environ["REDIS_URL"])
        worker = Worker(env=served_env, name="bench-webhooks")
        worker.start()
        web = Gunicorn(env=served_env, workers=args.web_workers)
        web.start(ready_path=warm_path)

        report += answer_and_apply(args, sandbox=sandbox, web=web, worker=worker, hooked=hooked,
                                   endpoint=endpoint, hook_path=hook_path, warm_path=warm_path,
                                   emails=emails, unique_ids=unique_ids)
        # The reconciliation runs in this process: the web and the worker are not needed.
        web.stop()
        worker.stop()
        report += reconciliation(args, sandbox=sandbox)
    except BaseException:
        print("\n".join(report))
        for process in (worker, web):
            if process is not None and Path(process.log).exists():
                print(f"--- {process.log}\n{Path(process.log).read_text()[-3000:]}")
        raise
    finally:
        if web is not None:
            web.stop()
        if worker is not None:
            worker.stop()
        if sandbox is not None:
            sandbox.stop()
        if old_config is not None:
            connection.close()
            runner.teardown_databases(old_config)
        teardown_test_environment()
    return report


def apply_mark_forget(redis_url: str) -> None:
    """A mark left by an earlier run ("a task is queued", 60 s) would hold up the first task."""
    import redis

    from subscriptions.inbound import APPLY_QUEUED_KEY

    # Django's Redis cache key: KEY_PREFIX ("shop", shop/settings.py), version 1, the key.
    redis.Redis.from_url(redis_url).delete(f"shop:1:{APPLY_QUEUED_KEY}")


def answer_and_apply(args, *, sandbox, web, worker, hooked, endpoint, hook_path, warm_path, emails,
                     unique_ids) -> list[str]:
    """Webhook POSTs against the GET check in alternating rounds; then the wait until the
    worker has applied them all."""
    from mailchimp_integration.models import WebhookEvent
    from subscriptions.models import Subscription

    clients = Clients(args.clients)
    try:
        # Warm-up: every web worker loads its views and opens its database, cache and broker
        # connections; campaign events to another audience (kept, not acted on) go through
        # the whole path, the worker included, without touching the measured audience.
        warm_fields = [("type", "campaign"), ("fired_at", FIRED_AT),
                       ("data[id]", "warm"), ("data[list_id]", "warm")]
        warm_count = 4 * args.clients
        clients.round([("check", "GET", web.url + warm_path, None)] * warm_count
                      + [("alive", "GET", web.url + ALIVE_PATH, None)] * warm_count
                      + [("webhook", "POST", web.url + warm_path, warm_fields)] * warm_count)
        wait(lambda: WebhookEvent.objects.filter(endpoint__audience__name="Warm-up",
                                                 applied_at__isnull=False).count()
             >= warm_count, timeout=60)
        clients.last_post_answered = 0.0
        sandbox.clear_requests()

        hook_url = web.url + hook_path
        posts = [("webhook", "POST", hook_url, unsubscribe_fields(
            email, list_id=hooked.mailchimp_id, unique_id=unique_ids[email])) for email in emails]
        round_size = args.round or 5 * args.clients
        answers: list[tuple[str, float, int]] = []
        if args.pause_worker:
            os.killpg(os.getpgid(worker.process.pid), signal.SIGSTOP)
        started = time.monotonic()
        for number, start in enumerate(range(0, len(posts), round_size)):
            batch = posts[start:start + round_size]
            alive = [("alive", "GET", web.url + ALIVE_PATH, None)] * len(batch)
            checks = [("check", "GET", hook_url, None)] * len(batch)
            # Rotate which goes first, so a drift of the machine falls on all alike.
            order = [batch, alive, checks]
            shift = number % 3
            for jobs in order[shift:] + order[:shift]:
                answers += clients.round(jobs)
        last_post = clients.last_post_answered
        load_seconds = last_post - started
    finally:
        clients.close()
        if args.pause_worker:
            os.killpg(os.getpgid(worker.process.pid), signal.SIGCONT)

    answered_ok = sum(1 for kind, _, status in answers if kind == "webhook" and status == 200)

    def all_applied() -> bool:
        events = WebhookEvent.objects.filter(endpoint=endpoint)
        return (events.count() >= answered_ok
                and not events.filter(applied_at__isnull=True).exists()
                and not Subscription.objects.filter(audience=hooked, opted_in=True).exists())

    try:
        wait(all_applied, timeout=args.apply_timeout, interval=0.02)
        applied_after = time.monotonic() - last_post
    except TimeoutError:
        applied_after = None
    events = WebhookEvent.objects.filter(endpoint=endpoint)
    stored = events.count()
    not_applied = events.filter(applied_at__isnull=True).count()
    still_in = Subscription.objects.filter(audience=hooked, opted_in=True).count()
    outcomes = Counter(events.values_list("outcome", flat=True))
    reads = Counter("one member (GET …/members/{hash})" if "/members/" in call.split("?")[0]
                    else "members changed since (GET …/members)" if "/members" in call
                    else call.split("?")[0] for call in sandbox.requests())

    kinds = ("webhook", "alive", "check")
    timings = {kind: [s for k, s, _ in answers if k == kind] for kind in kinds}
    statuses = {kind: Counter(st for k, _, st in answers if k == kind) for kind in kinds}
    median = {kind: statistics.median(values) for kind, values in timings.items()}
    tail = {kind: p99(values) for kind, values in timings.items()}
    median_ratio = median["webhook"] / median["alive"]
    tail_ratio = tail["webhook"] / tail["alive"]
    lost = args.posts - stored
    applied_text = (f"{applied_after:.2f} s" if applied_after is not None
                    else f"not within {args.apply_timeout:.0f} s")
    ok_in_time = applied_after is not None and applied_after <= 10

    def line(kind: str, name: str) -> str:
        return (f"  {name}: median {median[kind] * 1000:.1f} ms, p99 {tail[kind] * 1000:.1f} ms; "
                f"statuses {dict(statuses[kind])}")

    return [
        f"Webhooks: {args.posts} unsubscribe POSTs, as many GETs of a trivial view (/alive/) "
        f"and as many GET checks of the webhook URL, from {args.clients} clients in rotating "
        f"rounds of {round_size}; gunicorn with {args.web_workers} sync workers "
        f"({load_seconds:.1f} s of load); the worker "
        + ("paused meanwhile, applying afterwards" if args.pause_worker
           else "applying meanwhile, on the same cores"),
        line("webhook", "webhook POST"),
        line("alive", "trivial view"),
        line("check", "webhook GET check"),
        f"  ratio webhook POST / trivial view: median {median_ratio:.3f} (target <= 2) "
        f"{mark('webhook median ratio', median_ratio <= 2)}, p99 {tail_ratio:.3f} "
        f"(target <= 2) {mark('webhook p99 ratio', tail_ratio <= 2)}",
        f"  applied by the worker: every event applied and every subscription opted out "
        f"{applied_text} after the last POST answered (target <= 10 s) "
        f"{mark('applied in time', ok_in_time)}",
        f"  events stored {stored} of {args.posts} POSTs ({answered_ok} answered 200): lost "
        f"{lost} (target 0) {mark('events lost', lost == 0)}; not applied {not_applied} "
        f"{mark('events not applied', not_applied == 0)}; still opted in {still_in}",
        f"  outcomes: {dict(outcomes.most_common(4))}",
        f"  the worker's reads of Mailchimp: {dict(reads)}",
    ]


class PageCounter:
    """The MailchimpClient a reconciliation reads through, counting SQL queries per page: a
    page runs from its read to the run's progress callback after it is applied."""

    def __init__(self, client):
        self.client = client
        self.queries = 0
        self.page_started: int | None = None
        self.pages: list[int] = []
        self.reads = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        return execute(sql, params, many, context)

    def members_changed_page(self, *args, **kwargs):
        self.reads += 1
        self.page_started = self.queries
        return self.client.members_changed_page(*args, **kwargs)

    def progress(self, done: int, total: int) -> None:
        self.pages.append(self.queries - self.page_started)

    def __getattr__(self, name):
        return getattr(self.client, name)


def reconciliation(args, *, sandbox) -> list[str]:
    """N subscribed in the store, unsubscribed in Mailchimp: one full reconciliation."""
    from django.db import connection

    from mailchimp_integration.services import mailchimp_client_build
    from subscriptions import inbound
    from subscriptions.models import MemberSyncRun, Subscription

    audience = sandbox_list(sandbox, "Reconciled")
    emails = [f"member{n:07d}@example.com" for n in range(args.members)]
    started = time.perf_counter()
    sandbox_seed(sandbox, audience.mailchimp_id, emails, status="subscribed")
    unique_ids = sandbox_unique_ids(sandbox, audience.mailchimp_id)
    subscribed_in_store(audience, emails, unique_ids)
    # Now every one of them unsubscribes in Mailchimp (and no webhook came).
    sandbox_seed(sandbox, audience.mailchimp_id, emails, status="unsubscribed")
    seeding = time.perf_counter() - started

    sandbox.clear_requests()
    counter = PageCounter(mailchimp_client_build())
    run = inbound.run_create(audience=audience, kind=MemberSyncRun.Kind.RECONCILE, full=True)
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        run = inbound.run_execute(run=run, client=counter, progress=counter.progress)
    wall = time.perf_counter() - started
    calls = [c for c in sandbox.requests() if c.split(" ", 1)[1].startswith("/3.0/")]
    pages = math.ceil(args.members / PAGE)
    opted_out = Subscription.objects.filter(audience=audience, opted_in=False).count()
    per_page = counter.pages or [0]
    outside = counter.queries - sum(counter.pages)
    return [
        f"Reconciliation (full) of {args.members} members changed in Mailchimp (subscribed in "
        f"the store, unsubscribed there; seeded in {seeding:.1f} s): {run.state} in "
        f"{wall:.1f} s, {opted_out} opted out; drift {dict(run.counts)}",
        f"  API calls: {run.api_calls} counted by the run, {len(calls)} seen by the sandbox "
        f"(target <= {pages} pages + 1) "
        f"{mark('reconciliation calls', max(run.api_calls, len(calls)) <= pages + 1)}",
        f"  SQL queries per page of {PAGE}: min {min(per_page)}, max {max(per_page)} over "
        f"{len(counter.pages)} pages (target: the same on every page) "
        f"{mark('queries per page', max(per_page) == min(per_page))}; {outside} more for the "
        f"run itself; {counter.queries} in all",
    ]


if __name__ == "__main__":
    main()
