"""Mailchimp's webhooks, the receiving end: one URL per audience carrying a random secret
(only its hash is kept), Mailchimp's GET check, and each POSTed event stored as it came.

Applying the events to the subscriptions builds on this (issue "Two-way sync").
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.db import transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from .models import Audience, WebhookEndpoint, WebhookEvent

# Mailchimp's form fields: type, fired_at, and data[...] nested PHP-style (data[merges][FNAME]).
_KEY = re.compile(r"\[([^\]]*)\]")
EVENT_TYPES = frozenset({"subscribe", "unsubscribe", "profile", "upemail", "cleaned",
                         "campaign"})


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def endpoint_secret_new(*, audience: Audience) -> tuple[WebhookEndpoint, str]:
    """A new secret for the audience's endpoint (the old URL stops working); returns it once."""
    secret = secrets.token_urlsafe(24)
    endpoint, _ = WebhookEndpoint.objects.update_or_create(
        audience=audience, defaults={"secret_hash": _hash(secret)}
    )
    return endpoint, secret


def endpoint_path(endpoint: WebhookEndpoint, secret: str) -> str:
    return reverse("mailchimp_integration:webhook", args=[endpoint.pk, secret])


def endpoint_for(*, endpoint_id: int, secret: str) -> WebhookEndpoint | None:
    """The endpoint if `secret` is its secret (compared in constant time), else None."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    expected = endpoint.secret_hash if endpoint is not None else _hash("")
    matches = hmac.compare_digest(expected, _hash(secret))
    return endpoint if endpoint is not None and matches else None


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
    """Store one POSTed event as it came; None for a body that is no Mailchimp event."""
    event_type = post.get("type", "")
    if event_type not in EVENT_TYPES:
        return None
    now = timezone.now()
    event = WebhookEvent.objects.create(
        endpoint=endpoint, type=event_type, fired_at=post.get("fired_at", "")[:40],
        data=form_data(post),
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_event_at=now)
    return event
