"""A backlog's source tags go in one `/batches` call; the ones Mailchimp could not apply show
in the sync log, on their pushes, once the batch has run."""
import pytest

from subscriptions import bulk, delivery, services, tasks
from subscriptions.models import Push
from tests.conftest import wait_for

from .factories import CustomerFactory
from .helpers import member

pytestmark = pytest.mark.django_db(transaction=True)

TAGS_ROUTE = "/lists/*/members/*/tags"


def backlog_sent(news_list, count: int) -> tuple[list, str]:
    """Queue `count` customers through the admin action and send them in-process."""
    customers = CustomerFactory.create_batch(count)
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk]
    )
    stats = bulk.drain()
    assert stats["created"] == count
    return customers


def batch_checked(broker_off) -> str:
    """The batch id the backlog asked to follow, checked until Mailchimp has run it."""
    followed = [
        call.args[0][0] for call in broker_off.call_args_list
        if call.args and isinstance(call.args[0], tuple) and len(call.args[0]) == 1
        and isinstance(call.args[0][0], str)
    ]
    assert len(followed) == 1, broker_off.call_args_list
    batch_id = followed[0]
    wait_for(lambda: bulk.tags_batch_check(batch_id=batch_id), timeout=10)
    return batch_id


def test_tags_mailchimp_applied_leave_the_log_clean(broker_off, account, news_list):
    customers = backlog_sent(news_list, 3)
    batch_checked(broker_off)
    assert set(Push.objects.values_list("state", "last_error")) == {(Push.State.DONE, "")}
    for customer in customers:
        assert [t["name"] for t in member(account, news_list, customer.email)["tags"]] == [
            "admin_bulk"]


def test_tags_mailchimp_refused_are_shown_on_their_pushes(broker_off, account, news_list):
    account.fail_status(503, times=None, route=TAGS_ROUTE, method="POST")
    customers = backlog_sent(news_list, 3)
    batch_checked(broker_off)
    for push in Push.objects.all():
        # The member is in Mailchimp, so the push is done; the missing tag is said.
        assert push.state == Push.State.DONE
        assert push.last_error.startswith(delivery.TAG_NOT_APPLIED)
        assert "503" in push.last_error or "Service Unavailable" in push.last_error
    for customer in customers:
        subscribed = member(account, news_list, customer.email)
        assert subscribed["status"] == "subscribed" and subscribed["tags"] == []


def test_a_batch_call_that_fails_is_shown_at_once(broker_off, account, news_list):
    account.fail_status(503, times=None, route="/batches", method="POST")
    backlog_sent(news_list, 2)
    errors = set(Push.objects.values_list("state", "last_error"))
    assert len(errors) == 1
    state, error = errors.pop()
    assert state == Push.State.DONE and error.startswith(delivery.TAG_NOT_APPLIED)


def test_the_task_asks_again_until_the_batch_has_run(account, monkeypatch):
    answers = iter([False, True])
    monkeypatch.setattr(bulk, "tags_batch_check", lambda batch_id: next(answers))
    retried = []

    def retry(**kwargs):
        retried.append(kwargs)
        return RuntimeError("retry")

    monkeypatch.setattr(tasks.push_tags_check, "retry", retry)
    with pytest.raises(RuntimeError):
        tasks.push_tags_check("b1")
    tasks.push_tags_check("b1")
    assert len(retried) == 1 and retried[0]["countdown"] > 0


def test_a_drain_tags_members_sent_singly_in_its_batch_and_never_tags_who_left(
    broker_off, account, news_list
):
    """Found by bench/subscriptions.py (the backlog with 1% unsubscribed in Mailchimp took a
    tags call of its own for each of them): members Mailchimp already has are sent singly,
    their tags join the drain's one `/batches` call, and an unsubscribed member gets none."""
    from .helpers import requests_log

    customers = CustomerFactory.create_batch(4)
    account.subscribe(news_list.mailchimp_id, customers[0].email)  # there already
    account.subscribe(news_list.mailchimp_id, customers[1].email)
    account.unsubscribe(news_list.mailchimp_id, customers[1].email)  # left, in Mailchimp
    account.clear_requests()
    services.subscriptions_subscribe_users(
        user_ids=[c.pk for c in customers], audience_ids=[news_list.pk])
    stats = bulk.drain()
    assert (stats["created"], stats["single"]) == (2, 2)
    batch_checked(broker_off)
    assert not [r for r in requests_log(account) if r["path"].endswith("/tags")]
    tags = {c.email: [t["name"] for t in member(account, news_list, c.email)["tags"]]
            for c in customers}
    assert tags == {customers[0].email: ["admin_bulk"], customers[1].email: [],
                    customers[2].email: ["admin_bulk"], customers[3].email: ["admin_bulk"]}
    assert member(account, news_list, customers[1].email)["status"] == "unsubscribed"
