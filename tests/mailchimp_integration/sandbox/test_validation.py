"""Malformed requests get Mailchimp's 400 problem+json: never a 500 or a dropped connection."""
import json
import socket

import pytest

from .test_batches import wait_finished
from .test_compliance import batch_results
from .test_members import NEWSLETTER, member_path, put
from .test_webhooks import register

KNOWN = "known@example.com"
MEMBER = member_path(KNOWN)
INTEREST = "1a2b3c4d01"

MALFORMED = [
    # (method, path, JSON body, the field Mailchimp's `errors` names, or None)
    ("POST", f"{MEMBER}/tags", {"tags": ["vip"]}, "tags.item:0"),
    ("POST", f"{MEMBER}/tags", {"tags": "vip"}, "tags"),
    ("POST", f"{MEMBER}/tags", {"tags": [{"name": 5, "status": "active"}]}, "tags.item:0.name"),
    ("POST", f"{MEMBER}/tags", {"tags": [{"name": "vip", "status": "on"}]},
     "tags.item:0.status"),
    ("POST", f"{MEMBER}/tags", {"tags": [{"name": "vip"}]}, "tags.item:0.status"),
    ("POST", f"{MEMBER}/tags", {}, "tags"),
    ("POST", f"{MEMBER}/tags", {"tags": [], "is_syncing": "yes"}, "is_syncing"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": 5}, "status_if_new"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "status": ["subscribed"]}, "status"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": {"a": 1}}, "status_if_new"),
    ("PUT", MEMBER, {"email_address": 42, "status_if_new": "subscribed"}, "email_address"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "interests": [INTEREST]}, "interests"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "interests": {INTEREST: "yes"}}, f"interests.{INTEREST}"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "merge_fields": "Ann"}, "merge_fields"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "merge_fields": {"FNAME": {"first": "Ann"}}}, "merge_fields.FNAME"),
    ("PUT", MEMBER, {"email_address": KNOWN, "status_if_new": "subscribed",
                     "merge_fields": {"FNAME": None}}, "merge_fields.FNAME"),
    ("PATCH", MEMBER, {"status": 1}, "status"),
    ("PATCH", MEMBER, {"status": "transactional"}, "status"),
    ("PATCH", MEMBER, {"email_address": ["a@example.com"]}, "email_address"),
    ("PATCH", MEMBER, {"vip": "yes"}, "vip"),
    ("PATCH", MEMBER, {"email_type": "pdf"}, "email_type"),
    ("PATCH", MEMBER, {"language": 7}, "language"),
    ("PATCH", MEMBER, {"ip_signup": ["203.0.113.1"]}, "ip_signup"),
    ("PATCH", MEMBER, {"timestamp_opt": 1714557600}, "timestamp_opt"),
    ("PATCH", MEMBER, {"location": {"latitude": "north"}}, "location.latitude"),
    ("PATCH", MEMBER, {"marketing_permissions": ["email"]}, "marketing_permissions.item:0"),
    ("PATCH", MEMBER, {"marketing_permissions": [{"marketing_permission_id": 1,
                                                  "enabled": True}]},
     "marketing_permissions.item:0.marketing_permission_id"),
    ("PATCH", MEMBER, [{"status": "subscribed"}], ""),
    ("PATCH", MEMBER, "subscribed", ""),
    ("PATCH", MEMBER, None, ""),
    ("POST", f"/lists/{NEWSLETTER}/members", {"email_address": "n@example.com",
                                              "status": "subscribed", "tags": [1]},
     "tags.item:0"),
    ("POST", f"/lists/{NEWSLETTER}", {"members": "everyone"}, "members"),
    ("POST", f"/lists/{NEWSLETTER}", {"members": ["a@example.com"]}, "members.item:0"),
    ("POST", f"/lists/{NEWSLETTER}", {"members": [], "update_existing": "yes"},
     "update_existing"),
    ("POST", f"/lists/{NEWSLETTER}", {"members": [
        {"email_address": "a@example.com", "status": "subscribed"},
        {"email_address": "b@example.com", "status": 7}]}, "members.item:1.status"),
    ("POST", f"/lists/{NEWSLETTER}", {}, "members"),
    ("POST", f"/lists/{NEWSLETTER}/webhooks", {"url": 5}, "url"),
    ("POST", f"/lists/{NEWSLETTER}/webhooks", {"url": "https://example.com/h", "events": []},
     "events"),
    ("POST", f"/lists/{NEWSLETTER}/webhooks", {"url": "https://example.com/h",
                                               "sources": {"user": "yes"}}, "sources.user"),
    ("POST", "/batches", {"operations": "all"}, "operations"),
    ("POST", "/batches", {"operations": [1]}, "operations.item:0"),
    ("POST", "/batches", {"operations": [{"method": "GET"}]}, None),
    ("POST", "/batches", {"operations": [{"method": 5, "path": "/ping"}]},
     "operations.item:0.method"),
    ("POST", "/batches", {"operations": [{"method": "get", "path": "/ping"}]},
     "operations.item:0.method"),
    ("POST", "/batches", {"operations": [{"method": "GET", "path": "/ping", "params": [1]}]},
     "operations.item:0.params"),
    ("POST", "/batches", {"operations": [{"method": "PUT", "path": MEMBER,
                                          "body": {"status": "subscribed"}}]},
     "operations.item:0.body"),
    ("POST", "/batches", {}, "operations"),
]


def assert_invalid(response, field=None, title="Invalid Resource"):
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["title"], problem["status"]) == (title, 400)
    assert problem["detail"] and problem["instance"]
    if field is not None:
        assert [error["field"] for error in problem["errors"]] == [field]
        assert all(error["message"] for error in problem["errors"])


@pytest.mark.parametrize(("method", "path", "body", "field"), MALFORMED)
def test_a_malformed_body_is_a_400_naming_the_field(api, spec_check, method, path, body, field):
    spec_check.requests = False  # these requests break the spec on purpose
    put(api, KNOWN, status_if_new="subscribed")
    before = api.get(MEMBER).json()
    assert_invalid(api.request(method, path, json=body), field)
    # Nothing changed, and the same connection still answers.
    after = api.get(MEMBER).json()
    assert {k: v for k, v in after.items() if k != "last_changed"} == \
        {k: v for k, v in before.items() if k != "last_changed"}
    assert api.get(f"/lists/{NEWSLETTER}/members", params={"count": 1000}).json()[
        "total_items"] == 2  # the seeded member and KNOWN: nobody was added


@pytest.mark.parametrize("raw", [b"{not json", b'{"email_address": ', b"\xff\xfe\x00",
                                 b"[1, 2"])
def test_a_body_that_is_not_json_is_mailchimps_parse_error(api, spec_check, raw):
    spec_check.requests = False
    response = api.put(MEMBER, data=raw, headers={"Content-Type": "application/json"})
    assert_invalid(response, title="JSON Parse Exception")
    assert response.json()["detail"] == "We encountered an unspecified JSON parsing error."
    assert api.get(MEMBER).status_code == 404


def test_a_put_without_a_body_is_a_400(api, spec_check):
    spec_check.requests = False
    assert_invalid(api.put(MEMBER), field="")


def test_a_webhook_patch_with_wrong_types_is_a_400(api, spec_check, webhook_receiver):
    webhook = register(api, webhook_receiver.url + "/hook").json()
    spec_check.requests = False
    path = f"/lists/{NEWSLETTER}/webhooks/{webhook['id']}"
    assert_invalid(api.patch(path, json={"events": {"subscribe": "no"}}), "events.subscribe")
    assert_invalid(api.patch(path, json={"sources": ["api"]}), "sources")
    assert_invalid(api.patch(path, json={"url": "ftp://example.com/"}), "url")
    assert api.get(path).json()["events"]["subscribe"] is True


@pytest.mark.parametrize("path", [
    "/lists", f"/lists/{NEWSLETTER}/members", f"/lists/{NEWSLETTER}/interest-categories",
    f"/lists/{NEWSLETTER}/interest-categories/c0ffee0001/interests", f"{MEMBER}/tags",
    "/batches"])
@pytest.mark.parametrize("params", [{"count": 1001}, {"count": -1}, {"offset": -1},
                                    {"count": "ten"}, {"offset": "1.5"}])
def test_count_and_offset_outside_the_spec_are_a_400_not_clamped(api, spec_check, path,
                                                                   params):
    put(api, KNOWN, status_if_new="subscribed")
    spec_check.requests = False
    name = next(iter(params))
    assert_invalid(api.get(path, params=params), field=name)


def test_count_at_the_limits_is_fine(api):
    assert api.get("/lists", params={"count": 1000}).status_code == 200
    assert api.get("/lists", params={"count": 0}).json()["lists"] == []
    assert api.get("/lists", params={"offset": 99}).json()["lists"] == []


def test_a_batch_operation_with_a_malformed_body_fails_alone(api):
    operations = [
        {"method": "PUT", "path": MEMBER, "operation_id": "fine",
         "body": json.dumps({"email_address": KNOWN, "status_if_new": "subscribed"})},
        {"method": "PUT", "path": MEMBER, "operation_id": "not-json", "body": "{not json"},
        {"method": "POST", "path": f"{MEMBER}/tags", "operation_id": "strings",
         "body": json.dumps({"tags": ["vip"]})},
    ]
    batch = wait_finished(api, api.post("/batches", json={"operations": operations}).json()["id"])
    assert (batch["finished_operations"], batch["errored_operations"]) == (3, 2)
    results = batch_results(batch)
    assert json.loads(results["not-json"]["response"])["title"] == "JSON Parse Exception"
    assert json.loads(results["strings"]["response"])["title"] == "Invalid Resource"
    assert results["fine"]["status_code"] == 200


def test_a_sandbox_bug_is_a_500_problem_not_a_dropped_connection(api, mailchimp_sandbox_server,
                                                                  monkeypatch):
    def broken(list_id):
        raise RuntimeError("a bug")

    monkeypatch.setattr(mailchimp_sandbox_server.sandbox.account, "list_get", broken)
    response = api.get(f"/lists/{NEWSLETTER}")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Internal Server Error"


def test_a_bad_content_length_is_a_400(sandbox):
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"PUT /3.0/ping HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n")
        reply = connection.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 400 ")
    assert "application/problem+json" in reply


ODD_VALUES = [None, True, 7, "x", [1], {"k": None}]
MEMBER_KEYS = ["email_address", "status", "status_if_new", "merge_fields", "interests", "vip",
               "email_type", "language", "location", "marketing_permissions", "ip_signup",
               "timestamp_opt", "tags"]


def test_every_route_answers_odd_bodies_with_a_4xx(api, spec_check, webhook_receiver):
    """A sweep: every write route, every odd JSON value as the body and in each of its fields."""
    spec_check.requests = False
    # Hundreds of 400s look alike: only what was accepted is checked against the spec, below.
    spec_check.responses = False
    put(api, KNOWN, status_if_new="subscribed")
    webhook = register(api, webhook_receiver.url + "/hook").json()
    writes = {
        ("PUT", MEMBER): MEMBER_KEYS, ("PATCH", MEMBER): MEMBER_KEYS,
        ("POST", f"/lists/{NEWSLETTER}/members"): MEMBER_KEYS,
        ("POST", f"{MEMBER}/tags"): ["tags", "is_syncing"],
        ("POST", f"/lists/{NEWSLETTER}"): ["members", "update_existing"],
        ("POST", f"/lists/{NEWSLETTER}/webhooks"): ["url", "events", "sources"],
        ("PATCH", f"/lists/{NEWSLETTER}/webhooks/{webhook['id']}"): ["url", "events", "sources"],
        ("POST", "/batches"): ["operations"],
    }
    answers, accepted = set(), []
    for (method, path), keys in writes.items():
        bodies = ODD_VALUES + [{key: value} for key in keys for value in ODD_VALUES]
        if keys is MEMBER_KEYS:
            # With a valid address, a member write gets past the address to every other field.
            bodies += [{"email_address": KNOWN, "status_if_new": "subscribed", key: value}
                       for key in keys for value in ODD_VALUES]
        for body in bodies:
            response = api.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)
            answers.add(response.status_code)
            if response.ok:
                accepted.append(response)
    assert 400 in answers and accepted
    spec_check.responses = True
    for response in accepted:
        spec_check.check(response)
