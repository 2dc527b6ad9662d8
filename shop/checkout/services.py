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
) -> Order:
    """Turn the cart into an order. Raises OrderError (nothing saved) if it cannot.

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

    total = sum((v.price * wanted[v.pk] for v in variants), Decimal("0.00"))
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
        total=total,
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


def order_update_status(*, order: Order, status: str) -> Order:
    if status not in Order.Status.values:
        raise ValueError(f"unknown order status {status!r}")
    order.status = status
    order.save(update_fields=["status"])
    return order
