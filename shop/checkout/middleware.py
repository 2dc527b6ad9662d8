"""Campaign attribution: which Mailchimp campaign a visit came from, kept until the order.

Mailchimp adds mc_cid (the campaign), mc_eid (the member) and mc_tc (its tracking code) to
every link in its emails. They are kept in the session and, for a visitor who comes back
later, in a signed cookie; with them the first URL the visit landed on. The order records
them (shop.checkout.selectors.attribution_for) and the e-commerce sync sends the campaign and
landing site with the order's first push. No database query: the session is read lazily.
"""
from __future__ import annotations

import json
import re

from django.conf import settings
from django.core import signing

SESSION_KEY = "campaign_attribution"
COOKIE_NAME = "mc_attribution"
COOKIE_SALT = "shop.checkout.attribution"
PARAMS = {"mc_cid": "campaign_id", "mc_eid": "campaign_email_id", "mc_tc": "tracking_code"}
# Mailchimp's ids are short and plain; anything else is not kept.
VALID = re.compile(r"^[A-Za-z0-9_\-.]{1,100}$")
LANDING_MAX = 1000


def _from_query(request) -> dict:
    found = {}
    for param, key in PARAMS.items():
        value = request.GET.get(param, "")
        if VALID.match(value):
            found[key] = value
    return found


def _from_cookie(request) -> dict:
    raw = request.COOKIES.get(COOKIE_NAME)
    if not raw:
        return {}
    max_age = settings.CAMPAIGN_ATTRIBUTION_COOKIE_DAYS * 24 * 3600
    try:
        value = json.loads(signing.loads(raw, salt=COOKIE_SALT, max_age=max_age))
    except (signing.BadSignature, ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


class CampaignAttributionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clicked = _from_query(request) if request.method == "GET" else {}
        stored = None
        if clicked.get("campaign_id"):
            # A newer campaign click replaces the older campaign; the landing URL is this one.
            stored = {**clicked, "landing_url": request.build_absolute_uri()[:LANDING_MAX]}
            request.session[SESSION_KEY] = stored
        elif COOKIE_NAME in request.COOKIES and SESSION_KEY not in request.session:
            restored = _from_cookie(request)
            if restored:
                request.session[SESSION_KEY] = restored
        response = self.get_response(request)
        if stored is not None:
            response.set_cookie(
                COOKIE_NAME, signing.dumps(json.dumps(stored), salt=COOKIE_SALT),
                max_age=settings.CAMPAIGN_ATTRIBUTION_COOKIE_DAYS * 24 * 3600,
                httponly=True, samesite="Lax", secure=request.is_secure())
        return response


def attribution_for(request) -> dict:
    """The campaign fields for an order placed in this request (empty strings when none)."""
    kept = request.session.get(SESSION_KEY) or {}
    return {
        "campaign_id": str(kept.get("campaign_id", ""))[:100],
        "campaign_email_id": str(kept.get("campaign_email_id", ""))[:100],
        "campaign_tracking_code": str(kept.get("tracking_code", ""))[:100],
        "landing_url": str(kept.get("landing_url", ""))[:LANDING_MAX],
    }
