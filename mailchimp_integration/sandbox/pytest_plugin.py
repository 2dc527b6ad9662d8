"""Pytest fixtures: a Mailchimp sandbox on a free port for the session, reset for each test.

Fixtures
    mailchimp_sandbox_server  (session) the running sandbox, in a background thread:
                              .url, .base_url, .api_key, .sandbox (the in-process object), .stop()
    mailchimp_sandbox         (function) a `SandboxControl` handle on that server, reset to the
                              demo seed with no faults, request log, stats, batches or webhook
                              deliveries; connection limit on; compliance mode strict. Faults
                              are cleared again after.
    sandbox_compliance_mode   (function, parametrised) runs the test once per compliance mode,
                              "strict" then "permissive", with `mailchimp_sandbox` switched to
                              it; the value is the mode. Ask for it to prove a behaviour holds
                              whatever the account's mode:

        def test_an_opt_out_stays_out(connected, sandbox_compliance_mode): ...
            # -> test_an_opt_out_stays_out[strict], test_an_opt_out_stays_out[permissive]

                              or pin one mode:
        @pytest.mark.parametrize("sandbox_compliance_mode", ["permissive"], indirect=True)

                              (A later `.reset()` returns to strict; `.load_seed()` keeps it.)

The handle (mailchimp_integration.sandbox.control.SandboxControl) talks HTTP to the control API,
so the same calls work from another process (a Celery worker) on the same URL:

    .url                 "http://127.0.0.1:PORT/3.0"  (MAILCHIMP_API_URL)
    .api_key             the key the sandbox accepts ("…-us6")
    .official_client(timeout=None)   mailchimp_marketing.Client pointed at the sandbox
    .reset() .load_seed(seed) .account()
    .set_compliance_mode("strict" | "permissive")  .compliance_mode()
        strict: no member who unsubscribed (by themselves, by staff or through the API) or was
        cleaned can be made `subscribed` by the API: 400 "Member In Compliance State", from
        PUT/PATCH, as a per-member error of POST /lists/{id}, and inside /batches. The API may
        set `pending` (Mailchimp e-mails a confirmation), except for a cleaned member; the
        member stays locked while pending until the person confirms (`.confirm`).
        permissive: members unsubscribed through the API may be subscribed again by the API;
        the person's own unsubscribe, staff's and a bounce still lock.
  Mailchimp-side changes (ids are 10 hex chars, deterministic after a reset):
    .create_list(name, member_count=0) -> id     .rename_list(id, name)   .delete_list(id)
    .create_category(list, title, type="checkboxes") -> id
    .rename_category(list, cat, title)           .delete_category(list, cat)
    .create_interest(list, cat, name, subscriber_count=0) -> id
    .rename_interest(list, cat, interest, name)  .delete_interest(list, cat, interest)
  What people do (each fires the list's webhooks as Mailchimp does; returns the member):
    .subscribe(list, email, merge_fields=, interests=)   (signs up on Mailchimp's form: lifts
                                                          any compliance lock)
    .confirm(list, email)   (clicks the confirmation link: pending -> subscribed; refused
                             unless pending)
    .unsubscribe(list, email, reason="manual")  .clean(list, email, reason="hard")
    .change_email(list, old, new)                .update_profile(list, email, merge_fields=, …)
  Faults (route "*" or a pattern such as "/lists/*/members/*", method optional,
  times=N or None for until cleared):
    .set_latency(seconds, route="*")   .fail_429(times=1, body=True, retry_after=None, route=)
    .fail_status(500|503, times=1, body=True, retry_after=None)
    .hang(seconds, times=1)  (answers after `seconds`: past the client's timeout, a timeout)
    .drop(times=1)           (closes the connection without a response)
    .add_fault(kind, route=, method=, times=, **options) .faults() .remove_fault(id) .clear_faults()
    .set_connection_limit(enabled=True, limit=10)   (the 11th simultaneous call gets a 429)
  Campaigns and e-commerce (the /3.0/ecommerce endpoints themselves: see `ecommerce`):
    .create_campaign(list_id, campaign_id=None, title="") -> id   a sent campaign that
        GET /3.0/campaigns/{id} shows and orders' campaign_id may name (unknown: 400)
    .campaign_revenue(campaign_id) -> {campaign_id, revenue, orders, cancelled_orders}
        Σ order_total of its orders; cancelled ones (financial_status "cancelled" or
        cancelled_at_foreign set) left out, refunded ones at their order_total
    .ecommerce_store(store_id) -> the store as stored, customers, products, orders… included
    .call_counts() -> {"calls": {"PUT /ecommerce/stores/{}/orders/{}": 1, …}, "batched": {…}}
  What was sent:
    .requests() -> ["GET /3.0/lists?count=1000&fields=…", …]
    .request_log() -> [{method, path, query, params, body (parsed JSON), status, time, …}]
    .requests_to(path_suffix, method=None, batched=True) -> the entries whose path ends with
        `path_suffix`; operations sent inside POST /batches are included (marked "batch"):
        [put] = sandbox.requests_to(f"/members/{member_hash}", method="PUT")
        assert put["body"]["status_if_new"] == "pending"
    .clear_requests()  .stats()  .peak_concurrency()  .reset_stats()
    .webhook_deliveries(wait=True) -> [{url, type, source, data: {form fields}, status_code}]
    .batch_results(batch_id) -> bytes of the .tar.gz
"""
from __future__ import annotations

import pytest

from .compliance import COMPLIANCE_MODES
from .control import SandboxControl
from .server import DEFAULT_API_KEY, start_in_thread


@pytest.fixture(scope="session")
def mailchimp_sandbox_server():
    running = start_in_thread(api_key=DEFAULT_API_KEY)
    yield running
    running.stop()


@pytest.fixture
def mailchimp_sandbox(mailchimp_sandbox_server):
    control = SandboxControl(mailchimp_sandbox_server.url, mailchimp_sandbox_server.api_key)
    control.reset()
    yield control
    # A hang or drop left behind would spoil the next test that reaches the server first.
    control.clear_faults()
    control.set_connection_limit(True)
    control.close()


@pytest.fixture(params=COMPLIANCE_MODES)
def sandbox_compliance_mode(request, mailchimp_sandbox) -> str:
    """The test runs once in each compliance mode ("strict", "permissive"), the sandbox set."""
    mailchimp_sandbox.set_compliance_mode(request.param)
    return request.param
