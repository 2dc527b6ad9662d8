"""The services and the push, in-process, against the sandbox over real HTTP."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mailchimp_integration.signals import audience_removed, interest_removed
from subscriptions import selectors, services
from subscriptions.models import NewsSettings, Push, Source, Subscription

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
    assert subscription.consent_ip == "203.0.113.7"
    assert subscription.consent_text.startswith("Sign up for")
    assert Push.objects.get().state == Push.State.WAITING

    [push] = drain()
    assert push.state == Push.State.DONE, push.last_error
    got = member(account, news_list, "ann@example.com")
    assert got["status"] == "subscribed"
    assert got["interests"][interest(news_list, "Offers").mailchimp_id] is True
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is False
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
    assert Push.objects.count() == 1  # the waiting push is reused: it sends the latest state
    drain()
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
    assert push.attempts == 1
    assert "Forgotten Email Not Subscribed" in push.last_error
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.FAILED
    assert "permanently deleted" in subscription.failure_reason


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_wait_with_backoff_then_go_out(connected, account, news_list, status):
    add_fault(connected, "status", status=status, route="/lists/*/members/*",
              retry_after=3 if status == 429 else None, times=1)
    footer_signup()
    before = timezone.now()
    [push] = drain()
    assert push.state == Push.State.WAITING
    assert str(status) in push.last_error
    wait = (push.next_attempt_at - before).total_seconds()
    assert wait >= (2.9 if status == 429 else 0)  # Retry-After is honoured
    Push.objects.update(next_attempt_at=timezone.now())
    [push] = drain()
    assert push.state == Push.State.DONE and push.attempts == 2
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_a_hang_times_out_and_is_retried(connected, account, news_list, settings):
    settings.MAILCHIMP_READ_TIMEOUT = 0.5
    add_fault(connected, "hang", seconds=2, route="/lists/*/members/*", times=1)
    footer_signup()
    [push] = drain()
    assert push.state == Push.State.WAITING and "timeout" in push.last_error.lower()
    Push.objects.update(next_attempt_at=timezone.now())
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_retries_are_capped_then_failed_visibly(connected, news_list, settings):
    settings.SUBSCRIPTIONS_PUSH_MAX_ATTEMPTS = 3
    add_fault(connected, "status", status=503, route="*")
    footer_signup()
    for _ in range(3):
        Push.objects.filter(state=Push.State.WAITING).update(next_attempt_at=timezone.now())
        drain()
    push = Push.objects.get()
    assert push.state == Push.State.FAILED and push.attempts == 3
    assert "Gave up after 3 attempts" in push.last_error
    clear_faults(connected)
    assert services.push_retry(push_ids=[push.pk]) == 1
    drain()
    assert Push.objects.get().state == Push.State.DONE


def test_retry_delay_has_backoff_jitter_and_cap(settings):
    settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS = 2
    settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS = 60
    delays = [services.retry_delay(attempt=n) for n in range(1, 12)]
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4
    assert max(delays) <= 60
    assert services.retry_delay(attempt=1, retry_after=30) == 30


def test_a_duplicate_delivery_changes_nothing(connected, account, news_list):
    footer_signup()
    push = Push.objects.get()
    assert services.push_claim(push_id=push.pk) is True
    assert services.push_claim(push_id=push.pk) is False
    services.push_send(push_id=push.pk)
    puts = [e for e in requests_log(connected) if e.get("method") == "PUT"]
    services.push_send(push_id=push.pk)  # a second delivery of a DONE push: nothing sent
    assert [e for e in requests_log(connected) if e.get("method") == "PUT"] == puts


def test_the_pause_holds_pushes_until_lifted(connected, account, news_list, settings):
    services.news_settings_update(double_opt_in=False, pushes_paused=True,
                                  customers_choose_lists=False)
    footer_signup()
    from subscriptions import tasks

    push = Push.objects.get()
    tasks.push_send.run(push.pk)
    assert Push.objects.get().state == Push.State.WAITING
    assert services.push_sweep(grace_seconds=0) == 0
    assert member(account, news_list, "ann@example.com") is None
    services.news_settings_update(double_opt_in=False, pushes_paused=False,
                                  customers_choose_lists=False)
    tasks.push_send.run(push.pk)
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


def test_the_sweeper_resends_stale_sending_pushes(connected, account, news_list, broker_off):
    footer_signup()
    push = Push.objects.get()
    services.push_claim(push_id=push.pk)  # a worker claimed it, then died
    Push.objects.update(claimed_at=timezone.now() - timedelta(hours=1))
    assert services.push_sweep(grace_seconds=0) == 1
    assert Push.objects.get().state == Push.State.WAITING
    broker_off.assert_called()
    drain()
    assert member(account, news_list, "ann@example.com")["status"] == "subscribed"


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


def test_removed_audience_annuls_its_subscriptions_and_keeps_them(news_list):
    footer_signup()
    news_list.removed_at = timezone.now()
    news_list.removed_reason = "Deleted in Mailchimp"
    news_list.save()
    audience_removed.send(sender=type(news_list), audience_ids=[news_list.pk])
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.ANNULLED
    assert subscription.is_disabled and subscription.disabled_reason == "Deleted in Mailchimp"
    assert Push.objects.get().state == Push.State.CANCELLED


def test_removed_group_is_taken_off_and_kept_for_display(news_list):
    footer_signup()
    offers = interest(news_list, "Offers")
    interest_removed.send(sender=type(offers), interest_ids=[offers.pk])
    subscription = Subscription.objects.get()
    assert not subscription.interests.exists()
    assert subscription.annulled_interests[0]["name"] == "Offers"
