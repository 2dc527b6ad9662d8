"""Cart changes, each checked against what is on sale and in stock."""
import pytest

from shop.cart.services import CartError, cart_add_item, cart_remove_item, cart_update_item
from tests.shop.catalogue.factories import VariantFactory

pytestmark = pytest.mark.django_db


def test_add_accumulates(cart):
    variant = VariantFactory(stock=5)
    cart_add_item(cart=cart, variant_id=variant.pk, quantity=2)
    cart_add_item(cart=cart, variant_id=variant.pk, quantity=3)
    assert cart.quantity_of(variant.pk) == 5


def test_add_more_than_stock_counts_what_is_already_in_the_cart(cart):
    variant = VariantFactory(stock=4, name="Blue", product__name="Mug")
    cart_add_item(cart=cart, variant_id=variant.pk, quantity=3)
    with pytest.raises(CartError) as caught:
        cart_add_item(cart=cart, variant_id=variant.pk, quantity=2)
    assert str(caught.value) == (
        "Sorry, we only have 4 of Mug (Blue) in stock, and 3 already in your cart."
    )
    assert cart.quantity_of(variant.pk) == 3


def test_add_out_of_stock(cart):
    variant = VariantFactory(stock=0)
    with pytest.raises(CartError, match="out of stock"):
        cart_add_item(cart=cart, variant_id=variant.pk, quantity=1)
    assert not cart


@pytest.mark.parametrize("quantity", [0, -2])
def test_add_zero_or_negative(cart, quantity):
    variant = VariantFactory()
    with pytest.raises(CartError, match="at least 1"):
        cart_add_item(cart=cart, variant_id=variant.pk, quantity=quantity)
    assert not cart


def test_add_unknown_or_inactive_variant(cart):
    with pytest.raises(CartError, match="no longer available"):
        cart_add_item(cart=cart, variant_id=999999, quantity=1)
    inactive = VariantFactory(product__active=False)
    with pytest.raises(CartError, match="no longer available"):
        cart_add_item(cart=cart, variant_id=inactive.pk, quantity=1)


def test_update_replaces_the_quantity_within_stock(cart):
    variant = VariantFactory(stock=3)
    cart_add_item(cart=cart, variant_id=variant.pk, quantity=1)
    cart_update_item(cart=cart, variant_id=variant.pk, quantity=3)
    assert cart.quantity_of(variant.pk) == 3
    with pytest.raises(CartError, match="only have 3"):
        cart_update_item(cart=cart, variant_id=variant.pk, quantity=4)
    assert cart.quantity_of(variant.pk) == 3


def test_update_something_not_in_the_cart(cart):
    with pytest.raises(CartError, match="not in your cart"):
        cart_update_item(cart=cart, variant_id=VariantFactory().pk, quantity=1)


def test_remove(cart):
    variant = VariantFactory()
    cart_add_item(cart=cart, variant_id=variant.pk, quantity=1)
    cart_remove_item(cart=cart, variant_id=variant.pk)
    cart_remove_item(cart=cart, variant_id=variant.pk)  # twice is harmless
    assert not cart
