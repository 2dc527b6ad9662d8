"""Orders and their lines."""
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.db.models.deletion import ProtectedError

from tests.shop.checkout.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def test_line_total_and_names():
    line = OrderLineFactory(unit_price=Decimal("12.50"), quantity=3, order__number="ABC")
    assert line.line_total == Decimal("37.50")
    assert str(line.order) == "Order ABC"
    assert line.order.full_name == "Ann Buyer"


def test_a_sold_variant_cannot_be_deleted():
    line = OrderLineFactory()
    with pytest.raises(ProtectedError):
        line.variant.delete()


def test_order_numbers_are_unique():
    OrderFactory(number="SAME")
    with pytest.raises(IntegrityError):
        OrderFactory(number="SAME")


def test_a_line_needs_a_positive_quantity():
    with pytest.raises(IntegrityError):
        OrderLineFactory(quantity=0)


def test_the_country_is_kept_as_a_code_and_read_as_a_name():
    order = OrderFactory(country="DE")
    order.refresh_from_db()
    assert order.country.code == "DE" and order.country.name == "Germany"
