"""The way back from Mailchimp (issue "Two-way sync"): webhook events applied by re-reading
the member, reconciliation of what webhooks missed, and the import of Mailchimp's members.

The sandbox delivers its webhooks over HTTP to the live server (form-encoded, as Mailchimp);
the store reads members back over HTTP; nothing is mocked. What the store sent is read from
the sandbox's request log: the loop test counts its writes."""
import io

import pytest
from django.core.management import call_command
from django.db.models import F

from mailchimp_integration import services as integration_services
from mailchimp_integration import webhooks
from mailchimp_integration.models import WebhookEvent
from subscriptions import inbound, selectors, services
from subscriptions.models import BouncedAddress, ConsentEvent, MemberSyncRun, Source, Subscription
from tests.conftest import wait_for

from .factories import CustomerFactory, interest
from .helpers import api, drain, member, requests_log, signed_up

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("sandbox_compliance_mode")]

WRITES = ("PUT", "PATCH", "POST", "DELETE")


@pytest.fixture
def hooked(live_server, connected, news_list, broker_off, settings):
    """The store's webhook registered on the list by the store itself, at SITE_URL (the live
    server): sources user and admin, never api."""
    # Mailchimp retries a failed delivery for over an hour; here within a second or two.
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5, 1, 2]})
    settings.SITE_URL = live_server.url
    [registration] = integration_services.webhooks_register()
    assert registration.outcome == "created", registration.error
    [hook] = api(connected, "GET", f"/lists/{news_list.mailchimp_id}/webhooks").json()[
        "webhooks"]
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    return news_list


def events_arrive(account, count: int) -> list[WebhookEvent]:
    deliveries = account.webhook_deliveries(wait=True)
    return wait_for(lambda: (lambda e: e if len(e) >= count else None)(
        list(WebhookEvent.objects.filter(applied_at__isnull=True).order_by("pk"))),
        timeout=10, message=f"{count} webhook events did not arrive: "
        f"{list(WebhookEvent.objects.values_list('type', 'applied_at', 'outcome'))} "
        f"{[(d['type'], d['status_code'], d['error'], d['url'][-50:]) for d in deliveries]}")


def apply_events() -> None:
    inbound.events_apply_now()


def store_writes(account) -> list[dict]:
    return [r for r in requests_log(account) if r["method"] in WRITES]


def nothing_to_push():
    return not Subscription.objects.filter(wanted_version__gt=F("sent_version")).exists()


def test_an_unsubscribe_in_mailchimp_is_applied_once_and_never_pushed_back(hooked, account):
    subscription = signed_up()
    account.clear_requests()
    account.unsubscribe(hooked.mailchimp_id, "ann@example.com")
    events_arrive(account, 1)
    apply_events()
    subscription.refresh_from_db()
    assert (subscription.opted_in, subscription.state, subscription.mailchimp_status,
            subscription.mailchimp_changed_by) == (False, "unsubscribed", "unsubscribed",
                                                   "webhook")
    latest = subscription.consent
    assert (latest.action, latest.actor, latest.source) == ("opt_out", "mailchimp", "mailchimp")
    assert subscription.sent_consent_id == latest.pk and nothing_to_push()
    event = WebhookEvent.objects.get()
    assert event.applied_at is not None and event.outcome.startswith("applied")
    event.endpoint.refresh_from_db()
    assert event.endpoint.last_event_at == event.received_at  # written by the worker
    # The same event again (Mailchimp retries): nothing more is recorded or sent.
    history = subscription.consent_events.count()
    WebhookEvent.objects.create(endpoint=event.endpoint, type=event.type,
                                fired_at=event.fired_at, data=event.data)
    apply_events()
    assert subscription.consent_events.count() == history
    assert WebhookEvent.objects.filter(outcome__startswith="no change").count() == 1
    # One GET per event, never a write.
    assert [r["method"] for r in requests_log(account)] == ["GET", "GET"]
    assert store_writes(account) == []


def test_a_confirmed_double_opt_in_turns_subscribed(hooked, account):
    settings_row = selectors.news_settings_get()
    settings_row.double_opt_in = True
    settings_row.save()
    subscription = signed_up()
    assert subscription.state == "pending"
    account.confirm(hooked.mailchimp_id, "ann@example.com")
    events_arrive(account, 1)
    apply_events()
    subscription.refresh_from_db()
    assert (subscription.state, subscription.mailchimp_status) == ("subscribed", "subscribed")
    assert subscription.consent.action == ConsentEvent.Action.CONFIRMED
    assert nothing_to_push()


def test_a_profile_change_in_mailchimp_updates_groups_and_names_by_their_ids(hooked, account):
    subscription = signed_up()
    recipes = interest(hooked, "Recipes")
    account.update_profile(hooked.mailchimp_id, "ann@example.com",
                           merge_fields={"FNAME": "Annie"},
                           interests={recipes.mailchimp_id: True})
    events = events_arrive(account, 1)
    assert events[0].type == "profile" and "Recipes" in events[0].data["merges"]["INTERESTS"]
    apply_events()
    subscription.refresh_from_db()
    assert {i.name for i in subscription.interests.all()} == {"Offers", "Recipes"}
    assert subscription.first_name == "Annie" and nothing_to_push()
    # A later change in the store sends only what it changed, not Mailchimp's choices back.
    account.clear_requests()
    subscription.interests.remove(interest(hooked, "Offers"))
    from subscriptions import delivery
    delivery.mark_changed(subscription)
    subscription.save()
    drain()
    (patch,) = [r for r in store_writes(account) if r["method"] == "PATCH"]
    assert patch["body"] == {"interests": {interest(hooked, "Offers").mailchimp_id: False}}


def test_an_address_changed_in_mailchimp_moves_the_subscription(hooked, account):
    subscription = signed_up()
    account.change_email(hooked.mailchimp_id, "ann@example.com", "ann@new.example")
    events_arrive(account, 1)
    apply_events()
    subscription.refresh_from_db()
    assert (subscription.email, subscription.mailchimp_email) == ("ann@new.example",) * 2
    assert nothing_to_push() and not store_writes(account)[-1:] == []  # only the signup's


def test_an_address_change_to_one_another_subscription_has_is_shown_to_staff(hooked, account):
    subscription = signed_up()
    other = Subscription.objects.create(email="ann@new.example", audience=hooked,
                                        source=Source.ADMIN, opted_in=False)
    account.change_email(hooked.mailchimp_id, "ann@example.com", "ann@new.example")
    events_arrive(account, 1)
    apply_events()
    subscription.refresh_from_db()
    assert subscription.email == "ann@example.com"
    assert "ann@new.example" in subscription.mailchimp_notice
    other.refresh_from_db()
    assert other.email == "ann@new.example"


def test_a_cleaned_address_is_opted_out_and_never_sent_again(hooked, account):
    subscription = signed_up()
    account.clean(hooked.mailchimp_id, "ann@example.com")
    events_arrive(account, 1)
    apply_events()
    subscription.refresh_from_db()
    assert (subscription.opted_in, subscription.mailchimp_status) == (False, "cleaned")
    assert subscription.consent.action == ConsentEvent.Action.CLEANED
    assert BouncedAddress.objects.filter(audience=hooked, email="ann@example.com").exists()
    assert nothing_to_push()


def test_a_signup_on_mailchimps_form_becomes_a_subscription_of_the_customer(hooked, account):
    customer = CustomerFactory(email="Bo@Example.com")
    account._call("POST", f"/lists/{hooked.mailchimp_id}/people/subscribe",
                  json={"email": "bo@example.com", "ip": "198.51.100.4"})
    events_arrive(account, 1)
    apply_events()
    subscription = Subscription.objects.get(email="bo@example.com")
    assert subscription.user == customer and subscription.source == Source.MAILCHIMP
    assert (subscription.opted_in, subscription.state) == (True, "subscribed")
    evidence = subscription.consent
    assert (evidence.action, evidence.ip, evidence.source) == ("opt_in", "198.51.100.4",
                                                               "mailchimp")
    assert nothing_to_push()
    assert type(customer).objects.count() == 1  # no account is created


def test_events_out_of_order_end_in_mailchimps_latest_state(hooked, account):
    subscription = signed_up()
    account.unsubscribe(hooked.mailchimp_id, "ann@example.com")
    account.subscribe(hooked.mailchimp_id, "ann@example.com")  # back, by their own act
    events = events_arrive(account, 2)
    assert [e.type for e in events] == ["unsubscribe", "subscribe"]
    # The later event first, then the earlier one: both read the member as it is now.
    for event in reversed(events):
        WebhookEvent.objects.exclude(pk=event.pk).filter(applied_at__isnull=True).update(
            applied_at=None)
    apply_events()
    subscription.refresh_from_db()
    assert (subscription.opted_in, subscription.mailchimp_status) == (True, "subscribed")
    assert nothing_to_push()


def test_the_stores_own_push_never_comes_back_as_a_change(hooked, account):
    """Loop test: one outbound write, then zero further writes."""
    account.clear_webhook_deliveries()
    account.clear_requests()
    signed_up()
    writes = store_writes(account)
    assert [w["method"] for w in writes] == ["PUT", "POST"]  # the member, its source tag
    # The webhook is registered without the `api` source: Mailchimp reports nothing back.
    assert account.webhook_deliveries(wait=True) == []
    # And a reconciliation that reads the member back finds nothing to apply or send.
    run = inbound.run_create(audience=hooked, kind=MemberSyncRun.Kind.RECONCILE)
    inbound.run_execute(run=run, client=inbound_client())
    assert run.counts.get("unchanged") == 1 and run.drift == 0
    drain()
    assert store_writes(account) == writes


def inbound_client():
    from mailchimp_integration.services import mailchimp_client_build

    return mailchimp_client_build()


def test_a_dropped_webhook_is_caught_by_reconciliation(hooked, account):
    subscription = signed_up()
    first = inbound.run_create(audience=hooked, kind=MemberSyncRun.Kind.RECONCILE)
    inbound.run_execute(run=first, client=inbound_client())
    assert first.watermark is not None
    account._call("POST", "/webhook-drops", json={"all": True})
    account.unsubscribe(hooked.mailchimp_id, "ann@example.com")
    deliveries = account.webhook_deliveries(wait=True)
    assert deliveries and all(d.get("dropped") for d in deliveries)
    assert WebhookEvent.objects.count() == 0
    out = io.StringIO()
    call_command("reconcile_members", stdout=out)
    subscription.refresh_from_db()
    assert (subscription.opted_in, subscription.mailchimp_changed_by) == (False,
                                                                          "reconciliation")
    assert "unsubscribed: 1" in out.getvalue()
    run = MemberSyncRun.objects.order_by("-pk").first()
    assert run.counts == {"unsubscribed": 1} and run.api_calls == 1


def test_reconciliation_dry_run_reports_and_changes_nothing(hooked, account):
    subscription = signed_up()
    account._call("POST", "/webhook-drops", json={"all": True})
    account.unsubscribe(hooked.mailchimp_id, "ann@example.com")
    out = io.StringIO()
    call_command("reconcile_members", "--dry-run", "--full", f"--audience={hooked.mailchimp_id}",
                 stdout=out)
    assert "unsubscribed: 1" in out.getvalue() and "ann@example.com" in out.getvalue()
    subscription.refresh_from_db()
    assert subscription.opted_in is True


def test_reconcile_members_exits_1_with_one_line_when_mailchimp_cant_be_reached(
    hooked, account
):
    account.add_fault("drop", times=None)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile_members", stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 1
    assert len(err.getvalue().strip().splitlines()) == 1


def test_the_import_keeps_mailchimps_consent_evidence(hooked, account):
    customer = CustomerFactory(email="cy@example.com")
    account._call("POST", f"/lists/{hooked.mailchimp_id}/people/subscribe",
                  json={"email": "cy@example.com", "ip": "192.0.2.44"})
    account._call("POST", f"/lists/{hooked.mailchimp_id}/people/subscribe",
                  json={"email": "dee@example.com", "ip": "192.0.2.45"})
    account.unsubscribe(hooked.mailchimp_id, "dee@example.com")
    WebhookEvent.objects.all().delete()
    remote = member(account, hooked, "cy@example.com")
    out = io.StringIO()
    call_command("import_members", f"--audience={hooked.mailchimp_id}", stdout=out)
    cy = Subscription.objects.get(email="cy@example.com")
    assert cy.user == customer and cy.consent.ip == "192.0.2.44"
    assert cy.consent.at.isoformat().startswith(remote["timestamp_opt"][:19])
    dee = Subscription.objects.get(email="dee@example.com")
    assert (dee.user, dee.opted_in, dee.mailchimp_status) == (None, False, "unsubscribed")
    assert "new: 2" in out.getvalue()
    # Run again: nothing new, nothing sent.
    call_command("import_members", f"--audience={hooked.mailchimp_id}", stdout=io.StringIO())
    assert Subscription.objects.count() == 2 and nothing_to_push()


@pytest.mark.parametrize("sandbox_compliance_mode", ["strict"], indirect=True)
def test_the_worker_applies_a_webhook_within_seconds(
    live_server, connected, news_list, celery_worker_process
):
    """The whole way, with the real worker: the store's push, the person's unsubscribe in
    Mailchimp, the webhook to the live server, the worker's apply."""
    from django.core.cache import cache

    cache.delete(inbound.APPLY_QUEUED_KEY)  # left by tests that queued into a mock broker
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5, 1, 2]})
    endpoint, secret = webhooks.endpoint_secret_new(audience=news_list)
    api(connected, "POST", f"/lists/{news_list.mailchimp_id}/webhooks", json={
        "url": live_server.url + webhooks.endpoint_path(endpoint, secret),
        "events": dict.fromkeys(sorted(webhooks.EVENT_TYPES), True),
        "sources": {"user": True, "admin": True, "api": False}}).raise_for_status()
    services.subscription_subscribe(email="eve@example.com", use_defaults=True,
                                    source=Source.FOOTER, ip="203.0.113.7",
                                    consent_text=selectors.footer_consent_text())
    wait_for(lambda: Subscription.objects.filter(email="eve@example.com",
                                                 state="subscribed").exists(),
             message="the worker did not push the signup")
    connected.clear_requests()
    connected.unsubscribe(news_list.mailchimp_id, "eve@example.com")
    subscription = wait_for(lambda: Subscription.objects.filter(
        email="eve@example.com", opted_in=False, mailchimp_changed_by="webhook").first(),
        timeout=15, message="the worker did not apply the webhook")
    assert subscription.state == "unsubscribed" and nothing_to_push()
    assert WebhookEvent.objects.get().applied_at is not None
    assert store_writes(connected) == []  # read back, nothing pushed


# --- The applier's rules, on members as Mailchimp would answer them -----------------------

def remote(status, *, minutes_ago=0, **kw):
    from datetime import timedelta

    from django.utils import timezone

    return inbound.Remote(email="ann@example.com", status=status,
                          last_changed=timezone.now() - timedelta(minutes=minutes_ago), **kw)


def test_an_archive_or_a_permanent_delete_in_mailchimp_opts_out(hooked, account):
    subscription = signed_up()
    inbound.apply_members(hooked, [remote("archived")], origin="webhook",
                          create_missing=True)
    subscription.refresh_from_db()
    assert (subscription.opted_in, subscription.mailchimp_status) == (False, "archived")
    other = signed_up("bo@example.com")
    gone = inbound.Remote(email="bo@example.com", status="", gone=True)
    inbound.apply_members(hooked, [gone], origin="webhook", create_missing=True)
    other.refresh_from_db()
    assert (other.opted_in, other.mailchimp_status, other.consent.action) == (
        False, "", ConsentEvent.Action.OPT_OUT)
    assert nothing_to_push()


def test_an_older_state_than_the_store_holds_is_ignored(hooked, account):
    subscription = signed_up()
    drift = inbound.apply_members(hooked, [remote("unsubscribed", minutes_ago=60)],
                                  origin="reconciliation", create_missing=False)
    subscription.refresh_from_db()
    assert drift.counts == {"stale": 1} and subscription.opted_in is True


def test_a_newer_unsent_opt_in_in_the_store_outlives_an_older_unsubscribe(hooked, account):
    subscription = signed_up()
    # Mailchimp unsubscribed them (the webhook is late); since then the person subscribed
    # again in the store, not sent yet.
    unsubscribed_at = remote("unsubscribed")
    account.unsubscribe(hooked.mailchimp_id, "ann@example.com")
    from subscriptions import consent, delivery

    consent.event_record(subscription=subscription, action="opt_in", actor="person",
                         source=Source.ACCOUNT, double_opt_in=False, wording="Send me news")
    delivery.mark_changed(subscription)
    subscription.save()
    inbound.apply_members(hooked, [unsubscribed_at], origin="webhook", create_missing=True)
    subscription.refresh_from_db()
    assert subscription.opted_in is True and subscription.consent.action == "opt_in"
    assert subscription.consent_events.filter(actor="mailchimp", action="opt_out").exists()
    # Their new consent goes out, through Mailchimp's confirmation (they had left).
    drain()
    assert member(account, hooked, "ann@example.com")["status"] == "pending"


def test_a_subscription_in_flight_is_deferred(hooked, account):
    subscription = signed_up()
    Subscription.objects.filter(pk=subscription.pk).update(claim_token="x" * 32)
    drift = inbound.apply_members(hooked, [remote("unsubscribed")], origin="webhook",
                                  create_missing=True)
    assert drift.counts == {"deferred": 1}
    assert drift.outcomes["ann@example.com"].startswith("deferred")
    subscription.refresh_from_db()
    assert subscription.opted_in is True
