"""In Chromium: a customer clicks Mailchimp's unsubscribe link, and within seconds both the
admin's tab and the customer's own page say so.

The whole way back is real: the sandbox delivers its webhook over HTTP to the live server at
SITE_URL (registered by the store), the view stores the event, the real Celery worker re-reads
the member and applies it; the pages are read in the browser."""
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from mailchimp_integration import services as integration_services
from subscriptions.models import Subscription
from tests.conftest import wait_for

from .factories import PASSWORD, CustomerFactory
from .helpers import browser_customer_signed_in, browser_staff_signed_in, member, signed_up

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_unsubscribe_in_mailchimp_shows_in_the_admin_and_on_the_customers_page(
        page, live_server, celery_worker_process, connected, news_list, account, settings):
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5, 1, 2]})
    settings.SITE_URL = live_server.url
    [registration] = integration_services.webhooks_register()
    assert registration.outcome == "created", registration.error
    customer = CustomerFactory(email="ann@example.com")
    subscription = signed_up("ann@example.com")
    assert subscription.opted_in and subscription.mailchimp_status == "subscribed"

    # The person clicks the unsubscribe link in one of the list's emails.
    account.clear_requests()
    account.unsubscribe(news_list.mailchimp_id, "ann@example.com")
    wait_for(lambda: Subscription.objects.filter(
        pk=subscription.pk, opted_in=False, mailchimp_changed_by="webhook").exists(),
        timeout=20, message="the worker did not apply Mailchimp's unsubscribe webhook")
    assert member(account, news_list, "ann@example.com")["status"] == "unsubscribed"
    writes = [r for r in account.request_log() if r["method"] in ("POST", "PUT", "PATCH")]
    assert writes == [], "the store sent nothing back"

    # The admin's "Mailchimp news lists" tab on the customer's page.
    get_user_model().objects.create_superuser(email="boss@example.com", password=PASSWORD)
    browser_staff_signed_in(page, live_server, "boss@example.com", PASSWORD)
    page.goto(live_server.url + f"/admin/accounts/user/{customer.pk}/change/")
    page.get_by_role("link", name="Mailchimp news lists").click()
    tab = page.locator("#news-lists-form")
    expect(tab).to_contain_text("In Mailchimp: Unsubscribed")
    expect(tab).to_contain_text("told by Mailchimp's webhook")

    # The customer's own page: unticked, with the reason in their words.
    page.context.clear_cookies()
    browser_customer_signed_in(page, live_server, "ann@example.com", PASSWORD)
    page.goto(live_server.url + "/newsletter/my-lists/")
    row = page.locator("[data-news-row]").filter(has_text=news_list.name)
    expect(row.get_by_role("checkbox").first).not_to_be_checked()
    expect(row.locator(".news-note")).to_have_text(re.compile(r"^You left this list on .+\.$"))
    assert "Mailchimp" not in page.locator("main").inner_text()
