"""The one storefront-facing view of the integration: Mailchimp's webhook URL."""
from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shop.db import retried_on_a_dead_connection
from shop.http import client_ip, over_rate_limit

from . import webhooks

logger = logging.getLogger(__name__)


@csrf_exempt  # Mailchimp's POST carries no CSRF token; the secret in the URL authenticates it
@require_http_methods(["GET", "POST"])
@retried_on_a_dead_connection  # its one INSERT is safe to repeat; no SELECT 1 before it
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
    event = webhooks.event_receive(endpoint=endpoint, post=request.POST)
    if event is None:
        return HttpResponseBadRequest("Not a Mailchimp event", content_type="text/plain")
    return AnsweredThen("OK", content_type="text/plain",
                        then=lambda: webhooks.event_announce(event))


class AnsweredThen(HttpResponse):
    """A response that does `then` once the server has sent it. The WSGI server calls
    close() after writing the body, so Mailchimp's POST is answered without waiting on the
    broker round trip that queues the worker. If the process dies in between, the event is
    stored and the beat's sweep (every minute) applies it."""

    def __init__(self, *args, then, **kwargs):
        super().__init__(*args, **kwargs)
        self._then = then

    def close(self):
        try:
            self._then()
        except Exception:  # the event is stored: the sweep applies it
            logger.exception("could not announce a stored webhook event")
        finally:
            super().close()
