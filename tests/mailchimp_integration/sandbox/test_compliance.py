"""Compliance state: who unsubscribed or bounced stays out until the person acts, in both modes."""
import io
import json
import tarfile

import pytest
import requests

from mailchimp_integration.sandbox import compliance
from mailchimp_integration.sandbox.control import SandboxControl, SandboxControlError
from mailchimp_integration.sandbox.server import start_in_thread

from .test_batches import wait_finished
from .test_members import NEWSLETTER, member_path, put
from .test_webhooks import register

EMAIL = "gone@example.com"
COMPLIANCE_DETAIL = (f"{EMAIL} is in a compliance state due to unsubscribe, bounce, or "
                     "compliance review and cannot be subscribed.")


def opt_out(api, sandbox, how: str, email: str = EMAIL) -> None:
    """A subscribed member who then leaves: through the API, by themselves, by staff, bounced."""
    put(api, email, status_if_new="subscribed")
    if how == "api":
        assert api.patch(member_path(email),
                         json={"status": "unsubscribed"}).json()["status"] == "unsubscribed"
    elif how == "person":
        sandbox.unsubscribe(NEWSLETTER, email)
    elif how == "staff":
        sandbox.unsubscribe(NEWSLETTER, email, source="admin")
    else:
        sandbox.clean(NEWSLETTER, email)


def assert_in_compliance_state(response, email: str = EMAIL) -> None:
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Member In Compliance State"
    assert problem["status"] == 400
    assert problem["detail"] == COMPLIANCE_DETAIL.replace(EMAIL, email)
    assert problem["type"].startswith("https://mailchimp.com/developer/")
    assert problem["instance"]


def status_of(api, email: str = EMAIL) -> str:
    return api.get(member_path(email)).json()["status"]


def subscribe_attempts(api, email: str = EMAIL):
    return [put(api, email, status_if_new="subscribed", status="subscribed"),
            api.patch(member_path(email), json={"status": "subscribed"})]


def batch_results(batch: dict) -> dict:
    archive = requests.get(batch["response_body_url"], timeout=5)
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        return {item["operation_id"]: item for member in tar.getmembers() if member.isfile()
                for item in json.load(tar.extractfile(member))}


# ------------------------------------------------------------------------------ strict (default)
def test_the_account_starts_strict_and_a_reset_makes_it_strict_again(sandbox):
    assert sandbox.compliance_mode() == "strict"
    sandbox.set_compliance_mode("permissive")
    assert sandbox.compliance_mode() == "permissive"
    sandbox.load_seed({"account_name": "Tiny", "lists": []})
    assert sandbox.compliance_mode() == "permissive"  # a seed without a mode keeps it
    sandbox.reset()
    assert sandbox.compliance_mode() == "strict"
    with pytest.raises(SandboxControlError, match="compliance mode"):
        sandbox.set_compliance_mode("lenient")


@pytest.mark.parametrize("how", ["api", "person", "staff", "cleaned"])
def test_put_and_patch_cannot_subscribe_a_member_who_left(api, sandbox, how):
    opt_out(api, sandbox, how)
    before = status_of(api)
    for response in subscribe_attempts(api):
        assert_in_compliance_state(response)
    assert status_of(api) == before


@pytest.mark.parametrize("how", ["api", "person", "staff"])
def test_pending_stays_pending_until_the_person_confirms(api, sandbox, webhook_receiver, how):
    opt_out(api, sandbox, how)
    # The way back Mailchimp offers the API: a confirmation e-mail.
    pending = api.patch(member_path(EMAIL), json={"status": "pending"})
    assert (pending.status_code, pending.json()["status"]) == (200, "pending")
    # Re-opt-in pending is still locked: the API cannot skip the person's click.
    for response in subscribe_attempts(api):
        assert_in_compliance_state(response)
    assert status_of(api) == "pending"

    register(api, webhook_receiver.url + "/hook")
    confirmed = sandbox.confirm(NEWSLETTER, EMAIL)
    assert confirmed["status"] == "subscribed" and confirmed["timestamp_opt"]
    [post] = webhook_receiver.wait_for(1)
    assert (post["form"]["type"], post["form"]["data[email]"]) == ("subscribe", EMAIL)
    [delivery] = sandbox.webhook_deliveries()
    assert delivery["source"] == "user"
    # Their own act lifted the lock: the API may now change them as any subscriber.
    assert status_of(api) == "subscribed"
    assert put(api, EMAIL, status_if_new="subscribed", status="subscribed").status_code == 200


def test_a_put_with_status_if_new_only_leaves_a_locked_member_as_it_is(api, sandbox):
    opt_out(api, sandbox, "person")
    response = put(api, EMAIL, status_if_new="subscribed", merge_fields={"FNAME": "Still"})
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed"
    assert response.json()["merge_fields"]["FNAME"] == "Still"


def test_a_member_pending_without_having_left_may_be_subscribed_by_the_api(api):
    # No lock: a first double opt-in that the API completes is Mailchimp's own behaviour.
    put(api, "first@example.com", status_if_new="pending")
    response = api.patch(member_path("first@example.com"), json={"status": "subscribed"})
    assert (response.status_code, response.json()["status"]) == (200, "subscribed")


def test_confirm_is_refused_unless_the_member_is_pending(api, sandbox):
    put(api, "sub@example.com", status_if_new="subscribed")
    with pytest.raises(SandboxControlError, match="not pending"):
        sandbox.confirm(NEWSLETTER, "sub@example.com")
    with pytest.raises(SandboxControlError, match="404"):
        sandbox.confirm(NEWSLETTER, "nobody@example.com")


def test_a_cleaned_member_cannot_even_be_sent_a_confirmation(api, sandbox):
    opt_out(api, sandbox, "cleaned")
    assert_in_compliance_state(api.patch(member_path(EMAIL), json={"status": "pending"}))
    assert_in_compliance_state(put(api, EMAIL, status_if_new="pending", status="pending"))
    assert status_of(api) == "cleaned"
    # Only the person, signing up again on Mailchimp's form, brings the address back.
    assert sandbox.subscribe(NEWSLETTER, EMAIL)["status"] == "subscribed"


def test_the_lock_survives_archiving(api, sandbox):
    opt_out(api, sandbox, "person")
    assert api.delete(member_path(EMAIL)).status_code == 204
    assert_in_compliance_state(put(api, EMAIL, status_if_new="subscribed"))
    assert_in_compliance_state(api.patch(member_path(EMAIL), json={"status": "subscribed"}))
    assert api.patch(member_path(EMAIL), json={"status": "pending"}).json()["status"] == "pending"
    assert_in_compliance_state(api.patch(member_path(EMAIL), json={"status": "subscribed"}))


def test_a_refused_patch_changes_nothing_not_even_the_address(api, sandbox):
    opt_out(api, sandbox, "person")
    response = api.patch(member_path(EMAIL), json={"status": "subscribed",
                                                   "email_address": "moved@example.com"})
    assert_in_compliance_state(response)
    assert api.get(member_path("moved@example.com")).status_code == 404
    assert status_of(api) == "unsubscribed"


def test_batch_subscribe_refuses_a_locked_member_in_its_errors(api, sandbox):
    opt_out(api, sandbox, "person")
    opt_out(api, sandbox, "person", email="archived@example.com")
    api.delete(member_path("archived@example.com"))
    body = api.post(f"/lists/{NEWSLETTER}", json={"update_existing": True, "members": [
        {"email_address": EMAIL, "status": "subscribed"},
        {"email_address": "archived@example.com", "status": "subscribed"},
        {"email_address": "fresh@example.com", "status": "subscribed"},
    ]}).json()
    assert (body["total_created"], body["total_updated"], body["error_count"]) == (1, 0, 2)
    errors = {e["email_address"]: e for e in body["errors"]}
    assert errors[EMAIL] == {"email_address": EMAIL, "error": COMPLIANCE_DETAIL,
                             "error_code": "ERROR_GENERIC", "field": "", "field_message": ""}
    assert "compliance state" in errors["archived@example.com"]["error"]
    assert status_of(api) == "unsubscribed"
    # Pending is allowed there too, and the member stays locked.
    body = api.post(f"/lists/{NEWSLETTER}", json={"update_existing": True, "members": [
        {"email_address": EMAIL, "status": "pending"}]}).json()
    assert body["updated_members"][0]["status"] == "pending"
    assert_in_compliance_state(api.patch(member_path(EMAIL), json={"status": "subscribed"}))


def test_batch_operations_meet_the_same_refusal(api, sandbox):
    opt_out(api, sandbox, "person")
    operations = [
        {"method": "PUT", "path": f"/lists/{NEWSLETTER}/members/{EMAIL}", "operation_id": "put",
         "body": json.dumps({"email_address": EMAIL, "status_if_new": "subscribed",
                             "status": "subscribed"})},
        {"method": "PATCH", "path": f"/lists/{NEWSLETTER}/members/{EMAIL}",
         "operation_id": "patch", "body": json.dumps({"status": "subscribed"})},
        {"method": "POST", "path": f"/lists/{NEWSLETTER}", "operation_id": "bulk",
         "body": json.dumps({"update_existing": True, "members": [
             {"email_address": EMAIL, "status": "subscribed"}]})},
        {"method": "PATCH", "path": f"/lists/{NEWSLETTER}/members/{EMAIL}",
         "operation_id": "pending", "body": json.dumps({"status": "pending"})},
        {"method": "PATCH", "path": f"/lists/{NEWSLETTER}/members/{EMAIL}",
         "operation_id": "again", "body": json.dumps({"status": "subscribed"})},
    ]
    batch = wait_finished(api, api.post("/batches", json={"operations": operations}).json()["id"])
    assert (batch["finished_operations"], batch["errored_operations"]) == (5, 3)
    results = batch_results(batch)
    for operation_id in ("put", "patch", "again"):
        assert results[operation_id]["status_code"] == 400
        assert json.loads(results[operation_id]["response"])["title"] == \
            "Member In Compliance State"
    bulk = json.loads(results["bulk"]["response"])
    assert bulk["error_count"] == 1 and "compliance state" in bulk["errors"][0]["error"]
    assert json.loads(results["pending"]["response"])["status"] == "pending"
    assert status_of(api) == "pending"


# ------------------------------------------------------------------------------ permissive
@pytest.fixture
def permissive(sandbox):
    sandbox.set_compliance_mode("permissive")
    return sandbox


def test_permissive_lets_the_api_bring_back_whom_the_api_unsubscribed(api, permissive):
    opt_out(api, permissive, "api")
    response = api.patch(member_path(EMAIL), json={"status": "subscribed"})
    assert (response.status_code, response.json()["status"]) == (200, "subscribed")
    api.patch(member_path(EMAIL), json={"status": "unsubscribed"})
    body = api.post(f"/lists/{NEWSLETTER}", json={"update_existing": True, "members": [
        {"email_address": EMAIL, "status": "subscribed"}]}).json()
    assert body["error_count"] == 0 and body["updated_members"][0]["status"] == "subscribed"
    # An API unsubscribe re-sent as pending may be completed by the API in this mode too.
    api.patch(member_path(EMAIL), json={"status": "unsubscribed"})
    api.patch(member_path(EMAIL), json={"status": "pending"})
    assert api.patch(member_path(EMAIL), json={"status": "subscribed"}).status_code == 200


def test_permissive_lets_batches_bring_back_whom_the_api_unsubscribed(api, permissive):
    opt_out(api, permissive, "api")
    batch_id = api.post("/batches", json={"operations": [
        {"method": "PATCH", "path": f"/lists/{NEWSLETTER}/members/{EMAIL}", "operation_id": "p",
         "body": json.dumps({"status": "subscribed"})}]}).json()["id"]
    assert batch_results(wait_finished(api, batch_id))["p"]["status_code"] == 200
    assert status_of(api) == "subscribed"


@pytest.mark.parametrize("how", ["person", "staff", "cleaned"])
def test_permissive_still_locks_what_the_api_did_not_do(api, permissive, how):
    opt_out(api, permissive, how)
    for response in subscribe_attempts(api):
        assert_in_compliance_state(response)


def test_a_persons_unsubscribe_after_the_apis_is_the_one_that_counts(api, permissive):
    opt_out(api, permissive, "api")
    api.patch(member_path(EMAIL), json={"status": "pending"})
    permissive.unsubscribe(NEWSLETTER, EMAIL)  # they answered the e-mail with "no"
    assert_in_compliance_state(api.patch(member_path(EMAIL), json={"status": "subscribed"}))


# ------------------------------------------------------------------------------ both modes
@pytest.mark.parametrize("how", ["person", "cleaned"])
def test_the_persons_opt_out_holds_in_every_mode(api, sandbox, sandbox_compliance_mode, how):
    assert sandbox.compliance_mode() == sandbox_compliance_mode
    opt_out(api, sandbox, how)
    for response in subscribe_attempts(api):
        assert_in_compliance_state(response)


def test_the_lock_and_the_mode_are_kept_in_the_state_file(tmp_path):
    state = tmp_path / "state.json"
    running = start_in_thread(state_path=str(state))
    control = SandboxControl(running.url, running.api_key)
    control.set_compliance_mode("permissive")
    control.subscribe(NEWSLETTER, EMAIL)
    control.unsubscribe(NEWSLETTER, EMAIL)
    running.stop()
    again = start_in_thread(state_path=str(state))
    try:
        assert SandboxControl(again.url, again.api_key).compliance_mode() == "permissive"
        response = requests.patch(f"{again.url}/lists/{NEWSLETTER}/members/{EMAIL}",
                                  json={"status": "subscribed"}, auth=("x", again.api_key),
                                  timeout=5)
        assert response.json()["title"] == "Member In Compliance State"
    finally:
        again.stop()


def test_a_member_saved_before_locks_were_recorded_counts_as_locked_by_the_person():
    assert compliance.lock_of({"status": "unsubscribed"}) == compliance.BY_CONTACT
    assert compliance.lock_of({"status": "cleaned"}) == compliance.BY_BOUNCE
    assert compliance.lock_of({"status": "pending"}) is None
    member = {"status": "unsubscribed", "compliance_lock": compliance.BY_CONTACT}
    compliance.lock(member, compliance.BY_API)  # a weaker lock never replaces a stronger one
    assert member["compliance_lock"] == compliance.BY_CONTACT
