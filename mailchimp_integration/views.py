"""The one storefront-facing view of the integration: Mailchimp's webhook URL."""
from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shop.http import client_ip, over_rate_limit

from . import webhooks

logger = logging.getLogger(__name__)


@csrf_exempt  # Mailchimp's POST carries no CSRF token; the secret in the URL authenticates it
@require_http_methods(["GET", "POST"])
def webhook(request, endpoint_id: int, secret: str):
    """Mailchimp's GET check (200), or one event stored at once (200); a wrong secret: 404,
    nothing stored, logged, and past MAILCHIMP_WEBHOOK_REFUSALS_LIMIT an hour 429."""
    endpoint = webhooks.endpoint_for(endpoint_id=endpoint_id, secret=secret)
    if endpoint is None:
        ip = client_ip(request)
        logger.warning("webhook refused: wrong secret for endpoint %s from %s", endpoint_id, ip)
        limit = int(getattr(settings, "MAILCHIMP_WEBHOOK_REFUSALS_LIMIT", 20))
        if over_rate_limit(f"mailchimp:webhook-refused:{ip or 'unknown'}", limit=limit,
                           window=3600):
            return HttpResponse("Too many requests", status=429, content_type="text/plain")
        return HttpResponseNotFound("Not found", content_type="text/plain")
    if request.method == "GET":
        return HttpResponse("OK", content_type="text/plain")
    if webhooks.event_receive(endpoint=endpoint, post=request.POST) is None:
        return HttpResponseBadRequest("Not a Mailchimp event", content_type="text/plain")
    return HttpResponse("OK", content_type="text/plain")
