"""Changes to the session cart, each checked against what is on sale and in stock."""
from __future__ import annotations

from shop.catalogue.models import Variant
from shop.catalogue.selectors import variant_get_on_sale

from .cart import Cart


class CartError(Exception):
    """A change the customer asked for that cannot be made; the message is for them."""


def _variant_on_sale(variant_id: int) -> Variant:
    variant = variant_get_on_sale(variant_id=variant_id)
    if variant is None:
        raise CartError("Sorry, that item is no longer available.")
    return variant


def _check_quantity(*, variant: Variant, quantity: int, already_in_cart: int = 0) -> None:
    if quantity < 1:
        raise CartError("Please choose a quantity of at least 1.")
    if already_in_cart + quantity > variant.stock:
        label = f"{variant.product.name} ({variant.name})"
        if variant.stock == 0:
            raise CartError(f"Sorry, {label} is out of stock.")
        message = f"Sorry, we only have {variant.stock} of {label} in stock"
        if already_in_cart:
            message += f", and {already_in_cart} already in your cart"
        raise CartError(message + ".")


def cart_add_item(*, cart: Cart, variant_id: int, quantity: int) -> Variant:
    """Add `quantity` units of a variant to what the cart already holds."""
    variant = _variant_on_sale(variant_id)
    already_in_cart = cart.quantity_of(variant.pk)
    _check_quantity(variant=variant, quantity=quantity, already_in_cart=already_in_cart)
    cart.set(variant.pk, already_in_cart + quantity)
    return variant


def cart_update_item(*, cart: Cart, variant_id: int, quantity: int) -> Variant:
    """Replace the quantity of a variant already in the cart."""
    if variant_id not in cart:
        raise CartError("That item is not in your cart any more.")
    variant = _variant_on_sale(variant_id)
    _check_quantity(variant=variant, quantity=quantity)
    cart.set(variant.pk, quantity)
    return variant


def cart_remove_item(*, cart: Cart, variant_id: int) -> None:
    cart.remove(variant_id)
