"""Mailchimp's webhooks: one URL per audience carrying a random secret (only its hash is
kept), Mailchimp's GET check, each POSTed event stored as it came, and the registration of
that URL with Mailchimp (sources user and admin only: our own API writes never come back).

Applying the events to the subscriptions is `subscriptions.inbound`'s.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from . import signals
from .client import MailchimpClient, Webhook
from .exceptions import MailchimpError
from .models import Audience, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

# Mailchimp's form fields: type, fired_at, and data[...] nested PHP-style (data[merges][FNAME]).
_KEY = re.compile(r"\[([^\]]*)\]")
EVENT_TYPES = frozenset({"subscribe", "unsubscribe", "profile", "upemail", "cleaned",
                         "campaign"})


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# A replaced secret is still accepted this long: Mailchimp retries a failed delivery for
# over an hour, to the URL the webhook had when the event fired.
PREVIOUS_SECRET_VALID = timedelta(hours=24)


@transaction.atomic
def endpoint_secret_new(*, audience: Audience) -> tuple[WebhookEndpoint, str]:
    """A new secret for the audience's endpoint; returns it once. The one it replaces is
    still accepted for PREVIOUS_SECRET_VALID."""
    secret = secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint.objects.select_for_update().filter(audience=audience).first()
    if endpoint is None:
        endpoint = WebhookEndpoint.objects.create(audience=audience, secret_hash=_hash(secret))
        return endpoint, secret
    endpoint.previous_secret_hash = endpoint.secret_hash
    endpoint.previous_valid_until = timezone.now() + PREVIOUS_SECRET_VALID
    endpoint.secret_hash = _hash(secret)
    endpoint.save(update_fields=["secret_hash", "previous_secret_hash", "previous_valid_until"])
    return endpoint, secret


def _secret_new_undo(endpoint: WebhookEndpoint, *, replaced: str, until) -> None:
    """Take back a new secret Mailchimp never got: the one it holds stays the current one."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        secret_hash=endpoint.previous_secret_hash, previous_secret_hash=replaced,
        previous_valid_until=until,
    )
    forget_known(endpoint.pk)


def endpoint_path(endpoint: WebhookEndpoint, secret: str) -> str:
    return reverse("mailchimp_integration:webhook", args=[endpoint.pk, secret])


# Each endpoint as this process last read it: a POST is authenticated against this copy, with
# no query, while it is younger than KNOWN_FOR; a secret the copy does not accept is always
# checked against the database. A secret replaced in another process is thus still accepted
# here for up to KNOWN_FOR (it stays valid for PREVIOUS_SECRET_VALID anyway); a change saved
# in this process forgets the copy at once (forget_known, on WebhookEndpoint's signals).
KNOWN_FOR = 60.0
_known: dict[int, tuple[float, WebhookEndpoint]] = {}


def forget_known(endpoint_id: int | None = None) -> None:
    if endpoint_id is None:
        _known.clear()
    else:
        _known.pop(endpoint_id, None)


def _accepts(endpoint: WebhookEndpoint, given: str) -> bool:
    if hmac.compare_digest(endpoint.secret_hash, given):
        return True
    previous_ok = (endpoint.previous_secret_hash and endpoint.previous_valid_until
                   and endpoint.previous_valid_until > timezone.now())
    return bool(previous_ok and hmac.compare_digest(endpoint.previous_secret_hash, given))


def endpoint_for(*, endpoint_id: int, secret: str) -> WebhookEndpoint | None:
    """The endpoint if `secret` is its secret, or its previous one still accepted (compared
    in constant time), else None."""
    given = _hash(secret)
    known = _known.get(endpoint_id)
    if known and time.monotonic() - known[0] < KNOWN_FOR and _accepts(known[1], given):
        return known[1]
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        forget_known(endpoint_id)
        hmac.compare_digest(_hash(""), given)  # the same work whether or not it exists
        return None
    _known[endpoint_id] = (time.monotonic(), endpoint)
    return endpoint if _accepts(endpoint, given) else None


def form_data(post: QueryDict) -> dict:
    """`data[merges][FNAME]=Ann` → {"merges": {"FNAME": "Ann"}}."""
    data: dict = {}
    for key, value in post.items():
        if not key.startswith("data["):
            continue
        parts = _KEY.findall(key[len("data"):])
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            if parts:
                target[parts[-1]] = value
    return data


def event_receive(*, endpoint: WebhookEndpoint, post: QueryDict) -> WebhookEvent | None:
    """Store one POSTed event as it came; None for a body that is no Mailchimp event.

    Nothing is told of it yet: the caller calls `event_announce` (the view does so once
    Mailchimp has its answer)."""
    event_type = post.get("type", "")
    if event_type not in EVENT_TYPES:
        return None
    # One INSERT and nothing more: the endpoint's "last event" is written by the worker
    # that applies the events (endpoints_heard_from), not by every POST.
    event = WebhookEvent.objects.create(
        endpoint=endpoint, type=event_type, fired_at=post.get("fired_at", "")[:40],
        data=form_data(post),
    )
    return event


def event_announce(event: WebhookEvent) -> None:
    """Tell the receivers of `webhook_event_received` (the worker is queued) once the event
    is committed. A receiver that fails is logged (a robust on_commit); the beat's sweep
    applies the event then."""
    transaction.on_commit(
        lambda: signals.webhook_event_received.send(sender=WebhookEvent, event_id=event.pk),
        robust=True,
    )


def endpoints_heard_from(events) -> None:
    """Record on each endpoint when it last received an event (never moving it back)."""
    newest: dict[int, datetime] = {}
    for event in events:
        newest[event.endpoint_id] = max(event.received_at,
                                        newest.get(event.endpoint_id, event.received_at))
    for endpoint_id, received_at in newest.items():
        WebhookEndpoint.objects.filter(pk=endpoint_id).filter(
            Q(last_event_at__isnull=True) | Q(last_event_at__lt=received_at)
        ).update(last_event_at=received_at)


# ------------------------------------------------------------------------ registration
# Every event, from people (user) and from Mailchimp's own admin, never from the API: the
# store's own writes would come back as changes (Magento's loop, #2334).
EVENTS = {name: True for name in ("subscribe", "unsubscribe", "profile", "cleaned",
                                   "upemail", "campaign")}
SOURCES = {"user": True, "admin": True, "api": False}


@dataclass(frozen=True)
class Registration:
    """What registering one audience's webhook did: `outcome` is unchanged, created,
    updated or failed; `url` is masked; `removed` counts our extra webhooks deleted."""

    audience: Audience
    outcome: str
    url: str = ""
    removed: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def site_url() -> str:
    """The store's public address (SITE_URL), without a trailing slash; "" when unset."""
    return (getattr(settings, "SITE_URL", "") or "").strip().rstrip("/")


def url_masked(url: str) -> str:
    """A webhook URL with its secret cut to four characters: safe to show and to log."""
    parts = url.rstrip("/").split("/")
    if len(parts) >= 2 and len(parts[-1]) > 4:
        parts[-1] = parts[-1][:4] + "…"
    return "/".join(parts) + "/"


def _secret_of(url: str, endpoint: WebhookEndpoint) -> str | None:
    """The secret in a URL of this endpoint (any host), or None if it is not one."""
    prefix = reverse("mailchimp_integration:webhook", args=[endpoint.pk, "x"])[:-2]
    path = urlsplit(url).path
    if not path.startswith(prefix):
        return None
    secret = path[len(prefix):].strip("/")
    return secret if secret and "/" not in secret else None


def _is_current(hook: Webhook, endpoint: WebhookEndpoint, base: str) -> bool:
    secret = _secret_of(hook.url, endpoint)
    return (
        secret is not None
        and hook.url == base + endpoint_path(endpoint, secret)
        and hmac.compare_digest(endpoint.secret_hash, _hash(secret))
        and all(hook.events.get(name) == on for name, on in EVENTS.items())
        and all(hook.sources.get(name, False) == on for name, on in SOURCES.items())
    )


def _record(endpoint: WebhookEndpoint, **fields) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        registration_checked_at=timezone.now(), **fields)


def webhook_register(*, client: MailchimpClient, audience: Audience,
                     rotate: bool = False) -> Registration:
    """Make Mailchimp hold exactly one webhook of ours for the audience, at SITE_URL with the
    current secret, for every event from people and admins, none from the API.

    Idempotent: one GET when all is in place. Ours are the webhook whose id we saved and any
    at this store's webhook path (a changed SITE_URL, an earlier secret); the first of them is
    PATCHed, the rest deleted, or one is created. A new URL means a new secret (the old one
    stays accepted for PREVIOUS_SECRET_VALID); `rotate` forces one. Failures are recorded on
    the endpoint with Mailchimp's reason, never raised.
    """
    endpoint = WebhookEndpoint.objects.filter(audience=audience).first()
    if endpoint is None:
        endpoint, _ = endpoint_secret_new(audience=audience)
    base = site_url()
    if not base:
        error = ("SITE_URL is not set: Mailchimp needs the store's public address to send "
                 "its webhooks.")
        _record(endpoint, registration_error=error)
        return Registration(audience=audience, outcome="failed", error=error)
    try:
        hooks = client.webhooks_all(audience.mailchimp_id)
        ours = [hook for hook in hooks
                if (endpoint.mailchimp_webhook_id and hook.id == endpoint.mailchimp_webhook_id)
                or (hook.url.startswith(base + "/") and _secret_of(hook.url, endpoint))]
        current = next((hook for hook in ours if _is_current(hook, endpoint, base)), None)
        removed = 0
        if current is not None and not rotate:
            for hook in ours:
                if hook is not current:
                    client.webhook_delete(audience.mailchimp_id, hook.id)
                    removed += 1
            url = url_masked(current.url)
            _record(endpoint, mailchimp_webhook_id=current.id, registered_url=url,
                    registration_error="")
            return Registration(audience=audience, outcome="unchanged", url=url,
                                removed=removed)
        replaced, until = endpoint.previous_secret_hash, endpoint.previous_valid_until
        endpoint, secret = endpoint_secret_new(audience=audience)
        url = base + endpoint_path(endpoint, secret)
        try:
            if ours:
                kept = client.webhook_update(audience.mailchimp_id, ours[0].id, url=url,
                                             events=EVENTS, sources=SOURCES)
                outcome = "updated"
            else:
                kept = client.webhook_create(audience.mailchimp_id, url=url, events=EVENTS,
                                             sources=SOURCES)
                outcome = "created"
        except MailchimpError:
            _secret_new_undo(endpoint, replaced=replaced, until=until)
            raise
        for hook in ours[1:]:
            client.webhook_delete(audience.mailchimp_id, hook.id)
            removed += 1
    except MailchimpError as error:
        logger.warning("Registering the webhook of list %s failed: %s", audience.mailchimp_id,
                       error.reason)
        _record(endpoint, registration_error=error.reason)
        return Registration(audience=audience, outcome="failed", error=error.reason)
    masked = url_masked(url)
    _record(endpoint, mailchimp_webhook_id=kept.id, registered_url=masked,
            registered_at=timezone.now(), registration_error="")
    logger.info("Webhook of list %s %s: %s", audience.mailchimp_id, outcome, masked)
    return Registration(audience=audience, outcome=outcome, url=masked, removed=removed)


def audiences_to_hook():
    """The audiences the store hears from: on for the store, or holding subscriptions;
    never one deleted in Mailchimp."""
    return (Audience.objects.filter(removed_at__isnull=True)
            .filter(Q(active=True) | Q(subscriptions__isnull=False)).distinct()
            .order_by("pk"))


def webhooks_register_all(*, client: MailchimpClient, rotate: bool = False
                          ) -> list[Registration]:
    """Register every audience's webhook (after each list sync, and from the admin)."""
    return [webhook_register(client=client, audience=audience, rotate=rotate)
            for audience in audiences_to_hook()]
