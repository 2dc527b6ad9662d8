"""`{% cart_item_count as count %}`: the number shown next to "Cart" in the header."""
from django import template

from shop.cart.cart import Cart

register = template.Library()


@register.simple_tag(takes_context=True)
def cart_item_count(context) -> int:
    request = context.get("request")
    if request is None or not hasattr(request, "session"):
        return 0
    return len(Cart(request.session))
