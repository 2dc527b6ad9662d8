"""The checkout page, and the confirmation a customer sees after placing an order."""
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render

from shop.cart import services as cart_services
from shop.cart.cart import Cart
from shop.cart.selectors import cart_summary
from subscriptions.models import Source
from subscriptions.views import news_opt_in_save, news_outcome_announce

from . import selectors, services
from .forms import CheckoutForm
from .middleware import attribution_for

# Orders placed in this session, so a guest can see their own confirmation page.
PLACED_ORDERS_SESSION_KEY = "checkout_placed_orders"
PLACED_ORDERS_KEPT = 10


def checkout(request, form_class=CheckoutForm):
    cart = Cart(request.session)
    if not cart:
        messages.info(request, "Your cart is empty. Add something before checking out.")
        return redirect("cart:detail")
    summary = cart_summary(cart=cart)

    if request.method == "POST":
        form = form_class(request.POST, user=request.user)
        if form.is_valid():
            stored_id = cart.stored_id
            try:
                # One transaction for the order and anything that must stand or fall with
                # it (a newsletter opt-in ticked on this form, say): add those calls here.
                with transaction.atomic():
                    order = services.order_place(
                        cart=cart, user=request.user, attribution=attribution_for(request),
                        **form.order_details(),
                    )
                    cart_services.cart_mark_ordered(cart=cart, order=order)
                    news = news_opt_in_save(
                        request, form, email=order.email, source=Source.CHECKOUT,
                        user=request.user if request.user.is_authenticated else None,
                        first_name=order.first_name, last_name=order.last_name,
                    )
                    if news.asked:
                        services.order_news_choice_record(
                            order=order, lists=news.lists,
                            confirmation_needed=news.confirmation_needed,
                        )
            except services.OrderError as error:
                cart.stored_id = stored_id  # rolled back: the stored cart is still this one
                messages.error(request, str(error))
                return redirect("cart:detail")
            cart.clear()
            news_outcome_announce(request, news)
            placed = request.session.get(PLACED_ORDERS_SESSION_KEY, [])
            request.session[PLACED_ORDERS_SESSION_KEY] = (placed + [order.number])[
                -PLACED_ORDERS_KEPT:
            ]
            return redirect("checkout:confirmation", number=order.number)
        if "email" in form.cleaned_data:
            # The rest needs another look, but the email is known: the cart is kept with it
            # (a browser without the page's script reaches the same point here).
            cart_services.cart_email_record(
                cart=cart, email=form.cleaned_data["email"], user=request.user
            )
    else:
        form = form_class(initial=initial_details(request.user), user=request.user)

    return render(request, "checkout/checkout.html", {"form": form, "cart": summary})


def initial_details(user) -> dict:
    if not user.is_authenticated:
        return {}
    return {"email": user.email, "first_name": user.first_name, "last_name": user.last_name}


def confirmation(request, number: str):
    order = selectors.order_get_visible(
        number=number,
        user=request.user,
        placed_numbers=request.session.get(PLACED_ORDERS_SESSION_KEY, []),
    )
    if order is None:
        raise Http404("No such order.")
    return render(
        request, "checkout/confirmation.html",
        {"order": order, "news_sentence": selectors.order_news_sentence(order=order)},
    )
