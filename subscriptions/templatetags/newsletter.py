"""`{% news_footer_box %}`: the footer's "Sign up for <store> news" form, on every page."""
from django import template

from .. import selectors
from ..forms import FooterSignupForm

register = template.Library()


@register.inclusion_tag("subscriptions/footer_box_inner.html", takes_context=True)
def news_footer_box(context):
    request = context.get("request")
    return {
        # No box while no audience is offered by default: a signup would have nowhere to go.
        "open": bool(selectors.default_audience_ids()),
        "form": FooterSignupForm(),
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path() if request is not None else "/",
    }
