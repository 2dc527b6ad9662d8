"""Reads of orders: a customer's own orders, the one a visitor may see after checkout, and the
confirmations still to send."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from shop.accounts.models import User

from .models import Order, OrderLine


def order_list_for_user(*, user: User) -> QuerySet[Order]:
    return (
        Order.objects.filter(user=user)
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("pk")))
        .order_by("-created", "-pk")
    )


def order_get_visible(*, number: str, user, placed_numbers: list[str]) -> Order | None:
    """The order if this visitor placed it in this session or owns it; otherwise None."""
    order = Order.objects.prefetch_related("lines").filter(number=number).first()
    if order is None:
        return None
    if number in placed_numbers:
        return order
    if user.is_authenticated and order.user_id == user.pk:
        return order
    return None


def orders_confirmation_claimable(*, now: datetime) -> QuerySet[Order]:
    """Orders whose confirmation is unsent and that no living worker is sending.

    A worker is killed at CELERY_TASK_TIME_LIMIT, so an older claim is a dead worker's.
    """
    stale_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return Order.objects.filter(confirmation_sent_at__isnull=True).filter(
        Q(confirmation_claimed_at__isnull=True) | Q(confirmation_claimed_at__lt=stale_before)
    )


def orders_confirmation_overdue(*, now: datetime) -> QuerySet[Order]:
    """Claimable confirmations older than the grace period, oldest first; past the give-up
    age a confirmation would only confuse the customer, so those are left alone."""
    return (
        orders_confirmation_claimable(now=now)
        .filter(
            created__lt=now - timedelta(seconds=settings.CHECKOUT_CONFIRMATION_GRACE_SECONDS),
            created__gte=now - timedelta(hours=settings.CHECKOUT_CONFIRMATION_GIVE_UP_HOURS),
        )
        .order_by("created", "pk")
    )


def order_news_sentence(*, order: Order) -> str:
    """What the confirmation says of the newsletter choice, or "" when none was made."""
    if not order.news_asked:
        return ""
    if not order.news_lists:
        return (
            "You asked for our news, but the list was not open for signups at the time, "
            "so you were not signed up."
        )
    if order.news_confirmation_needed:
        return (
            f"You asked to receive our news ({order.news_lists}). Please check your inbox: "
            "you are signed up once you click the link in our email to confirm."
        )
    return f"You are signed up for our news ({order.news_lists})."
