"""Views: the footer signup and the customer's own lists on the account page."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from shop.http import client_ip, over_rate_limit

from . import selectors, services
from .forms import CustomerListsForm, FooterSignupForm, news_asked, news_choice_from
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
    return over_rate_limit(
        f"subscriptions:footer:{ip or 'unknown'}",
        limit=int(getattr(settings, "SUBSCRIPTIONS_FOOTER_RATE_LIMIT", 10)),
        window=int(getattr(settings, "SUBSCRIPTIONS_FOOTER_RATE_WINDOW", 3600)),
    )


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
            consent_text=form.wording,
            permissions=form.permissions(),
            user=request.user if request.user.is_authenticated
            and request.user.email.lower() == form.cleaned_data["email"].lower() else None,
        )
    except ValidationError as error:
        form.add_error("email", error)
        return render(request, "subscriptions/footer_result.html", {"form": form}, status=400)
    if not result.subscriptions:
        messages.info(request, "Our news list is not open for signups right now.")
    elif selectors.confirmation_needed(subscriptions=result.subscriptions):
        messages.success(request, f"Thank you for signing up. {CONFIRM_BY_EMAIL}")
    else:
        messages.success(request, "Thank you for signing up. Watch your inbox for our news.")
    return redirect(_back(request))


@login_required
@require_http_methods(["GET", "POST"])
def account_lists(request):
    subscriptions = list(selectors.subscriptions_for_user(user=request.user))
    # Not `request.POST or None`: unticking every box posts nothing, and must still unsubscribe.
    bound = request.POST if request.method == "POST" else None
    form = CustomerListsForm(bound, subscriptions=subscriptions)  # the customer's view
    if request.method == "POST" and form.is_valid():
        changed = services.subscription_set_for_customer(
            user=request.user,
            choices=form.choices(),
            lists=form.shown_ids(),
            source=Source.ACCOUNT,
            ip=client_ip(request),
            consent_text=selectors.CHECKBOX_TEXT,
            permissions=form.permissions(),
        )
        text = "Your news lists are updated." if changed else "Nothing was changed."
        joined = [s for s in selectors.subscriptions_for_user(user=request.user)
                  if s.state == s.State.WAITING]
        if changed and selectors.confirmation_needed(subscriptions=joined):
            text = f"{text} {CONFIRM_BY_EMAIL}"
        messages.success(request, text)
        return redirect("subscriptions:account")
    return render(
        request,
        "subscriptions/account_lists.html",
        {"form": form, "subscriptions": subscriptions},
    )


CONFIRM_BY_EMAIL = (
    "Please check your inbox: we have sent you an email, and you are signed up once you"
    " click the link in it to confirm."
)


@dataclass
class NewsOutcome:
    """What came of the opt-in fields of a registration or checkout, to tell the customer."""

    asked: bool = False
    lists: list[str] = field(default_factory=list)
    confirmation_needed: bool = False

    @property
    def message(self) -> str:
        if not self.asked:
            return ""
        if not self.lists:
            return (
                "We could not sign you up for our news: the list is not open for signups "
                "right now. Nothing else was affected."
            )
        names = ", ".join(self.lists)
        if self.confirmation_needed:
            return f"Thank you for signing up for {names}. {CONFIRM_BY_EMAIL}"
        return f"You are signed up for {names}. You can change this at any time in your account."


def news_opt_in_save(request, form, *, email: str, source: str, user=None,
                     first_name: str = "", last_name: str = "") -> NewsOutcome:
    """Registration and checkout: save what the form's opt-in fields said, in the caller's
    transaction (a no-op when nothing was ticked). Announce the outcome, once committed,
    with `news_outcome_announce`."""
    result = services.subscription_signup(
        email=email, choice=news_choice_from(form), source=source,
        ip=client_ip(request), user=user, first_name=first_name, last_name=last_name,
    )
    outcome = NewsOutcome(asked=news_asked(request.POST))
    if result is not None:
        on = [s for s in result.subscriptions if selectors.subscription_can_be_left(s)]
        outcome.asked = True
        outcome.lists = [s.audience.name for s in on]
        outcome.confirmation_needed = selectors.confirmation_needed(subscriptions=on)
    return outcome


def news_outcome_announce(request, outcome: NewsOutcome) -> None:
    if not outcome.asked:
        return
    if outcome.lists:
        messages.success(request, outcome.message)
    else:
        messages.warning(request, outcome.message)
