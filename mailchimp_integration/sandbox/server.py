"""The HTTP layer: a threaded HTTP/1.1 server for /3.0 (auth, limit, faults, log) and /_sandbox."""
from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from . import control_api
from .api import ApiRequest, ApiResponse, dispatch, parse_json, problem
from .batches import BatchRunner
from .errors import ApiError
from .faults import ConnectionGate, FaultBoard, status_fault_response
from .seed import demo_seed
from .state import Account
from .webhooks import WebhookDispatcher

API_PREFIX = "/3.0"
CONTROL_PREFIX = "/_sandbox"
DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us6"
REQUEST_LOG_LIMIT = 100_000
STATE_SAVE_DELAY = 0.5


class StateFile:
    """Saves the account to a JSON file shortly after changes (debounced) and at shutdown."""

    def __init__(self, path: str):
        self.path = path
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.account: Account | None = None

    def load(self) -> dict | None:
        if not os.path.exists(self.path):
            return None
        with open(self.path) as handle:
            return json.load(handle)

    def schedule(self) -> None:
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(STATE_SAVE_DELAY, self.save)
                self._timer.daemon = True
                self._timer.start()

    def save(self) -> None:
        with self._lock:
            self._timer = None
        if self.account is None:
            return
        data = self.account.dump()
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        # Write then rename, so a crash never leaves half a file.
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as handle:
            json.dump(data, handle)
        os.replace(handle.name, self.path)


class Sandbox:
    """Everything one sandbox holds: the account, faults, limit, log, webhooks, batches."""

    def __init__(self, *, seed: dict | None = None, api_key: str = DEFAULT_API_KEY,
                 state_path: str | None = None):
        self.api_key = api_key
        self.base_url = ""  # set once the server has a port
        self.faults = FaultBoard()
        self.gate = ConnectionGate()
        self.webhooks = WebhookDispatcher()
        self.batches = BatchRunner(self)
        self._log_lock = threading.Lock()
        self.request_log: deque[dict] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.state_file = StateFile(state_path) if state_path else None
        saved = self.state_file.load() if self.state_file else None
        self.account = Account(
            seed if seed is not None else demo_seed(),
            on_event=self.webhooks.fire,
            on_change=self.state_file.schedule if self.state_file else None,
        )
        if saved is not None:
            # The saved account replaces the seed until the next reset.
            self.account.adopt(saved)
        if self.state_file:
            self.state_file.account = self.account

    def reset(self) -> None:
        """Back to the seed, with no faults, log, stats, batches or webhook deliveries (none
        pending or dropped either, and the default retry schedule)."""
        self.faults.clear()
        # Cancelled hangs need a moment to count themselves out of the limit.
        self.gate.wait_until_idle(timeout=1.0)
        self.account.reset()
        self.gate.configure(enabled=True)
        self.gate.reset_stats()
        self.batches.clear()
        self.webhooks.reset()
        self.clear_log()

    def key_is_valid(self, key: str) -> bool:
        # A key is "<32 hex>-<datacenter>"; a sandbox started with a bare key takes any suffix.
        return key == self.api_key or key.rsplit("-", 1)[0] == self.api_key

    def log_request(self, entry: dict) -> None:
        with self._log_lock:
            self.request_log.append(entry)

    def logged_requests(self) -> list[dict]:
        with self._log_lock:
            return list(self.request_log)

    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server_version = "MailchimpSandbox/1.0"
    disable_nagle_algorithm = True
    # Buffered writes: status line, headers and body leave in one send (flushed per request).
    wbufsize = -1

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Quiet: the request log is the record."""

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def handle_any(self) -> None:
        url = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True  # the body's end is unknown: nothing more to read
            self.send_api(problem(400, "Bad Request", "The Content-Length header is invalid."))
            return
        raw_body = self.rfile.read(length) if length else b""
        if url.path == API_PREFIX or url.path.startswith(API_PREFIX + "/"):
            self.handle_api(url.path, url.query, raw_body)
        elif url.path.startswith(CONTROL_PREFIX + "/"):
            status, body, content_type = control_api.handle(
                self.sandbox, self.command, url.path[len(CONTROL_PREFIX):], url.query, raw_body)
            self.send(status, body, content_type)
        else:
            self.send_api(problem(404, "Resource Not Found",
                                  "The requested resource could not be found."))

    def handle_api(self, path: str, query_string: str, raw_body: bytes) -> None:
        started = time.monotonic()
        query = {key: values[0] for key, values in parse_qs(query_string).items()}
        entry = {"method": self.command, "path": path, "query": query_string, "params": query,
                 "body": _logged_body(raw_body), "status": None,
                 "time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        if self.command == "POST" and path.rstrip("/") == API_PREFIX + "/batches":
            entry["operations"] = _logged_operations(entry["body"])
        gate = self.sandbox.gate
        if not gate.enter():
            response = problem(429, "Too Many Requests", "You have exceeded the limit of "
                               f"{gate.limit} simultaneous connections.")
        else:
            try:
                response = self.answer_api(path, query, raw_body)
            finally:
                # Count out before writing, so a client's next call on the same connection
                # never overlaps this one in the count.
                gate.leave()
        entry["status"] = response.status if response else None
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self.sandbox.log_request(entry)
        if response is None:
            self.drop_connection()
        else:
            self.send_api(response)

    def answer_api(self, path: str, query: dict, raw_body: bytes) -> ApiResponse | None:
        """The response, or None for a dropped connection."""
        latency, fault = self.sandbox.faults.take(self.command, path)
        if latency:
            time.sleep(latency)
        if fault is not None:
            if fault.kind == "drop":
                return None
            if fault.kind == "hang":
                # Slow, not dead: the call still happens, as when Mailchimp is slow and the
                # client has already given up. A hang cut short by a reset is dropped.
                if not fault.wait_out_hang():
                    return None
            elif fault.kind == "status":
                return status_fault_response(fault)
        auth_problem = self.check_auth()
        if auth_problem:
            return auth_problem
        try:
            body = parse_json(raw_body)
        except ApiError as error:
            return problem(error.status, error.title, error.detail)
        request = ApiRequest(self.command, path[len(API_PREFIX):] or "/", query, body)
        return dispatch(self.sandbox, request)

    def check_auth(self) -> ApiResponse | None:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if not credentials:
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        key = credentials
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().partition(":")[2]
            except ValueError:
                key = ""
        if not self.sandbox.key_is_valid(key):
            return problem(401, "API Key Invalid", "Your API key may be invalid, or you've "
                           "attempted to access the wrong datacenter.")
        return None

    def send_api(self, response: ApiResponse) -> None:
        body = json.dumps(response.body).encode() if response.body is not None else b""
        self.send(response.status, body, response.content_type if body else None,
                  response.headers)

    def send(self, status: int, body: bytes, content_type: str | None,
             headers: dict | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop_connection(self) -> None:
        """Close without a byte of response: the client sees the connection reset/closed."""
        self.close_connection = True
        self.wfile.flush()


def _logged_body(raw_body: bytes):
    """The body as parsed JSON; as text when it is not JSON (what was sent, all the same)."""
    if not raw_body:
        return None
    try:
        return json.loads(raw_body)
    except ValueError:
        return raw_body.decode(errors="replace")


def _logged_operations(body) -> list[dict]:
    """A /batches call's operations as log entries of their own (method, path, query, params,
    body parsed from its JSON string), so a test sees what a batch sent as it sees a call."""
    operations = body.get("operations") if isinstance(body, dict) else None
    logged = []
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        path = str(operation.get("path", ""))
        params = operation.get("params") if isinstance(operation.get("params"), dict) else {}
        raw = operation.get("body")
        logged.append({
            "method": str(operation.get("method", "")),
            "path": path if path.startswith(API_PREFIX + "/") else API_PREFIX + path,
            "query": urlencode(params),
            "params": {key: str(value) for key, value in params.items()},
            "body": _logged_body(raw.encode()) if isinstance(raw, str) else raw,
            "operation_id": operation.get("operation_id"),
        })
    return logged


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0):
        self.sandbox = sandbox
        super().__init__((host, port), SandboxHandler)
        sandbox.base_url = f"http://{host}:{self.server_port}"

    @property
    def url(self) -> str:
        return self.sandbox.base_url + API_PREFIX


class RunningSandbox:
    """A sandbox serving from a background thread (tests); `.stop()` shuts it down."""

    def __init__(self, server: SandboxServer):
        self.server = server
        self.sandbox = server.sandbox
        self.url = server.url
        self.base_url = self.sandbox.base_url
        self.api_key = self.sandbox.api_key
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mailchimp-sandbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.sandbox.state_file:
            self.sandbox.state_file.save()


def start_in_thread(*, seed: dict | None = None, api_key: str = DEFAULT_API_KEY,
                    port: int = 0, state_path: str | None = None) -> RunningSandbox:
    sandbox = Sandbox(seed=seed, api_key=api_key, state_path=state_path)
    return RunningSandbox(SandboxServer(sandbox, port=port))
