"""In Chromium at 1280×800: the sync log and the subscriptions list fit the screen."""
import pytest
from django.urls import reverse
from django.utils import timezone

from mailchimp_integration.models import Audience
from subscriptions.models import Push, Source, Subscription
from tests.mailchimp_integration.factories import PASSWORD, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_REASON = (
    "Forgotten Email Not Subscribed: This member was permanently deleted and cannot be "
    "re-imported; they must re-subscribe to rejoin the list."
)


@pytest.fixture
def busy_log():
    audience = Audience.objects.create(
        mailchimp_id="a1", name="Trade customers and wholesale partners",
        last_seen_at=timezone.now(), active=True,
    )
    for n in range(5):
        subscription = Subscription.objects.create(
            email=f"a-rather-long-address-{n}@subdomain.example.com", audience=audience,
            source=Source.CHECKOUT, last_pushed_at=timezone.now(),
            state=Subscription.State.FAILED,
        )
        Push.objects.create(subscription=subscription, action="subscribe",
                            state=Push.State.FAILED, attempt=8, last_error=LONG_REASON,
                            channel="member")


@pytest.mark.parametrize("url_name", [
    "admin:subscriptions_push_changelist", "admin:subscriptions_subscription_changelist",
])
def test_the_list_fits_1280_pixels_with_its_last_column_in_view(page, live_server, busy_log,
                                                                 url_name):
    staff_user(email="owner@example.com", permissions=(
        "subscriptions.view_push", "subscriptions.change_push",
        "subscriptions.view_subscription",
    ))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + reverse("admin:login"))
    page.locator("#id_username").fill("owner@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.goto(live_server.url + reverse(url_name))

    results = page.locator("#changelist-form .results")
    clipped = results.evaluate("node => node.scrollWidth - node.clientWidth")
    assert clipped <= 0, f"the table is {clipped} px wider than its box"
    last_header = page.locator("#result_list thead th").last
    box = last_header.bounding_box()
    assert box["x"] + box["width"] <= 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
