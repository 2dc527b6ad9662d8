"""Reads of promo codes."""
from __future__ import annotations

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .models import PromoCode


def promo_code_normalise(*, code: str) -> str:
    return (code or "").strip().upper()


def promo_code_get(*, code: str) -> PromoCode | None:
    code = promo_code_normalise(code=code)
    if not code:
        return None
    return PromoCode.objects.filter(code=code).first()


def promo_codes_redeemable(*, now=None) -> QuerySet[PromoCode]:
    """Codes that can be used right now: the same test the redemption UPDATE makes."""
    now = now or timezone.now()
    return PromoCode.objects.filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now),
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
        Q(usage_limit__isnull=True) | Q(times_used__lt=F("usage_limit")),
        enabled=True,
    )
