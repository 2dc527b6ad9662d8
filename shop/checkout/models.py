"""Placed orders and their lines, with what was bought copied at the time of purchase."""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django_countries.fields import CountryField


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    number = models.CharField(max_length=20, unique=True, editable=False)
    # Null for guests; kept when an account is deleted so the sale stays on the books.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    address_line1 = models.CharField("address line 1", max_length=255)
    address_line2 = models.CharField("address line 2", max_length=255, blank=True)
    city = models.CharField(max_length=120)
    postcode = models.CharField(max_length=20)
    country = CountryField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED)
    # What the lines cost, what a promo code took off it, and what the customer pays.
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    total = models.DecimalField(max_digits=12, decimal_places=2)
    # The promo code used, copied (the code may be edited or deleted later).
    promo_code = models.ForeignKey(
        "promotions.PromoCode", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="orders",
    )
    promo_code_text = models.CharField("promo code", max_length=50, blank=True, default="")
    promo_kind = models.CharField(max_length=20, blank=True, default="")
    # Money given back so far: a partial refund leaves the order standing at total - refunded.
    refunded_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # The Mailchimp campaign the visit came from (mc_cid, mc_eid, mc_tc) and where it landed.
    campaign_id = models.CharField("Mailchimp campaign", max_length=100, blank=True, default="")
    campaign_email_id = models.CharField(max_length=100, blank=True, default="")
    campaign_tracking_code = models.CharField(max_length=100, blank=True, default="")
    landing_url = models.CharField(max_length=1000, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)
    # Set by the worker once the confirmation email went out; empty means still to send.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # When a worker took the confirmation to send it: one sender at a time. A claim older
    # than the task's time limit belongs to a worker that died, and may be taken again.
    confirmation_claimed_at = models.DateTimeField(null=True, blank=True)
    # The newsletter choice made at checkout, as the confirmation page and email repeat it.
    news_lists = models.CharField(
        "newsletter lists", max_length=500, blank=True, default="",
        help_text="The news lists the customer signed up for at checkout.",
    )
    news_confirmation_needed = models.BooleanField(
        "newsletter confirmation needed", default=False,
        help_text="Double opt-in: the customer still has to confirm by email.",
    )
    news_asked = models.BooleanField(
        "newsletter asked for", default=False,
        help_text="The customer ticked a newsletter box at checkout.",
    )

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"Order {self.number}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def amount_due(self) -> Decimal:
        """What the order is worth now: its total less what was refunded."""
        return self.total - self.refunded_total


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    # PROTECT: a variant that was sold can be deactivated but not deleted.
    variant = models.ForeignKey(
        "catalogue.Variant", on_delete=models.PROTECT, related_name="order_lines"
    )
    product_name = models.CharField(max_length=200)
    variant_name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="checkout_orderline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_name} ({self.variant_name})"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
