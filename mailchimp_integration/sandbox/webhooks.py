"""Webhook delivery as Mailchimp does it: a GET to check the URL, then form-encoded POSTs,
retried for over an hour when the receiver fails."""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from datetime import UTC, datetime

import requests

# Mailchimp gives a webhook 10 s to answer; the URL check is kept short so a test fails fast.
DELIVERY_TIMEOUT = 10
URL_CHECK_TIMEOUT = 2
# The wait before each retry of a failed delivery, in seconds: Mailchimp retries "for a
# while" (about 75 minutes); these seven attempts span 78. Tests shorten them.
DEFAULT_RETRY_DELAYS = (60, 120, 300, 600, 1200, 2400)
# `wait_idle` waits for what is due within this many seconds, not for later retries.
IDLE_HORIZON = 1.0


def url_answers(url: str) -> bool:
    """Mailchimp's check before it saves a webhook: the URL must answer a GET with 2xx."""
    try:
        return requests.get(url, timeout=URL_CHECK_TIMEOUT).ok
    except requests.RequestException:
        return False


def form_fields(event_type: str, data: dict, fired_at: str) -> list[tuple[str, str]]:
    """Flatten to Mailchimp's PHP-style form fields: data[merges][FNAME]=Ann."""
    fields = [("type", event_type), ("fired_at", fired_at)]

    def flatten(prefix: str, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}[{key}]", inner)
        else:
            fields.append((prefix, "" if value is None else str(value)))

    flatten("data", data)
    return fields


class WebhookDispatcher:
    """Sends webhook POSTs from one background thread, in order, and records each attempt.

    An attempt fails on no connection, no answer within `timeout`, or a status other than
    2xx (redirects are not followed); it is retried after the next of `retry_delays`, then
    given up. Waiting retries sit in a heap of due times, so they hold up no other delivery.
    The drop switch makes Mailchimp lose deliveries: never sent, recorded `dropped`.
    """

    def __init__(self, *, retry_delays=DEFAULT_RETRY_DELAYS, timeout: float = DELIVERY_TIMEOUT):
        self._defaults = (tuple(retry_delays), timeout)
        self.retry_delays, self.timeout = self._defaults
        self._ready = threading.Condition()
        self._due: list[tuple[float, int, dict]] = []  # (monotonic due time, order, job)
        self._order = itertools.count()
        self._in_flight = False
        # Bumped by a reset: the attempt in flight then is neither recorded nor retried.
        self._generation = 0
        self._deliveries: list[dict] = []
        self._drop_next, self._drop_all = 0, False
        self._session = requests.Session()
        threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True).start()

    def fire(self, list_id: str, event_type: str, source: str, data: dict, urls: list[str]):
        """Queue one delivery for each URL; safe to call while holding the account lock.

        Whether it is dropped is settled here, so a drop switch never reaches events fired
        before it was set."""
        fired_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = form_fields(event_type, data, fired_at)
        with self._ready:
            for url in urls:
                dropped = self._drop_all or self._drop_next > 0
                if dropped and not self._drop_all:
                    self._drop_next -= 1
                self._push(0, {"list_id": list_id, "type": event_type, "source": source,
                               "url": url, "fired_at": fired_at, "form": fields,
                               "attempt": 1, "dropped": dropped})
            self._ready.notify_all()

    def _push(self, delay: float, job: dict) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), job))

    def _run(self):
        while True:
            with self._ready:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._ready.wait(max(0.0, self._due[0][0] - time.monotonic())
                                     if self._due else None)
                job = heapq.heappop(self._due)[2]
                self._in_flight = True
                generation, timeout = self._generation, self.timeout
            record = self._attempt(job, timeout)
            with self._ready:
                self._in_flight = False
                if generation == self._generation:
                    failed = not job["dropped"] and not (
                        record["status_code"] and 200 <= record["status_code"] < 300)
                    record["retry_in"] = None
                    if failed and job["attempt"] <= len(self.retry_delays):
                        record["retry_in"] = self.retry_delays[job["attempt"] - 1]
                        self._push(record["retry_in"], {**job, "attempt": job["attempt"] + 1})
                    self._deliveries.append(record)
                self._ready.notify_all()

    def _attempt(self, job: dict, timeout: float) -> dict:
        record = {key: job[key] for key in ("list_id", "type", "source", "url", "fired_at",
                                            "attempt", "dropped")}
        record.update(data=dict(job["form"]), status_code=None, error=None, duration_ms=0)
        if job["dropped"]:
            return record
        started = time.monotonic()
        try:
            # One connection per delivery, as Mailchimp's own: nothing held open on the
            # store's side between events.
            response = self._session.post(job["url"], data=job["form"],
                                          headers={"Connection": "close"}, timeout=timeout,
                                          allow_redirects=False)
            record["status_code"] = response.status_code
        except requests.RequestException as error:
            record["error"] = str(error)
        record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        return record

    def deliveries(self) -> list[dict]:
        """Every attempt, oldest first: list_id, type, source, url, fired_at, data (the form
        fields), attempt (1, 2, …), dropped, status_code, error, duration_ms, and retry_in
        (seconds until the next attempt; None when delivered, dropped or given up)."""
        with self._ready:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._ready:
            self._deliveries.clear()

    def reset(self) -> None:
        """Nothing recorded, queued, retried or dropped; the default schedule and timeout."""
        with self._ready:
            self._generation += 1
            self._due.clear()
            self._deliveries.clear()
            self._drop_next, self._drop_all = 0, False
            self.retry_delays, self.timeout = self._defaults
            self._ready.notify_all()

    def settings(self) -> dict:
        with self._ready:
            return {"delays": list(self.retry_delays), "timeout": self.timeout}

    def configure(self, *, delays: list | None = None, timeout: float | None = None) -> dict:
        """Change the retry schedule (applies to retries scheduled from now) or the timeout."""
        if delays is not None and (not isinstance(delays, list) or any(
                not isinstance(d, int | float) or d < 0 for d in delays)):
            raise ValueError(f"delays must be a list of seconds, not {delays!r}")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        with self._ready:
            if delays is not None:
                self.retry_delays = tuple(delays)
            if timeout is not None:
                self.timeout = timeout
        return self.settings()

    def drop(self, *, count: int | None = None, everything: bool | None = None) -> dict:
        """Lose the next `count` deliveries (one per webhook URL an event goes to), or all
        of them (`everything`) until `stop_dropping`."""
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError(f"count must be a whole number, not {count!r}")
        with self._ready:
            if count is not None:
                self._drop_next = count
            if everything is not None:
                self._drop_all = bool(everything)
        return self.drops()

    def stop_dropping(self) -> dict:
        with self._ready:
            self._drop_next, self._drop_all = 0, False
        return self.drops()

    def drops(self) -> dict:
        with self._ready:
            return {"count": self._drop_next, "all": self._drop_all}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is in flight and nothing is due within IDLE_HORIZON seconds: a
        retry due later does not count (its attempt shows in `deliveries` once made)."""
        with self._ready:
            return self._ready.wait_for(self._idle, timeout)

    def _idle(self) -> bool:
        return not self._in_flight and (
            not self._due or self._due[0][0] > time.monotonic() + IDLE_HORIZON)
