"""Orders, carts, promo codes and variants in the connected store (issue "E-commerce
support"), sent by a real worker over HTTP to the sandbox on the outbox's mechanics.

What is asserted is what the store sent (the sandbox's request log) and what Mailchimp then
holds (its e-commerce state, revenue per campaign, the member's status)."""
import hashlib
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from mailchimp_integration import ecommerce
from mailchimp_integration.models import Audience, ConnectedStore, EcommerceRecord
from mailchimp_integration.services import mailchimp_client_build
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


def test_an_order_arrives_with_lines_totals_customer_and_campaign_then_each_status(
    connected, audience, store, celery_worker_process
):
    campaign = connected.create_campaign(audience.mailchimp_id)
    variant = product_made()
    order = order_made(variant, email="Ann@Example.com", campaign_id=campaign,
                       landing_url="https://shop.example.com/?mc_cid=" + campaign)
    wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=30, message="the order was not sent")
    sent = remote_order(store, order)
    assert sent["order_total"] == 25.0 and sent["financial_status"] == "pending"
    assert sent["customer"]["id"] == md5("ann@example.com")
    assert sent["customer"]["opt_in_status"] is False
    assert sent["campaign_id"] == campaign
    assert sent["landing_site"].endswith(campaign)
    [line] = sent["lines"]
    assert (line["product_variant_id"], line["quantity"], line["price"]) == (
        str(variant.pk), 2, 25.0)
    assert connected.campaign_revenue(campaign)["revenue"] == 25.0

    def moved(**fields):
        Order.objects.filter(pk=order.pk).update(**fields)
        Order.objects.get(pk=order.pk).save()
        version = record(Kind.ORDER, order.pk).wanted_version
        wait_for(lambda: (r := synced(Kind.ORDER, order.pk)) and r.sent_version >= version,
                 timeout=20, message=f"{fields} did not arrive")
        return remote_order(store, order)

    now = timezone.now()
    assert moved(status="paid", paid_at=now)["financial_status"] == "paid"
    shipped = moved(status="shipped", shipped_at=now, tracking_number="TRK123")
    assert (shipped["fulfillment_status"], shipped["tracking_number"]) == ("shipped", "TRK123")
    refunded = moved(refunded_total=Decimal("10.00"))
    assert (refunded["financial_status"], refunded["order_total"]) == ("partially_refunded", 15.0)
    assert connected.campaign_revenue(campaign)["revenue"] == 15.0  # a refund lowers revenue
    assert refunded["campaign_id"] == campaign  # later pushes keep the attribution
    cancelled = moved(status="cancelled", cancelled_at=now)
    assert cancelled["financial_status"] == "cancelled" and cancelled["cancelled_at_foreign"]
    assert connected.campaign_revenue(campaign)["revenue"] == 0
    # The first push was a PUT with the campaign; every later one a PATCH without it.
    # (A PUT refused because the product was not there yet is retried once it is.)
    calls = [c for c in connected.requests_to(f"/orders/{order.number}")
             if c["method"] != "GET" and c["status"] < 300]
    assert [c["method"] for c in calls] == ["PUT"] + ["PATCH"] * 4
    assert all("campaign_id" not in c["body"] for c in calls[1:])


def test_a_campaign_mailchimp_does_not_know_is_dropped_and_the_order_still_counts(
    connected, store, celery_worker_process
):
    order = order_made(product_made(), campaign_id="gone123")
    found = wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=30,
                     message="the order was not re-sent without its campaign")
    assert "gone123" in found.failure_reason  # the admin sees why it has no campaign
    assert not remote_order(store, order).get("campaign_id")


def test_an_order_naming_a_product_mailchimp_lacks_sends_the_product_first(
    connected, audience, celery_worker_process
):
    variant = product_made()  # before any store: never sent
    store = ecommerce.store_connect(client=mailchimp_client_build(), audience=audience).store
    order = order_made(variant)
    wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=30, message="the order was lost")
    assert str(variant.product_id) in remote(connected, store)["products"]


def test_a_price_change_of_a_sent_product_sends_the_variant_only(
    connected, store, celery_worker_process
):
    variant = product_made()
    wait_for(lambda: synced(Kind.PRODUCT, variant.product_id), timeout=20)
    connected.clear_requests()
    variant.price = Decimal("9.99")
    variant.save()
    local_id = f"{variant.product_id}/{variant.pk}"
    wait_for(lambda: synced(Kind.VARIANT, local_id), timeout=20, message="not sent")
    assert [f"{c['method']} {c['path'].split('/3.0')[-1]}" for c in connected.request_log()] == [
        f"PUT /ecommerce/stores/{store.store_id}/products/{variant.product_id}/variants/"
        f"{variant.pk}"]
    held = remote(connected, store)["products"][str(variant.product_id)]
    assert held["variants"][str(variant.pk)]["price"] == 9.99


def test_a_deleted_product_is_hidden_not_deleted_and_a_sold_one_keeps_its_orders_valid(
    connected, store, celery_worker_process
):
    unsold, sold = product_made("Bowl"), product_made("Cup")
    order = order_made(sold)
    wait_for(lambda: synced(Kind.ORDER, order.pk) and synced(Kind.PRODUCT, unsold.product_id),
             timeout=30)
    unsold.product.delete()
    wait_for(lambda: synced(Kind.VARIANT, f"{unsold.product_id}/{unsold.pk}"), timeout=20,
             message="the deleted product's variant was not hidden")
    kept = remote(connected, store)["products"][str(unsold.product_id)]
    assert kept["variants"][str(unsold.pk)]["visibility"] == "hidden"
    assert kept["variants"][str(unsold.pk)]["inventory_quantity"] == 0
    assert not [c for c in connected.request_log() if c["method"] == "DELETE"]
    # A sold product cannot be deleted (its order lines protect it); taken off sale, it is
    # hidden in Mailchimp and the old order still names it.
    Product.objects.filter(pk=sold.product_id).update(active=False)
    Product.objects.get(pk=sold.product_id).save()
    wait_for(lambda: remote(connected, store)["products"][str(sold.product_id)]["variants"][
        str(sold.pk)]["visibility"] == "hidden", timeout=20)
    assert remote_order(store, order)["lines"][0]["product_id"] == str(sold.product_id)


def test_a_promo_code_goes_as_rule_and_code_then_patched_then_disabled_when_deleted(
    connected, store, celery_worker_process
):
    promo = PromoCode.objects.create(code="SPRING10", kind="percentage", value=Decimal("10"))
    wait_for(lambda: synced(Kind.PROMO, promo.pk), timeout=20, message="not sent")
    rule = remote(connected, store)["promo_rules"][f"promo-{promo.pk}"]
    assert (rule["type"], rule["amount"], rule["target"]) == ("percentage", 0.1, "total")
    promo.value = Decimal("15")
    promo.save()
    wait_for(lambda: remote(connected, store)["promo_rules"][f"promo-{promo.pk}"]["amount"]
             == 0.15, timeout=20)
    promo_pk = promo.pk
    promo.delete()
    wait_for(lambda: not remote(connected, store)["promo_rules"][f"promo-{promo_pk}"][
        "enabled"], timeout=20, message="the deleted code was not disabled")
    methods = [c["method"] for c in connected.request_log() if "/promo-" in c["path"]]
    assert methods[:2] == ["POST", "POST"] and "DELETE" not in methods
    variant = product_made()
    other = PromoCode.objects.create(code="TENOFF", kind="fixed", value=Decimal("10"))
    order = order_made(variant, promo=other, discount="10.00")
    wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=20)
    assert remote_order(store, order)["promos"] == [
        {"code": "TENOFF", "amount_discounted": 10.0, "type": "fixed"}]


def test_a_signed_in_customers_order_with_a_promo_code_through_the_checkout_pages(
    connected, audience, store, celery_worker_process, client
):
    """The real pages: a signed-in customer applies a promo code and checks out; staff then
    mark the order paid and refund part of it from the order page's services."""
    from django.urls import reverse

    from shop.checkout import services as checkout_services
    from tests.shop.accounts.factories import UserFactory

    user = UserFactory(email="Cy@Example.com", first_name="Cy", last_name="Lee")
    client.force_login(user)
    PromoCode.objects.create(code="TEN", kind=PromoCode.Kind.FIXED, value=Decimal("10"))
    variant = product_made(price="20.00")
    client.post(reverse("cart:add", args=[variant.product_id]),
                {"variant": variant.pk, "quantity": 2})
    client.post(reverse("cart:promo_apply"), {"code": "ten"})
    response = client.post(reverse("checkout:checkout"), {
        "first_name": "Cy", "last_name": "Lee", "email": user.email,
        "address_line1": "3 Hill Road", "address_line2": "", "city": "Leeds",
        "postcode": "LS2 2BB", "country": "GB"})
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.user == user and order.total == Decimal("30.00")

    wait_for(lambda: synced(Kind.ORDER, order.pk), timeout=30, message="the order was not sent")
    sent = remote_order(store, order)
    assert sent["customer"]["id"] == md5(user.email)
    assert sent["customer"]["opt_in_status"] is False
    assert sent["order_total"] == 30.0 and sent["discount_total"] == 10.0
    assert [(p["code"], p["amount_discounted"]) for p in sent["promos"]] == [("TEN", 10.0)]
    assert [(line["quantity"], line["price"]) for line in sent["lines"]] == [(2, 40.0)]

    checkout_services.order_mark_paid(order=order)
    version = record(Kind.ORDER, order.pk).wanted_version
    wait_for(lambda: (r := synced(Kind.ORDER, order.pk)) and r.sent_version >= version,
             timeout=20)
    assert remote_order(store, order)["financial_status"] == "paid"
    checkout_services.order_refund(order=Order.objects.get(pk=order.pk), amount=Decimal("5"))
    version = record(Kind.ORDER, order.pk).wanted_version
    wait_for(lambda: (r := synced(Kind.ORDER, order.pk)) and r.sent_version >= version,
             timeout=20)
    refunded = remote_order(store, order)
    assert (refunded["financial_status"], refunded["order_total"]) == ("partially_refunded", 25.0)
    # Mailchimp keeps an e-commerce customer as transactional: never subscribed by an order.
    assert member_status(audience, user.email) == "transactional"
