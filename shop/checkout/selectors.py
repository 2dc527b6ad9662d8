"""Reads of orders: a customer's own orders, and the one a visitor may see after checkout."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

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
