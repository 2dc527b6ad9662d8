"""Faults on demand and the connection limit, each as a client observes it."""
import threading
import time

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError


def test_latency_delays_the_matching_route_only(api, sandbox):
    sandbox.set_latency(0.3, route="/lists/*")
    started = time.monotonic()
    assert api.get("/lists/a1b2c3d4e5").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.get("/ping")
    assert time.monotonic() - started < 0.25


def test_a_429_with_a_body_and_retry_after_then_normal_again(api, sandbox):
    sandbox.fail_429(times=1, retry_after=2)
    response = api.get("/lists")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Too Many Requests"
    assert api.get("/lists").status_code == 200


def test_a_429_without_a_body_reaches_the_official_client_as_a_response(sandbox, spec_check):
    spec_check.responses = False  # Mailchimp's body-less 429 is not in the spec
    sandbox.fail_429(times=1, body=False)
    result = sandbox.official_client(timeout=5).lists.get_all_lists()
    assert isinstance(result, requests.Response)
    assert (result.status_code, result.content) == (429, b"")


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_raise_in_the_official_client(sandbox, status):
    sandbox.fail_status(status, times=2, method="GET", route="/lists")
    client = sandbox.official_client(timeout=5)
    for _ in range(2):
        with pytest.raises(ApiClientError) as caught:
            client.lists.get_all_lists()
        assert caught.value.status_code == status
    assert client.lists.get_all_lists()["total_items"] == 3


def test_times_and_method_limit_a_fault(api, sandbox):
    sandbox.fail_status(503, times=None, method="PUT")
    assert api.get("/ping").status_code == 200
    for _ in range(3):
        assert api.put("/lists/a1b2c3d4e5/members/a@example.com", json={
            "email_address": "a@example.com", "status_if_new": "subscribed"}).status_code == 503
    [fault] = sandbox.faults()
    assert (fault["hits"], fault["remaining"]) == (3, None)
    sandbox.clear_faults()
    assert sandbox.faults() == []


def test_a_hang_past_the_timeout_is_a_client_timeout(sandbox):
    sandbox.hang(1.5, times=1)
    client = sandbox.official_client(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ApiClientError) as caught:
        client.ping.get()
    assert "timed out" in str(caught.value.text).lower()
    assert time.monotonic() - started < 1.2


def test_a_dropped_connection_is_a_connection_error(api, sandbox):
    sandbox.drop(times=1)
    with pytest.raises(requests.ConnectionError):
        api.get("/lists")
    assert api.get("/lists").status_code == 200
    assert [entry["status"] for entry in sandbox.request_log()] == [None, 200]


def hold_ten_calls(sandbox, api, answers: list | None = None):
    """Ten calls in flight (a 1 s latency on /ping), then one more while they are; the ten
    calls' status codes go to `answers`."""
    sandbox.set_latency(1.0, route="/ping")
    answers = [] if answers is None else answers
    sessions = [requests.Session() for _ in range(10)]

    def ping(session):
        answers.append(session.get(sandbox.url + "/ping", auth=("x", sandbox.api_key),
                                   timeout=5).status_code)

    threads = [threading.Thread(target=ping, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 3
    while sandbox.stats()["in_flight"] < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    eleventh = api.get("/lists")
    for thread in threads:
        thread.join()
    return eleventh


def test_the_eleventh_simultaneous_call_gets_a_429(api, sandbox):
    answers: list[int] = []
    eleventh = hold_ten_calls(sandbox, api, answers)
    assert eleventh.status_code == 429
    assert "simultaneous" in eleventh.json()["detail"]
    assert answers == [200] * 10  # the ten held calls were all served
    # (The session's sandbox is shared with the test worker: a late task of an earlier test
    # may be refused too, so the counts are at least, not exactly, this test's own.)
    stats = sandbox.stats()
    assert stats["peak_in_flight"] >= 11 and stats["refused"] >= 1
    sandbox.reset_stats()
    assert sandbox.peak_concurrency() == 0


def test_the_connection_limit_can_be_switched_off(api, sandbox):
    sandbox.set_connection_limit(False)
    assert hold_ten_calls(sandbox, api).status_code == 200
    assert sandbox.peak_concurrency() == 11


def test_idle_keep_alive_connections_do_not_count(api, sandbox):
    sessions = [requests.Session() for _ in range(15)]
    for session in sessions:  # fifteen open, idle connections
        assert session.get(sandbox.url + "/ping", auth=("x", sandbox.api_key)).ok
    assert api.get("/lists").status_code == 200
    assert sandbox.peak_concurrency() == 1
