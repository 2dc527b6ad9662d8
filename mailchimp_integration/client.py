"""The one Mailchimp boundary: the official client, hardened, with errors translated.

Only this module imports `mailchimp_marketing`. It fixes the official client's defects
(see mailchimp_integration/sandbox/spec/README.md):

- every call goes through one pooled `requests.Session` per process (recreated after fork),
  with at most MAILCHIMP_MAX_CONNECTIONS (never more than Mailchimp's 10) open at once;
- bounded (connect, read) timeouts from settings instead of 120 s;
- a non-2xx response raises even when its body is empty;
- the base URL is set from MAILCHIMP_API_URL or the key's data centre, and path ids are
  never rewritten (the official client replaces "server" anywhere in the URL);
- failures come out as `exceptions.py` types that say whether a retry can help, and what
  Mailchimp meant ("Member In Compliance State", "Forgotten Email Not Subscribed", "Member
  Exists", a per-member error inside a bulk answer), so nothing above matches English text;
- member changes go in as `MemberChange` (only the fields set are sent) and come back as
  `MemberResult` / `BulkResult`.
"""
from __future__ import annotations

import contextlib
import email.utils
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import random
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import mailchimp_marketing
import requests
from django.conf import settings
from mailchimp_marketing.api_client import ApiClient, ApiClientError
from requests.adapters import HTTPAdapter

from .exceptions import (
    MailchimpAuthError,
    MailchimpComplianceState,
    MailchimpError,
    MailchimpForgottenEmail,
    MailchimpInvalidResource,
    MailchimpMemberExists,
    MailchimpNotConfigured,
    MailchimpNotFound,
    MailchimpPermanentError,
    MailchimpRateLimited,
    MailchimpServerError,
    MailchimpTransientError,
    MailchimpUnreachable,
)

logger = logging.getLogger(__name__)

# Mailchimp allows 10 simultaneous connections per account; past that it answers 429.
MAILCHIMP_CONNECTION_LIMIT = 10
PAGE_SIZE = 1000  # the API's maximum `count`
USER_AGENT = "hilltop-store (mailchimp-marketing/{})".format(
    importlib.metadata.version("mailchimp-marketing")
)

T = TypeVar("T")


def max_connections() -> int:
    configured = int(getattr(settings, "MAILCHIMP_MAX_CONNECTIONS", MAILCHIMP_CONNECTION_LIMIT))
    return max(1, min(configured, MAILCHIMP_CONNECTION_LIMIT))


def default_timeout() -> tuple[float, float]:
    return (
        float(getattr(settings, "MAILCHIMP_CONNECT_TIMEOUT", 3.05)),
        float(getattr(settings, "MAILCHIMP_READ_TIMEOUT", 20.0)),
    )


# --- The per-process pool ------------------------------------------------------------------

class _ProcessPool:
    """A session and a connection semaphore that belong to one process id.

    Celery's prefork workers fork after import; a session inherited across fork would share
    sockets with the parent, so a child builds its own on first use.
    """

    def __init__(self, size: int):
        self.pid = os.getpid()
        self.size = size
        self.slots = threading.BoundedSemaphore(size)
        self.session = requests.Session()
        # pool_block: never open more than `size` sockets to one host, even past the semaphore.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, pool_block=True, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Requests from many threads share this session: keep no cookies between them.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.session.headers["User-Agent"] = USER_AGENT


_pool: _ProcessPool | None = None
_pool_lock = threading.Lock()


def process_pool() -> _ProcessPool:
    global _pool
    pool = _pool
    if pool is not None and pool.pid == os.getpid() and pool.size == max_connections():
        return pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid() or _pool.size != max_connections():
            _pool = _ProcessPool(max_connections())
        return _pool


def pooled_session() -> requests.Session:
    """The process's one HTTP session for Mailchimp."""
    return process_pool().session


# --- The account-wide limit ---------------------------------------------------------------

# Atomic in Redis: drop leases past their time, then take a slot only if one is free. The
# clock is Redis's own, so processes never disagree about it.
_TAKE_SLOT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""


class AccountSlots:
    """Mailchimp's 10 simultaneous connections are per account, not per process.

    With Redis, every process of the store (web, each worker) takes a slot from one shared
    set before a call and gives it back after; a slot whose holder died lapses after its
    lease. Without Redis only the per-process limit applies.
    """

    def __init__(self, url: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._take = self.redis.register_script(_TAKE_SLOT)

    @contextlib.contextmanager
    def hold(self, account: str, *, limit: int, lease: float, wait: float) -> Iterator[None]:
        import redis

        key = f"mailchimp:connections:{account}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        pause = 0.005
        try:
            while not self._take(keys=[key], args=[limit, lease, token]):
                if time.monotonic() > deadline:
                    raise MailchimpRateLimited(
                        "All connections busy",
                        f"no free Mailchimp connection within {wait:.0f} s "
                        f"(the account allows {limit} at once)",
                        retry_after=1.0,
                    )
                time.sleep(pause + random.uniform(0, pause))
                pause = min(pause * 2, 0.1)
        except redis.RedisError as error:
            # Better a call past the account's limit (Mailchimp answers 429, which is
            # retried) than no call at all while Redis is away.
            logger.warning("Mailchimp connection slots unavailable (%s); not limiting", error)
            yield
            return
        try:
            yield
        finally:
            try:
                self.redis.zrem(key, token)
            except redis.RedisError:
                pass  # the lease lapses by itself


_account_slots: dict[str, AccountSlots] = {}


def account_slots() -> AccountSlots | None:
    """The shared limiter, when MAILCHIMP_CONNECTION_LOCK_URL (default REDIS_URL) is set."""
    url = getattr(settings, "MAILCHIMP_CONNECTION_LOCK_URL", "")
    if not url:
        return None
    slots = _account_slots.get(url)
    if slots is None:
        slots = _account_slots.setdefault(url, AccountSlots(url))
    return slots


@contextlib.contextmanager
def connection_slot(*, base_url: str, api_key: str, timeout: tuple[float, float]):
    """A connection to Mailchimp: one of this process's, and one of the account's."""
    pool = process_pool()
    with pool.slots:
        slots = account_slots()
        if slots is None:
            yield pool.session
            return
        account = hashlib.sha256(f"{base_url} {api_key}".encode()).hexdigest()[:24]
        lease = sum(timeout) + 5
        with slots.hold(account, limit=max_connections(), lease=lease, wait=sum(timeout)):
            yield pool.session


# --- Base URL --------------------------------------------------------------------------------

def base_url_for(api_key: str, api_url: str = "") -> str:
    """MAILCHIMP_API_URL if set (e.g. the sandbox), else https://<dc>.api.mailchimp.com/3.0."""
    if api_url:
        return api_url.rstrip("/")
    _, _, data_centre = api_key.rpartition("-")
    if not api_key or "-" not in api_key or not data_centre.isalnum():
        raise MailchimpNotConfigured(
            "the API key must end with its data centre, e.g. …-us6 (or set MAILCHIMP_API_URL)"
        )
    return f"https://{data_centre}.api.mailchimp.com/3.0"


# --- Error translation -------------------------------------------------------------------------

def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _problem_fields(body: Any) -> tuple[str, str]:
    """Mailchimp's title and detail, from a problem+json dict or string (either may arrive)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        text = body.strip()
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            return "", text[:500]
    if not isinstance(body, dict):
        return "", str(body)[:500]
    title = str(body.get("title") or "")
    detail = str(body.get("detail") or "")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        fields = "; ".join(
            f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e)
            for e in errors
        )
        detail = f"{detail} ({fields})" if detail else fields
    return title, detail


def error_for_status(
    status: int,
    body: Any,
    *,
    reason: str = "",
    retry_after: str | None = None,
    method: str = "",
    path: str = "",
) -> MailchimpError:
    """The error type for a non-2xx answer, whether or not it has a body."""
    title, detail = _problem_fields(body)
    empty = not (title or detail)
    title = title or reason or "HTTP error"
    if empty:
        detail = "Mailchimp sent an empty response body"
    where = {"status": status, "method": method, "path": path}
    if status == 429 or (status == 403 and empty):
        # Mailchimp's guide: under very high volume a 429 or 403 can come with no body.
        return MailchimpRateLimited(
            title, detail, retry_after=parse_retry_after(retry_after), **where
        )
    if status >= 500:
        return MailchimpServerError(
            title, detail, retry_after=parse_retry_after(retry_after), **where
        )
    if status in (401, 403):
        return MailchimpAuthError(title, detail, **where)
    if status == 404:
        return MailchimpNotFound(title, detail, **where)
    return PERMANENT_ERROR_BY_TITLE.get(title.strip().lower(), MailchimpPermanentError)(
        title, detail, **where
    )


# Mailchimp's meanings, typed here so nothing above this module matches English text.
PERMANENT_ERROR_BY_TITLE = {
    "member in compliance state": MailchimpComplianceState,
    "forgotten email not subscribed": MailchimpForgottenEmail,
    "member exists": MailchimpMemberExists,
    "invalid resource": MailchimpInvalidResource,
}
BULK_ERROR_BY_CODE = {
    "ERROR_CONTACT_EXISTS": MailchimpMemberExists,
}


def bulk_member_error(entry: dict) -> MailchimpError:
    """One member's error inside a batch subscribe answer, as the type a single call gives."""
    words = str(entry.get("error") or entry.get("error_code") or "error")
    code = str(entry.get("error_code") or "")
    lowered = words.lower()
    if code in BULK_ERROR_BY_CODE:
        kind = BULK_ERROR_BY_CODE[code]
    elif "compliance state" in lowered:
        kind = MailchimpComplianceState
    elif "forgotten" in lowered or "permanently deleted" in lowered:
        kind = MailchimpForgottenEmail
    else:
        kind = MailchimpInvalidResource
    return kind(code or "Member error", words, status=400)


def error_from_api_client_error(error: ApiClientError) -> MailchimpError:
    """Translate the official client's exception (its `text` is a str or a dict)."""
    if error.status_code is None:
        return MailchimpUnreachable("Request failed", str(error.text))
    return error_for_status(error.status_code, error.text)


def error_from_transport(
    error: requests.RequestException, method: str, path: str
) -> MailchimpError:
    host = urlsplit(error.request.url).netloc if error.request is not None else ""
    # Only a connection that was never made is known not to have reached Mailchimp.
    unknown = True
    if isinstance(error, requests.ConnectTimeout):
        title, detail = "Connect timeout", f"no connection to {host} within the connect timeout"
        unknown = False
    elif isinstance(error, requests.Timeout):
        title, detail = "Read timeout", f"{host} did not answer {method} {path} in time"
    elif isinstance(error, requests.ConnectionError):
        cause = _root_cause(error)
        title, detail = "Connection failed", f"{host}: {cause}"
        unknown = not any(word in cause for word in ("refused", "Name or service", "resolve"))
    else:
        return MailchimpPermanentError("Request failed", str(error), method=method, path=path)
    return MailchimpUnreachable(
        title, detail, method=method, path=path, outcome_unknown=unknown and method != "GET"
    )


def _root_cause(error: BaseException) -> str:
    """'Connection refused', 'Name or service not known', … rather than urllib3's nesting."""
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] ([^')\"]+)", text)
    if match:
        return match.group(1).strip()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed without a response"
    return text[:200]


# --- The hardened API client --------------------------------------------------------------------

class _HardenedApiClient(ApiClient):
    """`ApiClient` whose `call_api` uses the pooled session, our timeouts and our errors."""

    def __init__(self, *, api_key: str, host: str, timeout: tuple[float, float]):
        super().__init__({"api_key": api_key})
        self.host = host
        self.server = ""  # the base class's `url.replace("server", ...)` must never run
        self.timeout = timeout

    def call_api(  # the signature the generated API classes call
        self,
        resource_path,
        method,
        path_params=None,
        query_params=None,
        header_params=None,
        body=None,
        collection_formats=None,
        **kwargs,
    ):
        headers = dict(header_params or {})
        headers.update(self.default_headers)
        headers.pop("User-Agent", None)  # the session's
        if path_params:
            pairs = self.parameters_to_tuples(
                self.sanitize_for_serialization(path_params), collection_formats
            )
            for name, value in pairs:
                # Encode everything, "/" included, so an id is always one path segment.
                resource_path = resource_path.replace(f"{{{name}}}", quote(str(value), safe=""))
        params = None
        if query_params:
            params = self.parameters_to_tuples(
                self.sanitize_for_serialization(query_params), collection_formats
            )
        data = None if body is None else json.dumps(self.sanitize_for_serialization(body))
        return self.send(method, resource_path, params=params, data=data, headers=headers)

    def send(
        self,
        method: str,
        path: str,
        *,
        params=None,
        data: str | None = None,
        headers: dict | None = None,
    ) -> Any:
        url = self.host + path  # no rewriting of the path: ids containing "server" stay intact
        with connection_slot(base_url=self.host, api_key=self.api_key, timeout=self.timeout) as (
            session
        ):
            try:
                response = session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    auth=("anystring", self.api_key),
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                raise error_from_transport(error, method, path) from None
        if not response.ok:
            raise error_for_status(
                response.status_code,
                response.content,
                reason=response.reason or "",
                retry_after=response.headers.get("Retry-After"),
                method=method,
                path=path,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


@dataclass(frozen=True)
class MemberChange:
    """What the store wants to change of one member: only the fields set here are sent.

    `status` is set only when the change carries the person's new consent; `status_if_new`
    applies only when Mailchimp has no such member (a PUT). `interests` holds only the groups
    this change adds (True) or removes (False).
    """

    email: str  # the address Mailchimp knows the member by (addresses the call)
    create: bool = False  # PUT (create if absent) rather than PATCH (existing members only)
    new_email: str = ""
    status: str = ""
    status_if_new: str = ""
    interests: dict[str, bool] | None = None
    merge_fields: dict[str, str] | None = None
    ip_signup: str = ""
    timestamp_signup: str = ""
    # GDPR marketing permissions this change grants (True) or withdraws (False), by id.
    marketing_permissions: dict[str, bool] | None = None

    def body(self) -> dict:
        body: dict[str, Any] = {}
        if self.create:
            body["email_address"] = self.new_email or self.email
            body["status_if_new"] = self.status_if_new
        elif self.new_email:
            body["email_address"] = self.new_email
        for name in ("status", "ip_signup", "timestamp_signup"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        if self.interests:
            body["interests"] = dict(self.interests)
        if self.merge_fields:
            body["merge_fields"] = dict(self.merge_fields)
        if self.marketing_permissions:
            body["marketing_permissions"] = [
                {"marketing_permission_id": pid, "enabled": enabled}
                for pid, enabled in self.marketing_permissions.items()
            ]
        return body

    def bulk_member(self) -> dict:
        """The same change as one member of a batch subscribe (new members only)."""
        body = self.body()
        body.pop("status_if_new", None)
        return {**body, "status": self.status or self.status_if_new}


@dataclass(frozen=True)
class MarketingPermission:
    """One GDPR marketing permission of an audience: its id and Mailchimp's exact wording."""

    id: str
    text: str


@dataclass(frozen=True)
class MemberResult:
    """What Mailchimp answered: the member's status and address, or `found=False`."""

    found: bool
    status: str = ""
    email: str = ""
    unique_id: str = ""  # Mailchimp's unique_email_id: it stays when the address changes
    last_changed: str = ""  # Mailchimp's ISO 8601 time of the member's last change

    @classmethod
    def of(cls, member: dict | None) -> MemberResult:
        if member is None:
            return cls(found=False)
        return cls(
            found=True, status=str(member.get("status") or ""),
            email=str(member.get("email_address") or "").lower(),
            unique_id=str(member.get("unique_email_id") or ""),
            last_changed=str(member.get("last_changed") or ""),
        )


@dataclass(frozen=True)
class BulkResult:
    """A batch subscribe's answer, per address: the member, or the typed error."""

    members: dict[str, MemberResult]
    errors: dict[str, MailchimpError]


@dataclass(frozen=True)
class Page:
    items: list[dict]
    total_items: int


@dataclass(frozen=True)
class Webhook:
    """One of a list's webhooks as Mailchimp holds it."""

    id: str
    url: str
    events: dict[str, bool]
    sources: dict[str, bool]

    @classmethod
    def of(cls, data: dict) -> Webhook:
        return cls(id=str(data.get("id", "")), url=str(data.get("url", "")),
                   events={k: bool(v) for k, v in (data.get("events") or {}).items()},
                   sources={k: bool(v) for k, v in (data.get("sources") or {}).items()})


@dataclass(frozen=True)
class EcommerceStore:
    """A connected store (Mailchimp's e-commerce API) as Mailchimp holds it."""

    id: str
    list_id: str
    name: str
    domain: str
    currency_code: str
    is_syncing: bool

    @classmethod
    def of(cls, data: dict) -> EcommerceStore:
        return cls(id=str(data.get("id", "")), list_id=str(data.get("list_id", "")),
                   name=str(data.get("name", "")), domain=str(data.get("domain") or ""),
                   currency_code=str(data.get("currency_code", "")),
                   is_syncing=bool(data.get("is_syncing")))


class MailchimpClient:
    """A Mailchimp account, reached through the hardened official client.

    The typed methods below are what the store uses; `sdk` is the official client (its
    `lists`, `ecommerce`, … APIs) running over the same hardened transport.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str = "",
        timeout: tuple[float, float] | None = None,
    ):
        if not api_key:
            raise MailchimpNotConfigured("no API key is set")
        self.base_url = base_url_for(api_key, api_url)
        self._api = _HardenedApiClient(
            api_key=api_key, host=self.base_url, timeout=timeout or default_timeout()
        )
        self.sdk = mailchimp_marketing.Client()
        # The generated API classes each hold the ApiClient they were built with.
        self.sdk.api_client = self._api
        for api in vars(self.sdk).values():
            if hasattr(api, "api_client"):
                api.api_client = self._api

    def _call(self, function: Callable[..., T], *args, **kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except ApiClientError as error:  # defensive: our call_api never raises it
            raise error_from_api_client_error(error) from None

    def request(self, method: str, path: str, *, params=None, body=None) -> Any:
        """A raw call for endpoints the official client lacks (e.g. PUT on ecommerce orders)."""
        data = None if body is None else json.dumps(body)
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        return self._api.send(method, path, params=params, data=data, headers=headers)

    # Account -----------------------------------------------------------------------------

    def account_name(self) -> str:
        data = self._call(self.sdk.root.get_root, fields=["account_name"])
        return (data or {}).get("account_name", "")

    # Lists, interest categories and interests, fetching only what the store keeps -------

    LIST_FIELDS = [
        "lists.id", "lists.name", "lists.stats.member_count", "lists.marketing_permissions",
        "total_items",
    ]
    CATEGORY_FIELDS = [
        "categories.id", "categories.title", "categories.type", "categories.display_order",
        "total_items",
    ]
    INTEREST_FIELDS = [
        "interests.id", "interests.name", "interests.subscriber_count",
        "interests.display_order", "total_items",
    ]

    def lists_page(self, *, offset: int = 0, count: int = PAGE_SIZE) -> Page:
        data = self._call(
            self.sdk.lists.get_all_lists, fields=self.LIST_FIELDS, count=count, offset=offset
        )
        return Page(items=data.get("lists", []), total_items=int(data.get("total_items", 0)))

    def interest_categories_page(
        self, list_id: str, *, offset: int = 0, count: int = PAGE_SIZE
    ) -> Page:
        data = self._call(
            self.sdk.lists.get_list_interest_categories,
            list_id, fields=self.CATEGORY_FIELDS, count=count, offset=offset,
        )
        return Page(items=data.get("categories", []), total_items=int(data.get("total_items", 0)))

    def interests_page(
        self, list_id: str, category_id: str, *, offset: int = 0, count: int = PAGE_SIZE
    ) -> Page:
        data = self._call(
            self.sdk.lists.list_interest_category_interests,
            list_id, category_id, fields=self.INTEREST_FIELDS, count=count, offset=offset,
        )
        return Page(items=data.get("interests", []), total_items=int(data.get("total_items", 0)))

    def marketing_permissions_read(self, list_id: str) -> list[MarketingPermission] | None:
        """The audience's GDPR marketing permissions, read from one member: no endpoint lists
        them (Mailchimp's own WooCommerce plugin does the same). None: no member to read."""
        data = self.request(
            "GET", f"/lists/{quote(list_id, safe='')}/members",
            params={"count": 1, "fields": "members.marketing_permissions"},
        ) or {}
        members = data.get("members") or []
        if not members:
            return None
        return [
            MarketingPermission(id=str(p.get("marketing_permission_id") or ""),
                                text=str(p.get("text") or ""))
            for p in members[0].get("marketing_permissions") or []
            if p.get("marketing_permission_id")
        ]

    # Members (used by subscriptions/): upsert, status change, tags, bulk ------------------

    @staticmethod
    def subscriber_hash(email: str) -> str:
        return hashlib.md5(email.strip().lower().encode()).hexdigest()  # noqa: S324 (Mailchimp's id)

    def _member_path(self, list_id: str, email: str) -> str:
        return f"/lists/{quote(list_id, safe='')}/members/{self.subscriber_hash(email)}"

    def member_upsert(self, list_id: str, email: str, body: dict) -> dict:
        """PUT /lists/{id}/members/{hash}: add or update; `email` addresses the member."""
        return self.request("PUT", self._member_path(list_id, email), body=body) or {}

    # What the store reads of a member: enough to apply Mailchimp's side of it.
    MEMBER_FIELDS = ("id", "email_address", "unique_email_id", "status", "interests",
                     "merge_fields.FNAME", "merge_fields.LNAME", "last_changed",
                     "timestamp_opt", "ip_opt", "unsubscribe_reason")

    def member_get(self, list_id: str, email: str) -> dict | None:
        """GET the member (status, email, groups, names, when it changed), or None where
        Mailchimp has no such member."""
        try:
            return self.request(
                "GET", self._member_path(list_id, email),
                params={"fields": ",".join(self.MEMBER_FIELDS)},
            ) or {}
        except MailchimpNotFound:
            return None

    def member_update(self, list_id: str, email: str, body: dict) -> dict:
        """PATCH /lists/{id}/members/{hash} (e.g. status unsubscribed; never a DELETE)."""
        return self.request("PATCH", self._member_path(list_id, email), body=body) or {}

    def member_write(self, list_id: str, change: MemberChange) -> MemberResult:
        """PUT (create or update) or PATCH (update only) one member; a PATCH of a member
        Mailchimp does not have gives `found=False`."""
        if change.create:
            return MemberResult.of(self.member_upsert(list_id, change.email, change.body()))
        try:
            return MemberResult.of(self.member_update(list_id, change.email, change.body()))
        except MailchimpNotFound:
            return MemberResult(found=False)

    def member_read(self, list_id: str, email: str) -> MemberResult:
        return MemberResult.of(self.member_get(list_id, email))

    def member_find(self, list_id: str, unique_id: str) -> MemberResult:
        """The member with this unique_email_id, wherever their address is now (a person can
        change it in Mailchimp's preference centre); `found=False` if Mailchimp has none."""
        data = self.request(
            "GET", f"/lists/{quote(list_id, safe='')}/members",
            params={"unique_email_id": unique_id, "count": 1,
                    "fields": "members.email_address,members.unique_email_id,members.status"},
        ) or {}
        members = data.get("members") or []
        return MemberResult.of(members[0]) if members else MemberResult(found=False)

    def members_changed_page(self, list_id: str, *, since: str = "", offset: int = 0,
                             count: int = PAGE_SIZE) -> Page:
        """One page of members (archived ones not included), oldest change first, changed
        after `since` (ISO 8601; "" for all), with only the fields the store applies."""
        params = {"count": count, "offset": offset, "sort_field": "last_changed",
                  "sort_dir": "ASC",
                  "fields": ",".join(["total_items", *(f"members.{f}" for f in
                                                      self.MEMBER_FIELDS)])}
        if since:
            params["since_last_changed"] = since
        data = self.request("GET", f"/lists/{quote(list_id, safe='')}/members",
                            params=params) or {}
        return Page(items=list(data.get("members") or []),
                    total_items=int(data.get("total_items") or 0))

    def members_bulk_create(self, list_id: str, changes: list[MemberChange]) -> BulkResult:
        """Batch subscribe of new members only (update_existing false): a member Mailchimp
        already has comes back as MailchimpMemberExists, never changed."""
        answer = self.members_batch_subscribe(
            list_id, [change.bulk_member() for change in changes], update_existing=False
        )
        members = {
            str(m.get("email_address", "")).lower(): MemberResult.of(m)
            for m in (answer.get("new_members") or []) + (answer.get("updated_members") or [])
        }
        errors = {
            str(e.get("email_address", "")).lower(): bulk_member_error(e)
            for e in (answer.get("errors") or [])
        }
        return BulkResult(members=members, errors=errors)

    def member_tags_add(self, list_id: str, email: str, tags: list[str]) -> None:
        body = {"tags": [{"name": name, "status": "active"} for name in tags]}
        self.request("POST", self._member_path(list_id, email) + "/tags", body=body)

    def members_batch_subscribe(
        self, list_id: str, members: list[dict], *, update_existing: bool = True
    ) -> dict:
        """POST /lists/{id}: at most 500 members; per-member errors come back in `errors`."""
        body = {"members": members, "update_existing": update_existing}
        return self.request("POST", f"/lists/{quote(list_id, safe='')}", body=body) or {}

    # Webhooks ----------------------------------------------------------------------------

    def _webhooks_path(self, list_id: str) -> str:
        return f"/lists/{quote(list_id, safe='')}/webhooks"

    def webhooks_all(self, list_id: str) -> list[Webhook]:
        """The list's webhooks (Mailchimp does not page them)."""
        data = self.request("GET", self._webhooks_path(list_id)) or {}
        return [Webhook.of(hook) for hook in data.get("webhooks") or []]

    def webhook_create(self, list_id: str, *, url: str, events: dict[str, bool],
                       sources: dict[str, bool]) -> Webhook:
        """Mailchimp checks the URL answers a GET before it saves the webhook."""
        body = {"url": url, "events": events, "sources": sources}
        return Webhook.of(self.request("POST", self._webhooks_path(list_id), body=body) or {})

    def webhook_update(self, list_id: str, webhook_id: str, *, url: str,
                       events: dict[str, bool], sources: dict[str, bool]) -> Webhook:
        body = {"url": url, "events": events, "sources": sources}
        path = f"{self._webhooks_path(list_id)}/{quote(webhook_id, safe='')}"
        return Webhook.of(self.request("PATCH", path, body=body) or {})

    def webhook_delete(self, list_id: str, webhook_id: str) -> None:
        self.request("DELETE", f"{self._webhooks_path(list_id)}/{quote(webhook_id, safe='')}")

    # E-commerce ----------------------------------------------------------------------------

    @staticmethod
    def _store_path(store_id: str) -> str:
        return f"/ecommerce/stores/{quote(store_id, safe='')}"

    def store_get(self, store_id: str) -> EcommerceStore | None:
        try:
            return EcommerceStore.of(self.request("GET", self._store_path(store_id)) or {})
        except MailchimpNotFound:
            return None

    def store_create(self, *, store_id: str, list_id: str, name: str, domain: str,
                     currency_code: str, is_syncing: bool = False) -> EcommerceStore:
        body = {"id": store_id, "list_id": list_id, "name": name, "domain": domain,
                "currency_code": currency_code, "is_syncing": is_syncing}
        return EcommerceStore.of(self.request("POST", "/ecommerce/stores", body=body) or {})

    def store_update(self, store_id: str, **fields) -> EcommerceStore:
        """PATCH: only the fields given (a store's list_id can never change)."""
        return EcommerceStore.of(
            self.request("PATCH", self._store_path(store_id), body=fields) or {})

    def store_delete(self, store_id: str) -> None:
        """Deletes the store and everything in it in Mailchimp: only on an admin's confirmed
        request."""
        self.request("DELETE", self._store_path(store_id))

    def batch_start(self, operations: list[dict]) -> dict:
        """POST /batches: Mailchimp runs the operations later; returns the batch (its id)."""
        return self.request("POST", "/batches", body={"operations": operations}) or {}

    def batch_get(self, batch_id: str) -> dict:
        """GET /batches/{id}: its status, counts and, once finished, `response_body_url`."""
        return self.request("GET", f"/batches/{quote(batch_id, safe='')}") or {}

    def batch_results(self, response_body_url: str) -> list[dict]:
        """The finished batch's results, one {operation_id, status_code, error} per operation,
        `error` being our exception type for a failed one (else None).

        Mailchimp serves them as a gzipped tar of JSON files at a signed URL, which takes
        no API key: sending ours there would hand it to a third party.
        """
        pool = process_pool()
        with pool.slots:
            try:
                response = pool.session.get(
                    response_body_url, timeout=self._api.timeout, auth=None
                )
            except requests.RequestException as error:
                raise error_from_transport(error, "GET", "batch results") from None
        if not response.ok:
            raise error_for_status(
                response.status_code, response.content, reason=response.reason or "",
                method="GET", path="batch results",
            )
        results: list[dict] = []
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for member in archive.getmembers():
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                content = json.load(archive.extractfile(member))
                results.extend(content if isinstance(content, list) else [content])
        return [
            {
                "operation_id": str(result.get("operation_id") or ""),
                "status_code": int(result.get("status_code") or 0),
                "error": (
                    error_for_status(int(result["status_code"]), result.get("response") or "")
                    if int(result.get("status_code") or 0) >= 400
                    else None
                ),
            }
            for result in results
        ]


def all_pages(
    fetch_page: Callable[..., Page],
    *,
    call: Callable[[Callable[[], Page]], Page] | None = None,
) -> Iterator[dict]:
    """Every item of a paged collection: one call per PAGE_SIZE items, no more.

    `call` wraps each page fetch (e.g. with retries).
    """
    call = call or (lambda fetch: fetch())
    offset = 0
    while True:
        page = call(lambda offset=offset: fetch_page(offset=offset, count=PAGE_SIZE))
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.total_items:
            return


def with_retries(
    function: Callable[[], T],
    *,
    attempts: int | None = None,
    max_wait: float | None = None,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `function`, retrying transient Mailchimp errors with capped backoff and jitter.

    Honors Retry-After; gives up (re-raising) after `attempts` tries or when Mailchimp asks
    for a longer wait than `max_wait`. Permanent errors are never retried.
    """
    attempts = attempts or int(getattr(settings, "MAILCHIMP_RETRY_ATTEMPTS", 5))
    max_wait = max_wait if max_wait is not None else float(
        getattr(settings, "MAILCHIMP_RETRY_MAX_WAIT", 30)
    )
    for attempt in range(1, attempts + 1):
        try:
            return function()
        except MailchimpTransientError as error:
            if attempt == attempts:
                raise
            backoff = min(max_wait, base_delay * 2 ** (attempt - 1))
            wait = backoff * (0.5 + random.random() / 2)  # jitter: spread the retries
            if error.retry_after is not None:
                if error.retry_after > max_wait:
                    raise
                wait = max(wait, error.retry_after)
            logger.info("Mailchimp %s; retry %d/%d in %.2f s", error, attempt, attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")
