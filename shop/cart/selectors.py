"""What the cart holds, priced from the database."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shop.catalogue.models import Variant
from shop.promotions.models import PromoCode
from shop.promotions.services import PromoCodeError, promo_code_check, promo_code_discount

from .cart import Cart


@dataclass(frozen=True)
class CartLine:
    variant: Variant
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.variant.price * self.quantity

    @property
    def enough_stock(self) -> bool:
        return self.quantity <= self.variant.stock


@dataclass(frozen=True)
class CartSummary:
    lines: list[CartLine]
    # Variants in the session that are gone or no longer on sale.
    unavailable_ids: list[int]
    # The applied promo code if it can still be used, else why not (checked again at checkout).
    promo: PromoCode | None = None
    promo_error: str = ""

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def discount(self) -> Decimal:
        if self.promo is None:
            return Decimal("0.00")
        return promo_code_discount(promo=self.promo, subtotal=self.subtotal)

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def cart_summary(*, cart: Cart) -> CartSummary:
    quantities = cart.quantities()
    variants = (
        Variant.objects.select_related("product")
        .filter(pk__in=quantities, product__active=True)
        .order_by("product__name", "name")
    )
    lines = [CartLine(variant=variant, quantity=quantities[variant.pk]) for variant in variants]
    found = {line.variant.pk for line in lines}
    promo, promo_error = None, ""
    if cart.promo_code:
        try:
            promo = promo_code_check(code=cart.promo_code)
        except PromoCodeError as error:
            promo_error = str(error)
    return CartSummary(
        lines=lines, unavailable_ids=[pk for pk in quantities if pk not in found],
        promo=promo, promo_error=promo_error,
    )
