"""`{% news_footer_box %}`: the footer's "Sign up for <store> news" form, on every page;
`{% news_account_summary %}`: the lists a customer is on, on their account page."""
from django import template
from django.urls import reverse

from .. import selectors
from ..forms import FooterSignupForm
from ..models import Subscription

register = template.Library()


def _signed_in(request) -> bool:
    return request is not None and request.user.is_authenticated


@register.inclusion_tag("subscriptions/footer_box_inner.html", takes_context=True)
def news_footer_box(context):
    request = context.get("request")
    audience_ids = selectors.default_audience_ids(source="footer")
    return {
        # No box while no audience is offered by default: a signup would have nowhere to go.
        "open": bool(audience_ids),
        "form": FooterSignupForm(audience_ids=audience_ids),
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path() if request is not None else "/",
        # A signed-in customer is told where their lists are kept.
        "manage_url": reverse("subscriptions:account") if _signed_in(request) else "",
    }


@register.inclusion_tag("subscriptions/account_summary.html", takes_context=True)
def news_account_summary(context):
    request = context.get("request")
    if not _signed_in(request):
        return {"shown": False}
    subscriptions = selectors.customer_subscriptions_shown(user=request.user)
    return {
        "shown": True,
        "rows": [
            (s.audience.name,
             selectors.PENDING_NOTE if s.state == Subscription.State.PENDING else "")
            for s in subscriptions
        ],
        "manage_url": reverse("subscriptions:account"),
    }
