"""A small HTTP client of the sandbox's control API: works against a sandbox in any process."""
from __future__ import annotations

import requests

TIMEOUT = 15


class SandboxControl:
    """Drive a running sandbox: Mailchimp-side changes, faults, the request log and stats.

    `url` is the API base (`http://127.0.0.1:PORT/3.0`), what the store's MAILCHIMP_API_URL
    gets; `api_key` the key the sandbox accepts. See `pytest_plugin` for the whole API.
    """

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.base_url = self.url.rsplit("/3.0", 1)[0]
        self.control_url = self.base_url + "/_sandbox"
        self._session = requests.Session()

    def _call(self, method: str, path: str, json=None, params=None):
        response = self._session.request(method, self.control_url + path, json=json,
                                         params=params, timeout=TIMEOUT)
        if response.status_code >= 400:
            raise SandboxControlError(f"{method} /_sandbox{path}: {response.status_code} "
                                      f"{response.text}")
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response.content

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------- the whole account
    def health(self) -> dict:
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Back to the startup seed; faults, request log, stats, batches, deliveries cleared."""
        self._call("POST", "/reset")

    def load_seed(self, seed: dict) -> None:
        """Make the account `seed`'s (shape: see seed.load_seed) until the next reset."""
        self._call("POST", "/seed", json=seed)

    def account(self) -> dict:
        return self._call("GET", "/account")

    def set_compliance_mode(self, mode: str) -> None:
        """"strict" (the default after a reset): no member who unsubscribed or bounced can be
        subscribed by the API. "permissive": those unsubscribed through the API can be, as some
        Mailchimp accounts allow; a person's own unsubscribe and a bounce still lock."""
        self._call("PUT", "/compliance-mode", json={"mode": mode})

    def compliance_mode(self) -> str:
        return self._call("GET", "/compliance-mode")["mode"]

    # ------------------------------------------------------------- audiences and groups
    def create_list(self, name: str, *, member_count: int = 0, list_id: str | None = None) -> str:
        body = {"name": name, "member_count": member_count}
        if list_id:
            body["id"] = list_id
        return self._call("POST", "/lists", json=body)["id"]

    def set_marketing_permissions(self, list_id: str, texts: list[str]) -> list[str]:
        """Switch the audience's GDPR fields on with these permissions (off: []); their ids."""
        return self._call("PUT", f"/lists/{list_id}/marketing-permissions",
                          json={"texts": texts})["ids"]

    def members_bulk(self, list_id: str, members: list[dict]) -> int:
        """Many members at once (benches): [{email, status, merge_fields?, interests?,
        last_changed?, …}]; no webhooks, no compliance checks. Returns how many were stored."""
        return self._call("POST", f"/lists/{list_id}/members-bulk",
                          json={"members": members})["created"]

    # ------------------------------------------------------------- campaigns and e-commerce
    def create_campaign(self, list_id: str, *, campaign_id: str | None = None,
                        title: str = "") -> str:
        """A sent campaign to the audience: GET /3.0/campaigns/{id} shows it and orders may
        name it in campaign_id (an unknown one is a 400)."""
        body = {"list_id": list_id, "title": title}
        if campaign_id:
            body["id"] = campaign_id
        return self._call("POST", "/campaigns", json=body)["id"]

    def campaign_revenue(self, campaign_id: str) -> dict:
        """{campaign_id, revenue, orders, cancelled_orders}: Σ order_total of the orders that
        name the campaign, cancelled ones (financial_status "cancelled" or
        cancelled_at_foreign set) left out; refunded ones at their order_total."""
        return self._call("GET", f"/campaigns/{campaign_id}/revenue")

    def ecommerce_store(self, store_id: str) -> dict:
        """The store as stored, with its customers, products, orders, carts, promo rules."""
        return self._call("GET", f"/ecommerce/stores/{store_id}")

    def call_counts(self) -> dict:
        """{"calls": {"PUT /ecommerce/stores/{}/orders/{}": n, …}, "batched": {…}}: the
        request log by method and route; `batched` counts operations inside POST /batches."""
        return self._call("GET", "/calls")

    def rename_list(self, list_id: str, name: str) -> None:
        self._call("PATCH", f"/lists/{list_id}", json={"name": name})

    def delete_list(self, list_id: str) -> None:
        self._call("DELETE", f"/lists/{list_id}")

    def create_category(self, list_id: str, title: str, *, type: str = "checkboxes") -> str:  # noqa: A002
        return self._call("POST", f"/lists/{list_id}/categories",
                          json={"title": title, "type": type})["id"]

    def rename_category(self, list_id: str, category_id: str, title: str) -> None:
        self._call("PATCH", f"/lists/{list_id}/categories/{category_id}", json={"title": title})

    def delete_category(self, list_id: str, category_id: str) -> None:
        self._call("DELETE", f"/lists/{list_id}/categories/{category_id}")

    def create_interest(self, list_id: str, category_id: str, name: str, *,
                        subscriber_count: int = 0) -> str:
        return self._call("POST", f"/lists/{list_id}/categories/{category_id}/interests",
                          json={"name": name, "subscriber_count": subscriber_count})["id"]

    def rename_interest(self, list_id: str, category_id: str, interest_id: str, name: str):
        self._call("PATCH", f"/lists/{list_id}/categories/{category_id}/interests/{interest_id}",
                   json={"name": name})

    def delete_interest(self, list_id: str, category_id: str, interest_id: str) -> None:
        self._call("DELETE",
                   f"/lists/{list_id}/categories/{category_id}/interests/{interest_id}")

    # ------------------------------------------------------------- what people do (webhooks fire)
    def subscribe(self, list_id: str, email: str, *, merge_fields: dict | None = None,
                  interests: dict | None = None, source: str = "user") -> dict:
        """A person signs up on Mailchimp's form or confirms: lifts a compliance state."""
        return self._person(list_id, "subscribe", email=email, merge_fields=merge_fields,
                            interests=interests, source=source)

    def confirm(self, list_id: str, email: str, *, source: str = "user") -> dict:
        """The person clicks the link in Mailchimp's confirmation e-mail: their pending member
        becomes subscribed (a `subscribe` webhook fires) and any compliance lock is lifted.
        Refused (SandboxControlError) unless the member is pending."""
        return self._person(list_id, "confirm", email=email, source=source)

    def unsubscribe(self, list_id: str, email: str, *, reason: str = "manual",
                    source: str = "user") -> dict:
        return self._person(list_id, "unsubscribe", email=email, reason=reason, source=source)

    def clean(self, list_id: str, email: str, *, reason: str = "hard",
              source: str = "admin") -> dict:
        return self._person(list_id, "clean", email=email, reason=reason, source=source)

    def change_email(self, list_id: str, old_email: str, new_email: str, *,
                     source: str = "user") -> dict:
        return self._person(list_id, "change-email", old_email=old_email, new_email=new_email,
                            source=source)

    def update_profile(self, list_id: str, email: str, *, merge_fields: dict | None = None,
                       interests: dict | None = None, source: str = "user") -> dict:
        return self._person(list_id, "update-profile", email=email, merge_fields=merge_fields,
                            interests=interests, source=source)

    def _person(self, list_id: str, action: str, **body) -> dict:
        return self._call("POST", f"/lists/{list_id}/people/{action}",
                          json={k: v for k, v in body.items() if v is not None})

    # ------------------------------------------------------------- faults
    def add_fault(self, kind: str, *, route: str = "*", method: str | None = None,
                  times: int | None = None, **options) -> dict:
        """kind: latency (latency_ms) | status (status, body, retry_after) | hang (seconds) |
        drop. route: "*" or a path pattern ("/lists/*/members/*"; * = one segment)."""
        return self._call("POST", "/faults", json={
            "kind": kind, "route": route, "method": method, "times": times, **options})

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")

    def remove_fault(self, fault_id: int) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_latency(self, seconds: float, *, route: str = "*", method: str | None = None):
        """Every matching call waits `seconds` (replacing earlier latency); 0 removes it."""
        for fault in self.faults():
            if fault["kind"] == "latency":
                self.remove_fault(fault["id"])
        if seconds:
            self.add_fault("latency", route=route, method=method,
                           latency_ms=round(seconds * 1000))

    def fail_status(self, status: int, *, times: int | None = 1, body: bool = True,
                    retry_after: float | None = None, route: str = "*",
                    method: str | None = None) -> dict:
        return self.add_fault("status", route=route, method=method, times=times, status=status,
                              body=body, retry_after=retry_after)

    def fail_429(self, *, times: int | None = 1, body: bool = True,
                 retry_after: float | None = None, route: str = "*",
                 method: str | None = None) -> dict:
        return self.fail_status(429, times=times, body=body, retry_after=retry_after,
                                route=route, method=method)

    def hang(self, seconds: float, *, times: int | None = 1, route: str = "*",
             method: str | None = None) -> dict:
        """Calls wait `seconds`, then complete: longer than the client's timeout, a timeout."""
        return self.add_fault("hang", route=route, method=method, times=times, seconds=seconds)

    def drop(self, *, times: int | None = 1, route: str = "*", method: str | None = None):
        """Close the connection without a response."""
        return self.add_fault("drop", route=route, method=method, times=times)

    def set_connection_limit(self, enabled: bool = True, limit: int | None = None) -> None:
        body = {"enabled": enabled}
        if limit is not None:
            body["limit"] = limit
        self._call("PUT", "/connection-limit", json=body)

    # ------------------------------------------------------------- what was sent
    def request_log(self) -> list[dict]:
        """Each API call: method, path ("/3.0/…"), query (raw), params (dict), body (parsed
        JSON, or the text when it was not JSON), status, time, duration_ms. A POST /batches
        entry also has `operations`: each operation logged the same way (its JSON-string
        body parsed) plus its operation_id."""
        return self._call("GET", "/requests")

    def requests_to(self, path_suffix: str, *, method: str | None = None,
                    batched: bool = True) -> list[dict]:
        """The logged calls whose path ends with `path_suffix` (and are `method`'s, if given),
        oldest first: what the store sent, to assert on.

            [put] = sandbox.requests_to(f"/members/{member_hash}", method="PUT")
            assert put["body"]["status_if_new"] == "pending"

        With `batched` (the default) the operations inside POST /batches calls count too,
        each as an entry of its own marked `"batch": True`, right after its batch's entry;
        `batched=False` gives only what was sent as HTTP calls.
        """
        suffix = path_suffix.rstrip("/")
        wanted = method.upper() if method else None
        found = []
        for entry in self.request_log():
            candidates = [entry]
            if batched:
                candidates += [{**operation, "batch": True}
                               for operation in entry.get("operations", [])]
            found += [candidate for candidate in candidates
                      if candidate["path"].rstrip("/").endswith(suffix)
                      and (wanted is None or candidate["method"] == wanted)]
        return found

    def requests(self) -> list[str]:
        """Each API call as "METHOD /3.0/path?query" (query exactly as sent)."""
        return [f"{entry['method']} {entry['path']}" + (f"?{entry['query']}"
                                                         if entry["query"] else "")
                for entry in self.request_log()]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def stats(self) -> dict:
        """in_flight, peak_in_flight, refused (by the limit), requests, connection_limit…"""
        return self._call("GET", "/stats")

    def peak_concurrency(self) -> int:
        return self.stats()["peak_in_flight"]

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def webhook_deliveries(self, *, wait: bool = True, timeout: float = 10) -> list[dict]:
        """Webhook POSTs sent so far; with `wait`, after the queued ones are delivered."""
        params = {"wait": "1", "timeout": str(timeout)} if wait else None
        return self._call("GET", "/webhook-deliveries", params=params)

    def clear_webhook_deliveries(self) -> None:
        self._call("DELETE", "/webhook-deliveries")

    def batch_results(self, batch_id: str) -> bytes:
        return self._call("GET", f"/batch-results/{batch_id}.tar.gz")

    # ------------------------------------------------------------- clients
    def official_client(self, *, timeout: float | None = None):
        """The official `mailchimp-marketing` client pointed at this sandbox.

        Tests of the sandbox use it to prove compatibility; the store goes through
        mailchimp_integration/client.py.
        """
        from mailchimp_marketing import Client

        client = Client()
        config = {"api_key": self.api_key, "server": "us6"}
        if timeout is not None:
            config["timeout"] = timeout
        client.set_config(config)
        client.api_client.host = self.url  # set_config does not set the base URL
        return client


class SandboxControlError(RuntimeError):
    """The control API refused a call (unknown list, bad fault…)."""
