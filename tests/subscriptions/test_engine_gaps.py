"""Gaps in the delivery engine's tests: annulment through real list syncs, a burst on the
bulk path through the real worker, a customer's rename, and the retry policy (jitter, the
sweeper's reach, pruning, an unsubscribe past the retry budget).

The Mailchimp client is never mocked: the store talks HTTP to the sandbox, faults are
injected there, and what was sent is read from the sandbox's request log."""
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from mailchimp_integration import outbox, signals
from mailchimp_integration.models import Audience, Interest
from subscriptions import bulk, delivery, selectors, services
from subscriptions.forms import CustomerListsForm
from subscriptions.models import Push, Source, Subscription

from .factories import interest
from .helpers import drain, member, member_hash, requests_log

in_both_compliance_modes = pytest.mark.usefixtures("sandbox_compliance_mode")


def footer(email="ann@example.com", **kw):
    return services.subscription_subscribe(
        email=email, use_defaults=True, source=Source.FOOTER, ip="203.0.113.7",
        consent_text=selectors.footer_consent_text(), **kw)


def sync_lists():
    """The list import exactly as `manage.py sync_lists` runs it (verbosity 2 only so that it
    leaves this process's log levels alone)."""
    out = io.StringIO()
    call_command("sync_lists", verbosity=2, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def list_restore(account, audience):
    """Mailchimp has the list again under the same id, with its group categories and groups
    (same ids too) but no members: the sandbox's control API takes the ids to create."""
    account.create_list(audience.name, list_id=audience.mailchimp_id)
    for category in audience.categories.all():
        account._call("POST", f"/lists/{audience.mailchimp_id}/categories",
                      json={"title": category.name, "id": category.mailchimp_id})
        for group in Interest.objects.filter(category=category):
            account._call(
                "POST",
                f"/lists/{audience.mailchimp_id}/categories/{category.mailchimp_id}/interests",
                json={"name": group.name, "id": group.mailchimp_id},
            )


def member_writes(account, email=None) -> list[dict]:
    """The member PUT/PATCH calls the store made (optionally of one address)."""
    return [r for r in requests_log(account)
            if r["method"] in ("PUT", "PATCH") and "/members/" in r["path"]
            and not r["path"].endswith("/tags")
            and (email is None or member_hash(email) in r["path"])]


def assert_held(subscription: Subscription, account) -> None:
    """Nothing is sent for it, by any path, and it is neither failed nor given up."""
    account.clear_requests()
    assert delivery.deliver(subscription_id=subscription.pk) is False
    assert drain() == []
    assert bulk.drain()["bulk_calls"] == 0
    assert delivery.sweep()["due"] == 0
    assert member_writes(account) == []
    subscription.refresh_from_db()
    assert subscription.sent_version == 0 and subscription.wanted_version > 0
    assert subscription.state == Subscription.State.WAITING
    assert not subscription.failed_permanently and not subscription.claim_token
    assert not Push.objects.filter(subscription=subscription).exists()


# 1. Annulment through real syncs ------------------------------------------------------------

@in_both_compliance_modes
@pytest.mark.django_db
def test_a_list_deleted_in_mailchimp_holds_its_signups_and_sends_them_once_it_is_restored(
    account, news_list, broker_off
):
    footer()
    sub = Subscription.objects.get()
    offers = interest(news_list, "Offers")
    account.delete_list(news_list.mailchimp_id)

    sync_lists()
    news_list.refresh_from_db()
    assert news_list.removed_at is not None and news_list.removed_reason == "Deleted in Mailchimp"
    sub = Subscription.objects.select_related("audience").get(pk=sub.pk)
    assert sub.is_annulled and sub.is_disabled
    assert sub.disabled_reason == "Deleted in Mailchimp"
    # Staff see it on the customer's lists tab as disabled; the customer no longer sees it.
    assert CustomerListsForm(subscriptions=[sub], staff=True).disabled_subscriptions == [sub]
    assert not selectors.subscription_can_be_left(sub)
    assert_held(sub, account)

    list_restore(account, news_list)
    sync_lists()
    news_list.refresh_from_db()
    offers.refresh_from_db()
    assert news_list.removed_at is None and offers.removed_at is None
    assert not Subscription.objects.select_related("audience").get(pk=sub.pk).is_annulled

    [push] = drain()
    assert push.state == Push.State.DONE, push.last_error
    got = member(account, news_list, "ann@example.com")
    assert got["status"] == "subscribed"
    assert got["interests"][offers.mailchimp_id] is True
    assert [t["name"] for t in got["tags"]] == ["footer"]
    sub.refresh_from_db()
    assert sub.state == Subscription.State.SUBSCRIBED and sub.sent_version == sub.wanted_version


# 2. Durability of annulment -------------------------------------------------------------

@in_both_compliance_modes
@pytest.mark.django_db(transaction=True)
def test_an_annulment_survives_a_crash_between_the_syncs_commit_and_its_callbacks(
    account, news_list, broker_off
):
    footer()
    sub = Subscription.objects.get()
    account.delete_list(news_list.mailchimp_id)
    announced = []

    def receiver(sender, audience_ids, **kwargs):
        announced.append(audience_ids)

    signals.audience_removed.connect(receiver, dispatch_uid="engine-gaps-crash")
    try:
        with transaction.atomic():
            sync_lists()
            # The process dies right after COMMIT: no on_commit callback, no signal, runs.
            transaction.get_connection().run_on_commit.clear()
    finally:
        signals.audience_removed.disconnect(dispatch_uid="engine-gaps-crash")
    assert announced == []  # the crash happened: nobody was told
    assert Audience.objects.get(pk=news_list.pk).removed_at is not None  # committed
    # The next delivery, in a fresh look at the database, still holds the subscription.
    assert_held(sub, account)
    assert member(account, news_list, "ann@example.com") is None


# 3. A burst switches to the bulk path --------------------------------------------------

@in_both_compliance_modes
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_footer_signups_goes_out_through_mailchimps_batch_subscribe(
    celery_worker_process, account, news_list, settings
):
    from tests.conftest import wait_for

    burst = int(settings.SUBSCRIPTIONS_BULK_THRESHOLD) + 5  # the worker's threshold: 20
    emails = [f"burst{n}@example.com" for n in range(burst)]
    account.clear_requests()
    # They commit together, as signups do that land faster than the worker claims: one
    # push_send task each is queued on commit.
    with transaction.atomic():
        for email in emails:
            assert footer(email=email).changed == 1
    wait_for(lambda: Subscription.objects.filter(
        state=Subscription.State.SUBSCRIBED).count() == burst, timeout=40,
        message="the burst was not pushed")

    log = requests_log(account)
    batch_path = f"/3.0/lists/{news_list.mailchimp_id}"
    batches = [r for r in log if r["method"] == "POST" and r["path"].rstrip("/") == batch_path]
    assert batches, [f"{r['method']} {r['path']}" for r in log]
    puts = [r for r in log if r["method"] == "PUT" and "/members/" in r["path"]]
    assert len(puts) <= burst // 5, "the burst went out one member at a time"
    # Every address went out once: in a batch subscribe or on its own, never both.
    sent = [m["email_address"] for b in batches for m in b["body"]["members"]]
    sent += [r["body"]["email_address"] for r in puts]
    assert sorted(sent) == sorted(emails)
    assert all(b["body"]["update_existing"] is False for b in batches)
    for email in emails:
        assert member(account, news_list, email)["status"] == "subscribed"
    assert Push.objects.filter(channel="bulk", state=Push.State.DONE).count() == burst - len(puts)


# 4. A customer renames themselves ------------------------------------------------------

@in_both_compliance_modes
@pytest.mark.django_db
def test_a_rename_patches_only_the_changed_name_and_a_checkout_name_never_replaces_it(
    account, news_list
):
    from .factories import CustomerFactory

    customer = CustomerFactory(email="rita@example.com", first_name="Rita", last_name="Lee")
    services.subscription_subscribe(email="rita@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    drain()
    assert member(account, news_list, "rita@example.com")["merge_fields"] == {
        "FNAME": "Rita", "LNAME": "Lee"}

    customer.first_name = "Margarita"
    customer.save()
    assert services.subscription_customer_renamed(user=customer) == 1
    account.clear_requests()
    [push] = drain()
    assert push.state == Push.State.DONE, push.last_error
    [patch] = member_writes(account)
    assert patch["method"] == "PATCH"
    assert patch["body"] == {"merge_fields": {"FNAME": "Margarita"}}  # no status, no groups
    got = member(account, news_list, "rita@example.com")
    assert got["merge_fields"] == {"FNAME": "Margarita", "LNAME": "Lee"}
    assert got["status"] == "subscribed"
    assert services.subscription_customer_renamed(user=customer) == 0  # nothing new

    # A checkout with a gift's names: the names already sent stay.
    result = services.subscription_subscribe(
        email="rita@example.com", use_defaults=True, source=Source.CHECKOUT,
        first_name="Gift", last_name="Friend", user=customer)
    assert result.changed == 0
    account.clear_requests()
    assert drain() == []
    assert member_writes(account) == []
    sub = Subscription.objects.get()
    assert (sub.first_name, sub.last_name) == ("Margarita", "Lee")
    assert member(account, news_list, "rita@example.com")["merge_fields"] == {
        "FNAME": "Margarita", "LNAME": "Lee"}


# 5. The retry policy -------------------------------------------------------------------

def test_the_retry_delay_is_jittered_within_half_to_full_backoff_capped_and_yields_to_retry_after():
    policy = outbox.Policy(base_seconds=2, cap_seconds=300)
    draws = [policy.delay(attempt=4) for _ in range(200)]  # backoff 2 * 2**3 = 16 s
    assert all(8 <= d <= 16 for d in draws), (min(draws), max(draws))
    assert len({round(d, 3) for d in draws}) > 50  # spread, not one value for everyone
    assert max(draws) - min(draws) > 4
    capped = [policy.delay(attempt=30) for _ in range(200)]
    assert all(150 <= d <= 300 for d in capped), (min(capped), max(capped))
    assert policy.delay(attempt=1, retry_after=120) == 120  # Mailchimp asks for longer
    assert all(1 <= policy.delay(attempt=1, retry_after=0.1) <= 2 for _ in range(50))


@pytest.mark.django_db
def test_a_push_left_by_a_dead_worker_is_sent_again_within_two_minutes(
    account, news_list, broker_off, settings
):
    rules = delivery.policy()
    sweep_every = settings.CELERY_BEAT_SCHEDULE["subscriptions-push-sweep"]["schedule"]
    assert settings.CELERY_BEAT_SCHEDULE["subscriptions-push-sweep"]["task"] == (
        "subscriptions.push_sweep")
    assert rules.stale_after.total_seconds() + float(sweep_every) <= 120
    # The sweep run after the lease has lapsed frees the claim and sends it again.
    footer()
    sub = Subscription.objects.get()
    taken = delivery.claim(subscription_id=sub.pk)
    push = delivery.push_open(taken, delivery.build(taken.subscription), channel="member")
    Subscription.objects.update(claimed_at=timezone.now() - rules.stale_after
                                - timedelta(seconds=1))
    stats = delivery.sweep()
    assert stats["lapsed"] == 1 and stats["due"] == 1
    push.refresh_from_db()
    assert push.state == Push.State.LOST
    assert [c.args[0] for c in broker_off.call_args_list] == [(sub.pk,)]
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


@pytest.mark.django_db
def test_prune_deletes_old_finished_attempts_and_keeps_young_and_sending_ones(settings):
    now = timezone.now()
    audience = Audience.objects.create(mailchimp_id="prune00001", name="Prune", last_seen_at=now)
    sub = Subscription.objects.create(email="p@example.com", audience=audience,
                                      source=Source.FOOTER)
    old = timedelta(days=float(settings.SUBSCRIPTIONS_PUSH_RETENTION_DAYS) + 1)
    old_done = Push.objects.create(subscription=sub, state=Push.State.DONE,
                                   finished_at=now - old, created_at=now - old)
    young_done = Push.objects.create(subscription=sub, state=Push.State.FAILED,
                                     finished_at=now - timedelta(days=1))
    sending = Push.objects.create(subscription=sub, state=Push.State.SENDING,
                                  created_at=now - old, claimed_at=now - old)
    odd_sending = Push.objects.create(subscription=sub, state=Push.State.SENDING,
                                      finished_at=now - old, created_at=now - old)
    assert delivery.prune() == 1
    kept = set(Push.objects.values_list("pk", flat=True))
    assert kept == {young_done.pk, sending.pk, odd_sending.pk}
    assert old_done.pk not in kept and Subscription.objects.filter(pk=sub.pk).exists()
    entry = settings.CELERY_BEAT_SCHEDULE["subscriptions-push-prune"]
    from subscriptions import tasks

    assert entry["task"] == tasks.push_prune.name == "subscriptions.push_prune"
    assert 0 < float(entry["schedule"]) <= 24 * 3600


@in_both_compliance_modes
@pytest.mark.django_db
def test_an_unsubscribe_failing_past_the_budget_shows_failed_and_is_still_sent_hourly(
    account, news_list, broker_off, settings
):
    from subscriptions import tasks

    footer()
    drain()
    sub = Subscription.objects.get()
    services.subscription_unsubscribe(subscription_id=sub.pk, source=Source.ACCOUNT)
    account.fail_status(503, times=None, route="/lists/*/members/*", method="PATCH")
    [first] = drain(rounds=1)
    sub.refresh_from_db()
    assert first.state == Push.State.RETRY and sub.state == Subscription.State.WAITING
    assert sub.retry_since is not None
    # Mailchimp has refused it for three days and more.
    budget = timedelta(hours=float(settings.SUBSCRIPTIONS_RETRY_BUDGET_HOURS))
    Subscription.objects.update(retry_since=timezone.now() - budget - timedelta(hours=1),
                                next_attempt_at=timezone.now())
    [late] = drain(rounds=1)
    before = timezone.now()
    sub.refresh_from_db()
    assert late.state == Push.State.RETRY
    assert sub.state == Subscription.State.FAILED
    assert sub.failure_reason.startswith("Still failing after"), sub.failure_reason
    assert not sub.failed_permanently and sub.sent_version < sub.wanted_version
    wait = (sub.next_attempt_at - before).total_seconds()
    assert 3500 <= wait <= 3700, wait  # still due, about an hour later
    broker_off.reset_mock()
    assert delivery.sweep()["due"] == 0  # not before its hour
    assert drain() == []

    account.clear_faults()  # Mailchimp recovers; the hour passes
    Subscription.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=2))
    assert delivery.sweep()["due"] == 1
    [call] = broker_off.call_args_list
    tasks.push_send(*call.args[0])  # what the worker runs for the sweeper's task
    assert member(account, news_list, "ann@example.com")["status"] == "unsubscribed"
    sub.refresh_from_db()
    assert sub.state == Subscription.State.UNSUBSCRIBED and sub.failure_reason == ""
    assert sub.sent_version == sub.wanted_version and sub.retry_since is None
