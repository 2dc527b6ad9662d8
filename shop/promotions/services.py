"""Checking a promo code, working out its discount, and counting its use at order placement."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F
from django.utils import timezone

from .models import PromoCode
from .selectors import promo_code_get, promo_codes_redeemable

CENT = Decimal("0.01")

REFUSALS = {
    PromoCode.State.SCHEDULED: "The promo code {code} is not valid yet.",
    PromoCode.State.EXPIRED: "Sorry, the promo code {code} has expired.",
    PromoCode.State.USED_UP: "Sorry, the promo code {code} has been used up.",
    PromoCode.State.DISABLED: "Sorry, the promo code {code} is no longer available.",
}
UNKNOWN = "We don't know the promo code {code}. Please check it and try again."


class PromoCodeError(Exception):
    """The code cannot be used; the message is for the customer."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


def promo_code_check(*, code: str, now=None) -> PromoCode:
    """The usable promo code for what the customer typed, or PromoCodeError saying why not."""
    promo = promo_code_get(code=code)
    shown = (code or "").strip().upper()
    if promo is None:
        raise PromoCodeError(UNKNOWN.format(code=shown), reason="unknown")
    state = promo.state(now=now)
    if state != PromoCode.State.ACTIVE:
        raise PromoCodeError(REFUSALS[state].format(code=promo.code), reason=state)
    return promo


def promo_code_discount(*, promo: PromoCode, subtotal: Decimal) -> Decimal:
    """The amount off `subtotal`, rounded half up to the cent, never more than the subtotal."""
    subtotal = Decimal(subtotal)
    if promo.kind == PromoCode.Kind.PERCENTAGE:
        discount = (subtotal * promo.value / Decimal("100")).quantize(CENT, ROUND_HALF_UP)
    else:
        discount = Decimal(promo.value).quantize(CENT, ROUND_HALF_UP)
    return max(Decimal("0.00"), min(discount, subtotal))


def promo_code_redeem(*, promo: PromoCode, now=None) -> None:
    """Count one use, atomically: a conditional UPDATE, so a limit of 1 serves one order.

    Two orders at once: the second UPDATE waits for the first's row lock, then re-reads the
    row and matches nothing. Raises PromoCodeError when the code can no longer be used.
    """
    now = now or timezone.now()
    counted = (
        promo_codes_redeemable(now=now)
        .filter(pk=promo.pk)
        .update(times_used=F("times_used") + 1, updated=now)
    )
    if not counted:
        promo.refresh_from_db()
        state = promo.state(now=now)
        if state == PromoCode.State.ACTIVE:  # the limit was reached by another order
            state = PromoCode.State.USED_UP
        raise PromoCodeError(REFUSALS[state].format(code=promo.code), reason=state)
