"""Who sent a request (the customer's IP address, seen through the store's own proxies), and
how often: a per-key counter for rate limits."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ipware import get_client_ip

logger = logging.getLogger(__name__)


def over_rate_limit(key: str, *, limit: int, window: int) -> bool:
    """Count one more hit for `key` in Django's cache: True past `limit` per `window` seconds.

    A cache that is down limits nothing (it must never lose a customer's signup).
    """
    try:
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
    except Exception:  # noqa: BLE001
        logger.warning("Rate limit unavailable for %s; letting it through", key, exc_info=True)
        return False
    return count > limit


def client_ip(request: HttpRequest) -> str | None:
    """The customer's IP address, for per-address limits and the consent record.

    Each of the SHOP_TRUSTED_PROXY_COUNT proxies in front of the store appends the address it
    was reached from to X-Forwarded-For, so the customer is the entry that many places from
    the right; anything left of it is whatever the client sent. With no trusted proxy (the
    default) the header is ignored: anyone can write it. A request that did not come through
    the proxies (a header too short or absent) falls back to REMOTE_ADDR, which no client can
    forge.
    """
    remote_addr = request.META.get("REMOTE_ADDR") or None
    proxies = settings.SHOP_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    # python-ipware counts the hops after the client inside the header: the nearest proxy
    # is REMOTE_ADDR, not an entry, hence one less.
    ip, _routable = get_client_ip(
        request,
        proxy_count=proxies - 1,
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
        algorithm="modern",
    )
    return ip or remote_addr
