"""Who may see which order."""
import pytest
from django.contrib.auth.models import AnonymousUser

from shop.checkout.selectors import order_get_visible, order_list_for_user
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
