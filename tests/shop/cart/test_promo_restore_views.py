"""Promo codes at the cart and checkout, the email typed at checkout, the cart-restore link and
campaign attribution, as a visitor meets them through the pages."""
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from shop.cart import services as cart_services
from shop.cart.cart import Cart
from shop.cart.models import Cart as StoredCart
from shop.checkout.middleware import COOKIE_NAME
from shop.checkout.models import Order
from shop.promotions.models import PromoCode
from tests.shop.accounts.factories import UserFactory
from tests.shop.catalogue.factories import VariantFactory
from tests.shop.checkout.test_views import ADDRESS

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def restore_path(stored) -> str:
    return urlsplit(cart_services.cart_restore_url(cart=stored)).path


def test_promo_code_applied_in_any_case_shows_on_the_cart_and_the_order(client, client_cart):
    PromoCode.objects.create(code="SPRING10", kind="percentage", value=Decimal("10"))
    client_cart(VariantFactory(price=Decimal("20.00"), stock=5), 2)

    response = client.post(reverse("cart:promo_apply"), {"code": " spring10 "}, follow=True)

    assert messages_of(response)[-1] == "The promo code SPRING10 is applied."
    page = response.content.decode()
    assert "SPRING10" in page and "$4.00" in page and "$36.00" in page
    client.post(reverse("checkout:checkout"), ADDRESS)
    order = Order.objects.get()
    assert (order.promo_code_text, order.discount_total, order.total) == (
        "SPRING10", Decimal("4.00"), Decimal("36.00"))
    assert PromoCode.objects.get().times_used == 1


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"enabled": False}, "no longer available"),
        ({"ends_at": timezone.now() - timedelta(days=1)}, "expired"),
        ({"starts_at": timezone.now() + timedelta(days=1)}, "not valid yet"),
        ({"usage_limit": 1, "times_used": 1}, "used up"),
    ],
)
def test_an_unusable_code_is_refused_with_a_reason_and_the_cart_is_unchanged(
    client, client_cart, fields, message
):
    PromoCode.objects.create(code="NOPE", kind="fixed", value=Decimal("5"), **fields)
    client_cart(VariantFactory(price=Decimal("20.00"), stock=5), 1)

    response = client.post(reverse("cart:promo_apply"), {"code": "nope"}, follow=True)

    assert message in messages_of(response)[-1].lower()
    assert Cart(client.session).promo_code == ""


def test_an_unknown_code_is_refused(client, client_cart):
    client_cart(VariantFactory(stock=5), 1)
    response = client.post(reverse("cart:promo_apply"), {"code": "WHAT"}, follow=True)
    assert messages_of(response)[-1] == (
        "We don't know the promo code WHAT. Please check it and try again.")
    assert Cart(client.session).promo_code == ""


def test_a_code_that_stopped_working_before_the_order_is_refused_at_checkout(
    client, client_cart
):
    promo = PromoCode.objects.create(code="LAST", kind="fixed", value=Decimal("5"))
    client_cart(VariantFactory(price=Decimal("20.00"), stock=5), 1)
    client.post(reverse("cart:promo_apply"), {"code": "LAST"})
    PromoCode.objects.filter(pk=promo.pk).update(enabled=False)

    response = client.post(reverse("checkout:checkout"), ADDRESS, follow=True)

    assert not Order.objects.exists()
    assert response.redirect_chain[-1][0] == reverse("cart:detail")
    assert "LAST" in " ".join(messages_of(response))


def test_the_redemption_link_applies_the_code_and_remove_takes_it_off(client, client_cart):
    PromoCode.objects.create(code="MAIL5", kind="fixed", value=Decimal("5"))
    client_cart(VariantFactory(price=Decimal("20.00"), stock=5), 1)

    response = client.get(reverse("cart:promo_redeem", args=["mail5"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("cart:detail")
    assert Cart(client.session).promo_code == "MAIL5"

    client.post(reverse("cart:promo_remove"))
    assert Cart(client.session).promo_code == ""


def test_the_email_endpoint_keeps_the_email_on_the_stored_cart(client, client_cart):
    client_cart(VariantFactory(stock=5), 1)

    bad = client.post(reverse("cart:email"), {"email": "not an address"})
    assert bad.status_code == 400 and bad.json()["saved"] is False and bad.json()["error"]
    assert StoredCart.objects.get().email == ""

    good = client.post(reverse("cart:email"), {"email": "Ann@Example.com"})
    assert good.json() == {"saved": True}
    assert StoredCart.objects.get().email == "ann@example.com"
    assert client.get(reverse("cart:email")).status_code == 405


def test_an_invalid_checkout_post_still_keeps_the_email(client, client_cart):
    client_cart(VariantFactory(stock=5), 1)
    client.post(reverse("checkout:checkout"), {**ADDRESS, "city": ""})
    assert not Order.objects.exists()
    assert StoredCart.objects.get().email == "ann@example.com"


def test_the_restore_link_refills_a_guest_cart_and_leads_to_checkout(client, client_cart):
    mug = VariantFactory(product__name="Mug", name="Blue", stock=5)
    cup = VariantFactory(product__name="Cup", name="Red", stock=1)
    client_cart(mug, 2)
    client_cart(cup, 1)
    stored = StoredCart.objects.get()
    cup.stock = 0
    cup.save()
    client.logout()  # another browser, later
    client.cookies.clear()

    response = client.get(restore_path(stored), follow=True)

    assert response.redirect_chain[-1][0] == reverse("checkout:checkout")
    assert Cart(client.session).quantities() == {mug.pk: 2}
    assert "Cup (Red) is out of stock." in messages_of(response)
    assert Cart(client.session).stored_id == stored.pk  # the same cart goes on


def test_the_restore_link_of_a_registered_customer_asks_them_to_sign_in(client, client_cart):
    user = UserFactory(email="reg@example.com")
    client.force_login(user)
    mug = VariantFactory(stock=5)
    client_cart(mug, 1)
    stored = StoredCart.objects.get()
    assert stored.user == user
    client.logout()

    response = client.get(restore_path(stored))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")
    assert Cart(client.session).quantities() == {}

    client.force_login(UserFactory(email="other@example.com"))
    refused = client.get(restore_path(stored), follow=True)
    assert "belongs to another account" in messages_of(refused)[-1]

    client.force_login(user)
    restored = client.get(restore_path(stored), follow=True)
    assert restored.redirect_chain[-1][0] == reverse("checkout:checkout")
    assert Cart(client.session).quantities() == {mug.pk: 1}


def test_a_tampered_expired_or_ordered_restore_link_says_why(client, client_cart, settings):
    client_cart(VariantFactory(stock=5), 1)
    stored = StoredCart.objects.get()
    path = restore_path(stored)

    tampered = client.get(path[:-3] + "xyz/", follow=True)
    assert messages_of(tampered)[-1] == "This link to a cart is not valid."

    old = signing.dumps(stored.token, salt=cart_services.RESTORE_SALT, compress=False)
    settings.CART_RESTORE_MAX_AGE_DAYS = 0
    expired = client.get(reverse("cart:restore", args=[old]), follow=True)
    assert messages_of(expired)[-1] == "This link to your cart has expired."
    settings.CART_RESTORE_MAX_AGE_DAYS = 30

    client.post(reverse("checkout:checkout"), ADDRESS)
    order = Order.objects.get()
    ordered = client.get(path, follow=True)
    assert messages_of(ordered)[-1] == f"This cart became order {order.number}."
    stored.refresh_from_db()
    assert stored.order == order and stored.ordered_at is not None


def test_campaign_attribution_from_the_landing_page_reaches_the_order(client, client_cart):
    landing = client.get("/?mc_cid=abc123&mc_eid=e55&mc_tc=tc1&utm_source=mailchimp")
    assert COOKIE_NAME in landing.cookies
    client_cart(VariantFactory(stock=5), 1)
    client.post(reverse("checkout:checkout"), ADDRESS)

    order = Order.objects.get()
    assert (order.campaign_id, order.campaign_email_id, order.campaign_tracking_code) == (
        "abc123", "e55", "tc1")
    assert order.landing_url.endswith("/?mc_cid=abc123&mc_eid=e55&mc_tc=tc1&utm_source=mailchimp")


def test_attribution_comes_back_from_the_cookie_in_a_new_session(client, client_cart):
    landing = client.get("/?mc_cid=camp9")
    cookie = landing.cookies[COOKIE_NAME].value
    client.cookies.clear()
    client.cookies[COOKIE_NAME] = cookie  # the session is gone, the signed cookie is not
    client_cart(VariantFactory(stock=5), 1)
    client.post(reverse("checkout:checkout"), ADDRESS)
    assert Order.objects.get().campaign_id == "camp9"


def test_a_forged_cookie_or_odd_values_are_ignored(client, client_cart):
    client.cookies[COOKIE_NAME] = "forged"
    client.get("/?mc_cid=<script>")
    client_cart(VariantFactory(stock=5), 1)
    client.post(reverse("checkout:checkout"), ADDRESS)
    order = Order.objects.get()
    assert (order.campaign_id, order.landing_url) == ("", "")
