"""The control API's own duties: the request log, reset, seeds, the state file, the command."""
import json
import time

import requests

from mailchimp_integration.sandbox.bench import start_sandbox
from mailchimp_integration.sandbox.control import SandboxControl
from mailchimp_integration.sandbox.server import start_in_thread

NEWSLETTER = "a1b2c3d4e5"


def test_the_request_log_shows_exactly_what_was_sent(api, sandbox):
    api.get("/lists", params={"count": 1000, "fields": "lists.id"})
    api.put(f"/lists/{NEWSLETTER}/members/log@example.com",
            json={"email_address": "log@example.com", "status_if_new": "pending"})
    log = sandbox.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/3.0/lists", 200),
        ("PUT", f"/3.0/lists/{NEWSLETTER}/members/log@example.com", 200),
    ]
    assert log[0]["params"] == {"count": "1000", "fields": "lists.id"}
    assert log[1]["body"] == {"email_address": "log@example.com", "status_if_new": "pending"}
    assert sandbox.requests()[0] == "GET /3.0/lists?count=1000&fields=lists.id"
    sandbox.clear_requests()
    assert sandbox.request_log() == []


def test_requests_to_finds_what_was_sent_to_a_path_batches_included(api, sandbox):
    member = f"/lists/{NEWSLETTER}/members/log@example.com"
    api.put(member, json={"email_address": "log@example.com", "status_if_new": "pending"})
    api.get(member, params={"fields": "status"})
    api.post("/batches", json={"operations": [
        {"method": "PATCH", "path": member, "operation_id": "op-1",
         "params": {"skip_merge_validation": True},
         "body": json.dumps({"merge_fields": {"FNAME": "Lo"}})},
        {"method": "GET", "path": "/3.0/lists"}]})

    [put, patch] = sandbox.requests_to("/members/log@example.com", method="put") + \
        sandbox.requests_to("/members/log@example.com", method="PATCH")
    assert put["body"] == {"email_address": "log@example.com", "status_if_new": "pending"}
    assert put["query"] == "" and put["status"] == 200 and "batch" not in put
    assert patch == {"method": "PATCH", "path": f"/3.0{member}",
                     "query": "skip_merge_validation=True",
                     "params": {"skip_merge_validation": "True"},
                     "body": {"merge_fields": {"FNAME": "Lo"}}, "operation_id": "op-1",
                     "batch": True}
    [get] = sandbox.requests_to("/members/log@example.com", method="GET")
    assert (get["query"], get["params"]) == ("fields=status", {"fields": "status"})
    assert [e["method"] for e in sandbox.requests_to("/members/log@example.com")] == [
        "PUT", "GET", "PATCH"]
    assert [e["method"] for e in sandbox.requests_to("/members/log@example.com",
                                                     batched=False)] == ["PUT", "GET"]
    [batch] = sandbox.requests_to("/batches", method="POST")
    assert [op["path"] for op in batch["operations"]] == [f"/3.0{member}", "/3.0/lists"]
    assert [e["path"] for e in sandbox.requests_to("/lists")] == ["/3.0/lists"]


def test_a_body_that_is_not_json_is_logged_as_sent(api, sandbox, spec_check):
    spec_check.requests = False
    api.put(f"/lists/{NEWSLETTER}/members/x@example.com", data=b"{oops",
            headers={"Content-Type": "application/json"})
    [entry] = sandbox.requests_to("/members/x@example.com")
    assert (entry["body"], entry["status"]) == ("{oops", 400)


def test_control_calls_are_not_logged_as_api_calls(sandbox):
    sandbox.create_list("Quiet")
    assert sandbox.request_log() == []


def test_reset_returns_to_the_seed(api, sandbox):
    sandbox.delete_list(NEWSLETTER)
    sandbox.reset()
    assert api.get(f"/lists/{NEWSLETTER}").status_code == 200


def test_a_seed_can_be_loaded(api, sandbox):
    sandbox.load_seed({"account_name": "Tiny", "lists": [
        {"id": "0123456789", "name": "Only", "categories": [
            {"title": "Colour", "interests": [{"name": "Red"}]}]}]})
    assert [a["name"] for a in api.get("/lists").json()["lists"]] == ["Only"]
    assert api.get("/").json()["account_name"] == "Tiny"


def test_the_state_file_keeps_the_account_across_restarts(tmp_path):
    state = tmp_path / "sandbox-state.json"
    running = start_in_thread(state_path=str(state))
    control = SandboxControl(running.url, running.api_key)
    list_id = control.create_list("Kept")
    requests.put(f"{running.url}/lists/{list_id}/members/k@example.com", timeout=5,
                 auth=("x", running.api_key),
                 json={"email_address": "k@example.com", "status_if_new": "subscribed"})
    running.stop()
    assert list_id in json.loads(state.read_text())["lists"]
    again = start_in_thread(state_path=str(state))
    try:
        member = requests.get(f"{again.url}/lists/{list_id}/members/k@example.com",
                              auth=("x", again.api_key), timeout=5)
        assert member.json()["status"] == "subscribed"
        # A new id after a restart never reuses one saved before it.
        assert SandboxControl(again.url, again.api_key).create_list("New") != list_id
    finally:
        again.stop()


def test_saves_are_debounced_while_running(tmp_path):
    state = tmp_path / "state.json"
    running = start_in_thread(state_path=str(state))
    try:
        SandboxControl(running.url, running.api_key).create_list("Soon saved")
        deadline = time.monotonic() + 3
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Soon saved" in state.read_text()
    finally:
        running.stop()


def test_the_management_command_serves_the_demo_account_with_the_given_key():
    process = start_sandbox(api_key="abc123-us6")
    try:
        response = requests.get(process.url + "/lists", auth=("x", "abc123-us6"), timeout=5)
        assert [a["name"] for a in response.json()["lists"]][0] == "Newsletter"
        assert requests.get(process.url + "/lists", auth=("x", "wrong-us6"),
                            timeout=5).status_code == 401
    finally:
        process.stop()
    assert process.process.returncode is not None
