"""The bodies of the store's records as Mailchimp's e-commerce API takes them, built from the
database when they are sent, many at a time with a constant number of queries (the live path
asks for one, the backfill for 500).

Customers go only inside orders and carts, with `opt_in_status` false: subscribing happens
through the member path and its consent rules, never through e-commerce.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from subscriptions.delivery import mailchimp_time


def _absolute(path: str) -> str:
    return (getattr(settings, "SITE_URL", "") or "").rstrip("/") + path


def _money(value: Decimal | int | float | None) -> float:
    return float(Decimal(value or 0).quantize(Decimal("0.01")))


def currency() -> str:
    return getattr(settings, "STORE_CURRENCY", "USD")


def customer_id(email: str) -> str:
    """Mailchimp's customer id for an email: the MD5 of it lower-cased (one per person)."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


def customer_body(*, email: str, first_name: str = "", last_name: str = "",
                  address: dict | None = None) -> dict:
    body = {"id": customer_id(email), "email_address": email.strip().lower(),
            "opt_in_status": False}
    if first_name:
        body["first_name"] = first_name
    if last_name:
        body["last_name"] = last_name
    if address:
        body["address"] = address
    return body


# ----------------------------------------------------------------------------- products
def variant_body(variant, *, product_url: str, visible: bool) -> dict:
    return {
        "id": str(variant.pk), "title": variant.name or variant.product.name,
        "sku": variant.sku, "price": _money(variant.price),
        "inventory_quantity": variant.stock if visible else 0, "url": product_url,
        "visibility": "visible" if visible else "hidden",
    }


def _product_body(product) -> dict:
    url = _absolute(product.get_absolute_url())
    variants = [variant_body(variant, product_url=url, visible=product.active)
                for variant in product.variants.all()]
    if not variants:  # Mailchimp needs one; a product with none is offered as unavailable
        variants = [{"id": f"p{product.pk}", "title": product.name, "inventory_quantity": 0,
                     "visibility": "hidden", "url": url}]
    body = {"id": str(product.pk), "title": product.name, "url": url,
            "description": product.description, "variants": variants}
    if product.image:
        body["image_url"] = _absolute(product.image.url)
    return body


def product_bodies(ids: Iterable[int]) -> dict[int, dict]:
    """PUT body of each product that still exists, with all its variants (2 queries)."""
    from shop.catalogue.models import Product

    products = Product.objects.filter(pk__in=list(ids)).prefetch_related("variants")
    return {product.pk: _product_body(product) for product in products}


def variant_bodies(ids: Iterable[int]) -> dict[int, tuple[int, dict]]:
    """(product id, PUT body) of each variant that still exists (1 query)."""
    from shop.catalogue.models import Variant

    variants = Variant.objects.filter(pk__in=list(ids)).select_related("product")
    return {variant.pk: (variant.product_id, variant_body(
        variant, product_url=_absolute(variant.product.get_absolute_url()),
        visible=variant.product.active)) for variant in variants}


def hidden_variant(variant_id: str, title: str) -> dict:
    """A variant of a product deleted in the store: kept for older orders, never offered."""
    return {"id": variant_id, "title": title or variant_id, "inventory_quantity": 0,
            "visibility": "hidden"}


# ----------------------------------------------------------------------------- promo codes
def promo_rule_id(pk: int) -> str:
    return f"promo-{pk}"


def promo_code_id(pk: int) -> str:
    return f"promo-{pk}"


def promo_redemption_url(code: str) -> str:
    try:
        path = reverse("cart:promo_redeem", args=[code])
    except NoReverseMatch:  # the storefront without redemption links: the cart page
        path = reverse("cart:detail")
    return _absolute(path)


def _promo_pair(promo) -> tuple[dict, dict]:
    usable = promo.state() == promo.State.ACTIVE
    percentage = promo.kind == promo.Kind.PERCENTAGE
    amount = float(Decimal(promo.value) / 100) if percentage else _money(promo.value)
    rule = {
        "id": promo_rule_id(promo.pk), "title": promo.code,
        "description": promo.description or promo.code, "amount": amount,
        "type": "percentage" if percentage else "fixed", "target": "total",
        "enabled": usable, "created_at_foreign": mailchimp_time(promo.created),
        "updated_at_foreign": mailchimp_time(promo.updated),
    }
    if promo.starts_at:
        rule["starts_at"] = mailchimp_time(promo.starts_at)
    if promo.ends_at:
        rule["ends_at"] = mailchimp_time(promo.ends_at)
    code = {
        "id": promo_code_id(promo.pk), "code": promo.code,
        "redemption_url": promo_redemption_url(promo.code), "usage_count": promo.times_used,
        "enabled": usable, "created_at_foreign": mailchimp_time(promo.created),
        "updated_at_foreign": mailchimp_time(promo.updated),
    }
    return rule, code


def promo_bodies(ids: Iterable[int]) -> dict[int, tuple[dict, dict]]:
    """(promo rule body, promo code body) of each promo code that still exists (1 query)."""
    from shop.promotions.models import PromoCode

    return {promo.pk: _promo_pair(promo) for promo in PromoCode.objects.filter(pk__in=list(ids))}


# ----------------------------------------------------------------------------- orders
def order_statuses(order) -> dict:
    """financial_status and fulfillment_status as Mailchimp names them (they trigger its
    order notifications: pending -> confirmation, paid, shipped, cancelled, refunded)."""
    Status = type(order).Status
    if order.status == Status.CANCELLED:
        financial = "cancelled"
    elif order.status == Status.REFUNDED or (order.refunded_total and order.amount_due <= 0):
        financial = "refunded"
    elif order.refunded_total:
        financial = "partially_refunded"
    elif order.paid_at or order.status in (Status.PAID, Status.SHIPPED):
        financial = "paid"
    else:
        financial = "pending"
    fields = {"financial_status": financial}
    if order.shipped_at or order.status == Status.SHIPPED:
        fields["fulfillment_status"] = "shipped"
    return fields


def order_state_fields(order) -> dict:
    """What a status change sends (a PATCH): statuses, what it is worth now, tracking, times."""
    fields = {
        **order_statuses(order),
        "order_total": _money(max(order.amount_due, Decimal("0"))),
        "discount_total": _money(order.discount_total),
        "updated_at_foreign": mailchimp_time(order.updated),
    }
    if order.tracking_number:
        fields["tracking_number"] = order.tracking_number
    if order.cancelled_at:
        fields["cancelled_at_foreign"] = mailchimp_time(order.cancelled_at)
    return fields


def _address(order) -> dict:
    return {"name": order.full_name, "address1": order.address_line1,
            "address2": order.address_line2, "city": order.city,
            "postal_code": order.postcode, "country_code": str(order.country)}


def _order_body(order, *, first_push: bool) -> dict:
    address = _address(order)
    body = {
        "id": order.number,
        "customer": customer_body(
            email=order.email, first_name=order.first_name, last_name=order.last_name,
            address={key: address[key] for key in
                     ("address1", "address2", "city", "postal_code", "country_code")}),
        "currency_code": currency(),
        **order_state_fields(order),
        "tax_total": 0.0, "shipping_total": 0.0,
        "processed_at_foreign": mailchimp_time(order.created),
        "shipping_address": address,
        "lines": [{
            "id": str(line.pk), "product_id": str(line.variant.product_id),
            "product_variant_id": str(line.variant_id), "quantity": line.quantity,
            "price": _money(line.unit_price * line.quantity),
        } for line in order.lines.all()],
    }
    if order.promo_code_text and order.discount_total:
        body["promos"] = [{"code": order.promo_code_text,
                           "amount_discounted": _money(order.discount_total),
                           "type": order.promo_kind or "fixed"}]
    if first_push:  # attribution goes with the first push only (Woo, M2)
        if order.campaign_id:
            body["campaign_id"] = order.campaign_id
        if order.landing_url:
            body["landing_site"] = order.landing_url[:1000]
    return body


def order_bodies(ids: Iterable[int], *, first_push: bool) -> dict[int, dict]:
    """PUT body of each order, customer and lines embedded (2 queries)."""
    from shop.checkout.models import Order

    orders = Order.objects.filter(pk__in=list(ids)).prefetch_related("lines__variant")
    return {order.pk: _order_body(order, first_push=first_push) for order in orders}


# ----------------------------------------------------------------------------- carts
def cart_remote_id(pk: int) -> str:
    return f"cart-{pk}"


def cart_body(cart, *, restore_url: str) -> dict:
    """POST/PATCH body of a stored cart (its lines at today's prices)."""
    lines = [{
        "id": str(line.variant_id), "product_id": str(line.variant.product_id),
        "product_variant_id": str(line.variant_id), "quantity": line.quantity,
        "price": _money(line.variant.price * line.quantity),
    } for line in cart.lines.all()]
    return {
        "id": cart_remote_id(cart.pk),
        "customer": customer_body(email=cart.email),
        "currency_code": currency(),
        "order_total": _money(sum((line["price"] for line in lines), 0)),
        "checkout_url": restore_url,
        "lines": lines,
    }
