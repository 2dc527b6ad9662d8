"""The hardened client: base URL, retries, and (over HTTP, against the sandbox) its fixes."""
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from mailchimp_integration import client as mc
from mailchimp_integration.exceptions import (
    MailchimpAuthError,
    MailchimpNotConfigured,
    MailchimpPermanentError,
    MailchimpRateLimited,
    MailchimpServerError,
    MailchimpUnreachable,
)

# --- Pure logic -------------------------------------------------------------------------


def test_base_url_comes_from_the_keys_data_centre():
    assert mc.base_url_for("abc-us6") == "https://us6.api.mailchimp.com/3.0"
    assert mc.base_url_for("abc-us6", "http://127.0.0.1:8100/3.0/") == "http://127.0.0.1:8100/3.0"
    with pytest.raises(MailchimpNotConfigured):
        mc.base_url_for("no-data-centre-")
    with pytest.raises(MailchimpNotConfigured):
        mc.base_url_for("nodash")


def test_max_connections_is_never_above_mailchimps_limit(settings):
    settings.MAILCHIMP_MAX_CONNECTIONS = 50
    assert mc.max_connections() == 10
    settings.MAILCHIMP_MAX_CONNECTIONS = 4
    assert mc.max_connections() == 4


def test_retries_transient_errors_honouring_retry_after_then_succeeds():
    waits, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise MailchimpRateLimited("Too Many Requests", "", status=429, retry_after=1.5)
        return "ok"

    assert mc.with_retries(flaky, attempts=5, max_wait=10, sleep=waits.append) == "ok"
    assert len(calls) == 3
    assert len(waits) == 2 and all(w >= 1.5 for w in waits)


def test_backoff_grows_with_jitter_and_is_capped():
    waits = []

    def down():
        raise MailchimpServerError("Internal Server Error", "", status=500)

    with pytest.raises(MailchimpServerError):
        mc.with_retries(down, attempts=6, max_wait=2, base_delay=0.5, sleep=waits.append)
    assert len(waits) == 5  # the last failure is raised, not waited on
    assert 0.25 <= waits[0] <= 0.5
    assert all(w <= 2 for w in waits)


def test_permanent_errors_are_never_retried():
    calls = []

    def bad():
        calls.append(1)
        raise MailchimpPermanentError("Invalid Resource", "no", status=400)

    with pytest.raises(MailchimpPermanentError):
        mc.with_retries(bad, attempts=5, sleep=lambda s: pytest.fail("slept"))
    assert calls == [1]


def test_a_retry_after_longer_than_the_cap_gives_up_at_once():
    def throttled():
        raise MailchimpRateLimited("Too Many Requests", "", status=429, retry_after=3600)

    with pytest.raises(MailchimpRateLimited):
        mc.with_retries(throttled, attempts=5, max_wait=30, sleep=lambda s: pytest.fail("slept"))


def test_one_session_per_process_sized_to_the_connection_limit(settings):
    settings.MAILCHIMP_MAX_CONNECTIONS = 10
    first, second = mc.pooled_session(), mc.pooled_session()
    assert first is second
    adapter = first.get_adapter("https://us6.api.mailchimp.com/3.0")
    assert adapter._pool_maxsize == 10 and adapter._pool_block is True


def test_the_client_uses_our_timeouts_not_120_seconds(settings):
    settings.MAILCHIMP_CONNECT_TIMEOUT = 2.5
    settings.MAILCHIMP_READ_TIMEOUT = 9
    client = mc.MailchimpClient(api_key="k-us6")
    assert client.sdk.lists.api_client.timeout == (2.5, 9.0)
    assert client.sdk.lists.api_client is client.sdk.root.api_client


# --- Over HTTP, against the sandbox -----------------------------------------------------------


def sandbox_client(sandbox, **kwargs) -> mc.MailchimpClient:
    return mc.MailchimpClient(api_key=sandbox.api_key, api_url=sandbox.url, **kwargs)


def opened_connections(url: str) -> int:
    """Connections the process's pool has opened to `url`'s host and port, ever."""
    pools = mc.pooled_session().get_adapter(url).poolmanager.pools
    port = urlsplit(url).port
    return sum(pools[key].num_connections for key in pools.keys() if key.key_port == port)


def test_calls_reuse_one_pooled_connection(connected):
    client = sandbox_client(connected)
    client.lists_page()
    before = opened_connections(connected.url)
    for _ in range(20):
        client.lists_page()
    assert before >= 1
    assert opened_connections(connected.url) == before  # keep-alive: no new connection
    assert len(connected.requests()) == 21


def test_ids_containing_server_are_sent_intact(connected):
    # The official client turns "observer-shop" into "obus6ver-shop" (url.replace("server")).
    connected.create_list("Observers", list_id="observer-list")
    client = mc.MailchimpClient(api_key="0123456789abcdef0123456789abcdef-server", api_url="")
    assert "server" in client.base_url  # a data centre named like that stays as well
    page = sandbox_client(connected).interest_categories_page("observer-list")
    assert page.items == []
    assert connected.requests()[-1].startswith("GET /3.0/lists/observer-list/interest-categories?")


def test_a_hanging_mailchimp_times_out_at_the_read_timeout(connected):
    connected.hang(1.5, times=1)
    client = sandbox_client(connected, timeout=(1, 0.5))
    started = time.monotonic()
    with pytest.raises(MailchimpUnreachable) as caught:
        client.lists_page()
    assert time.monotonic() - started < 2
    assert caught.value.title == "Read timeout" and caught.value.retryable


def test_a_dropped_connection_is_a_transient_error(connected):
    connected.drop(times=1)
    with pytest.raises(MailchimpUnreachable) as caught:
        sandbox_client(connected).lists_page()
    assert caught.value.retryable


def test_an_error_with_an_empty_body_raises_like_any_other(connected):
    connected.fail_status(503, times=1, body=False)
    with pytest.raises(MailchimpServerError) as caught:
        sandbox_client(connected).lists_page()
    assert caught.value.status == 503 and caught.value.retryable
    assert "empty response body" in caught.value.detail


def test_a_429_carries_retry_after_and_mailchimps_words(connected):
    connected.fail_429(times=1, retry_after=2)
    with pytest.raises(MailchimpRateLimited) as caught:
        sandbox_client(connected).lists_page()
    assert caught.value.retry_after == 2.0
    assert caught.value.title == "Too Many Requests" and caught.value.detail


def test_a_bad_key_is_a_permanent_auth_error(connected):
    client = mc.MailchimpClient(
        api_key="ffffffffffffffffffffffffffffffff-us6", api_url=connected.url
    )
    with pytest.raises(MailchimpAuthError) as caught:
        client.lists_page()
    assert caught.value.status == 401 and not caught.value.retryable
    assert caught.value.title == "API Key Invalid"


def test_never_more_than_ten_calls_at_once_from_one_process(connected, settings):
    settings.MAILCHIMP_MAX_CONNECTIONS = 10
    connected.set_latency(0.05)
    connected.reset_stats()
    client = sandbox_client(connected)
    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(lambda _: client.lists_page(), range(60)))
    stats = connected.stats()
    assert stats["peak_in_flight"] == 10
    assert stats["refused"] == 0


def test_a_member_is_found_by_its_unique_email_id_after_the_person_changed_address(connected):
    list_id = connected.create_list("Movers")
    connected.subscribe(list_id, "old@example.com")
    client = sandbox_client(connected)
    before = client.member_read(list_id, "old@example.com")
    assert before.found and before.unique_id
    connected.change_email(list_id, "old@example.com", "new@example.com")
    assert not client.member_read(list_id, "old@example.com").found
    found = client.member_find(list_id, before.unique_id)
    assert (found.found, found.email, found.unique_id) == (True, "new@example.com",
                                                           before.unique_id)
    assert not client.member_find(list_id, "0000000000").found
    assert "unique_email_id=" in connected.requests()[-1]
