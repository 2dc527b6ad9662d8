"""The paths a person clicks, in Chromium against a live server; the sandbox holds each result.

The pushes are sent by a real Celery worker on the broker; each step waits for the member.
"""
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from .factories import PASSWORD, CustomerFactory, interest
from .helpers import browser_staff_signed_in, checkout_form_open, in_mailchimp

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_footer_registration_checkout_and_admin_tab(
    page, live_server, celery_worker_process, account, news_list
):
    offers = interest(news_list, "Offers").mailchimp_id
    # A guest subscribes from the footer.
    page.goto(live_server.url + "/")
    box = page.locator("form.news-box-form")
    box.get_by_label("Email address").fill("guest@example.com")
    box.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Thank you for signing up")).to_be_visible()
    got = in_mailchimp(account, news_list, "guest@example.com", tag="footer")
    assert got["status"] == "subscribed" and got["interests"][offers] is True

    # At checkout a guest ticks the box.
    form = checkout_form_open(page, live_server)
    form.get_by_label("Subscribe to our news list").check()
    form.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/thank-you/**")
    got = in_mailchimp(account, news_list, "buyer@example.com", tag="checkout")
    assert got["merge_fields"] == {"FNAME": "Bea", "LNAME": "Buyer"}
    assert got["interests"][offers] is True

    # A customer registers with the checkbox ticked.
    page.goto(live_server.url + "/accounts/register/")
    form = page.locator("form.registration-form")
    for name, value in [("email", "reg@example.com"), ("first_name", "Reg"),
                        ("last_name", "Ister"), ("password1", "a-long-passphrase-42"),
                        ("password2", "a-long-passphrase-42")]:
        form.locator(f'[name="{name}"]').fill(value)
    form.get_by_label("Subscribe to our news list").check()
    form.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/**")
    got = in_mailchimp(account, news_list, "reg@example.com", tag="registration")
    assert got["merge_fields"] == {"FNAME": "Reg", "LNAME": "Ister"}
    assert got["interests"][offers] is True

    # An admin changes a customer's lists on the "Mailchimp news lists" tab.
    User = get_user_model()
    User.objects.create_superuser(email="boss@example.com", password=PASSWORD)
    customer = CustomerFactory(email="cust@example.com")
    page.context.clear_cookies()
    browser_staff_signed_in(page, live_server, "boss@example.com", PASSWORD)
    page.goto(live_server.url + f"/admin/accounts/user/{customer.pk}/change/")
    page.get_by_role("link", name="Mailchimp news lists").click()
    tab = page.locator("#news-lists-form")
    tab.get_by_label("Newsletter").select_option(label="Subscribed")
    tab.get_by_label(interest(news_list, "Recipes").name).check()
    tab.get_by_role("button", name="Update").click()
    expect(page.get_by_text("being sent to Mailchimp")).to_be_visible()
    got = in_mailchimp(account, news_list, "cust@example.com", tag="admin")
    assert got["status"] == "subscribed"
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is True
