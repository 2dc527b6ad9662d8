"""Placing an order: one transaction that locks stock, checks it, takes it and writes the order.

In the manner of Oscar's OrderCreator: the variants are locked with SELECT ... FOR UPDATE, so
two customers buying the last mug cannot both succeed; anything that goes wrong raises, and
the transaction leaves no order and no change to stock behind.
"""
from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shop.accounts.models import User
from shop.cart.cart import Cart
from shop.catalogue.models import Variant
from shop.promotions.services import (
    PromoCodeError,
    promo_code_check,
    promo_code_discount,
    promo_code_redeem,
)

from . import selectors
from .models import Order, OrderLine
from .selectors import order_news_sentence
from .tasks import order_confirmation_send

# No 0/O or 1/I, so a number read out on the phone is unambiguous.
ORDER_NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ORDER_NUMBER_LENGTH = 8


class OrderError(Exception):
    """The order cannot be placed; the message is for the customer."""


class EmptyCartError(OrderError):
    def __init__(self):
        super().__init__("Your cart is empty. Add something before checking out.")


class ItemUnavailableError(OrderError):
    def __init__(self):
        super().__init__(
            "Sorry, something in your cart is no longer available. "
            "Please check your cart and try again."
        )


class OutOfStockError(OrderError):
    def __init__(self, shortages: list[tuple[Variant, int]]):
        self.shortages = shortages
        parts = []
        for variant, wanted in shortages:
            label = f"{variant.product.name} ({variant.name})"
            if variant.stock == 0:
                parts.append(f"{label} is now out of stock")
            else:
                parts.append(f"only {variant.stock} of {label} left (you asked for {wanted})")
        super().__init__(
            "Sorry, we don't have enough in stock: "
            + "; ".join(parts)
            + ". Please update your cart. Nothing has been charged or ordered."
        )


class PromoCodeOrderError(OrderError):
    """The cart's promo code can no longer be used (expired, used up meanwhile)."""


def order_number_generate() -> str:
    while True:
        number = "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))
        if not Order.objects.filter(number=number).exists():
            return number


def order_line_create(*, order: Order, variant: Variant, quantity: int) -> OrderLine:
    """Take `quantity` from a locked variant's stock and record the line, prices copied."""
    # The check constraint on stock is the last guard should this ever go below zero.
    Variant.objects.filter(pk=variant.pk).update(stock=F("stock") - quantity)
    return OrderLine.objects.create(
        order=order,
        variant=variant,
        product_name=variant.product.name,
        variant_name=variant.name,
        sku=variant.sku,
        unit_price=variant.price,
        quantity=quantity,
    )


@transaction.atomic
def order_place(
    *,
    cart: Cart,
    user: User | None,
    email: str,
    first_name: str,
    last_name: str,
    address_line1: str,
    address_line2: str = "",
    city: str,
    postcode: str,
    country: str,  # an ISO 3166 code, e.g. "GB"
    attribution: dict[str, str] | None = None,
) -> Order:
    """Turn the cart into an order. Raises OrderError (nothing saved) if it cannot.

    The cart's promo code is checked again and its use counted in this transaction, so a
    code with one use left serves one order. `attribution` holds the Mailchimp campaign the
    visit came from (campaign_id, campaign_email_id, campaign_tracking_code, landing_url).
    The caller empties the cart once the transaction has committed.
    """
    wanted = cart.quantities()
    if not wanted:
        raise EmptyCartError()
    # Lock in primary-key order so concurrent checkouts queue instead of deadlocking.
    variants = list(
        Variant.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(pk__in=wanted)
        .order_by("pk")
    )
    if len(variants) != len(wanted) or not all(v.product.active for v in variants):
        raise ItemUnavailableError()
    shortages = [(v, wanted[v.pk]) for v in variants if v.stock < wanted[v.pk]]
    if shortages:
        raise OutOfStockError(shortages)

    subtotal = sum((v.price * wanted[v.pk] for v in variants), Decimal("0.00"))
    promo, discount = None, Decimal("0.00")
    if cart.promo_code:
        try:
            promo = promo_code_check(code=cart.promo_code)
            promo_code_redeem(promo=promo)
        except PromoCodeError as error:
            raise PromoCodeOrderError(str(error)) from error
        discount = promo_code_discount(promo=promo, subtotal=subtotal)
    attribution = attribution or {}
    order = Order.objects.create(
        number=order_number_generate(),
        user=user if user is not None and user.is_authenticated else None,
        email=email.strip().lower(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        address_line1=address_line1.strip(),
        address_line2=address_line2.strip(),
        city=city.strip(),
        postcode=postcode.strip(),
        country=country.strip(),
        subtotal=subtotal,
        discount_total=discount,
        total=subtotal - discount,
        promo_code=promo,
        promo_code_text=promo.code if promo else "",
        promo_kind=promo.kind if promo else "",
        campaign_id=attribution.get("campaign_id", ""),
        campaign_email_id=attribution.get("campaign_email_id", ""),
        campaign_tracking_code=attribution.get("campaign_tracking_code", ""),
        landing_url=attribution.get("landing_url", ""),
    )
    for variant in variants:
        order_line_create(order=order, variant=variant, quantity=wanted[variant.pk])
    # Robust: with the broker down the order still stands and the customer sees it; the
    # confirmation sweeper sends the email once the broker is back. (Not a partial: Django
    # names the callable in the log line of a robust failure.)
    order_id = order.pk
    transaction.on_commit(lambda: order_confirmation_send.delay(order_id), robust=True)
    return order


def order_news_choice_record(
    *, order: Order, lists: list[str], confirmation_needed: bool
) -> Order:
    """Keep the newsletter choice made at checkout, for the confirmation page and email."""
    order.news_asked = True
    order.news_lists = ", ".join(lists)[:500]
    order.news_confirmation_needed = confirmation_needed
    order.save(update_fields=["news_asked", "news_lists", "news_confirmation_needed"])
    return order


def order_confirmation_email(*, order_id: int) -> bool:
    """Email the customer their order, once. Returns False if it was sent, or is being sent."""
    now = timezone.now()
    claimed = (
        selectors.orders_confirmation_claimable(now=now)
        .filter(pk=order_id)
        .update(confirmation_claimed_at=now)
    )
    if not claimed:
        return False
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    lines = "\n".join(
        f"  {line.quantity} × {line.product_name} ({line.variant_name})  {line.unit_price}"
        for line in order.lines.all()
    )
    news = order_news_sentence(order=order)
    try:
        send_mail(
            subject=f"{settings.STORE_NAME}: your order {order.number}",
            message=(
                f"Hello {order.first_name},\n\nThank you for your order {order.number}.\n\n"
                f"{lines}\n\nTotal: {order.total}\n"
                + (f"\n{news}\n" if news else "")
            ),
            from_email=None,
            recipient_list=[order.email],
        )
    except Exception:
        # Not sent: release the claim so a retry (or the sweeper) can send it.
        Order.objects.filter(pk=order_id).update(confirmation_claimed_at=None)
        raise
    Order.objects.filter(pk=order_id).update(confirmation_sent_at=timezone.now())
    return True


def order_confirmation_sweep() -> int:
    """Queue the confirmations that should have gone out by now; returns how many.

    They were not sent because the broker was down when the order was placed, every retry
    failed, or the worker died while sending. Each send claims its order first, so queuing one
    that is sent meanwhile costs nothing.
    """
    now = timezone.now()
    order_ids = list(
        selectors.orders_confirmation_overdue(now=now).values_list("pk", flat=True)[
            : settings.CHECKOUT_CONFIRMATION_SWEEP_BATCH
        ]
    )
    for order_id in order_ids:
        order_confirmation_send.delay(order_id)
    return len(order_ids)


class OrderStatusError(ValueError):
    """The order cannot move that way (say, cancelling a shipped order); words for staff."""


def _order_locked(order: Order) -> Order:
    """The order re-read under a row lock, so two staff clicks cannot both move it."""
    return Order.objects.select_for_update().get(pk=order.pk)


def _order_save(*, order: Order, locked: Order, fields: list[str]) -> Order:
    # order.save() (never a queryset update): post_save announces each change once.
    for field in fields:
        setattr(order, field, getattr(locked, field))
    order.save(update_fields=[*fields, "updated"])
    return order


@transaction.atomic
def order_mark_paid(*, order: Order) -> Order:
    locked = _order_locked(order)
    if locked.status != Order.Status.PLACED:
        raise OrderStatusError(
            f"Order {locked.number} is {locked.get_status_display().lower()}: "
            "only a placed order can be marked paid."
        )
    locked.status, locked.paid_at = Order.Status.PAID, timezone.now()
    return _order_save(order=order, locked=locked, fields=["status", "paid_at"])


@transaction.atomic
def order_mark_shipped(*, order: Order, tracking_number: str) -> Order:
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise OrderStatusError("Enter the tracking number to mark the order shipped.")
    locked = _order_locked(order)
    if locked.status not in (Order.Status.PLACED, Order.Status.PAID):
        raise OrderStatusError(
            f"Order {locked.number} is {locked.get_status_display().lower()}: "
            "only a placed or paid order can be shipped."
        )
    locked.status, locked.shipped_at = Order.Status.SHIPPED, timezone.now()
    locked.tracking_number = tracking_number[:100]
    return _order_save(
        order=order, locked=locked, fields=["status", "shipped_at", "tracking_number"]
    )


@transaction.atomic
def order_cancel(*, order: Order) -> Order:
    """Cancel an order not yet shipped; its lines' stock goes back to the variants."""
    locked = _order_locked(order)
    if locked.status not in (Order.Status.PLACED, Order.Status.PAID):
        raise OrderStatusError(
            f"Order {locked.number} is {locked.get_status_display().lower()}: "
            "only an order not yet shipped can be cancelled."
        )
    lines = sorted(locked.lines.all(), key=lambda line: line.variant_id)  # lock order: pk
    for line in lines:
        Variant.objects.filter(pk=line.variant_id).update(stock=F("stock") + line.quantity)
    locked.status, locked.cancelled_at = Order.Status.CANCELLED, timezone.now()
    return _order_save(order=order, locked=locked, fields=["status", "cancelled_at"])


@transaction.atomic
def order_refund(*, order: Order, amount: Decimal) -> Order:
    """Refund part or all of what is due; the order is refunded once nothing is left due."""
    amount = Decimal(amount)
    locked = _order_locked(order)
    if locked.status not in (Order.Status.PAID, Order.Status.SHIPPED):
        raise OrderStatusError(
            f"Order {locked.number} is {locked.get_status_display().lower()}: "
            "only a paid or shipped order can be refunded."
        )
    if amount <= 0 or amount > locked.amount_due:
        raise OrderStatusError(
            f"Enter an amount more than 0 and at most {locked.amount_due} (still due)."
        )
    locked.refunded_total += amount
    locked.refunded_at = timezone.now()
    if locked.amount_due == 0:
        locked.status = Order.Status.REFUNDED
    return _order_save(
        order=order, locked=locked, fields=["status", "refunded_total", "refunded_at"]
    )
