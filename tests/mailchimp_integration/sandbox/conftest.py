"""Fixtures of the sandbox's own tests: every exchange with /3.0 checked against the spec."""
from __future__ import annotations

import json
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from mailchimp_integration.sandbox import OPENAPI_SPEC

SPEC_SERVER = "https://server.api.mailchimp.com/3.0"


@cache
def openapi() -> OpenAPI:
    # Parsing the 2 MB spec takes ~2 s: once per session. openapi-core has no deserializer
    # for Mailchimp's error media type, which is JSON.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(OPENAPI_SPEC), config=config)


class SpecCheck:
    """Validates request and response of every call to the sandbox's /3.0 (on by default).

    A test that sends a request the spec forbids on purpose (no key, a bad enum) turns
    `requests` off; one that expects a body-less fault response turns `responses` off.
    """

    def __init__(self, sandbox_url: str):
        self.sandbox_url = sandbox_url
        self.requests = True
        self.responses = True
        self.checked = 0

    def check(self, response: requests.Response) -> None:
        prepared = response.request
        if not prepared.url.startswith(self.sandbox_url + "/"):
            return  # the control API and webhook receivers are not Mailchimp
        spec_request = prepared.copy()
        spec_request.url = SPEC_SERVER + prepared.url[len(self.sandbox_url):]
        request = RequestsOpenAPIRequest(spec_request)
        if self.requests:
            openapi().validate_request(request)
        if self.responses and response.status_code == 204:
            # The spec's 204s declare `content: {}`, which openapi-core reads as "a body is
            # required"; an empty body is what the spec means.
            assert response.content == b""
        elif self.responses:
            openapi().validate_response(request, RequestsOpenAPIResponse(response))
        self.checked += 1


@pytest.fixture
def spec_check(mailchimp_sandbox, monkeypatch):
    """Patch requests so every /3.0 exchange (ours or the official client's) is validated."""
    check = SpecCheck(mailchimp_sandbox.url)
    original_send = requests.Session.send

    def send_and_check(session, request, **kwargs):
        response = original_send(session, request, **kwargs)
        check.check(response)
        return response

    monkeypatch.setattr(requests.Session, "send", send_and_check)
    return check


@pytest.fixture
def sandbox(mailchimp_sandbox, spec_check):
    """The sandbox handle, with spec validation switched on."""
    return mailchimp_sandbox


@pytest.fixture
def api(sandbox):
    """A requests.Session against the sandbox: api.get("/lists") → Response."""
    session = ApiSession(sandbox.url, sandbox.api_key)
    yield session
    session.close()


class ApiSession(requests.Session):
    def __init__(self, base_url: str, api_key: str):
        super().__init__()
        self.base_url = base_url
        self.auth = ("anystring", api_key)

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base_url + url, *args, **kwargs)


@pytest.fixture
def official(sandbox):
    """The official mailchimp_marketing client pointed at the sandbox."""
    return sandbox.official_client(timeout=10)


class WebhookReceiver:
    """A local endpoint for webhooks: answers GET (Mailchimp's check) and records POSTs.

    `fail_next = n`: the next n POSTs get a 500 (still recorded); `delay`: seconds each POST
    waits before its answer."""

    def __init__(self):
        self.posts: list[dict] = []
        self.fail_next = 0
        self.delay = 0.0
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200 if "broken" not in self.path else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                time.sleep(receiver.delay)
                with receiver.received:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    receiver.posts.append({"path": self.path, "form": form,
                                           "content_type": self.headers["Content-Type"]})
                    receiver.received.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self.received:
            self.received.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
