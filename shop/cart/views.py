"""The cart pages: view it, add to it, change a quantity, take something out, promo codes,
the email typed at checkout, and the link that restores a saved cart."""
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.views.decorators.http import require_POST

from shop.catalogue import selectors as catalogue_selectors
from shop.catalogue.models import Product
from shop.promotions.services import PromoCodeError

from . import services
from .cart import Cart
from .forms import AddToCartForm, CartEmailForm, PromoCodeForm, QuantityForm, first_error
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
            user=request.user,
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
            user=request.user,
        )
    except services.CartError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Updated {variant.product.name} ({variant.name}).")
    return redirect("cart:detail")


@require_POST
def cart_remove(request, variant_id: int):
    services.cart_remove_item(
        cart=Cart(request.session), variant_id=variant_id, user=request.user
    )
    messages.success(request, "Removed the item from your cart.")
    return redirect("cart:detail")


@require_POST
def promo_apply(request):
    form = PromoCodeForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("cart:detail")
    return _promo_applied(request, form.cleaned_data["code"], "The promo code {code} is applied.")


def promo_redeem(request, code: str):
    """The link a promo code carries in Mailchimp's emails: the code applied, then the cart.

    A GET changes only this visitor's session, so following the link twice does no harm.
    """
    return _promo_applied(request, code, "The promo code {code} is applied to your cart.")


def _promo_applied(request, code: str, success: str):
    """Keep the code on the visitor's cart and say so, or say why it cannot be used."""
    try:
        promo = services.cart_promo_apply(cart=Cart(request.session), code=code)
    except PromoCodeError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success.format(code=promo.code))
    return redirect("cart:detail")


@require_POST
def promo_remove(request):
    services.cart_promo_remove(cart=Cart(request.session))
    messages.success(request, "The promo code is removed.")
    return redirect("cart:detail")


@require_POST
def cart_email(request):
    """The checkout page's script sends the email as soon as it is typed (CSRF-checked)."""
    form = CartEmailForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"saved": False, "error": first_error(form)}, status=400)
    stored = services.cart_email_record(
        cart=Cart(request.session), email=form.cleaned_data["email"], user=request.user
    )
    return JsonResponse({"saved": stored is not None})


def cart_restore(request, signed: str):
    """The link of an abandoned-cart email: the saved cart back in this session."""
    try:
        stored = services.cart_restore_token_read(signed=signed)
    except services.RestoreLinkError as error:
        messages.error(request, str(error))
        return redirect("cart:detail")
    if stored.ordered_at is not None:
        number = stored.order.number if stored.order_id else "already"
        messages.info(request, f"This cart became order {number}.")
        return redirect("cart:detail")
    if stored.user_id is not None and stored.user_id != request.user.pk:
        if request.user.is_authenticated:
            messages.error(
                request, "This saved cart belongs to another account, so it cannot be opened here."
            )
            return redirect("cart:detail")
        messages.info(request, "Sign in to see your saved cart.")
        login_url = resolve_url(settings.LOGIN_URL)
        return redirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")
    for note in services.cart_restore(cart=Cart(request.session), stored=stored, user=request.user):
        messages.info(request, note)
    return redirect("checkout:checkout")
