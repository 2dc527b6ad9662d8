"""The cart stored in the database, so a worker can send it (abandoned carts) and a link can
restore it. The session cart (cart.py) is what the visitor sees; every change to it is
written here, and the Cart row saved, so one post_save on Cart means "this cart changed"."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def cart_token_new() -> str:
    return secrets.token_urlsafe(24)


class Cart(models.Model):
    token = models.CharField(max_length=64, unique=True, default=cart_token_new, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="carts",
    )
    email = models.EmailField(max_length=254, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)
    # Set when the cart became an order; a fresh cart is started then.
    ordered_at = models.DateTimeField(null=True, blank=True)
    order = models.OneToOneField(
        "checkout.Order", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="cart",
    )
    # Set when its last line was taken out (cleared again when something is added).
    emptied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated", "-pk"]

    def __str__(self) -> str:
        return f"Cart {self.pk}"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalogue.Variant", on_delete=models.CASCADE, related_name="cart_lines"
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cart_cartline_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="cart_cartline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.variant}"
