"""Fault tests: Mailchimp slow or refusing, the broker down, a worker killed mid-push.

Each test runs its own redis-server and Celery worker(s) on free ports (`processes.py`), and this
process sends its tasks there too; the machine's Redis and the session worker are never touched.
Afterwards every subscription is in the sandbox exactly once, and none is lost.
"""
import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from subscriptions import services, tasks
from subscriptions.models import Push, Subscription
from tests.conftest import database_url_for_test_db, wait_for
from tests.processes import PrivateRedis, Worker, celery_app_broker, worker_env

from .factories import CustomerFactory
from .helpers import forget, member, members

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MEMBER_ROUTE = "/lists/*/members/*"


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def broker(private_redis):
    """This process's Celery app, sending to the private Redis for the test."""
    with celery_app_broker(private_redis.url) as app:
        yield app


@pytest.fixture
def start_worker(transactional_db, broker, private_redis, mailchimp_sandbox_server):
    """Start a worker on the private broker (env overrides as keyword arguments)."""
    started: list[Worker] = []
    database_url = database_url_for_test_db()

    def start(**overrides: str) -> Worker:
        env = worker_env(
            sandbox_server=mailchimp_sandbox_server, database_url=database_url,
            broker_url=private_redis.url, queue=broker.conf.task_default_queue, **overrides,
        )
        worker = Worker(env=env)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def signup(client, email: str) -> float:
    """A footer signup; returns how long the request took."""
    began = time.monotonic()
    response = client.post("/newsletter/signup/", {"email": email})
    assert response.status_code == 302
    return time.monotonic() - began


def unsent():
    return Subscription.objects.filter(
        wanted_version__gt=F("sent_version"), failed_permanently=False)


def wait_until_settled(count: int, *, timeout: float = 30) -> None:
    """`count` subscriptions, each sent or failed for good, none claimed."""
    def settled():
        return (Subscription.objects.count() == count and not unsent().exists()
                and not Subscription.objects.exclude(claim_token="").exists())

    wait_for(settled, timeout=timeout, message=f"not settled: {list_pushes()}")


def list_pushes() -> list:
    return list(Push.objects.values_list("subscription__email", "state", "attempt",
                                         "last_error"))


def assert_each_in_the_sandbox_once(account, audience, emails: list[str]) -> None:
    listed = [m["email_address"] for m in members(account, audience)]
    assert sorted(listed) == sorted(emails)  # none lost, none twice, nothing else
    assert {m["status"] for m in members(account, audience)} == {"subscribed"}
    for email in emails:
        subscription = Subscription.objects.get(email=email, audience=audience)
        assert subscription.state == Subscription.State.SUBSCRIBED, email
        assert subscription.mailchimp_status == "subscribed"
        assert subscription.pushes.order_by("-pk").first().state == Push.State.DONE


def test_429_503_and_a_hang_are_ridden_out_and_each_signup_arrives_once(
    start_worker, client, account, news_list
):
    start_worker()
    account.fail_429(times=2, retry_after=1, route=MEMBER_ROUTE)
    account.fail_status(503, times=2, route=MEMBER_ROUTE)
    account.hang(2.5, times=1, route=MEMBER_ROUTE)  # past the worker's 1 s read timeout
    emails = [f"fault{n}@example.com" for n in range(4)]
    for email in emails:
        signup(client, email)
    wait_until_settled(len(emails))
    assert [f["remaining"] for f in account.faults()] == [0, 0, 0]  # every fault was hit
    assert Push.objects.count() >= len(emails) + 5  # an entry per attempt
    assert_each_in_the_sandbox_once(account, news_list, emails)


def test_signups_while_redis_is_down_are_kept_and_sent_by_the_sweeper(
    start_worker, private_redis, client, account, news_list
):
    start_worker()
    private_redis.stop()
    emails = [f"nobroker{n}@example.com" for n in range(3)]
    for email in emails:
        assert signup(client, email) < 5  # the customer is not kept waiting by the broker
    assert unsent().count() == len(emails)
    assert members(account, news_list) == []

    private_redis.start()
    tasks.push_sweep.delay()  # the beat job, run by the worker once it is reconnected
    wait_until_settled(len(emails), timeout=40)
    assert_each_in_the_sandbox_once(account, news_list, emails)


def test_a_backlog_queued_by_staff_while_redis_is_down_is_sent_by_the_sweeper(
    start_worker, private_redis, account, news_list
):
    start_worker()
    customers = CustomerFactory.create_batch(3)
    private_redis.stop()
    # The admin action's on-commit enqueue fails: the backlog is saved all the same.
    assert services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk]
    ).added == 3
    private_redis.start()
    tasks.push_sweep.delay()
    wait_until_settled(3, timeout=40)
    assert_each_in_the_sandbox_once(account, news_list, [c.email for c in customers])


def test_a_worker_killed_mid_push_is_replaced_and_the_push_arrives_once(
    start_worker, client, account, news_list
):
    doomed = start_worker(MAILCHIMP_READ_TIMEOUT="10")
    account.set_latency(3, route=MEMBER_ROUTE, method="PUT")
    signup(client, "killed@example.com")
    wait_for(lambda: Push.objects.filter(state=Push.State.SENDING).exists()
             and account.stats()["in_flight"] >= 1,
             timeout=15, message="the push never went out")
    doomed.kill()
    account.clear_faults()
    push = Push.objects.get()
    assert push.state == Push.State.SENDING  # left behind by the dead worker
    assert Subscription.objects.get().claim_token  # and its claim with it

    start_worker()
    # The claim outlived the send's time limit (+15 s): the sweeper frees it.
    Subscription.objects.update(claimed_at=timezone.now() - timedelta(seconds=30))
    tasks.push_sweep.delay()
    wait_until_settled(1)
    push.refresh_from_db()
    assert push.state == Push.State.LOST
    last = Push.objects.order_by("-pk").first()
    assert last.state == Push.State.DONE and last.attempt == 2
    # Its call may still have landed: the next worker read the member before writing.
    methods = [r["method"] for r in account.request_log()
               if "/members/" in r["path"] and not r["path"].endswith("/tags")]
    assert methods[-1] == "PUT" and "GET" in methods[:-1], methods
    time.sleep(3)  # let the dead worker's slow PUT land too: it changes nothing
    assert_each_in_the_sandbox_once(account, news_list, ["killed@example.com"])


def test_a_send_cut_off_by_its_time_limit_is_tried_again_and_reads_first_never_fails(
    start_worker, client, account, news_list
):
    # The tests' send limit is 12 s (soft: 2 s); each PUT takes 4 s, past the soft limit.
    assert (tasks.push_send.soft_time_limit, tasks.push_send.time_limit) == (2, 12)
    start_worker(MAILCHIMP_READ_TIMEOUT="10", SUBSCRIPTIONS_RETRY_BASE_SECONDS="1")
    account.set_latency(4, route=MEMBER_ROUTE, method="PUT")
    signup(client, "cutoff@example.com")
    wait_for(lambda: Push.objects.filter(state=Push.State.RETRY).exists(), timeout=20,
             message="never cut off")
    account.clear_faults()
    first = Push.objects.order_by("pk").first()
    assert first.state == Push.State.RETRY and "Time limit" in first.last_error
    assert not Push.objects.filter(state=Push.State.FAILED).exists()
    wait_until_settled(1)
    time.sleep(4)  # the cut-off PUT lands in the end: still one member, subscribed
    # It may have landed before the retry: the retry read the member before writing again.
    methods = [r["method"] for r in account.request_log()
               if "/members/" in r["path"] and not r["path"].endswith("/tags")]
    assert methods.count("PUT") == 2 and "GET" in methods, methods
    assert_each_in_the_sandbox_once(account, news_list, ["cutoff@example.com"])


def test_a_permanent_error_fails_at_once_and_shows_in_the_sync_log(
    start_worker, client, admin_client, account, news_list
):
    start_worker()
    # Once on the list in Mailchimp, then permanently deleted there (GDPR).
    account.subscribe(news_list.mailchimp_id, "gone@example.com")
    forget(account, news_list, "gone@example.com")
    signup(client, "gone@example.com")
    wait_until_settled(1)
    push = Push.objects.get()
    assert push.state == Push.State.FAILED and push.attempt == 1  # a 4xx is never retried
    assert push.last_error.startswith(
        "Forgotten Email Not Subscribed: gone@example.com was permanently deleted")
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.FAILED
    assert subscription.failure_reason == push.last_error
    assert member(account, news_list, "gone@example.com") is None

    log = admin_client.get(reverse("admin:subscriptions_push_changelist"),
                           {"state__exact": "failed"}).content.decode()
    assert "gone@example.com" in log
    assert "Forgotten Email Not Subscribed" in log


def test_a_backlog_with_an_invalid_address_fails_only_that_one(start_worker, account, news_list,
                                                              settings):
    # More than 3 due at once go in bulk (here and in the worker).
    settings.SUBSCRIPTIONS_BULK_THRESHOLD = 3
    start_worker(SUBSCRIPTIONS_RETRY_BASE_SECONDS="1", SUBSCRIPTIONS_BULK_THRESHOLD="3")
    customers = CustomerFactory.create_batch(5)
    fake = CustomerFactory(email="bad@example")  # Mailchimp: "looks fake or invalid"
    # The first bulk call meets a 503: the chunk waits and is sent again.
    account.fail_status(503, times=1, route=f"/lists/{news_list.mailchimp_id}", method="POST")
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in [*customers, fake]], audience_ids=[news_list.pk],
    )
    wait_until_settled(6)
    failed = Push.objects.get(state=Push.State.FAILED)
    assert failed.subscription.email == "bad@example"
    assert failed.attempt == 2  # the 503, then Mailchimp's refusal of this one address
    # Mailchimp's words, whether the retry went in bulk or on its own.
    assert failed.last_error in (
        "ERROR_GENERIC: bad@example looks fake or invalid, please enter a real email address.",
        "Invalid Resource: Please provide a valid email address.")
    assert Subscription.objects.get(email="bad@example").state == Subscription.State.FAILED
    emails = [c.email for c in customers]
    assert_each_in_the_sandbox_once(account, news_list, emails)
    # The source tags go in one POST /batches, after the members.
    wait_for(lambda: all(member(account, news_list, e)["tags"] for e in emails), timeout=10,
             message="the backlog's tags were not applied")
    for email in emails:
        assert [t["name"] for t in member(account, news_list, email)["tags"]] == [
            "admin_bulk"]


def test_a_bulk_call_failing_keeps_waiting_visibly_and_arrives_once_mailchimp_is_back(
    start_worker, account, news_list
):
    start_worker()
    account.fail_status(503, times=None, route=f"/lists/{news_list.mailchimp_id}", method="POST")
    account.fail_status(503, times=None, route=MEMBER_ROUTE)
    customers = CustomerFactory.create_batch(3)
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk]
    )
    wait_for(lambda: all(s.attempts >= 2 for s in Subscription.objects.all()), timeout=30,
             message=f"no retries: {list_pushes()}")
    for subscription in Subscription.objects.all():
        assert subscription.state == Subscription.State.WAITING  # within the budget
        assert "503" in subscription.failure_reason
    account.clear_faults()
    tasks.push_sweep.delay()
    wait_until_settled(3)
    assert_each_in_the_sandbox_once(account, news_list, [c.email for c in customers])
