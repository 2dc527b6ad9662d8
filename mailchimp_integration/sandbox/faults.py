"""Faults on demand (latency, errors, hangs, dropped connections) and the connection limit."""
from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field, fields

from .api import ApiResponse, problem

FAULT_KINDS = {"latency", "status", "hang", "drop"}
FAULT_STATUSES = {429, 500, 502, 503, 504, 403}
# Mailchimp's documented limit of simultaneous connections per account.
MAILCHIMP_CONNECTION_LIMIT = 10


def route_regex(route: str) -> re.Pattern:
    """`*` matches one path segment, `**` any run of segments; "*" alone matches every path.

    A route without the `/3.0` prefix gets it, so `/lists/*` and `/3.0/lists/*` mean the same.
    """
    if route in {"*", "**"}:
        return re.compile(r".*")
    if not route.startswith("/3.0"):
        route = "/3.0" + (route if route.startswith("/") else "/" + route)
    pattern = re.escape(route).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.compile(pattern + r"/?")


@dataclass
class Fault:
    id: int
    kind: str
    route: str = "*"
    method: str | None = None
    latency_ms: int = 0
    status: int = 503
    body: bool = True
    retry_after: float | None = None
    seconds: float = 0.0
    times: int | None = None  # None: until cleared
    hits: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False)
    # Set when the fault is removed: a request hanging on it gives up at once, so a test's
    # leftover hang never holds a connection slot into the next test.
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait_out_hang(self) -> bool:
        """Hang for `seconds`; False if the fault was removed meanwhile."""
        return not self._cancelled.wait(self.seconds)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method:
            return False
        return bool(self._regex.fullmatch(path))

    def as_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name[0] != "_"}
        data["remaining"] = None if self.times is None else max(self.times - self.hits, 0)
        return data


class FaultBoard:
    """The faults in force. `take()` returns what a request must suffer, counting it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict) -> Fault:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {sorted(FAULT_KINDS)}, not {kind!r}")
        status = int(spec.get("status", 503))
        if kind == "status" and status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)}")
        times = spec.get("times")
        route = spec.get("route") or "*"
        fault = Fault(
            id=next(self._ids), kind=kind, route=route, method=spec.get("method"),
            latency_ms=int(spec.get("latency_ms", spec.get("ms", 0))), status=status,
            body=bool(spec.get("body", True)), retry_after=spec.get("retry_after"),
            seconds=float(spec.get("seconds", 0)),
            times=None if times in (None, "unlimited") else int(times),
            _regex=route_regex(route),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> tuple[float, Fault | None]:
        """(added latency in seconds, the one disruptive fault or None) for this request.

        Every matching latency fault adds up; of the others the oldest matching one wins.
        """
        latency, disruptive = 0.0, None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.kind == "latency":
                    fault.hits += 1
                    latency += fault.latency_ms / 1000
                elif disruptive is None:
                    fault.hits += 1
                    disruptive = fault
        return latency, disruptive

    def all(self) -> list[dict]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            removed = [fault for fault in self._faults if fault.id == fault_id]
            self._faults = [fault for fault in self._faults if fault.id != fault_id]
        for fault in removed:
            fault._cancelled.set()
        return bool(removed)

    def clear(self) -> None:
        with self._lock:
            removed, self._faults = self._faults, []
        for fault in removed:
            fault._cancelled.set()


class ConnectionGate:
    """Counts API requests in flight; past the limit a request is refused (Mailchimp's 429).

    Idle keep-alive connections are not counted: Mailchimp limits concurrent calls. The peak
    counts refused requests too, so a client that ever opened an 11th call is caught.
    """

    def __init__(self, limit: int = MAILCHIMP_CONNECTION_LIMIT):
        self._lock = threading.Lock()
        self.limit = limit
        self.enabled = True
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self.total = 0

    def enter(self) -> bool:
        """Count a request in; False when it must be refused (it is counted out again)."""
        with self._lock:
            self.in_flight += 1
            self.total += 1
            self.peak = max(self.peak, self.in_flight)
            if self.enabled and self.in_flight > self.limit:
                self.in_flight -= 1
                self.refused += 1
                return False
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def configure(self, *, enabled: bool | None = None, limit: int | None = None) -> None:
        with self._lock:
            if enabled is not None:
                self.enabled = bool(enabled)
            if limit is not None:
                self.limit = int(limit)

    def wait_until_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.in_flight

    def reset_stats(self) -> None:
        with self._lock:
            self.peak = self.in_flight
            self.refused = 0
            self.total = 0

    def stats(self) -> dict:
        with self._lock:
            return {"in_flight": self.in_flight, "peak_in_flight": self.peak,
                    "refused": self.refused, "requests": self.total,
                    "connection_limit": self.limit, "connection_limit_enabled": self.enabled}


def status_fault_response(fault: Fault) -> ApiResponse:
    """The answer of a `status` fault: Mailchimp's problem body (or none), Retry-After."""
    headers = {}
    if fault.retry_after is not None:
        retry_after = float(fault.retry_after)
        headers["Retry-After"] = str(int(retry_after) if retry_after.is_integer()
                                     else retry_after)
    if not fault.body:
        return ApiResponse(fault.status, None, headers)
    titles = {429: "Too Many Requests", 500: "Internal Server Error",
              502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
              403: "Forbidden"}
    details = {429: "You have exceeded the limit of 10 simultaneous connections.",
               403: "The API key provided is linked to a datacenter that is unavailable."}
    return problem(fault.status, titles[fault.status],
                   details.get(fault.status, "An unexpected internal error has occurred. "
                               "Please try again later."), headers=headers)
