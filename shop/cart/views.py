"""The cart pages: view it, add to it, change a quantity, take something out."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop.catalogue import selectors as catalogue_selectors
from shop.catalogue.models import Product

from . import services
from .cart import Cart
from .forms import AddToCartForm, QuantityForm, first_error
from .selectors import cart_summary


def cart_detail(request):
    cart = Cart(request.session)
    summary = cart_summary(cart=cart)
    return render(request, "cart/cart_detail.html", {"cart": summary})


@require_POST
def cart_add(request, product_id: int):
    product = get_object_or_404(Product, pk=product_id, active=True)
    variants = catalogue_selectors.product_variants(product=product)
    form = AddToCartForm(request.POST, variants=variants)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect(product)
    try:
        variant = services.cart_add_item(
            cart=Cart(request.session),
            variant_id=form.cleaned_data["variant"],
            quantity=form.cleaned_data["quantity"],
        )
    except services.CartError as error:
        messages.error(request, str(error))
        return redirect(product)
    quantity = form.cleaned_data["quantity"]
    messages.success(
        request, f"Added {quantity} × {variant.product.name} ({variant.name}) to your cart."
    )
    return redirect("cart:detail")


@require_POST
def cart_update(request, variant_id: int):
    form = QuantityForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("cart:detail")
    try:
        variant = services.cart_update_item(
            cart=Cart(request.session),
            variant_id=variant_id,
            quantity=form.cleaned_data["quantity"],
        )
    except services.CartError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Updated {variant.product.name} ({variant.name}).")
    return redirect("cart:detail")


@require_POST
def cart_remove(request, variant_id: int):
    services.cart_remove_item(cart=Cart(request.session), variant_id=variant_id)
    messages.success(request, "Removed the item from your cart.")
    return redirect("cart:detail")
