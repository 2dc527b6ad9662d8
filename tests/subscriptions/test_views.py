"""The forms a customer uses: footer box, registration, checkout, the account page."""
import pytest
from django.test import Client
from django.urls import reverse

from subscriptions.models import NewsSettings, Source, Subscription
from tests.shop.catalogue.factories import VariantFactory

from .factories import PASSWORD, CustomerFactory, groups_field, interest, sandbox_list
from .helpers import drain, member, shown

pytestmark = pytest.mark.django_db

FOOTER = "/newsletter/signup/"


def test_the_footer_box_is_on_every_page(client, news_list):
    page = client.get("/").content.decode()
    assert "news</h2>" in page and 'action="/newsletter/signup/"' in page
    assert 'name="csrfmiddlewaretoken"' in page and 'name="website"' in page


def test_a_guest_signs_up_in_the_footer(client, account, news_list):
    response = client.post(FOOTER, {"email": "Guest@Example.com", "next": "/cart/"},
                           REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 302 and response.url == "/cart/"
    subscription = Subscription.objects.get()
    assert subscription.email == "guest@example.com" and subscription.source == Source.FOOTER
    assert subscription.consent.ip == "198.51.100.4"
    drain()
    got = member(account, news_list, "guest@example.com")
    assert got["status"] == "subscribed" and [t["name"] for t in got["tags"]] == ["footer"]


@pytest.mark.parametrize("email, message", [
    ("", "Please enter your email address."),
    ("nobody@", "Please enter a valid email address"),
])
def test_a_bad_email_gets_a_clear_message_and_nothing_is_saved(client, news_list, email,
                                                               message):
    response = client.post(FOOTER, {"email": email})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Subscription.objects.exists()


def test_a_repeated_signup_creates_no_duplicate(client, news_list):
    for _ in range(3):
        client.post(FOOTER, {"email": "ann@example.com"})
    assert Subscription.objects.count() == 1
    assert Subscription.objects.get().wanted_version == 2  # one change, sent once
    assert Subscription.objects.get().consent_events.count() == 1


def test_the_honeypot_saves_nothing(client, news_list):
    response = client.post(FOOTER, {"email": "bot@example.com", "website": "http://spam"})
    assert response.status_code == 302
    assert not Subscription.objects.exists()


def test_the_footer_is_rate_limited_per_ip(client, news_list, settings):
    settings.SUBSCRIPTIONS_FOOTER_RATE_LIMIT = 3
    from django.core.cache import cache

    cache.clear()
    codes = [client.post(FOOTER, {"email": f"n{i}@example.com"},
                         REMOTE_ADDR="192.0.2.9").status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert client.post(FOOTER, {"email": "other@example.com"},
                       REMOTE_ADDR="192.0.2.10").status_code == 302
    assert Subscription.objects.count() == 4
    cache.clear()


def consent_ips(**subscription_filter) -> set[str]:
    """The IP addresses the consents were recorded with (of these subscriptions)."""
    subscriptions = Subscription.objects.filter(**subscription_filter)
    return set(subscriptions.values_list("consent__ip", flat=True))


def test_behind_one_proxy_the_footer_limit_is_per_customer_and_the_consent_ip_is_theirs(
    client, news_list, settings
):
    settings.SHOP_TRUSTED_PROXY_COUNT = 1
    settings.SUBSCRIPTIONS_FOOTER_RATE_LIMIT = 2
    from django.core.cache import cache

    cache.clear()

    def via_proxy(n: int, customer: str, forged: str = ""):
        return client.post(
            FOOTER, {"email": f"c{n}@example.com"}, REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"{forged}{customer}",
        ).status_code

    # Eleven customers behind the one proxy: each has their own allowance.
    assert [via_proxy(n, f"198.51.100.{n}") for n in range(11)] == [302] * 11
    assert consent_ips() == {f"198.51.100.{n}" for n in range(11)}
    # One customer over the limit is refused, whatever they put left of the proxy's entry.
    assert via_proxy(20, "203.0.113.7") == 302
    assert via_proxy(21, "203.0.113.7", forged="192.0.2.1, ") == 302
    assert via_proxy(22, "203.0.113.7", forged="192.0.2.2, ") == 429
    assert consent_ips(email="c21@example.com") == {"203.0.113.7"}
    cache.clear()


def test_with_no_trusted_proxy_a_forged_x_forwarded_for_is_ignored(client, news_list, settings):
    assert settings.SHOP_TRUSTED_PROXY_COUNT == 0  # the default
    settings.SUBSCRIPTIONS_FOOTER_RATE_LIMIT = 2
    from django.core.cache import cache

    cache.clear()
    codes = [
        client.post(FOOTER, {"email": f"f{n}@example.com"}, REMOTE_ADDR="203.0.113.50",
                    HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(3)
    ]
    assert codes == [302, 302, 429]  # a new forged address each time does not reset the count
    assert consent_ips() == {"203.0.113.50"}
    cache.clear()


def test_every_form_is_csrf_protected(news_list):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(FOOTER, {"email": "ann@example.com"}).status_code == 403
    customer = CustomerFactory()
    strict.force_login(customer)
    assert strict.post("/newsletter/my-lists/", {}).status_code == 403
    assert not Subscription.objects.exists()


def register(client, email, meta=None, **extra):
    """Post the registration form; `meta` adds request headers (REMOTE_ADDR, ...)."""
    return client.post(reverse("accounts:register"), {
        "email": email, "first_name": "Reg", "last_name": "Ister",
        "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42", **extra,
    }, **(meta or {}))


def test_registration_with_the_checkbox_subscribes_in_the_same_transaction(
    client, account, news_list
):
    page = client.get(reverse("accounts:register")).content.decode()
    assert "Subscribe to our news list and be in touch with our latest offers" in page
    response = register(client, "reg@example.com", news_opt_in="on")
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.user.email == "reg@example.com"
    assert subscription.source == Source.REGISTRATION
    assert subscription.consent.wording.startswith("Subscribe to our news list")
    assert subscription.consent.actor == "person"
    drain()
    got = member(account, news_list, "reg@example.com")
    assert got["merge_fields"]["FNAME"] == "Reg" and got["merge_fields"]["LNAME"] == "Ister"
    assert got["interests"][interest(news_list, "Offers").mailchimp_id] is True
    assert [t["name"] for t in got["tags"]] == ["registration"]


def test_behind_one_proxy_registration_records_the_customers_consent_ip(
    client, news_list, settings
):
    settings.SHOP_TRUSTED_PROXY_COUNT = 1
    response = register(client, "reg@example.com", news_opt_in="on", meta={
        "REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.66, 198.51.100.23",
    })
    assert response.status_code == 302
    assert consent_ips() == {"198.51.100.23"}


def test_registration_without_the_checkbox_changes_nothing(client, news_list):
    assert register(client, "quiet@example.com").status_code == 302
    assert not Subscription.objects.exists()


def test_registration_lets_customers_choose_when_the_store_says_so(client, account, news_list):
    NewsSettings.objects.create(pk=1, customers_choose_lists=True)
    other = sandbox_list(account, name="Events", subscribe_by_default=False)
    third = sandbox_list(account, name="Third", subscribe_by_default=False)
    other_recipes, recipes = interest(other, "Recipes"), interest(news_list, "Recipes")
    response = register(client, "pick@example.com", **{
        f"news_list_{other.pk}": "on", groups_field(other_recipes): [other_recipes.pk],
        groups_field(recipes): [recipes.pk],  # list not ticked: the group chosen says it
    })
    assert response.status_code == 302
    chosen = {s.audience.name: list(s.interests.values_list("name", flat=True))
              for s in Subscription.objects.all()}
    assert chosen == {"Events": ["Recipes"], "Newsletter": ["Recipes"]}
    assert third.subscriptions.count() == 0


def checkout_data(email="buyer@example.com", **extra):
    return {"first_name": "Bea", "last_name": "Buyer", "email": email,
            "address_line1": "1 High St", "city": "Town", "postcode": "AB1 2CD",
            "country": "GB", **extra}


def test_a_guest_ticks_the_box_at_checkout(client, account, news_list):
    variant = VariantFactory(stock=5)
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    page = client.get(reverse("checkout:checkout")).content.decode()
    assert "Subscribe to our news list" in page
    response = client.post(reverse("checkout:checkout"), checkout_data(news_opt_in="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = Subscription.objects.get()
    assert subscription.source == Source.CHECKOUT and subscription.user is None
    drain()
    got = member(account, news_list, "buyer@example.com")
    assert got["merge_fields"]["FNAME"] == "Bea"
    assert [t["name"] for t in got["tags"]] == ["checkout"]


def test_behind_one_proxy_checkout_records_the_customers_consent_ip(client, news_list, settings):
    settings.SHOP_TRUSTED_PROXY_COUNT = 1
    variant = VariantFactory(stock=5)
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    response = client.post(reverse("checkout:checkout"), checkout_data(news_opt_in="on"),
                           REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.31")
    assert response.status_code == 302
    assert consent_ips() == {"198.51.100.31"}


def test_the_account_page_shows_and_changes_the_customers_lists(client, account, news_list):
    events = sandbox_list(account, name="Events", groups=())
    customer = CustomerFactory(email="me@example.com")
    client.login(email=customer.email, password=PASSWORD)
    client.post(reverse("subscriptions:account"), {
        f"news_list_{news_list.pk}": "on",
        f"news_groups_{news_list.pk}": [interest(news_list, "Recipes").pk],
        f"news_list_{events.pk}": "on", **shown(news_list, events),
    })
    drain()
    assert member(account, events, "me@example.com")["status"] == "subscribed"
    page = client.get(reverse("subscriptions:account")).content.decode()
    assert "Events" in page and "checked" in page
    # Unticking an existing subscription on this page unsubscribes it.
    client.post(reverse("subscriptions:account"),
                {f"news_list_{news_list.pk}": "on", **shown(news_list, events)})
    drain()
    assert member(account, events, "me@example.com")["status"] == "unsubscribed"
    got = member(account, news_list, "me@example.com")
    assert got["status"] == "subscribed"
    assert got["interests"][interest(news_list, "Recipes").mailchimp_id] is False


def test_the_account_page_does_not_show_a_list_that_is_gone(client, news_list):
    from django.utils import timezone

    customer = CustomerFactory(email="me@example.com")
    Subscription.objects.create(email="me@example.com", audience=news_list, user=customer,
                                source=Source.FOOTER)
    news_list.removed_at = timezone.now()
    news_list.removed_reason = "Deleted in Mailchimp"
    news_list.save()
    client.force_login(customer)
    page = client.get(reverse("subscriptions:account")).content.decode()
    assert "Deleted in Mailchimp" not in page and "Newsletter" not in page


# What the customer is told (the lists live in the database only; nothing is sent).

def test_a_consent_for_a_list_that_closed_is_answered(client, broker_off):
    from tests.mailchimp_integration.factories import AudienceFactory

    AudienceFactory(active=False, subscribe_by_default=True)
    response = register(client, "late@example.com", news_opt_in="on")
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "We could not sign you up for our news" in page
    assert not Subscription.objects.exists()


def test_double_opt_in_asks_to_confirm_by_email(client, broker_off):
    from tests.mailchimp_integration.factories import AudienceFactory

    NewsSettings.objects.create(pk=1, double_opt_in=True)
    AudienceFactory(name="Newsletter", active=True, subscribe_by_default=True)
    response = client.post(FOOTER, {"email": "ann@example.com"}, follow=True)
    assert "Please check your inbox" in response.content.decode()
    response = register(client, "reg@example.com", news_opt_in="on")
    page = client.get(response.url).content.decode()
    assert "Thank you for signing up for Newsletter. Please check your inbox" in page


def test_no_confirmation_is_asked_of_someone_already_subscribed(client, broker_off):
    from tests.mailchimp_integration.factories import AudienceFactory

    NewsSettings.objects.create(pk=1, double_opt_in=True)
    audience = AudienceFactory(active=True, subscribe_by_default=True)
    Subscription.objects.create(email="ann@example.com", audience=audience, source=Source.FOOTER,
                                state=Subscription.State.SUBSCRIBED,
                                mailchimp_status="subscribed")
    response = client.post(FOOTER, {"email": "ann@example.com"}, follow=True)
    page = response.content.decode()
    assert "Thank you for signing up" in page and "check your inbox" not in page


def test_the_order_keeps_the_newsletter_choice_made_at_checkout(client, broker_off):
    from shop.checkout.models import Order
    from tests.mailchimp_integration.factories import AudienceFactory

    AudienceFactory(name="Newsletter", active=True, subscribe_by_default=True)
    variant = VariantFactory(stock=5)
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    response = client.post(reverse("checkout:checkout"), checkout_data(news_opt_in="on"))
    order = Order.objects.get()
    assert (order.news_asked, order.news_lists) == (True, "Newsletter")
    page = client.get(response.url).content.decode()
    assert "You are signed up for our news (Newsletter)." in page


def test_an_order_without_a_newsletter_choice_says_nothing_of_it(client, broker_off):
    from shop.checkout.models import Order
    from tests.mailchimp_integration.factories import AudienceFactory

    AudienceFactory(name="Newsletter", active=True, subscribe_by_default=True)
    variant = VariantFactory(stock=5)
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    response = client.post(reverse("checkout:checkout"), checkout_data())
    assert Order.objects.get().news_asked is False
    assert "news-choice" not in client.get(response.url).content.decode()


def test_a_list_missing_from_the_post_is_no_decision_and_never_an_unsubscribe(
    client, account, news_list
):
    customer = CustomerFactory(email="stale@example.com")
    client.login(email=customer.email, password=PASSWORD)
    client.post(reverse("subscriptions:account"),
                {f"news_list_{news_list.pk}": "on", **shown(news_list)})
    drain()
    # A stale page, a list added since, a crafted request: nothing says this list was shown.
    for data in ({}, {"news_lists_shown": []}):
        response = client.post(reverse("subscriptions:account"), data)
        assert response.status_code == 302
    drain()
    assert member(account, news_list, "stale@example.com")["status"] == "subscribed"
    assert Subscription.objects.get().opted_in
    # The page itself says which lists it showed, so unticking them all still leaves them.
    page = client.get(reverse("subscriptions:account")).content.decode()
    assert f'name="news_lists_shown" value="{news_list.pk}"' in page
    client.post(reverse("subscriptions:account"), shown(news_list))
    drain()
    assert member(account, news_list, "stale@example.com")["status"] == "unsubscribed"
