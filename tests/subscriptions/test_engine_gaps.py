"""Gaps in the delivery engine's tests: annulment through real list syncs, a burst on the
bulk path through the real worker, a customer's rename, and the retry policy (jitter, the
sweeper's reach, pruning, an unsubscribe past the retry budget).

The Mailchimp client is never mocked: the store talks HTTP to the sandbox, faults are
injected there, and what was sent is read from the sandbox's request log."""
import io

import pytest
from django.core.management import call_command
from django.db import transaction

from mailchimp_integration import signals
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
