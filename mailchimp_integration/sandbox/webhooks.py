"""Webhook delivery as Mailchimp does it: a GET to check the URL, then form-encoded POSTs."""
from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime

import requests

# Mailchimp gives a webhook 10 s to answer; the URL check is kept short so a test fails fast.
DELIVERY_TIMEOUT = 10
URL_CHECK_TIMEOUT = 2


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
    """Sends webhook POSTs from one background thread, in order, and records each attempt."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._deliveries: list[dict] = []
        self._idle = threading.Event()
        self._idle.set()
        self._session = requests.Session()
        threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True).start()

    def fire(self, list_id: str, event_type: str, source: str, data: dict, urls: list[str]):
        """Queue one event for each URL; safe to call while holding the account lock."""
        fired_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = form_fields(event_type, data, fired_at)
        for url in urls:
            self._idle.clear()
            self._queue.put({"list_id": list_id, "type": event_type, "source": source,
                             "url": url, "fired_at": fired_at, "form": fields})

    def _run(self):
        while True:
            job = self._queue.get()
            started = time.monotonic()
            record = {key: job[key] for key in ("list_id", "type", "source", "url", "fired_at")}
            record["data"] = dict(job["form"])
            try:
                # One connection per delivery, as Mailchimp's own: nothing held open on the
                # store's side between events.
                response = self._session.post(job["url"], data=job["form"],
                                              headers={"Connection": "close"},
                                              timeout=DELIVERY_TIMEOUT)
                record.update(status_code=response.status_code, error=None)
            except requests.RequestException as error:
                record.update(status_code=None, error=str(error))
            record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            with self._lock:
                self._deliveries.append(record)
            if self._queue.empty():
                self._idle.set()

    def deliveries(self) -> list[dict]:
        with self._lock:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self._idle.wait(timeout)
