"""The control API under /_sandbox/: Mailchimp-side changes, faults, limit, log and stats (JSON).

    POST   /reset                                  back to the startup seed; no faults, log…
    POST   /seed                                   body: a seed; the account becomes it (until
                                                   the next reset)
    GET    /account                                the whole account (debugging)
    POST   /lists                                  {name, member_count?, id?} -> {id}
    PATCH  /lists/{list}                           {name}
    DELETE /lists/{list}
    POST   /lists/{list}/categories                {title, type?, id?} -> {id}
    PATCH  /lists/{list}/categories/{cat}          {title}
    DELETE /lists/{list}/categories/{cat}
    POST   /lists/{list}/categories/{cat}/interests        {name, subscriber_count?, id?} -> {id}
    PATCH  /lists/{list}/categories/{cat}/interests/{id}   {name}
    DELETE /lists/{list}/categories/{cat}/interests/{id}
    POST   /lists/{list}/members-bulk              {members: [{email, status, merge_fields?,
                                                   interests?, last_changed?, timestamp_opt?,
                                                   ip_opt?, timestamp_signup?, ip_signup?}]}
                                                   -> {created}; many members fast (benches):
                                                   no webhooks, no compliance checks
    POST   /lists/{list}/people/subscribe          {email, merge_fields?, interests?, ip?,
                                                   source?}  ip: ip_signup and ip_opt
    POST   /lists/{list}/people/confirm            {email, ip?, source?}  pending ->
                                                   subscribed; ip: ip_opt
    POST   /lists/{list}/people/unsubscribe        {email, reason?, source?}
    POST   /lists/{list}/people/clean              {email, reason?, source?}
    POST   /lists/{list}/people/change-email       {old_email, new_email, source?}
    POST   /lists/{list}/people/update-profile     {email, merge_fields?, interests?, source?}
    GET    /faults   POST /faults {kind, route?, method?, ...}   DELETE /faults[/{id}]
    GET    /connection-limit   PUT /connection-limit {enabled?, limit?}
    GET    /compliance-mode    PUT /compliance-mode {mode: "strict" | "permissive"}
    GET    /requests   DELETE /requests            each API call: method, path, query, params,
                                                   body (parsed JSON), status, time; a POST
                                                   /batches also has `operations`, each
                                                   logged the same way
    GET    /stats      DELETE /stats               peak in-flight etc.; DELETE resets
    GET    /webhook-deliveries[?wait=1]   DELETE /webhook-deliveries
                                                   each attempt (see `webhooks`); wait: until
                                                   no delivery is due within a second
    GET    /webhook-retries   PUT /webhook-retries {delays?: [s, …], timeout?: s}  the retry
                                                   schedule of failed deliveries (default
                                                   60 s … 40 min, 7 attempts) and the 10 s wait
    GET    /webhook-drops   POST /webhook-drops {count?: n, all?: true}   DELETE /webhook-drops
                                                   Mailchimp loses the next n deliveries (or
                                                   all, until DELETE): never sent, recorded
                                                   with dropped: true
    GET    /batch-results/{batch}.tar.gz           a finished batch's response bodies
    POST   /campaigns                              {list_id, id?, title?} -> {id}: a sent
                                                   campaign GET /3.0/campaigns/{id} shows and
                                                   orders' campaign_id may name
    GET    /campaigns/{id}/revenue                 {campaign_id, revenue, orders,
                                                   cancelled_orders}: Σ order_total of the
                                                   orders naming it, cancelled ones left out
    GET    /ecommerce/stores/{store}               the store as stored, with its customers,
                                                   products, orders, carts and promo rules
    GET    /calls                                  {calls: {"PUT /ecommerce/stores/{}/orders/{}":
                                                   n, …}, batched: {…}}: API calls in the
                                                   request log by method and route; `batched`
                                                   counts the operations inside POST /batches

People changes fire the list's webhooks (source "user", "admin" for clean) like Mailchimp.
A person's subscribe or confirm lifts the compliance lock the API cannot (see `compliance`).
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .api import route_kind
from .ecommerce import Ecommerce
from .errors import ApiError

if TYPE_CHECKING:
    from .server import Sandbox

JSON = "application/json"
PEOPLE_ACTIONS = {"subscribe", "confirm", "unsubscribe", "clean", "change-email",
                  "update-profile"}


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def handle(sandbox: Sandbox, method: str, path: str, query_string: str,
           raw_body: bytes) -> tuple[int, bytes, str]:
    """(status, body, content type) for one control request; `path` is after /_sandbox."""
    try:
        body = json.loads(raw_body) if raw_body else {}
        query = {key: values[0] for key, values in parse_qs(query_string).items()}
        result = route(sandbox, method, path.rstrip("/"), query, body)
    except ApiError as error:
        return error.status, _json({"error": error.title, "detail": error.detail}), JSON
    except ControlError as error:
        return error.status, _json({"error": str(error)}), JSON
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return 400, _json({"error": f"bad control request: {error!r}"}), JSON
    if isinstance(result, bytes):
        return 200, result, "application/gzip"
    return 200, _json(result if result is not None else {"ok": True}), JSON


def _json(data) -> bytes:
    return json.dumps(data).encode()


def route(sandbox: Sandbox, method: str, path: str, query: dict, body: dict):
    account = sandbox.account
    parts = path.strip("/").split("/")
    key = (method, parts[0] if parts else "", len(parts))

    if key == ("GET", "health", 1):
        return {"ok": True, "url": sandbox.base_url + "/3.0"}
    if key == ("POST", "reset", 1):
        return sandbox.reset()
    if key == ("POST", "seed", 1):
        return account.load_seed(body)
    if key == ("GET", "account", 1):
        return account.dump()
    if parts[0] == "lists":
        return _lists_route(sandbox, method, parts[1:], body)
    if parts[0] == "faults":
        if method == "GET" and len(parts) == 1:
            return sandbox.faults.all()
        if method == "POST" and len(parts) == 1:
            return sandbox.faults.add(body).as_json()
        if method == "DELETE" and len(parts) == 1:
            return sandbox.faults.clear()
        if method == "DELETE" and len(parts) == 2:
            if not sandbox.faults.remove(int(parts[1])):
                raise ControlError(404, "no such fault")
            return None
    if parts[0] == "connection-limit" and len(parts) == 1:
        if method == "PUT":
            sandbox.gate.configure(enabled=body.get("enabled"), limit=body.get("limit"))
        if method in {"GET", "PUT"}:
            stats = sandbox.gate.stats()
            return {"enabled": stats["connection_limit_enabled"],
                    "limit": stats["connection_limit"]}
    if parts[0] == "compliance-mode" and len(parts) == 1:
        if method == "PUT":
            account.set_compliance_mode(body["mode"])
        if method in {"GET", "PUT"}:
            return {"mode": account.compliance_mode()}
    if key == ("GET", "requests", 1):
        return sandbox.logged_requests()
    if key == ("DELETE", "requests", 1):
        return sandbox.clear_log()
    if key == ("GET", "stats", 1):
        return sandbox.gate.stats()
    if key == ("DELETE", "stats", 1):
        return sandbox.gate.reset_stats()
    if key == ("GET", "webhook-deliveries", 1):
        if query.get("wait"):
            sandbox.webhooks.wait_idle(float(query.get("timeout", 10)))
        return sandbox.webhooks.deliveries()
    if key == ("DELETE", "webhook-deliveries", 1):
        return sandbox.webhooks.clear()
    if parts[0] == "webhook-retries" and len(parts) == 1:
        if method == "PUT":
            return sandbox.webhooks.configure(delays=body.get("delays"),
                                              timeout=body.get("timeout"))
        if method == "GET":
            return sandbox.webhooks.settings()
    if parts[0] == "webhook-drops" and len(parts) == 1:
        if method == "POST":
            return sandbox.webhooks.drop(count=body.get("count"), everything=body.get("all"))
        if method == "DELETE":
            return sandbox.webhooks.stop_dropping()
        if method == "GET":
            return sandbox.webhooks.drops()
    if key == ("GET", "batch-results", 2):
        match = re.fullmatch(r"(\w+)\.tar\.gz", parts[1])
        if match:
            return sandbox.batches.results(match.group(1))
    if parts[0] in {"campaigns", "ecommerce", "calls"}:
        return _ecommerce_route(sandbox, method, parts, body)
    raise ControlError(404, f"no control route {method} /_sandbox{path}")


def _ecommerce_route(sandbox: Sandbox, method: str, parts: list[str], body: dict):
    shop = Ecommerce(sandbox.account)
    if (method, parts) == ("POST", ["campaigns"]):
        return {"id": shop.campaign_create(body["list_id"], campaign_id=body.get("id"),
                                           title=body.get("title", ""))}
    if method == "GET" and len(parts) == 3 and parts[0] == "campaigns" and \
            parts[2] == "revenue":
        return shop.campaign_revenue(parts[1])
    if method == "GET" and len(parts) == 3 and parts[:2] == ["ecommerce", "stores"]:
        return shop.store_state(parts[2])
    if (method, parts) == ("GET", ["calls"]):
        calls: dict[str, int] = {}
        batched: dict[str, int] = {}
        for entry in sandbox.logged_requests():
            kind = f"{entry['method']} {route_kind(entry['path'])}"
            calls[kind] = calls.get(kind, 0) + 1
            for operation in entry.get("operations") or []:
                kind = f"{operation['method']} {route_kind(operation['path'])}"
                batched[kind] = batched.get(kind, 0) + 1
        return {"calls": calls, "batched": batched}
    raise ControlError(404, f"no control route {method} /_sandbox/{'/'.join(parts)}")


def _lists_route(sandbox: Sandbox, method: str, parts: list[str], body: dict):
    account = sandbox.account
    depth = len(parts)
    if method == "POST" and depth == 0:
        return {"id": account.list_create(body["name"], list_id=body.get("id"),
                                          member_count=body.get("member_count", 0))}
    list_id = parts[0]
    if depth == 1:
        if method == "PATCH":
            return account.list_rename(list_id, body["name"])
        if method == "DELETE":
            return account.list_delete(list_id)
    if depth == 2 and parts[1] == "marketing-permissions" and method == "PUT":
        return {"ids": account.list_marketing_permissions_set(list_id, list(body["texts"]))}
    if depth == 2 and parts[1] == "members-bulk" and method == "POST":
        return {"created": account.members_bulk_add(list_id, body["members"])}
    if depth >= 2 and parts[1] == "people" and method == "POST" and depth == 3:
        return _person_action(sandbox, list_id, parts[2], body)
    if depth >= 2 and parts[1] == "categories":
        if method == "POST" and depth == 2:
            return {"id": account.category_create(
                list_id, body["title"], category_id=body.get("id"),
                category_type=body.get("type", "checkboxes"))}
        category_id = parts[2] if depth >= 3 else None
        if depth == 3 and method == "PATCH":
            return account.category_rename(list_id, category_id, body["title"])
        if depth == 3 and method == "DELETE":
            return account.category_delete(list_id, category_id)
        if depth == 4 and parts[3] == "interests" and method == "POST":
            return {"id": account.interest_create(
                list_id, category_id, body["name"], interest_id=body.get("id"),
                subscriber_count=body.get("subscriber_count", 0))}
        if depth == 5 and parts[3] == "interests":
            if method == "PATCH":
                return account.interest_rename(list_id, category_id, parts[4], body["name"])
            if method == "DELETE":
                return account.interest_delete(list_id, category_id, parts[4])
    raise ControlError(404, f"no control route {method} /_sandbox/lists/{'/'.join(parts)}")


def _person_action(sandbox: Sandbox, list_id: str, action: str, body: dict):
    account = sandbox.account
    if action not in PEOPLE_ACTIONS:
        raise ControlError(404, f"unknown person action {action!r}")
    extra = {"source": body["source"]} if "source" in body else {}
    if action == "subscribe":
        return account.person_subscribe(list_id, body["email"], merge_fields=body.get(
            "merge_fields"), interests=body.get("interests"), ip=body.get("ip"), **extra)
    if action == "confirm":
        return account.person_confirm(list_id, body["email"], ip=body.get("ip"), **extra)
    if action == "update-profile":
        return account.person_update_profile(list_id, body["email"], merge_fields=body.get(
            "merge_fields"), interests=body.get("interests"), **extra)
    if action == "unsubscribe":
        return account.person_unsubscribe(list_id, body["email"],
                                          reason=body.get("reason", "manual"), **extra)
    if action == "clean":
        return account.person_clean(list_id, body["email"], reason=body.get("reason", "hard"),
                                    **extra)
    return account.person_change_email(list_id, body["old_email"], body["new_email"], **extra)
