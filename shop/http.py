"""Who sent a request: the customer's IP address, seen through the store's own proxies."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip


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
