"""Changes to the session cart, each checked against what is on sale and in stock."""
from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from shop.catalogue.models import Variant
from shop.catalogue.selectors import variant_get_on_sale
from shop.promotions.models import PromoCode
from shop.promotions.services import promo_code_check

from . import models
from .cart import Cart

RESTORE_SALT = "shop.cart.restore"


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


def cart_add_item(*, cart: Cart, variant_id: int, quantity: int, user=None) -> Variant:
    """Add `quantity` units of a variant to what the cart already holds."""
    variant = _variant_on_sale(variant_id)
    already_in_cart = cart.quantity_of(variant.pk)
    _check_quantity(variant=variant, quantity=quantity, already_in_cart=already_in_cart)
    cart.set(variant.pk, already_in_cart + quantity)
    cart_store(cart=cart, user=user)
    return variant


def cart_update_item(*, cart: Cart, variant_id: int, quantity: int, user=None) -> Variant:
    """Replace the quantity of a variant already in the cart."""
    if variant_id not in cart:
        raise CartError("That item is not in your cart any more.")
    variant = _variant_on_sale(variant_id)
    _check_quantity(variant=variant, quantity=quantity)
    cart.set(variant.pk, quantity)
    cart_store(cart=cart, user=user)
    return variant


def cart_remove_item(*, cart: Cart, variant_id: int, user=None) -> None:
    if variant_id in cart:
        cart.remove(variant_id)
        cart_store(cart=cart, user=user)


def cart_promo_apply(*, cart: Cart, code: str) -> PromoCode:
    """Keep a usable promo code on the cart; PromoCodeError (for the customer) if it is not."""
    promo = promo_code_check(code=code)
    cart.promo_code = promo.code
    return promo


def cart_promo_remove(*, cart: Cart) -> None:
    cart.promo_code = ""


def _stored_cart(*, cart: Cart) -> models.Cart | None:
    """The stored cart linked to this session cart, unless it became an order."""
    if cart.stored_id is None:
        return None
    return models.Cart.objects.filter(pk=cart.stored_id, ordered_at__isnull=True).first()


@transaction.atomic
def cart_store(*, cart: Cart, user=None, email: str | None = None) -> models.Cart | None:
    """Write the session cart's lines (and the email, when known) to its stored cart.

    The Cart row is saved on every call, so `updated` moves and post_save fires once per
    change. A session with nothing in it and no stored cart yet stores nothing.
    """
    user = user if user is not None and user.is_authenticated else None
    stored = _stored_cart(cart=cart)
    quantities = cart.quantities()
    if stored is None:
        if not quantities:
            return None
        stored = models.Cart(user=user)
    if user is not None:
        stored.user = user
        stored.email = user.email
    elif email is not None:
        stored.email = email.strip().lower()
    stored.emptied_at = None if quantities else (stored.emptied_at or timezone.now())
    if stored.pk is None:
        stored.save()
    # Only variants that still exist: a deleted one is dropped (the session drops it on show).
    existing_ids = set(Variant.objects.filter(pk__in=quantities).values_list("pk", flat=True))
    wanted = {pk: qty for pk, qty in quantities.items() if pk in existing_ids}
    stored.lines.exclude(variant_id__in=wanted).delete()
    current = {line.variant_id: line for line in stored.lines.all()}
    for variant_id, quantity in wanted.items():
        line = current.get(variant_id)
        if line is None:
            models.CartLine.objects.create(cart=stored, variant_id=variant_id, quantity=quantity)
        elif line.quantity != quantity:
            line.quantity = quantity
            line.save(update_fields=["quantity"])
    stored.save()
    cart.stored_id = stored.pk
    return stored


def cart_email_record(*, cart: Cart, email: str, user=None) -> models.Cart | None:
    """The visitor typed their email at checkout: keep it on their stored cart."""
    return cart_store(cart=cart, user=user, email=email)


def cart_mark_ordered(*, cart: Cart, order) -> models.Cart | None:
    """The cart became `order`: record it and unlink it, so the next change starts afresh."""
    stored = _stored_cart(cart=cart)
    cart.stored_id = None
    if stored is None:
        return None
    stored.ordered_at = timezone.now()
    stored.order = order
    if order.user_id and stored.user_id is None:
        stored.user_id = order.user_id
    stored.email = stored.email or order.email
    stored.save()
    return stored


def cart_restore_url(*, cart: models.Cart) -> str:
    """The absolute link that fills a visitor's cart again with this stored cart's lines."""
    signed = signing.dumps(cart.token, salt=RESTORE_SALT, compress=False)
    path = reverse("cart:restore", args=[signed])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


class RestoreLinkError(Exception):
    def __init__(self, message: str, *, expired: bool):
        super().__init__(message)
        self.expired = expired


def cart_restore_token_read(*, signed: str) -> models.Cart:
    """The stored cart a restore link names; RestoreLinkError if expired, tampered or gone."""
    max_age = settings.CART_RESTORE_MAX_AGE_DAYS * 24 * 3600
    try:
        token = signing.loads(signed, salt=RESTORE_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise RestoreLinkError("This link to your cart has expired.", expired=True) from None
    except signing.BadSignature:
        raise RestoreLinkError("This link to a cart is not valid.", expired=False) from None
    stored = models.Cart.objects.filter(token=token).first() if isinstance(token, str) else None
    if stored is None:
        raise RestoreLinkError("This cart no longer exists.", expired=False)
    return stored


def cart_restore(*, cart: Cart, stored: models.Cart, user=None) -> list[str]:
    """Fill the session cart with the stored lines still on sale, within stock.

    Returns a sentence for each line dropped or cut down, for the visitor.
    """
    notes = []
    quantities = {}
    for line in stored.lines.select_related("variant__product"):
        variant = line.variant
        label = f"{variant.product.name} ({variant.name})"
        if not variant.product.active:
            notes.append(f"{label} is no longer on sale.")
        elif variant.stock <= 0:
            notes.append(f"{label} is out of stock.")
        elif variant.stock < line.quantity:
            notes.append(f"Only {variant.stock} of {label} left: your cart has {variant.stock}.")
            quantities[variant.pk] = variant.stock
        else:
            quantities[variant.pk] = line.quantity
    cart.replace(quantities)
    if stored.ordered_at is None:
        cart.stored_id = stored.pk
    cart_store(cart=cart, user=user)
    return notes
