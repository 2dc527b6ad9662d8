"""`{{ price|money }}`: an amount as customers read it, with the store's currency symbol."""
from decimal import Decimal

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def money(value) -> str:
    if value is None or value == "":
        return ""
    # STORE_CURRENCY_SYMBOL is optional; the store sells in dollars unless told otherwise.
    symbol = getattr(settings, "STORE_CURRENCY_SYMBOL", "$")
    return f"{symbol}{Decimal(value):,.2f}"
