"""The services and the push, in-process, against the sandbox over real HTTP."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from subscriptions import delivery, selectors, services
from subscriptions.models import ConsentEvent, NewsSettings, Push, Source, Subscription

from .factories import CustomerFactory, interest, sandbox_list
from .helpers import add_fault, clear_faults, drain, forget, member, members, requests_log

pytestmark = pytest.mark.django_db


def footer_signup(email="ann@example.com", **kwargs):
    return services.subscription_subscribe(
        email=email, use_defaults=True, source=Source.FOOTER, ip="203.0.113.7",
        consent_text=selectors.footer_consent_text(), **kwargs,
    )


def test_footer_signup_pushes_member_with_default_groups_merge_fields_tag_and_consent(
    account, news_list
):
    result = footer_signup(first_name="Ann", last_name="Lee")
    assert result.changed == 1
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.WAITING
    assert subscription.consent.ip == "203.0.113.7"
    assert subscription.consent.wording.startswith("Sign up for")
    assert subscription.consent.actor == ConsentEvent.Actor.ANONYMOUS
    assert not Push.objects.exists()  # the log holds attempts; none yet

    [push] = drain()
    assert push.state == Push.State.DONE, push.last_error
    got = member(account, news_list, "ann@example.com")
    assert got["status"] == "subscribed"
    assert got["interests"][interest(news_list, "Offers").mailchimp_id] is True
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is False
    # Only what the store changed was sent: the group it added, not the others as false.
    assert push.payload["body"]["interests"] == {interest(news_list, "Offers").mailchimp_id: True}
    assert push.payload["body"]["status_if_new"] == "subscribed"
    assert "status" not in push.payload["body"]
    assert got["merge_fields"]["FNAME"] == "Ann" and got["merge_fields"]["LNAME"] == "Lee"
    assert [t["name"] for t in got["tags"]] == ["footer"]
    assert got["ip_signup"] == "203.0.113.7"
    assert got.get("timestamp_signup")
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.SUBSCRIBED
    assert subscription.mailchimp_status == "subscribed"


def test_a_repeated_signup_creates_no_duplicate_and_no_push(news_list, account):
    footer_signup(email="Ann@Example.com ")
    drain()
    result = footer_signup(email="ann@example.com")
    assert result.changed == 0
    assert Subscription.objects.count() == 1
    assert Push.objects.count() == 1


@pytest.mark.parametrize("email", ["", "   ", "not-an-email", "a@b"])
def test_invalid_or_empty_email_is_refused_and_nothing_saved(news_list, email):
    with pytest.raises(ValidationError):
        footer_signup(email=email)
    assert not Subscription.objects.exists() and not Push.objects.exists()


def test_only_active_lists_and_groups_are_used(account, news_list):
    inactive = sandbox_list(account, name="Old list", active=False)
    services.subscription_subscribe(
        email="bo@example.com", audience_ids=[news_list.pk, inactive.pk],
        interest_ids=[interest(inactive, "Recipes").pk], source=Source.CHECKOUT,
    )
    assert list(Subscription.objects.values_list("audience_id", flat=True)) == [news_list.pk]
    assert not Subscription.objects.get().interests.exists()


def test_unchecked_is_no_change_but_new_groups_are_added(account, news_list):
    footer_signup()
    services.subscription_subscribe(
        email="ann@example.com", audience_ids=[news_list.pk],
        interest_ids=[interest(news_list, "Recipes").pk], source=Source.CHECKOUT,
    )
    names = set(Subscription.objects.get().interests.values_list("name", flat=True))
    assert names == {"Offers", "Recipes"}
    assert Subscription.objects.get().wanted_version == 3  # one unsent version at a time
    [push] = drain()
    assert push.version == 3
    got = member(account, news_list, "ann@example.com")
    assert all(got["interests"][i.mailchimp_id] for i in news_list.interests.all())


def test_unsubscribe_is_a_patch_never_a_delete(connected, account, news_list):
    footer_signup()
    drain()
    subscription = Subscription.objects.get()
    services.subscription_unsubscribe(subscription_id=subscription.pk, source=Source.ACCOUNT)
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "unsubscribed"
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.UNSUBSCRIBED
    methods = {entry.get("method") for entry in requests_log(connected)}
    assert "PATCH" in methods and "DELETE" not in methods


def test_someone_unsubscribed_in_mailchimp_opting_in_again_is_resent_as_pending(
    account, news_list
):
    footer_signup()
    drain()
    account.unsubscribe(news_list.mailchimp_id, "ann@example.com")
    Subscription.objects.update(state=Subscription.State.UNSUBSCRIBED, opted_in=False)
    footer_signup()
    [push] = drain()
    assert push.state == Push.State.DONE, push.last_error
    assert push.payload["body"]["status_if_new"] == "subscribed"  # not known to be out
    patches = [e for e in requests_log(account) if e.get("method") == "PATCH"]
    assert patches and patches[-1]["body"] == {"status": "pending"}
    assert member(account, news_list, "ann@example.com")["status"] == "pending"
    assert Subscription.objects.get().state == Subscription.State.PENDING


def test_double_opt_in_sends_pending(account, news_list):
    NewsSettings.objects.create(pk=1, double_opt_in=True)
    footer_signup()
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "pending"
    assert Subscription.objects.get().state == Subscription.State.PENDING


def test_a_forgotten_address_fails_with_mailchimps_words_and_no_retry(account, news_list):
    footer_signup()
    drain()
    forget(account, news_list, "ann@example.com")
    Subscription.objects.update(opted_in=False)
    footer_signup()
    [push] = drain()
    assert push.state == Push.State.FAILED
    assert push.attempt == 1
    assert "Forgotten Email Not Subscribed" in push.last_error
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.FAILED
    assert subscription.failed_permanently
    assert "permanently deleted" in subscription.failure_reason
    assert drain() == []  # not retried until the store changes it


def _due_now():
    Subscription.objects.update(next_attempt_at=timezone.now())


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_wait_with_backoff_then_go_out(connected, account, news_list, status):
    add_fault(connected, "status", status=status, route="/lists/*/members/*",
              retry_after=3 if status == 429 else None, times=1)
    footer_signup()
    before = timezone.now()
    [push] = drain(rounds=1)
    assert push.state == Push.State.RETRY
    assert str(status) in push.last_error
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.WAITING and not subscription.claim_token
    wait = (subscription.next_attempt_at - before).total_seconds()
    assert wait >= (2.9 if status == 429 else 0)  # Retry-After is honoured
    _due_now()
    [push] = drain()
    assert push.state == Push.State.DONE and push.attempt == 2
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_a_hang_times_out_and_the_next_attempt_reads_first(connected, account, news_list,
                                                           settings):
    settings.MAILCHIMP_READ_TIMEOUT = 0.5
    add_fault(connected, "hang", seconds=2, route="/lists/*/members/*", times=1)
    footer_signup()
    [push] = drain(rounds=1)
    assert push.state == Push.State.RETRY and "timeout" in push.last_error.lower()
    assert Subscription.objects.get().outcome_unknown
    _due_now()
    account.clear_requests()
    drain()
    assert [e["method"] for e in requests_log(account)][:1] == ["GET"]
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"
    assert not Subscription.objects.get().outcome_unknown


def test_past_the_budget_a_failing_push_shows_failed_and_is_still_tried(connected, news_list,
                                                                        settings):
    settings.SUBSCRIPTIONS_RETRY_BUDGET_HOURS = 1
    add_fault(connected, "status", status=503, route="*")
    footer_signup()
    drain(rounds=1)
    Subscription.objects.update(retry_since=timezone.now() - timedelta(hours=2))
    _due_now()
    drain(rounds=1)
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.FAILED
    assert subscription.failure_reason.startswith("Still failing after")
    assert not subscription.failed_permanently  # transient: the sweeper keeps trying
    assert subscription.next_attempt_at > timezone.now() + timedelta(minutes=50)
    clear_faults(connected)
    _due_now()
    drain()
    assert Subscription.objects.get().state == Subscription.State.SUBSCRIBED


def test_staff_retry_sends_a_permanently_failed_subscription_again(account, news_list):
    footer_signup()
    drain()
    forget(account, news_list, "ann@example.com")
    Subscription.objects.all().delete()  # e.g. a restored store database
    footer_signup()
    [push] = drain()
    subscription = Subscription.objects.get()
    assert push.state == Push.State.FAILED and subscription.failed_permanently
    assert drain() == []  # a permanent error waits for a change or for staff
    assert delivery.retry(subscription_ids=[subscription.pk]) == 1
    [again] = drain()
    assert again.pk != push.pk and again.state == Push.State.FAILED
    assert "Forgotten Email Not Subscribed" in again.last_error


def test_retry_delay_has_backoff_jitter_and_cap(settings):
    settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS = 2
    settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS = 60
    delays = [delivery.retry_delay(attempt=n) for n in range(1, 12)]
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4
    assert max(delays) <= 60
    assert delivery.retry_delay(attempt=1, retry_after=30) == 30


def test_a_duplicate_delivery_changes_nothing(connected, account, news_list):
    footer_signup()
    sub = Subscription.objects.get()
    first = delivery.claim(subscription_id=sub.pk)
    assert first is not None
    assert delivery.claim(subscription_id=sub.pk) is None  # a second worker gets nothing
    delivery.deliver_claimed(first, client=delivery.mailchimp_client_build())
    puts = [e for e in requests_log(connected) if e.get("method") == "PUT"]
    assert delivery.deliver(subscription_id=sub.pk) is False  # nothing unsent: no call
    assert [e for e in requests_log(connected) if e.get("method") == "PUT"] == puts


def test_the_pause_holds_pushes_until_lifted(connected, account, news_list, broker_off):
    services.news_settings_update(double_opt_in=False, pushes_paused=True,
                                  customers_choose_lists=False)
    footer_signup()
    from subscriptions import tasks

    sub = Subscription.objects.get()
    tasks.push_send.run(sub.pk)
    assert Subscription.objects.get().state == Subscription.State.WAITING
    assert delivery.sweep()["due"] == 0
    assert member(account, news_list, "ann@example.com") is None
    services.news_settings_update(double_opt_in=False, pushes_paused=False,
                                  customers_choose_lists=False)
    tasks.push_send.run(sub.pk)
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_the_sweeper_frees_a_dead_workers_claim_and_it_is_read_then_sent(
    connected, account, news_list, broker_off, settings
):
    settings.SUBSCRIPTIONS_PUSH_TIME_LIMIT = 60
    footer_signup()
    sub = Subscription.objects.get()
    assert delivery.claim(subscription_id=sub.pk)  # a worker claimed it, then died
    Subscription.objects.update(claimed_at=timezone.now() - timedelta(seconds=76))
    stats = delivery.sweep()
    assert stats["lapsed"] == 1 and stats["due"] == 1
    sub.refresh_from_db()
    assert not sub.claim_token and sub.outcome_unknown
    broker_off.assert_called()
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_a_claim_younger_than_the_time_limit_is_left_alone(news_list, broker_off, settings):
    settings.SUBSCRIPTIONS_PUSH_TIME_LIMIT = 60
    footer_signup()
    sub = Subscription.objects.get()
    assert delivery.claim(subscription_id=sub.pk)
    Subscription.objects.update(claimed_at=timezone.now() - timedelta(seconds=60))
    assert delivery.sweep()["lapsed"] == 0
    assert Subscription.objects.get().claim_token


def test_email_change_carries_over_to_the_same_member(account, news_list):
    customer = CustomerFactory(email="old@example.com")
    services.subscription_subscribe(email="old@example.com", use_defaults=True,
                                    source=Source.REGISTRATION, user=customer)
    drain()
    services.subscription_email_change(user=customer, old_email="old@example.com",
                                       new_email="new@example.com")
    drain()
    assert Subscription.objects.get().email == "new@example.com"
    assert member(account, news_list, "new@example.com")["status"] == "subscribed"
    assert member(account, news_list, "old@example.com") is None
    assert len(members(account, news_list)) == 1


def test_account_update_replaces_groups_and_unsubscribes_unticked(account, news_list):
    second = sandbox_list(account, name="Events", groups=())
    customer = CustomerFactory(email="cy@example.com")
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Recipes").pk],
                                second.pk: []},
        source=Source.ACCOUNT, consent_text=selectors.CHECKBOX_TEXT,
    )
    drain()
    got = member(account, news_list, "cy@example.com")
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is True
    assert got["interests"][interest(news_list, "Offers").mailchimp_id] is False
    assert [t["name"] for t in got["tags"]] == ["account"]
    services.subscription_set_for_customer(
        user=customer, choices={news_list.pk: [interest(news_list, "Recipes").pk]},
        source=Source.ACCOUNT,
    )
    drain()
    assert member(account, second, "cy@example.com")["status"] == "unsubscribed"
    assert member(account, news_list, "cy@example.com")["status"] == "subscribed"


def test_a_removed_audience_holds_its_subscriptions_and_sends_them_when_it_returns(
    account, news_list
):
    footer_signup()
    news_list.removed_at = timezone.now()
    news_list.removed_reason = "Deleted in Mailchimp"
    news_list.save()
    subscription = Subscription.objects.get()
    assert subscription.is_annulled and subscription.is_disabled
    assert drain() == []  # held, not cancelled
    news_list.removed_at = None
    news_list.save()
    [push] = drain()
    assert push.state == Push.State.DONE
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_a_removed_group_is_never_sent_and_kept_for_when_it_returns(account, news_list):
    footer_signup()
    offers = interest(news_list, "Offers")
    offers.removed_at = timezone.now()
    offers.save()
    [push] = drain()
    assert "interests" not in push.payload["body"]
    assert Subscription.objects.get().interests.filter(pk=offers.pk).exists()
