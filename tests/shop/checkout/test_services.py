"""Placing an order: all or nothing."""
from decimal import Decimal

import pytest

from shop.checkout import services
from shop.checkout.models import Order, OrderLine
from shop.checkout.services import (
    EmptyCartError,
    ItemUnavailableError,
    OutOfStockError,
    order_place,
)
from tests.shop.accounts.factories import UserFactory
from tests.shop.catalogue.factories import VariantFactory

pytestmark = pytest.mark.django_db

DETAILS = {
    "email": "Ann@Example.com",
    "first_name": "Ann",
    "last_name": "Smith",
    "address_line1": "1 High Street",
    "address_line2": "",
    "city": "Hilltown",
    "postcode": "HT1 1AA",
    "country": "GB",
}


def stock_of(*variants) -> list[int]:
    for variant in variants:
        variant.refresh_from_db()
    return [variant.stock for variant in variants]


def test_order_place_writes_the_order_and_takes_the_stock(cart):
    mug = VariantFactory(product__name="Mug", name="Blue", price=Decimal("12.00"), stock=5)
    tee = VariantFactory(price=Decimal("30.00"), stock=2)
    cart.set(mug.pk, 2)
    cart.set(tee.pk, 2)
    user = UserFactory()

    order = order_place(cart=cart, user=user, **DETAILS)

    assert order.user == user
    assert order.email == "ann@example.com"
    assert order.total == Decimal("84.00")
    assert order.status == Order.Status.PLACED
    assert len(order.number) == services.ORDER_NUMBER_LENGTH
    line = order.lines.get(variant=mug)
    assert (line.product_name, line.variant_name, line.sku) == ("Mug", "Blue", mug.sku)
    assert (line.unit_price, line.quantity) == (Decimal("12.00"), 2)
    assert stock_of(mug, tee) == [3, 0]
    assert cart.quantities() == {mug.pk: 2, tee.pk: 2}  # the view empties it after commit


def test_order_place_as_a_guest(cart):
    variant = VariantFactory()
    cart.set(variant.pk, 1)
    assert order_place(cart=cart, user=None, **DETAILS).user is None


def test_prices_are_copied_so_later_changes_do_not_touch_the_order(cart):
    variant = VariantFactory(price=Decimal("10.00"), name="Old name")
    cart.set(variant.pk, 1)
    order = order_place(cart=cart, user=None, **DETAILS)
    variant.price, variant.name = Decimal("99.00"), "New name"
    variant.save()
    line = order.lines.get()
    assert (line.unit_price, line.variant_name) == (Decimal("10.00"), "Old name")


def test_empty_cart_is_refused(cart):
    with pytest.raises(EmptyCartError):
        order_place(cart=cart, user=None, **DETAILS)
    assert not Order.objects.exists()


def test_not_enough_stock_saves_nothing(cart):
    plenty = VariantFactory(stock=10)
    scarce = VariantFactory(product__name="Tee", name="Large", stock=1)
    cart.set(plenty.pk, 3)
    cart.set(scarce.pk, 2)
    with pytest.raises(OutOfStockError) as caught:
        order_place(cart=cart, user=None, **DETAILS)
    assert "only 1 of Tee (Large) left (you asked for 2)" in str(caught.value)
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert stock_of(plenty, scarce) == [10, 1]


def test_sold_out_item_is_named(cart):
    variant = VariantFactory(product__name="Mug", name="Blue", stock=0)
    cart.set(variant.pk, 1)
    with pytest.raises(OutOfStockError, match=r"Mug \(Blue\) is now out of stock"):
        order_place(cart=cart, user=None, **DETAILS)


def test_withdrawn_product_is_refused(cart):
    variant = VariantFactory(product__active=False)
    cart.set(variant.pk, 1)
    with pytest.raises(ItemUnavailableError):
        order_place(cart=cart, user=None, **DETAILS)
    cart.clear()
    cart.set(999999, 1)
    with pytest.raises(ItemUnavailableError):
        order_place(cart=cart, user=None, **DETAILS)
    assert not Order.objects.exists()


def test_a_failure_midway_leaves_no_order_and_no_stock_change(cart, monkeypatch):
    first, second = VariantFactory(stock=5), VariantFactory(stock=5)
    cart.set(first.pk, 1)
    cart.set(second.pk, 1)
    real_line_create = services.order_line_create
    calls = []

    def fail_on_second_line(**kwargs):
        calls.append(kwargs["variant"].pk)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_line_create(**kwargs)

    monkeypatch.setattr(services, "order_line_create", fail_on_second_line)
    with pytest.raises(RuntimeError):
        order_place(cart=cart, user=None, **DETAILS)

    assert len(calls) == 2  # the first line and its stock change did happen, then rolled back
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert stock_of(first, second) == [5, 5]
