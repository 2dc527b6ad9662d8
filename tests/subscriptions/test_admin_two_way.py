"""The two-way sync in the back office: the webhooks' health panel with "Re-register webhooks"
and "Reconcile now", the "Import members from Mailchimp" button with its progress, the log of
reconciliations and imports, and a customer's tab saying what Mailchimp holds and why.

Everything against the sandbox over HTTP; the buttons' work runs in the real worker."""
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailchimp_integration import services as integration_services
from mailchimp_integration import webhooks
from mailchimp_integration.models import Audience, WebhookEndpoint, WebhookEvent
from subscriptions import inbound
from subscriptions.models import MemberSyncRun, Source, Subscription
from tests.conftest import wait_for
from tests.mailchimp_integration.factories import (
    LIST_MANAGER_PERMISSIONS,
    PASSWORD,
    SETTINGS_MANAGER_PERMISSIONS,
    staff_user,
)

from .factories import CustomerFactory
from .helpers import signed_up

pytestmark = [pytest.mark.django_db(transaction=True)]

SETTINGS_URL = "admin:mailchimp_integration_mailchimpconnection_changelist"
LISTS_URL = "admin:mailchimp_integration_audience_changelist"
MEMBERS = ("subscriptions.view_subscription", "subscriptions.change_subscription")


def signed_in(client, *permissions, email="owner@example.com"):
    staff_user(email=email, permissions=permissions)
    assert client.login(username=email, password=PASSWORD)
    return client


def text_of(response) -> str:
    return html.unescape(
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.fixture
def registered(live_server, connected, news_list, settings):
    """The list's webhook registered by the store at SITE_URL (the live server)."""
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5, 1, 2]})
    settings.SITE_URL = live_server.url
    [registration] = integration_services.webhooks_register()
    assert registration.outcome == "created", registration.error
    return news_list


def unsubscribed_in_mailchimp(account, audience, email) -> Subscription:
    """The person clicks Mailchimp's unsubscribe link; its webhook is applied."""
    account.unsubscribe(audience.mailchimp_id, email)
    account.webhook_deliveries(wait=True)
    wait_for(lambda: WebhookEvent.objects.filter(type="unsubscribe").exists(), timeout=10)
    inbound.events_apply_now()
    return Subscription.objects.get(email=email)


# --- The health panel ------------------------------------------------------------------------

def test_the_panel_shows_each_lists_webhook_events_and_last_reconciliation(
        client, registered, account, broker_off, settings):
    signed_up()
    unsubscribed_in_mailchimp(account, registered, "ann@example.com")
    inbound.run_execute(run=inbound.run_create(audience=registered,
                                               kind=MemberSyncRun.Kind.RECONCILE, full=True),
                        client=integration_services.mailchimp_client_build())
    signed_in(client, *SETTINGS_MANAGER_PERMISSIONS, *MEMBERS)
    response = client.get(reverse(SETTINGS_URL))
    page = text_of(response)
    assert f"Store address (SITE_URL): {settings.SITE_URL}" in page
    row = re.search(r'<tr class="mc-health-row".*?</tr>', response.content.decode(), re.S)[0]
    endpoint = WebhookEndpoint.objects.get(audience=registered)
    assert "Registered" in row and endpoint.registered_url in row
    assert endpoint.registered_url.endswith("…/") and "/mailchimp/webhooks/" in row
    secret_part = endpoint.registered_url.rsplit("/", 2)[-2]
    assert len(secret_part) < 10, "the secret is shown masked, never in full"
    assert re.search(r'mc-events-day">\s*1\s*<', row), row  # the unsubscribe
    assert "None yet" not in row
    assert "0 members differed" in row  # applied by the webhook: nothing left to reconcile
    assert 'id="mc-webhooks-register"' in response.content.decode()
    assert 'id="mc-reconcile-now"' in response.content.decode()
    # Another one queued keeps what the last one found in view.
    inbound.run_create(audience=registered, kind=MemberSyncRun.Kind.RECONCILE)
    page = text_of(client.get(reverse(SETTINGS_URL)))
    assert "0 members differed; waiting for a worker now" in page


def test_an_unset_site_url_and_a_failed_registration_are_explained(
        client, connected, news_list, settings):
    settings.SITE_URL = ""
    [registration] = integration_services.webhooks_register()
    assert registration.outcome == "failed"
    signed_in(client, *SETTINGS_MANAGER_PERMISSIONS)
    page = text_of(client.get(reverse(SETTINGS_URL)))
    assert "Set SITE_URL in the store's environment" in page
    assert "Not registered" in page and "Registering failed: SITE_URL is not set" in page
    # Without the members' permission the page offers no "Reconcile now".
    assert "Reconcile now" not in page and "Re-register webhooks" in page


def test_the_panel_costs_the_same_queries_for_one_list_or_ten(client, connected, news_list):
    signed_in(client, *SETTINGS_MANAGER_PERMISSIONS, *MEMBERS)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(SETTINGS_URL)).status_code == 200
        return len(captured)

    one = queries()
    for n in range(9):
        audience = Audience.objects.create(mailchimp_id=f"extra{n}", name=f"Extra {n}",
                                           last_seen_at=timezone.now(), active=True)
        endpoint, _ = webhooks.endpoint_secret_new(audience=audience)
        WebhookEvent.objects.create(endpoint=endpoint, type="campaign", data={})
        MemberSyncRun.objects.create(audience=audience, kind=MemberSyncRun.Kind.RECONCILE,
                                     state=MemberSyncRun.State.SUCCEEDED,
                                     finished_at=timezone.now(), counts={"unsubscribed": n})
    assert queries() == one


def test_reregister_and_reconcile_now_are_buttons_that_queue_and_need_their_permissions(
        client, connected, news_list, broker_off):
    signed_in(client, *SETTINGS_MANAGER_PERMISSIONS)
    register = reverse("admin:mailchimp_integration_mailchimpconnection_webhooks_register")
    reconcile = reverse("admin:subscriptions_members_reconcile")
    assert client.get(register).status_code == 405 and client.get(reconcile).status_code == 405
    assert client.post(reconcile).status_code == 403  # not allowed to change subscriptions
    assert MemberSyncRun.objects.count() == 0
    response = client.post(register)
    assert response.status_code == 302 and broker_off.call_count == 1
    client.logout()
    signed_in(client, "mailchimp_integration.view_mailchimpconnection", *MEMBERS,
              email="viewer@example.com")
    assert client.post(register).status_code == 403


def test_reconcile_now_runs_in_the_worker_and_shows_what_it_found(
        client, connected, news_list, account, celery_worker_process):
    from django.core.cache import cache

    cache.delete(inbound.APPLY_QUEUED_KEY)
    signed_up_in_store = Subscription.objects.create(
        email="gone@example.com", audience=news_list, opted_in=True, source=Source.FOOTER,
        state=Subscription.State.SUBSCRIBED, mailchimp_status="subscribed")
    account.subscribe(news_list.mailchimp_id, "gone@example.com")
    account.unsubscribe(news_list.mailchimp_id, "gone@example.com")  # no webhook registered
    signed_in(client, *SETTINGS_MANAGER_PERMISSIONS, *MEMBERS,
              "subscriptions.view_membersyncrun")
    reconcile = reverse("admin:subscriptions_members_reconcile")
    response = client.post(reconcile, follow=True)
    assert "Reconciling 1 list with Mailchimp in the background" in text_of(response)
    run = wait_for(lambda: MemberSyncRun.objects.filter(
        state=MemberSyncRun.State.SUCCEEDED).first(), message="the worker ran no reconciliation")
    assert MemberSyncRun.objects.count() == 1
    signed_up_in_store.refresh_from_db()
    assert not signed_up_in_store.opted_in
    assert signed_up_in_store.mailchimp_changed_by == "reconciliation"
    page = text_of(client.get(reverse(SETTINGS_URL)))
    assert "1 member differed" in page
    detail = text_of(client.get(reverse("admin:subscriptions_membersyncrun_change",
                                        args=[run.pk])))
    # Pressed while one waits for a worker (no task sent for it here): no second run.
    waiting = inbound.run_create(audience=news_list, kind=MemberSyncRun.Kind.RECONCILE)
    client.post(reconcile)
    assert list(MemberSyncRun.objects.order_by("pk")) == [run, waiting]
    assert "unsubscribed: 1" in detail and "gone@example.com" in detail


# --- The import button -----------------------------------------------------------------------

def test_the_import_button_runs_in_the_worker_with_progress_and_needs_permission(
        client, connected, news_list, account, celery_worker_process):
    CustomerFactory(email="known@example.com")
    for n in range(3):
        account.subscribe(news_list.mailchimp_id, f"before{n}@example.com")
    account.subscribe(news_list.mailchimp_id, "known@example.com")
    signed_in(client, *LIST_MANAGER_PERMISSIONS)
    page = client.get(reverse(LISTS_URL))
    assert "Import members from Mailchimp" not in page.content.decode()  # may not import
    import_url = reverse("admin:subscriptions_members_import")
    assert client.post(import_url, HTTP_ACCEPT="application/json").status_code == 403
    client.logout()

    signed_in(client, *LIST_MANAGER_PERMISSIONS, *MEMBERS, email="manager@example.com")
    page = client.get(reverse(LISTS_URL)).content.decode()
    assert 'id="mc-import-members"' in page and "Not imported yet" in page
    assert client.get(import_url).status_code == 405
    answer = client.post(import_url, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    [run] = answer.json()["runs"]
    assert run["audience"] == news_list.name and not run["finished"]
    runs_url = reverse("admin:subscriptions_members_runs")

    def finished():
        runs = client.get(runs_url, {"id": run["id"]}).json()["runs"]
        return runs[0] if runs[0]["finished"] else None

    done = wait_for(finished, message="the worker did not finish the import")
    assert not done["failed"] and done["progress_done"] == done["progress_total"] == 4
    assert "4 members read, 4 new here" in done["text"]
    imported = Subscription.objects.filter(audience=news_list)
    assert imported.count() == 4
    assert imported.get(email="known@example.com").user.email == "known@example.com"
    assert imported.filter(user__isnull=True).count() == 3  # no customer account created
    assert "4 members read, 4 new here" in text_of(client.get(reverse(LISTS_URL)))
    assert client.get(runs_url, {"id": "x"}).status_code == 400


def test_the_import_asks_for_a_list_switched_on(client, connected, news_list):
    Audience.objects.update(active=False)
    signed_in(client, *LIST_MANAGER_PERMISSIONS, *MEMBERS)
    answer = client.post(reverse("admin:subscriptions_members_import"),
                         HTTP_ACCEPT="application/json")
    assert answer.status_code == 409 and "No list is switched on" in answer.json()["error"]
    assert MemberSyncRun.objects.count() == 0


# --- The customer's tab and the customer's own page -------------------------------------------

def test_the_customer_tab_and_page_say_what_mailchimp_did_and_when(
        client, registered, account, broker_off):
    customer = CustomerFactory(email="ann@example.com")
    signed_up(user=customer)
    subscription = unsubscribed_in_mailchimp(account, registered, "ann@example.com")
    assert not subscription.opted_in and subscription.mailchimp_changed_by == "webhook"
    signed_in(client, "subscriptions.view_subscription")
    page = text_of(client.get(reverse("admin:subscriptions_customer_lists",
                                      args=[customer.pk])))
    assert "In Mailchimp: Unsubscribed since" in page
    assert "(told by Mailchimp's webhook)" in page
    assert "Last consent record: Opted out" in page and "Unsubscribed in Mailchimp" in page
    client.logout()
    assert client.login(username="ann@example.com", password=PASSWORD)
    own = client.get(reverse("subscriptions:account"))
    assert "You left this list on" in text_of(own)


def test_a_notice_from_mailchimps_side_is_shown_to_staff(client, connected, news_list):
    customer = CustomerFactory(email="ann@example.com")
    Subscription.objects.create(
        email="ann@example.com", user=customer, audience=news_list, opted_in=True,
        source=Source.FOOTER, state=Subscription.State.SUBSCRIBED,
        mailchimp_status="subscribed", mailchimp_changed_by="webhook",
        mailchimp_notice="The person changed their address in Mailchimp to b@example.com, "
                         "which has a subscription of its own here.")
    signed_in(client, "subscriptions.view_subscription")
    page = text_of(client.get(reverse("admin:subscriptions_customer_lists",
                                      args=[customer.pk])))
    assert "changed their address in Mailchimp to b@example.com" in page


def test_the_logs_of_runs_and_events_are_read_only(client, registered, account, broker_off):
    signed_up()
    unsubscribed_in_mailchimp(account, registered, "ann@example.com")
    run = MemberSyncRun.objects.create(audience=registered, kind=MemberSyncRun.Kind.IMPORT,
                                       state=MemberSyncRun.State.FAILED, error="API Key Invalid",
                                       finished_at=timezone.now())
    signed_in(client, "subscriptions.view_membersyncrun",
              "mailchimp_integration.view_webhookevent")
    runs = text_of(client.get(reverse("admin:subscriptions_membersyncrun_changelist")))
    assert "Import of Mailchimp's members" in runs and "Failed" in runs
    assert "API Key Invalid" in text_of(client.get(
        reverse("admin:subscriptions_membersyncrun_change", args=[run.pk])))
    event = WebhookEvent.objects.get(type="unsubscribe")
    shown = text_of(client.get(reverse("admin:mailchimp_integration_webhookevent_change",
                                       args=[event.pk])))
    assert "ann@example.com" in shown
    assert client.post(reverse("admin:mailchimp_integration_webhookevent_delete",
                               args=[event.pk]), {"post": "yes"}).status_code == 403
