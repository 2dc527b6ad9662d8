"""Views: the footer signup and the customer's own lists on the account page."""
from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from shop.http import client_ip

from . import selectors, services
from .forms import CustomerListsForm, FooterSignupForm
from .models import Source

logger = logging.getLogger(__name__)


def _back(request, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or fallback
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _over_rate_limit(ip: str | None) -> bool:
    """At most SUBSCRIPTIONS_FOOTER_RATE_LIMIT signups per IP per window (Django's cache)."""
    limit = int(getattr(settings, "SUBSCRIPTIONS_FOOTER_RATE_LIMIT", 10))
    window = int(getattr(settings, "SUBSCRIPTIONS_FOOTER_RATE_WINDOW", 3600))
    key = f"subscriptions:footer:{ip or 'unknown'}"
    try:
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
    except Exception:  # noqa: BLE001 - a cache that is down must not lose a customer's signup
        logger.warning("Footer rate limit unavailable; letting the signup through", exc_info=True)
        return False
    return count > limit


@require_POST
def footer_signup(request):
    form = FooterSignupForm(request.POST)
    if form.is_bot():
        # Answer as if it worked, so the bot learns nothing; save nothing.
        messages.success(request, "Thank you for signing up.")
        return redirect(_back(request))
    ip = client_ip(request)
    if _over_rate_limit(ip):
        form.add_error(None, "Too many signups from your address. Please try again later.")
        return render(request, "subscriptions/footer_result.html", {"form": form}, status=429)
    if not form.is_valid():
        return render(request, "subscriptions/footer_result.html", {"form": form}, status=400)
    try:
        result = services.subscription_subscribe(
            email=form.cleaned_data["email"],
            use_defaults=True,
            source=Source.FOOTER,
            ip=ip,
            consent_text=selectors.footer_consent_text(),
            user=request.user if request.user.is_authenticated
            and request.user.email.lower() == form.cleaned_data["email"].lower() else None,
        )
    except ValidationError as error:
        form.add_error("email", error)
        return render(request, "subscriptions/footer_result.html", {"form": form}, status=400)
    if result.subscriptions:
        messages.success(request, "Thank you for signing up. Watch your inbox for our news.")
    else:
        messages.info(request, "Our news list is not open for signups right now.")
    return redirect(_back(request))


@login_required
@require_http_methods(["GET", "POST"])
def account_lists(request):
    subscriptions = list(selectors.subscriptions_for_user(user=request.user))
    # Not `request.POST or None`: unticking every box posts nothing, and must still unsubscribe.
    bound = request.POST if request.method == "POST" else None
    form = CustomerListsForm(bound, subscriptions=subscriptions)
    if request.method == "POST" and form.is_valid():
        changed = services.subscription_set_for_customer(
            user=request.user,
            choices=form.choices(),
            source=Source.ACCOUNT,
            ip=client_ip(request),
            consent_text=selectors.CHECKBOX_TEXT,
        )
        messages.success(
            request, "Your news lists are updated." if changed else "Nothing was changed."
        )
        return redirect("subscriptions:account")
    return render(
        request,
        "subscriptions/account_lists.html",
        {"form": form, "subscriptions": subscriptions},
    )


def news_opt_in_save(request, form, *, email: str, source: str, user=None,
                     first_name: str = "", last_name: str = ""):
    """Registration and checkout: save what the form's opt-in fields said, in the caller's
    transaction (a no-op when nothing was ticked)."""
    from .forms import news_choice_from

    return services.subscription_signup(
        email=email, choice=news_choice_from(form.cleaned_data), source=source,
        ip=client_ip(request), user=user, first_name=first_name, last_name=last_name,
    )
