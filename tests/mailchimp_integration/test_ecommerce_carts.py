"""Carts in the connected store, and the consent rule across every e-commerce call."""
import hashlib
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from mailchimp_integration import ecommerce
from mailchimp_integration.models import Audience, ConnectedStore, EcommerceRecord
from mailchimp_integration.services import mailchimp_client_build
from shop.cart.models import Cart, CartLine
from shop.catalogue.models import Product, Variant
from shop.checkout.models import Order, OrderLine
from shop.promotions.models import PromoCode
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Kind = EcommerceRecord.Kind


@pytest.fixture
def audience(connected, settings):
    settings.SITE_URL = "https://shop.example.com"
    list_id = connected.create_list("Newsletter")
    return Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                   last_seen_at=timezone.now())


@pytest.fixture
def store(connected, audience):
    return ecommerce.store_connect(client=mailchimp_client_build(), audience=audience).store


@pytest.fixture
def synced_store(store):
    """A store whose first sync is over (carts go only then)."""
    ConnectedStore.objects.filter(pk=store.pk).update(state=ConnectedStore.State.SYNCED)
    store.refresh_from_db()
    return store


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def product_made(name="Mug", price="12.50", stock=10) -> Variant:
    product = Product.objects.create(name=name, slug=name.lower())
    return Variant.objects.create(product=product, sku=f"{name}-1", name="Blue",
                                  price=Decimal(price), stock=stock)


def order_made(variant, *, email="ann@example.com", quantity=2, campaign_id="",
               landing_url="", promo: PromoCode | None = None, discount="0.00") -> Order:
    subtotal = variant.price * quantity
    with transaction.atomic():
        order = Order.objects.create(
            number=f"N{Order.objects.count() + 1:07d}", email=email, first_name="Ann",
            last_name="Lee", address_line1="1 High St", city="Leeds", postcode="LS1 1AA",
            country="GB", subtotal=subtotal, discount_total=Decimal(discount),
            total=subtotal - Decimal(discount), campaign_id=campaign_id,
            landing_url=landing_url, promo_code=promo,
            promo_code_text=promo.code if promo else "", promo_kind=promo.kind if promo else "")
        OrderLine.objects.create(order=order, variant=variant, product_name=variant.product.name,
                                 variant_name=variant.name, sku=variant.sku,
                                 unit_price=variant.price, quantity=quantity)
    return order


def record(kind, local_id) -> EcommerceRecord | None:
    return EcommerceRecord.objects.filter(kind=kind, local_id=str(local_id)).first()


def synced(kind, local_id) -> EcommerceRecord | None:
    found = record(kind, local_id)
    return found if found and found.state == EcommerceRecord.State.SYNCED \
        and found.sent_version >= found.wanted_version else None


def remote(sandbox, store) -> dict:
    return sandbox.ecommerce_store(store.store_id)


def remote_order(store, order) -> dict:
    return mailchimp_client_build().request(
        "GET", f"/ecommerce/stores/{store.store_id}/orders/{order.number}")


def member_status(audience, email) -> str | None:
    from mailchimp_integration.exceptions import MailchimpNotFound
    try:
        return mailchimp_client_build().request(
            "GET", f"/lists/{audience.mailchimp_id}/members/{md5(email)}")["status"]
    except MailchimpNotFound:
        return None


def cart_made(variant, *, email="", quantity=1) -> Cart:
    with transaction.atomic():
        cart = Cart.objects.create(email=email)
        CartLine.objects.create(cart=cart, variant=variant, quantity=quantity)
        cart.save()
    return cart


def test_a_cart_goes_once_the_email_is_known_with_a_restore_link_and_goes_when_ordered(
    connected, synced_store, celery_worker_process
):
    store = synced_store
    variant = product_made()
    wait_for(lambda: synced(Kind.PRODUCT, variant.product_id), timeout=20)
    cart = cart_made(variant)
    wait_for(lambda: synced(Kind.CART, cart.pk), timeout=20)
    assert not remote(connected, store)["carts"]  # no email yet: nothing sent
    cart.email = "bob@example.com"
    cart.save()
    wait_for(lambda: remote(connected, store)["carts"], timeout=20,
             message="the cart did not arrive once the email was known")
    [held] = remote(connected, store)["carts"].values()
    assert held["checkout_url"].startswith("https://shop.example.com/cart/restore/")
    customer = remote(connected, store)["customers"][held["customer_id"]]
    assert held["customer_id"] == md5("bob@example.com")
    assert customer["opt_in_status"] is False

    order = order_made(variant, email="bob@example.com")
    Cart.objects.filter(pk=cart.pk).update(ordered_at=timezone.now(), order=order)
    Cart.objects.get(pk=cart.pk).save()
    wait_for(lambda: not remote(connected, store)["carts"], timeout=20,
             message="the cart was not deleted once ordered")
    wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=20)


def test_a_cart_waits_for_the_first_sync_and_changes_go_at_most_once_per_interval(
    connected, store, celery_worker_process
):
    variant = product_made()
    wait_for(lambda: synced(Kind.PRODUCT, variant.product_id), timeout=20)
    cart = cart_made(variant, email="cy@example.com")
    wait_for(lambda: "first sync" in (record(Kind.CART, cart.pk).failure_reason or ""),
             timeout=20)
    assert not remote(connected, store)["carts"]
    ConnectedStore.objects.filter(pk=store.pk).update(state=ConnectedStore.State.SYNCED)
    wait_for(lambda: remote(connected, store)["carts"], timeout=20,
             message="the cart did not go once the store was synced")
    wait_for(lambda: synced(Kind.CART, cart.pk), timeout=10)
    connected.clear_requests()
    other = product_made("Plate")
    for quantity in (2, 3, 4, 5):  # a burst of changes inside the 3 s interval of the tests
        CartLine.objects.filter(cart=cart).update(quantity=quantity)
        Cart.objects.get(pk=cart.pk).save()
    with transaction.atomic():
        CartLine.objects.create(cart=cart, variant=other, quantity=1)
        CartLine.objects.filter(cart=cart, variant=variant).delete()
        Cart.objects.get(pk=cart.pk).save()
    wait_for(lambda: (r := synced(Kind.CART, cart.pk)) and r.sent_version == r.wanted_version
             and list(remote(connected, store)["carts"].values())[0]["lines"].keys()
             == {str(other.pk)}, timeout=30, message="the cart's last state did not arrive")
    cart_calls = [c for c in connected.request_log() if "/carts/" in c["path"]]
    patches = [c for c in cart_calls if c["method"] == "PATCH"]
    assert len(patches) <= 2  # five changes: one call now, one after the interval
    assert [c for c in cart_calls if c["method"] == "DELETE"]  # the line taken out


@pytest.mark.parametrize("status", ["subscribed", "unsubscribed", "pending", "cleaned",
                                    "transactional", None])
def test_no_ecommerce_call_changes_a_members_status(
    connected, audience, synced_store, celery_worker_process, status
):
    email = "dee@example.com"
    if status:
        connected.members_bulk(audience.mailchimp_id, [{"email": email, "status": status}])
    variant = product_made()
    wait_for(lambda: synced(Kind.PRODUCT, variant.product_id), timeout=20)
    cart = cart_made(variant, email=email)
    order = order_made(variant, email=email)
    wait_for(lambda: synced(Kind.CART, cart.pk) and synced(Kind.ORDER, order.pk), timeout=30)
    # Mailchimp keeps a new email as transactional (opt_in_status false); nothing else moves.
    assert member_status(audience, email) == (status or "transactional")
    sent = [c["body"] for c in connected.request_log() if c["method"] in ("PUT", "POST", "PATCH")
            and isinstance(c.get("body"), dict) and "customer" in c["body"]]
    assert sent and all(body["customer"]["opt_in_status"] is False for body in sent)
    assert not [c for c in connected.request_log()
                if "/members" in c["path"] and c["method"] != "GET"]


def test_a_live_order_costs_at_most_three_calls(
    connected, synced_store, celery_worker_process, client
):
    """The checkout pages with a cart Mailchimp holds: the order PUT and the cart's DELETE
    (the member only when the customer ticked a newsletter: not here). The sale's stock goes
    later, one variant call for all the sales meanwhile, counted apart."""
    from django.urls import reverse

    store = synced_store
    variant = product_made()
    wait_for(lambda: synced(Kind.PRODUCT, variant.product_id), timeout=20)
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 1})
    client.post(reverse("cart:email"), {"email": "liv@example.com"})
    wait_for(lambda: remote(connected, store)["carts"], timeout=20,
             message="the cart did not reach Mailchimp")
    cart = Cart.objects.get()
    wait_for(lambda: synced(Kind.CART, cart.pk), timeout=10)
    connected.clear_requests()

    response = client.post(reverse("checkout:checkout"), {
        "first_name": "Liv", "last_name": "Buyer", "email": "liv@example.com",
        "address_line1": "2 Low Road", "address_line2": "", "city": "York",
        "postcode": "YO1 1AA", "country": "GB"})
    assert response.status_code == 302
    order = Order.objects.get()
    wait_for(lambda: synced(Kind.ORDER, order.pk) and synced(Kind.CART, cart.pk)
             and not remote(connected, store)["carts"], timeout=20)
    wait_for(lambda: any("/variants/" in c["path"] for c in connected.request_log()),
             timeout=20, message="the sale's stock did not follow")
    calls = [f"{c['method']} {c['path']}" for c in connected.request_log()]
    order_calls = [c for c in calls if "/variants/" not in c]
    assert len(order_calls) <= 3, order_calls
    assert [c.split()[0] for c in order_calls] == ["PUT", "DELETE"]
    assert len([c for c in calls if "/variants/" in c]) == 1
