"""End to end: a real Celery worker on the broker pushes to the sandbox over HTTP."""
import pytest

from subscriptions import services
from subscriptions.models import Push, Subscription
from tests.conftest import wait_for

from .factories import PASSWORD, CustomerFactory, groups_field, interest
from .helpers import in_mailchimp, member, members, shown

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_footer_signup_reaches_mailchimp_through_the_worker(
    celery_worker_process, client, account, news_list
):
    response = client.post("/newsletter/signup/", {"email": "e2e@example.com"},
                           REMOTE_ADDR="198.51.100.8")
    assert response.status_code == 302
    got = wait_for(lambda: member(account, news_list, "e2e@example.com"), timeout=20,
                   message="the worker did not push the signup")
    assert got["status"] == "subscribed"
    assert got["interests"][interest(news_list, "Offers").mailchimp_id] is True
    wait_for(lambda: member(account, news_list, "e2e@example.com")["tags"], timeout=10)
    assert [t["name"] for t in member(account, news_list, "e2e@example.com")["tags"]] == [
        "footer"]
    wait_for(lambda: Subscription.objects.get().state == Subscription.State.SUBSCRIBED)


def test_transient_errors_are_retried_by_the_worker(
    celery_worker_process, client, account, news_list
):
    account.fail_status(503, times=2, route="/lists/*/members/*")
    client.post("/newsletter/signup/", {"email": "retry@example.com"})
    wait_for(lambda: Push.objects.filter(state=Push.State.DONE).exists(), timeout=30,
             message="the push did not succeed after retries")
    push = Push.objects.get(state=Push.State.DONE)
    assert push.attempt == 3  # each attempt is an entry of the sync log
    assert list(Push.objects.order_by("pk").values_list("state", flat=True)) == [
        Push.State.RETRY, Push.State.RETRY, Push.State.DONE]
    assert member(account, news_list, "retry@example.com")["status"] == "subscribed"


def test_a_backlog_goes_out_in_bulk_calls(celery_worker_process, account, news_list):
    customers = CustomerFactory.create_batch(1100)
    account.clear_requests()
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk]
    )
    wait_for(lambda: Push.objects.filter(state=Push.State.DONE).count() == 1100, timeout=60,
             message="the backlog was not pushed")
    assert len(members(account, news_list)) == 1000  # the page size; all are there:
    assert Subscription.objects.filter(state=Subscription.State.SUBSCRIBED).count() == 1100
    calls = [c for c in account.requests() if not c.startswith("GET /3.0/lists/")]  # ours
    assert sum(c.startswith(f"POST /3.0/lists/{news_list.mailchimp_id} ") or
               c == f"POST /3.0/lists/{news_list.mailchimp_id}" for c in calls) == 3
    assert len(calls) <= 4, calls


def test_the_account_page_path_reaches_mailchimp_through_the_worker(
    celery_worker_process, client, account, news_list
):
    customer = CustomerFactory(email="page@example.com", first_name="Pia", last_name="Page")
    client.login(email=customer.email, password=PASSWORD)
    recipes = interest(news_list, "Recipes")
    client.post("/newsletter/my-lists/", {
        f"news_list_{news_list.pk}": "on", groups_field(recipes): [recipes.pk],
        **shown(news_list),
    })
    got = in_mailchimp(account, news_list, "page@example.com", tag="account")
    assert got["status"] == "subscribed"
    assert got["interests"][recipes.mailchimp_id] is True
    assert got["merge_fields"] == {"FNAME": "Pia", "LNAME": "Page"}
    # Unticking the list on the account page is an unsubscribe: a PATCH, never a DELETE.
    client.post("/newsletter/my-lists/", shown(news_list))
    wait_for(lambda: member(account, news_list, "page@example.com")["status"] == "unsubscribed",
             timeout=20, message="the worker did not push the unsubscribe")
    sent = [f"{r['method']} {r['path']}" for r in account.request_log()]
    assert not any(line.startswith("DELETE") for line in sent)


def test_the_periodic_jobs_run_on_their_own_queue_which_every_worker_consumes(settings):
    from shop.celery import app
    from subscriptions import tasks

    for task in (tasks.push_sweep, tasks.push_prune):
        routed = app.amqp.router.route({}, task.name)["queue"].name
        assert routed == settings.CELERY_MAINTENANCE_QUEUE
    assert app.amqp.router.route({}, tasks.push_send.name)["queue"].name == (
        settings.CELERY_TASK_DEFAULT_QUEUE)
    consumed = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert consumed == {settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_MAINTENANCE_QUEUE}
    assert tasks.push_send.time_limit == settings.SUBSCRIPTIONS_PUSH_TIME_LIMIT
