"""The newsletter forms as a customer meets them, in Chromium: what shows, what it says, what
ticking does. The lists live in the database only; nothing here is sent (the broker is off)."""
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from mailchimp_integration.models import Interest
from shop.checkout.models import Order
from subscriptions.models import NewsSettings, Source, Subscription
from tests.mailchimp_integration.factories import (
    AudienceFactory,
    InterestCategoryFactory,
    InterestFactory,
)

from .factories import PASSWORD, CustomerFactory
from .helpers import browser_customer_signed_in, browser_staff_signed_in, checkout_form_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPT_IN = "Subscribe to our news list"


def a_list(name, *, default=True, active=True, groups=(), category_type="checkboxes",
           category="Topics"):
    audience = AudienceFactory(name=name, active=active, subscribe_by_default=default)
    if groups:
        add_category(audience, category, category_type, groups)
    return audience


def add_category(audience, name, category_type, groups):
    category = InterestCategoryFactory(audience=audience, name=name, type=category_type)
    for group in groups:
        InterestFactory(category=category, name=group, active=True)
    return category


def group(audience, name):
    return Interest.objects.get(audience=audience, name=name)


def sign_in(page, live_server, customer):
    browser_customer_signed_in(page, live_server, customer.email, PASSWORD)


def fill_registration(page, live_server, email):
    page.goto(live_server.url + "/accounts/register/")
    form = page.locator("form.registration-form")
    for name, value in [("email", email), ("first_name", "Reg"), ("last_name", "Ister"),
                        ("password1", "a-long-passphrase-42"),
                        ("password2", "a-long-passphrase-42")]:
        form.locator(f'[name="{name}"]').fill(value)
    return form


# 1. The opt-in appears only when it can do something; a consent given is never dropped.

def test_no_opt_in_where_nothing_can_be_subscribed_to(page, live_server, broker_off):
    a_list("Offers only", default=False)  # offered, but not by default
    a_list("Switched off", active=False)
    form = fill_registration(page, live_server, "reg@example.com")
    expect(form.get_by_label(OPT_IN)).to_have_count(0)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    form = checkout_form_open(page, live_server)
    expect(form.get_by_label(OPT_IN)).to_have_count(0)


def test_a_consent_given_as_the_list_closes_is_not_dropped_silently(
    page, live_server, broker_off
):
    newsletter = a_list("Newsletter")
    form = fill_registration(page, live_server, "late@example.com")
    form.get_by_label(OPT_IN).check()
    newsletter.active = False  # the store switches the list off while the customer types
    newsletter.save()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    expect(page.get_by_text("could not sign you up")).to_be_visible()
    assert not Subscription.objects.exists()


# 2. The self-service page can be found.

def test_a_signed_in_customer_finds_their_lists(page, live_server):
    a_list("Newsletter")
    customer = CustomerFactory()
    sign_in(page, live_server, customer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My news lists").click()
    expect(page.get_by_role("heading", name="My news lists")).to_be_visible()
    page.goto(live_server.url + "/accounts/")
    page.locator("main").get_by_role("link", name="Manage your news lists").click()
    expect(page.get_by_role("heading", name="My news lists")).to_be_visible()
    footer = page.locator("footer")
    expect(footer.get_by_role("link", name="Manage your news lists")).to_be_visible()


# 3. A list the store switched off can still be left.

def test_a_customer_leaves_a_list_the_store_switched_off(page, live_server, broker_off):
    a_list("Newsletter")
    old = a_list("Old news", active=False)
    customer = CustomerFactory(email="me@example.com")
    Subscription.objects.create(email="me@example.com", audience=old, user=customer,
                                source=Source.FOOTER, state=Subscription.State.SUBSCRIBED)
    sign_in(page, live_server, customer)
    page.goto(live_server.url + "/newsletter/my-lists/")
    box = page.get_by_label("Old news")
    expect(box).to_be_checked()
    expect(box).to_be_enabled()
    expect(page.get_by_text("no longer open to new subscribers")).to_be_visible()
    box.uncheck()
    page.get_by_role("button", name="Save my lists").click()
    expect(page.get_by_text("Your news lists are updated")).to_be_visible()
    # Needs the services' "leave any list you are on" (subscription_set_for_customer).
    assert Subscription.objects.get(audience=old).opted_in is False
    expect(page.get_by_label("Old news")).to_have_count(0)


def test_the_admin_tab_lets_a_switched_off_list_be_left(page, live_server, admin_user):
    old = a_list("Old news", active=False)
    customer = CustomerFactory(email="me@example.com")
    Subscription.objects.create(email="me@example.com", audience=old, user=customer,
                                source=Source.FOOTER, state=Subscription.State.SUBSCRIBED)
    browser_staff_signed_in(page, live_server, admin_user.email, "password")
    page.goto(live_server.url + f"/admin/subscriptions/subscription/customer/{customer.pk}/")
    select = page.locator("#news-lists-form").get_by_label("Old news")
    expect(select).to_be_enabled()
    expect(select).to_have_value("1")
    select.select_option(label="Not subscribed")
    page.locator("#news-lists-form").get_by_role("button", name="Update").click()
    expect(page.get_by_text("Updated 1 list")).to_be_visible()
    subscription = Subscription.objects.get(audience=old)
    assert subscription.opted_in is False
    assert subscription.consent.actor == "staff"


# 4. Mailchimp's group types.

def test_each_group_type_reads_as_mailchimp_means_it(page, live_server, broker_off):
    newsletter = a_list("Newsletter", groups=("Offers", "Recipes"))
    add_category(newsletter, "How often", "radio", ("Weekly", "Monthly"))
    add_category(newsletter, "Shop near you", "dropdown", ("North", "South"))
    add_category(newsletter, "Staff only", "hidden", ("VIP",))
    customer = CustomerFactory(email="me@example.com")
    sign_in(page, live_server, customer)
    page.goto(live_server.url + "/newsletter/my-lists/")
    form = page.locator("form.news-lists")
    expect(form.get_by_role("group", name="How often")).to_be_hidden()  # until the list is ticked
    form.get_by_label("Newsletter", exact=True).check()
    expect(form.get_by_role("group", name="How often")).to_be_visible()
    expect(form.get_by_role("radio", name="Weekly")).to_be_visible()
    expect(form.get_by_role("checkbox", name="Weekly")).to_have_count(0)
    expect(form.get_by_label("Shop near you")).to_be_visible()
    expect(form.get_by_text("VIP")).to_have_count(0)
    expect(form.get_by_text("Staff only")).to_have_count(0)
    form.get_by_role("checkbox", name="Offers").check()
    form.get_by_role("checkbox", name="Recipes").check()
    form.get_by_role("radio", name="Weekly").check()
    form.get_by_role("radio", name="Monthly").check()
    form.get_by_label("Shop near you").select_option(label="South")
    form.get_by_role("button", name="Save my lists").click()
    expect(page.get_by_text("Your news lists are updated")).to_be_visible()
    chosen = set(Subscription.objects.get().interests.values_list("name", flat=True))
    assert chosen == {"Offers", "Recipes", "Monthly", "South"}


# 5. Choose-lists mode reads as a form a person fills in.

def test_choosing_lists_shows_a_lists_groups_under_it(page, live_server, broker_off):
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)
    a_list("Newsletter", groups=("Offers", "Recipes"))
    a_list("Events", default=False)
    form = fill_registration(page, live_server, "pick@example.com")
    expect(form.get_by_label("Newsletter", exact=True)).to_have_count(1)
    expect(form.get_by_label("Events", exact=True)).to_have_count(1)
    expect(form.get_by_text(OPT_IN)).to_have_count(1)  # one sentence, not one per list
    recipes = form.get_by_role("checkbox", name="Recipes")
    expect(recipes).to_be_hidden()
    form.get_by_label("Newsletter", exact=True).check()
    expect(recipes).to_be_visible()
    recipes.check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    subscription = Subscription.objects.get()
    assert subscription.audience.name == "Newsletter"
    assert "Recipes" in subscription.interests.values_list("name", flat=True)


def test_without_javascript_a_group_ticked_ticks_its_list(browser, live_server, broker_off):
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)
    a_list("Newsletter", groups=("Offers", "Recipes"))
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    form = fill_registration(page, live_server, "nojs@example.com")
    recipes = form.get_by_role("checkbox", name="Recipes")
    expect(recipes).to_be_visible()
    expect(recipes).not_to_be_checked()
    recipes.check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    subscription = Subscription.objects.get()
    assert list(subscription.interests.values_list("name", flat=True)) == ["Recipes"]
    context.close()


def test_a_signed_in_customer_sees_their_own_choices_at_checkout(page, live_server, broker_off):
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)
    a_list("Newsletter", groups=("Offers",))  # offered by default; the customer is not on it
    events = a_list("Events", default=False)
    customer = CustomerFactory(email="me@example.com")
    Subscription.objects.create(email="me@example.com", audience=events, user=customer,
                                source=Source.FOOTER, state=Subscription.State.SUBSCRIBED)
    sign_in(page, live_server, customer)
    form = checkout_form_open(page, live_server)
    expect(form.get_by_label("Events", exact=True)).to_be_checked()
    expect(form.get_by_label("Newsletter", exact=True)).not_to_be_checked()


# 6. Double opt-in says so.

def test_double_opt_in_asks_the_customer_to_confirm(page, live_server, broker_off):
    NewsSettings.objects.create(pk=1, double_opt_in=True)
    a_list("Newsletter")
    page.goto(live_server.url + "/")
    box = page.locator("form.news-box-form")
    box.get_by_label("Email address").fill("guest@example.com")
    box.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("check your inbox")).to_be_visible()

    form = fill_registration(page, live_server, "reg@example.com")
    form.get_by_label(OPT_IN).check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("check your inbox")).to_be_visible()

    form = checkout_form_open(page, live_server)
    form.get_by_label(OPT_IN).check()
    form.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/thank-you/**")
    expect(page.locator("main .news-choice")).to_contain_text("check your inbox")

    # Joining a list on their own page says so too.
    a_list("Offers", default=False)
    page.goto(live_server.url + "/newsletter/my-lists/")
    page.get_by_label("Offers").check()
    page.get_by_role("button", name="Save my lists").click()
    expect(page.get_by_text("Your news lists are updated")).to_contain_text("check your inbox")

    Subscription.objects.filter(email="reg@example.com").update(
        state=Subscription.State.PENDING
    )
    page.goto(live_server.url + "/newsletter/my-lists/")
    expect(page.get_by_text("Waiting for your confirmation")).to_have_count(2)
    page.goto(live_server.url + "/accounts/")
    expect(page.get_by_text("Waiting for your confirmation")).to_have_count(2)


# 7. No internal words reach customers.

INTERNAL_WORDS = ("Mailchimp", "annulled", "Annulled", "push", "Push")


def test_a_list_that_is_gone_is_not_shown_in_internal_words(page, live_server):
    a_list("Newsletter")
    gone = a_list("Gone list")
    gone.removed_at = timezone.now()
    gone.removed_reason = "Deleted in Mailchimp"
    gone.save()
    customer = CustomerFactory(email="me@example.com")
    Subscription.objects.create(email="me@example.com", audience=gone, user=customer,
                                source=Source.FOOTER)
    sign_in(page, live_server, customer)
    for url in ("/newsletter/my-lists/", "/accounts/"):
        page.goto(live_server.url + url)
        text = page.locator("body").inner_text()
        assert "Gone list" not in text
        for word in INTERNAL_WORDS:
            assert word not in text, (url, word)


# 9. The order confirmation mentions the newsletter choice.

def test_the_order_confirmation_mentions_the_newsletter_choice(page, live_server, broker_off):
    a_list("Newsletter")
    form = checkout_form_open(page, live_server)
    form.get_by_label(OPT_IN).check()
    form.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/thank-you/**")
    expect(page.locator("main .news-choice")).to_contain_text("Newsletter")
    order = Order.objects.get()
    assert order.news_lists == "Newsletter"


# 8. GDPR marketing permissions, and each entry point's own wording.

PERMISSIONS = [{"id": "p-email", "text": "Email"}, {"id": "p-mail", "text": "Direct Mail"}]


def a_gdpr_list(name="Newsletter", **kwargs):
    audience = a_list(name, **kwargs)
    audience.gdpr_enabled = True
    audience.marketing_permissions = PERMISSIONS
    audience.save()
    return audience


def test_gdpr_permissions_show_unticked_and_what_is_ticked_is_kept(
    page, live_server, broker_off
):
    newsletter = a_gdpr_list()
    services_settings = NewsSettings.objects.create(
        pk=1, registration_wording="Yes, email me the Newsletter.")
    assert services_settings.pk == 1
    # The footer box: each permission in Mailchimp's words, none ticked.
    page.goto(live_server.url + "/")
    box = page.locator("form.news-box-form")
    for text in ("Email", "Direct Mail"):
        expect(box.get_by_role("checkbox", name=text, exact=True)).not_to_be_checked()
    # Registration: the settings' own sentence; the permissions show under it once ticked,
    # and ticking one of them ticks the sentence too.
    form = fill_registration(page, live_server, "reg@example.com")
    opt_in = form.get_by_label("Yes, email me the Newsletter.")
    expect(opt_in).not_to_be_checked()
    expect(form.get_by_role("checkbox", name="Email", exact=True)).to_be_hidden()
    opt_in.check()
    expect(form.get_by_role("checkbox", name="Email", exact=True)).not_to_be_checked()
    form.get_by_role("checkbox", name="Direct Mail", exact=True).check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("You are signed up for Newsletter")).to_be_visible()
    subscription = Subscription.objects.get(email="reg@example.com", audience=newsletter)
    assert subscription.marketing_permissions == {"p-mail": True}
    event = subscription.consent
    assert event.wording == "Yes, email me the Newsletter."
    assert event.marketing_permissions == [
        {"id": "p-email", "text": "Email", "enabled": False},
        {"id": "p-mail", "text": "Direct Mail", "enabled": True},
    ]
    # Their page shows what they hold; a permission can be withdrawn there.
    page.goto(live_server.url + "/newsletter/my-lists/")
    row = page.locator("[data-news-row]", has_text="Newsletter")
    expect(row.get_by_role("checkbox", name="Direct Mail", exact=True)).to_be_checked()
    expect(row.get_by_role("checkbox", name="Email", exact=True)).not_to_be_checked()
    row.get_by_role("checkbox", name="Direct Mail", exact=True).uncheck()
    page.get_by_role("button", name="Save my lists").click()
    expect(page.get_by_text("Your news lists are updated")).to_be_visible()
    subscription.refresh_from_db()
    assert subscription.marketing_permissions == {"p-mail": False} and subscription.opted_in


def test_choosing_lists_a_permission_ticked_ticks_its_list(page, live_server, broker_off):
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)
    a_gdpr_list("Newsletter", default=False)
    form = checkout_form_open(page, live_server)
    row = form.locator("[data-news-row]", has_text="Newsletter")
    row.get_by_label("Newsletter").check()
    row.get_by_role("checkbox", name="Email", exact=True).check()
    row.get_by_label("Newsletter").uncheck()
    # Unticking the list leaves it, whatever its permissions said.
    expect(row.get_by_role("checkbox", name="Email", exact=True)).to_be_hidden()
    row.get_by_label("Newsletter").check()
    row.get_by_role("checkbox", name="Email", exact=True).check()
    form.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/thank-you/**")
    subscription = Subscription.objects.get(email="buyer@example.com")
    assert subscription.marketing_permissions == {"p-email": True}
