"""Orders moved on by staff: paid, shipped, cancelled, refunded; each move saved once."""
from decimal import Decimal

import pytest
from django.db.models.signals import post_save

from shop.checkout.models import Order
from shop.checkout.services import (
    OrderStatusError,
    order_cancel,
    order_mark_paid,
    order_mark_shipped,
    order_refund,
)
from tests.shop.catalogue.factories import VariantFactory
from tests.shop.checkout.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def saves():
    seen = []

    def receiver(sender, instance, created, **kwargs):
        if not created:
            seen.append(instance.status)

    post_save.connect(receiver, sender=Order, dispatch_uid="test-statuses")
    yield seen
    post_save.disconnect(dispatch_uid="test-statuses", sender=Order)


def test_paid_then_shipped(saves):
    order = OrderFactory()
    order_mark_paid(order=order)
    order_mark_shipped(order=order, tracking_number=" TRACK1 ")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.tracking_number == "TRACK1"
    assert order.paid_at and order.shipped_at
    assert saves == ["paid", "shipped"]  # post_save once per change


def test_shipping_needs_a_tracking_number():
    order = OrderFactory()
    with pytest.raises(OrderStatusError, match="tracking number"):
        order_mark_shipped(order=order, tracking_number="  ")
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_paid_twice_is_refused():
    order = OrderFactory()
    order_mark_paid(order=order)
    with pytest.raises(OrderStatusError):
        order_mark_paid(order=order)


def test_cancel_returns_the_stock():
    variant = VariantFactory(stock=3)
    order = OrderLineFactory(variant=variant, quantity=2).order
    order_cancel(order=order)
    variant.refresh_from_db()
    order.refresh_from_db()
    assert variant.stock == 5
    assert order.status == Order.Status.CANCELLED and order.cancelled_at


def test_cancel_after_shipping_is_refused():
    variant = VariantFactory(stock=3)
    order = OrderLineFactory(variant=variant, quantity=2).order
    order_mark_shipped(order=order, tracking_number="T1")
    with pytest.raises(OrderStatusError, match="not yet shipped"):
        order_cancel(order=order)
    variant.refresh_from_db()
    assert variant.stock == 3


def test_partial_refunds_twice_then_the_rest(saves):
    order = OrderFactory(total=Decimal("30.00"))
    order_mark_paid(order=order)
    order_refund(order=order, amount=Decimal("10.00"))
    order_refund(order=order, amount=Decimal("5.00"))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.refunded_total == Decimal("15.00") and order.amount_due == Decimal("15.00")
    order_refund(order=order, amount=Decimal("15.00"))
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.refunded_at
    assert saves == ["paid", "paid", "paid", "refunded"]


@pytest.mark.parametrize("amount", ["0", "-1", "30.01"])
def test_impossible_refunds_are_refused(amount):
    order = OrderFactory(total=Decimal("30.00"))
    order_mark_paid(order=order)
    with pytest.raises(OrderStatusError):
        order_refund(order=order, amount=Decimal(amount))
    order.refresh_from_db()
    assert order.refunded_total == Decimal("0.00")


def test_an_unpaid_order_cannot_be_refunded():
    with pytest.raises(OrderStatusError):
        order_refund(order=OrderFactory(), amount=Decimal("1.00"))
