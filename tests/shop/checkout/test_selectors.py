"""Who may see which order."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from shop.checkout.models import Order
from shop.checkout.selectors import (
    order_get_visible,
    order_list_for_user,
    orders_confirmation_overdue,
)
from tests.shop.accounts.factories import UserFactory
from tests.shop.checkout.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_order_list_for_user_is_own_orders_newest_first():
    user = UserFactory()
    older, newer = OrderFactory(user=user), OrderFactory(user=user)
    OrderFactory(user=UserFactory())
    assert list(order_list_for_user(user=user)) == [newer, older]


def test_order_get_visible():
    owner = UserFactory()
    order = OrderFactory(user=owner)
    guest_order = OrderFactory()
    anonymous = AnonymousUser()
    assert order_get_visible(number=order.number, user=owner, placed_numbers=[]) == order
    assert order_get_visible(number=order.number, user=UserFactory(), placed_numbers=[]) is None
    assert order_get_visible(number=guest_order.number, user=anonymous, placed_numbers=[]) is None
    assert (
        order_get_visible(
            number=guest_order.number, user=anonymous, placed_numbers=[guest_order.number]
        )
        == guest_order
    )
    assert order_get_visible(number="NOPE", user=owner, placed_numbers=["NOPE"]) is None


def test_overdue_confirmations_are_the_unsent_ones_past_the_grace_period_oldest_first(settings):
    settings.CHECKOUT_CONFIRMATION_GRACE_SECONDS = 600
    settings.CHECKOUT_CONFIRMATION_GIVE_UP_HOURS = 72
    settings.CELERY_TASK_TIME_LIMIT = 360
    now = timezone.now()

    def order(*, age: timedelta, sent: bool = False, claimed_ago: timedelta | None = None):
        made = OrderFactory()
        Order.objects.filter(pk=made.pk).update(
            created=now - age,
            confirmation_sent_at=now if sent else None,
            confirmation_claimed_at=now - claimed_ago if claimed_ago is not None else None,
        )
        return made

    older_unsent = order(age=timedelta(hours=5))
    unsent = order(age=timedelta(minutes=11))
    dead_workers = order(age=timedelta(hours=1), claimed_ago=timedelta(minutes=7))
    order(age=timedelta(minutes=5))  # still in its grace period: the task's retries have it
    order(age=timedelta(hours=1), sent=True)
    order(age=timedelta(hours=1), claimed_ago=timedelta(minutes=1))  # a worker is sending it
    order(age=timedelta(hours=73))  # given up: too late to confirm

    assert list(orders_confirmation_overdue(now=now)) == [older_unsent, dead_workers, unsent]
