"""In Chromium: an admin switches a list and a group on and sets a default; it sticks."""
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from mailchimp_integration.models import Audience, Interest

from .factories import (
    LIST_MANAGER_PERMISSIONS,
    PASSWORD,
    AudienceFactory,
    InterestCategoryFactory,
    InterestFactory,
    staff_user,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, email: str) -> None:
    page.goto(live_server.url + reverse("admin:login"))
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()


def switch(page, kind: str, pk: int, field: str):
    return page.locator(f'input[data-kind="{kind}"][data-id="{pk}"][data-field="{field}"]')


def test_an_admin_toggles_a_list_and_a_group_and_sets_a_default(page, live_server):
    audience = AudienceFactory(name='Newsletter <img src=x onerror="window.hacked=1">')
    category = InterestCategoryFactory(audience=audience, name="Topics")
    group, other = InterestFactory.create_batch(2, category=category)
    staff_user(email="lists@example.com", permissions=LIST_MANAGER_PERMISSIONS)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    log_in(page, live_server, "lists@example.com")
    page.goto(live_server.url + reverse("admin:mailchimp_integration_audience_changelist"))
    # The name from Mailchimp is shown as text, never run as HTML.
    expect(page.locator(".mc-audience-row th")).to_have_text(audience.name)

    # An inactive audience's groups are greyed out and locked until it is switched on.
    expect(switch(page, "interest", group.pk, "active")).to_be_disabled()
    switch(page, "audience", audience.pk, "active").check()
    expect(page.locator("#mc-flash")).to_have_text("Saved.")
    expect(switch(page, "interest", group.pk, "active")).to_be_enabled()
    expect(page.locator(f'tbody[data-audience-id="{audience.pk}"]')).not_to_have_class(
        re.compile("is-inactive")
    )

    page.locator("#mc-flash").evaluate("node => node.textContent = ''")
    switch(page, "interest", group.pk, "active").check()
    expect(page.locator("#mc-flash")).to_have_text("Saved.")
    page.locator("#mc-flash").evaluate("node => node.textContent = ''")
    switch(page, "audience", audience.pk, "subscribe_by_default").check()
    expect(page.locator("#mc-flash")).to_have_text("Saved.")
    page.locator("#mc-flash").evaluate("node => node.textContent = ''")
    switch(page, "interest", group.pk, "subscribe_by_default").check()
    expect(page.locator("#mc-flash")).to_have_text("Saved.")

    page.reload()
    expect(switch(page, "audience", audience.pk, "active")).to_be_checked()
    expect(switch(page, "audience", audience.pk, "subscribe_by_default")).to_be_checked()
    expect(switch(page, "interest", group.pk, "active")).to_be_checked()
    expect(switch(page, "interest", group.pk, "subscribe_by_default")).to_be_checked()
    expect(switch(page, "interest", other.pk, "active")).not_to_be_checked()
    switch_text = page.locator(f'tbody[data-audience-id="{audience.pk}"] .mc-switch-text')
    expect(switch_text.first).to_have_text("ON")

    audience.refresh_from_db()
    assert (audience.active, audience.subscribe_by_default) == (True, True)
    assert Interest.objects.filter(active=True, subscribe_by_default=True).get() == group
    assert page.evaluate("window.hacked") is None and dialogs == []


def test_switching_an_audience_off_greys_its_groups_again(page, live_server):
    audience = AudienceFactory(active=True)
    group = InterestFactory(category=InterestCategoryFactory(audience=audience))
    staff_user(email="lists@example.com", permissions=LIST_MANAGER_PERMISSIONS)
    log_in(page, live_server, "lists@example.com")
    page.goto(live_server.url + reverse("admin:mailchimp_integration_audience_changelist"))
    expect(switch(page, "interest", group.pk, "active")).to_be_enabled()
    switch(page, "audience", audience.pk, "active").uncheck()
    expect(page.locator("#mc-flash")).to_have_text("Saved.")
    expect(switch(page, "interest", group.pk, "active")).to_be_disabled()
    assert Audience.objects.get().active is False


def test_staff_without_the_permission_is_refused(page, live_server):
    AudienceFactory(name="Secret list")
    staff_user(email="clerk@example.com")
    log_in(page, live_server, "clerk@example.com")
    lists_url = live_server.url + reverse("admin:mailchimp_integration_audience_changelist")
    response = page.goto(lists_url)
    assert response.status == 403
    expect(page.get_by_text("Secret list")).to_have_count(0)
    # Nor is it offered on the back-office index.
    page.goto(live_server.url + reverse("admin:index"))
    expect(page.get_by_role("link", name="Mailchimp lists")).to_have_count(0)


@pytest.mark.worker
def test_update_mailchimp_lists_runs_in_the_worker_and_the_page_shows_the_result(
    page, live_server, connected, celery_worker_process
):
    from mailchimp_integration.models import MailchimpConnection

    from .factories import SETTINGS_MANAGER_PERMISSIONS
    from .test_services import seed

    seed(connected, lists=2, categories=1, groups=2)
    MailchimpConnection.objects.create(pk=1, first_sync_requested_at="2026-01-01T00:00:00Z")
    staff_user(email="owner@example.com", permissions=SETTINGS_MANAGER_PERMISSIONS)
    log_in(page, live_server, "owner@example.com")
    page.goto(
        live_server.url + reverse("admin:mailchimp_integration_mailchimpconnection_changelist")
    )
    expect(page.get_by_test_id("masked-key")).to_have_text(re.compile(r"^•{8}.{4}-us6$"))
    expect(page.get_by_text("from the environment")).to_be_visible()

    page.get_by_role("button", name="Update Mailchimp Lists").click()
    # The page stays usable while the worker syncs; the result arrives in place.
    expect(page.locator("#mc-sync-status")).to_have_text(
        "Done. Synced 2 audiences, 2 categories, 4 groups: 8 created, 0 updated, 0 removed.",
        timeout=60_000,
    )
    expect(page.get_by_role("button", name="Update Mailchimp Lists")).to_be_enabled()
    assert Audience.objects.count() == 2


@pytest.mark.worker
def test_a_new_key_is_checked_by_the_worker_while_the_page_shows_checking(
    page, live_server, connected, settings, celery_worker_process
):
    """The page request never waits on Mailchimp: a worker checks the key, the page polls."""
    from mailchimp_integration import crypto
    from mailchimp_integration.models import MailchimpConnection

    from .factories import SETTINGS_MANAGER_PERMISSIONS

    settings.MAILCHIMP_API_KEY = ""  # this web process: no key from the environment
    MailchimpConnection.objects.create(pk=1, lists_synced_at="2026-01-01T00:00:00Z")
    staff_user(email="owner@example.com", permissions=SETTINGS_MANAGER_PERMISSIONS)
    log_in(page, live_server, "owner@example.com")
    page.goto(
        live_server.url + reverse("admin:mailchimp_integration_mailchimpconnection_changelist")
    )
    connected.set_latency(1.5)  # Mailchimp is slow: the page is not
    page.get_by_label("New API key").fill("ffffffffffffffffffffffffffffffff-us6")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#mc-check-status")).to_have_text("Checking with Mailchimp…")
    expect(page.locator("#mc-check-status")).to_have_text(
        re.compile(r"^The key was not saved: Mailchimp rejected the API key \(401"),
        timeout=30_000,
    )
    assert MailchimpConnection.objects.get().api_key_encrypted == ""

    page.get_by_label("New API key").fill(connected.api_key)
    page.get_by_role("button", name="Save key").click()
    # A saved key reloads the page: masked, with the account's name.
    expect(page.get_by_test_id("masked-key")).to_have_text(re.compile(r"-us6$"), timeout=30_000)
    expect(page.locator("#mc-check-status")).to_contain_text(
        "Connected to the Mailchimp account “Hilltop Goods test account”."
    )
    stored = MailchimpConnection.objects.get()
    assert crypto.decrypt(stored.api_key_encrypted) == connected.api_key


def test_the_integration_page_shows_the_import_the_command_just_made(
    page, live_server, settings, mailchimp_sandbox
):
    """Issue 9, item 10: not "The lists have not been imported yet." right after an import."""
    from django.core.management import call_command

    from tests.conftest import point_store_at_sandbox

    from .factories import SETTINGS_MANAGER_PERMISSIONS

    point_store_at_sandbox(settings, mailchimp_sandbox)
    staff_user(email="owner@example.com",
               permissions=SETTINGS_MANAGER_PERMISSIONS + LIST_MANAGER_PERMISSIONS)
    call_command("sync_lists", verbosity=0)  # as ops (or `make sync-lists`) would
    audiences = Audience.objects.count()
    log_in(page, live_server, "owner@example.com")
    page.goto(live_server.url + reverse(
        "admin:mailchimp_integration_mailchimpconnection_changelist"))
    status = page.locator("#mc-sync-status")
    expect(status).not_to_contain_text("not been imported")
    expect(status).to_contain_text("by the command line")
    expect(status).to_contain_text(re.compile(rf"Synced {audiences} audiences?"))
    expect(status).to_contain_text(re.compile(r"\d{4}|a\.m\.|p\.m\."))  # when it ran
    # The lists page tells the same from the same data.
    page.goto(live_server.url + reverse("admin:mailchimp_integration_audience_changelist"))
    expect(page.locator("body")).to_contain_text("by the command line")
