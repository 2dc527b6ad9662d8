"""Promo codes: a percentage or a fixed amount off the order total, within dates and a limit."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class PromoCode(models.Model):
    class Kind(models.TextChoices):
        PERCENTAGE = "percentage", "Percentage off the order"
        FIXED = "fixed", "Fixed amount off the order"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SCHEDULED = "scheduled", "Scheduled"
        EXPIRED = "expired", "Expired"
        USED_UP = "used_up", "Used up"
        DISABLED = "disabled", "Disabled"

    # Stored upper-cased: customers type codes in any case.
    code = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PERCENTAGE)
    value = models.DecimalField(
        max_digits=10, decimal_places=2,
        help_text="A percentage (more than 0, at most 100) or an amount off the order total.",
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: from now.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no end.")
    usage_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many orders may use it; empty: no limit."
    )
    times_used = models.PositiveIntegerField(default=0, editable=False)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gt=0), name="promotions_promocode_value_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="percentage") | models.Q(value__lte=100),
                name="promotions_promocode_percentage_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        self.code = self.code.strip().upper()
        super().save(*args, **kwargs)

    def clean(self):
        self.code = (self.code or "").strip().upper()
        if self.value is not None:
            if self.value <= 0:
                raise ValidationError({"value": "Enter a value greater than 0."})
            if self.kind == self.Kind.PERCENTAGE and self.value > Decimal("100"):
                raise ValidationError({"value": "A percentage cannot be more than 100."})
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The end must come after the start."})

    def state(self, *, now=None) -> str:
        now = now or timezone.now()
        if not self.enabled:
            return self.State.DISABLED
        if self.ends_at is not None and self.ends_at <= now:
            return self.State.EXPIRED
        if self.starts_at is not None and self.starts_at > now:
            return self.State.SCHEDULED
        if self.usage_limit is not None and self.times_used >= self.usage_limit:
            return self.State.USED_UP
        return self.State.ACTIVE
