"""The customer's IP address, behind none, one or two of the store's own proxies."""
import pytest
from django.test import RequestFactory

from shop.http import client_ip


def request_from(remote_addr: str, forwarded_for: str | None = None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **meta)


def test_with_no_trusted_proxy_x_forwarded_for_is_ignored(settings):
    settings.SHOP_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@pytest.mark.parametrize(("proxies", "forwarded_for", "expected"), [
    (1, "198.51.100.7", "198.51.100.7"),
    (1, "192.0.2.1, 198.51.100.7", "198.51.100.7"),  # the client wrote the left entry
    (1, "not-an-ip, 198.51.100.7", "198.51.100.7"),
    (1, "2001:db8::1", "2001:db8::1"),
    (2, "192.0.2.1, 198.51.100.7, 10.0.0.1", "198.51.100.7"),  # CDN, then our nginx
])
def test_the_client_is_the_right_most_entry_our_proxies_did_not_add(
    settings, proxies, forwarded_for, expected
):
    settings.SHOP_TRUSTED_PROXY_COUNT = proxies
    assert client_ip(request_from("10.0.0.2", forwarded_for)) == expected


@pytest.mark.parametrize("forwarded_for", [None, "", "198.51.100.7"])
def test_a_request_that_bypassed_the_proxies_falls_back_to_remote_addr(settings, forwarded_for):
    settings.SHOP_TRUSTED_PROXY_COUNT = 2  # a header of fewer than two entries did not pass both
    assert client_ip(request_from("10.0.0.2", forwarded_for)) == "10.0.0.2"


def test_no_address_at_all_is_none(settings):
    settings.SHOP_TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) is None
