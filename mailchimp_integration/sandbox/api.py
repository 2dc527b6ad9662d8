"""The Marketing API 3.0 routes: path → account call, query parameters, fields and paging."""
from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from . import validation
from .errors import ApiError, invalid_resource, json_parse_error, not_found
from .records import self_link
from .webhooks import url_answers

if TYPE_CHECKING:
    from .server import Sandbox

logger = logging.getLogger(__name__)

ERROR_DOC_URL = "https://mailchimp.com/developer/marketing/docs/errors/"
DEFAULT_COUNT, MAX_COUNT = 10, 1000
MEMBER_SORT_FIELDS = ("timestamp_opt", "timestamp_signup", "last_changed")
# since_* / before_* filters of GET /lists/{id}/members.
MEMBER_TIME_FILTERS = ("last_changed", "timestamp_opt")


@dataclass
class ApiRequest:
    method: str
    path: str  # after /3.0, e.g. /lists/abc
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class ApiResponse:
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return "application/problem+json" if self.status >= 400 else "application/json"


def problem(status: int, title: str, detail: str, errors: list | None = None,
            headers: dict | None = None) -> ApiResponse:
    body = {"type": ERROR_DOC_URL, "title": title, "status": status, "detail": detail,
            "instance": str(uuid.uuid4())}
    if errors:
        body["errors"] = errors
    return ApiResponse(status, body, headers or {})


# ----------------------------------------------------------------------- fields and paging
def _field_tree(spec: str) -> dict:
    tree: dict = {}
    for dotted in filter(None, (part.strip() for part in spec.split(","))):
        node = tree
        for name in dotted.split("."):
            node = node.setdefault(name, {})
    return tree


def _include(value, tree: dict):
    if isinstance(value, list):
        return [_include(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: (_include(value[key], sub) if sub else value[key])
            for key, sub in tree.items() if key in value}


def _exclude(value, tree: dict):
    if isinstance(value, list):
        return [_exclude(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: (_exclude(inner, tree[key]) if tree.get(key) else inner)
            for key, inner in value.items() if key not in tree or tree[key]}


def apply_fields(body: dict, query: dict) -> dict:
    """Mailchimp's `fields` / `exclude_fields`: comma-separated dotted paths."""
    if query.get("fields"):
        body = _include(body, _field_tree(query["fields"]))
    if query.get("exclude_fields"):
        body = _exclude(body, _field_tree(query["exclude_fields"]))
    return body


def _int_param(query: dict, name: str, default: int, *, maximum: int | None = None) -> int:
    """A paging parameter: an integer from 0 (to `maximum`), else Mailchimp's 400, never
    quietly clamped."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise invalid_resource(f"The value of '{name}' must be an integer.", [
            {"field": name, "message": "This value should be of type integer."}]) from None
    if value < 0 or (maximum is not None and value > maximum):
        limit = f"between 0 and {maximum}" if maximum is not None else "0 or more"
        raise invalid_resource(f"The value of '{name}' must be {limit}; {value} was given.", [
            {"field": name, "message": f"This value should be {limit}."}])
    return value


def paging(query: dict) -> tuple[int, int]:
    """(offset, count): count default 10, at most 1000, as the spec says."""
    count = _int_param(query, "count", DEFAULT_COUNT, maximum=MAX_COUNT)
    return _int_param(query, "offset", 0), count


def page(items: list, query: dict) -> tuple[list, int]:
    """One page of `items` and the total."""
    offset, count = paging(query)
    return items[offset:offset + count], len(items)


def _enum_param(query: dict, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise invalid_resource(f"The value of '{name}' must be one of {', '.join(allowed)}; "
                               f"'{value}' was given.", [
                                   {"field": name, "message": "The value you selected is not "
                                    "a valid choice."}])
    return value


def _time_param(query: dict, name: str) -> str | None:
    """A filter's ISO 8601 date and time (2015-10-21T15:41:36+00:00; no zone: UTC) as UTC
    text, which compares as the members' stored times do; a bare date or anything else is
    Mailchimp's 400."""
    value = query.get(name)
    if value is None:
        return None
    try:
        if not re.search(r"\d[T ]\d", value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_resource(
            f"The value of '{name}' must be a date and time in ISO 8601 format, such as "
            f"2015-10-21T15:41:36+00:00; '{value}' was given.", [
                {"field": name, "message": "This value is not a valid datetime."}]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _json_body(request: ApiRequest) -> dict:
    """The body as a JSON object; a request without one, or with an array or a string, is a
    400 naming what was found."""
    return validation.body_object(request.body)


# ----------------------------------------------------------------------- handlers
def root(sandbox: Sandbox, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, sandbox.account.account_details())


def ping(sandbox: Sandbox, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, {"health_status": "Everything's Chimpy!"})


def lists_read(sandbox, request):
    lists, total = page(sandbox.account.lists_all(), request.query)
    return ApiResponse(200, {
        "lists": lists, "total_items": total,
        "constraints": {"may_create": True, "max_instances": 1_000_000,
                        "current_total_instances": total},
        "_links": self_link("/lists"),
    })


def list_read(sandbox, request, list_id):
    return ApiResponse(200, sandbox.account.list_get(list_id))


def list_batch_subscribe(sandbox, request, list_id):
    return ApiResponse(200, sandbox.account.batch_subscribe(list_id, _json_body(request)))


def categories_read(sandbox, request, list_id):
    categories = sandbox.account.categories_all(list_id)
    if request.query.get("type"):
        categories = [c for c in categories if c["type"] == request.query["type"]]
    categories, total = page(categories, request.query)
    return ApiResponse(200, {"list_id": list_id, "categories": categories, "total_items": total,
                             "_links": self_link(f"/lists/{list_id}/interest-categories")})


def category_read(sandbox, request, list_id, category_id):
    return ApiResponse(200, sandbox.account.category_get(list_id, category_id))


def interests_read(sandbox, request, list_id, category_id):
    interests, total = page(sandbox.account.interests_all(list_id, category_id), request.query)
    return ApiResponse(200, {
        "list_id": list_id, "category_id": category_id, "interests": interests,
        "total_items": total,
        "_links": self_link(f"/lists/{list_id}/interest-categories/{category_id}/interests"),
    })


def interest_read(sandbox, request, list_id, category_id, interest_id):
    return ApiResponse(200, sandbox.account.interest_get(list_id, category_id, interest_id))


def members_read(sandbox, request, list_id):
    query = request.query
    status = query.get("status")
    if status and status not in {"subscribed", "unsubscribed", "cleaned", "pending",
                                 "transactional", "archived"}:
        raise invalid_resource(f"'{status}' is not a valid member status.")
    sort_field = _enum_param(query, "sort_field", MEMBER_SORT_FIELDS)
    descending = _enum_param(query, "sort_dir", ("ASC", "DESC")) == "DESC"
    since, before = (
        {name: bound for name in MEMBER_TIME_FILTERS
         if (bound := _time_param(query, f"{side}_{name}")) is not None}
        for side in ("since", "before"))
    offset, count = paging(query)
    members, total = sandbox.account.members_page(
        list_id, offset=offset, count=count, status=status,
        # The `mc_eid` of a member: it stays with them when their address changes.
        unique_email_id=query.get("unique_email_id"), since=since, before=before,
        sort_field=sort_field, descending=descending)
    return ApiResponse(200, {"list_id": list_id, "members": members, "total_items": total,
                             "_links": self_link(f"/lists/{list_id}/members")})


def member_create(sandbox, request, list_id):
    return ApiResponse(200, sandbox.account.member_add(list_id, _json_body(request)))


def member_read(sandbox, request, list_id, member):
    return ApiResponse(200, sandbox.account.member_get(list_id, member))


def member_put(sandbox, request, list_id, member):
    return ApiResponse(200, sandbox.account.member_upsert(list_id, member, _json_body(request)))


def member_patch(sandbox, request, list_id, member):
    return ApiResponse(200, sandbox.account.member_update(list_id, member, _json_body(request)))


def member_archive(sandbox, request, list_id, member):
    sandbox.account.member_archive(list_id, member)
    return ApiResponse(204)


def member_delete_permanent(sandbox, request, list_id, member):
    sandbox.account.member_delete_permanent(list_id, member)
    return ApiResponse(204)


def member_tags_read(sandbox, request, list_id, member):
    tags, total = page(sandbox.account.member_tags_all(list_id, member), request.query)
    return ApiResponse(200, {"tags": tags, "total_items": total,
                             "_links": self_link(f"/lists/{list_id}/members/{member}/tags")})


def member_tags_post(sandbox, request, list_id, member):
    sandbox.account.member_tags_update(list_id, member, _json_body(request))
    return ApiResponse(204)


def webhooks_read(sandbox, request, list_id):
    webhooks = sandbox.account.webhooks_all(list_id)
    return ApiResponse(200, {"list_id": list_id, "webhooks": webhooks,
                             "total_items": len(webhooks),
                             "_links": self_link(f"/lists/{list_id}/webhooks")})


def webhook_create(sandbox, request, list_id):
    body = _json_body(request)
    sandbox.account.list_get(list_id)  # 404 before any outgoing check
    url = validation.webhook_fields(body).get("url")  # a malformed body: 400 before it too
    # Mailchimp saves a webhook only once its URL answers a GET.
    if url is not None and not url_answers(url):
        raise invalid_resource(f"The URL '{url}' did not return a valid response. Please make "
                               "sure it answers a GET request with 200.")
    return ApiResponse(200, sandbox.account.webhook_create(list_id, body))


def webhook_read(sandbox, request, list_id, webhook_id):
    return ApiResponse(200, sandbox.account.webhook_get(list_id, webhook_id))


def webhook_patch(sandbox, request, list_id, webhook_id):
    body = _json_body(request)
    sandbox.account.webhook_get(list_id, webhook_id)  # 404 before any outgoing check
    url = validation.webhook_fields(body).get("url")
    # A new URL is checked as on creation (a GET answered 200) before it is saved.
    if url is not None and not url_answers(url):
        raise invalid_resource(f"The URL '{url}' did not return a valid response. Please make "
                               "sure it answers a GET request with 200.")
    return ApiResponse(200, sandbox.account.webhook_update(list_id, webhook_id, body))


def webhook_delete(sandbox, request, list_id, webhook_id):
    sandbox.account.webhook_delete(list_id, webhook_id)
    return ApiResponse(204)


def batches_read(sandbox, request):
    batches, total = page(sandbox.batches.all(), request.query)
    return ApiResponse(200, {"batches": batches, "total_items": total,
                             "_links": self_link("/batches")})


def batch_create(sandbox, request):
    return ApiResponse(200, sandbox.batches.submit(_json_body(request)))


def batch_read(sandbox, request, batch_id):
    return ApiResponse(200, sandbox.batches.get(batch_id))


def batch_delete(sandbox, request, batch_id):
    sandbox.batches.delete(batch_id)
    return ApiResponse(204)


SEGMENT = r"([^/]+)"
ROUTES: list[tuple[re.Pattern, dict[str, Callable]]] = [
    (re.compile(pattern.replace("{}", SEGMENT)), methods) for pattern, methods in [
        ("/", {"GET": root}),
        ("/ping", {"GET": ping}),
        ("/lists", {"GET": lists_read}),
        ("/lists/{}", {"GET": list_read, "POST": list_batch_subscribe}),
        ("/lists/{}/interest-categories", {"GET": categories_read}),
        ("/lists/{}/interest-categories/{}", {"GET": category_read}),
        ("/lists/{}/interest-categories/{}/interests", {"GET": interests_read}),
        ("/lists/{}/interest-categories/{}/interests/{}", {"GET": interest_read}),
        ("/lists/{}/members", {"GET": members_read, "POST": member_create}),
        ("/lists/{}/members/{}", {"GET": member_read, "PUT": member_put,
                                  "PATCH": member_patch, "DELETE": member_archive}),
        ("/lists/{}/members/{}/tags", {"GET": member_tags_read, "POST": member_tags_post}),
        ("/lists/{}/members/{}/actions/delete-permanent", {"POST": member_delete_permanent}),
        ("/lists/{}/webhooks", {"GET": webhooks_read, "POST": webhook_create}),
        ("/lists/{}/webhooks/{}", {"GET": webhook_read, "PATCH": webhook_patch,
                                   "DELETE": webhook_delete}),
        ("/batches", {"GET": batches_read, "POST": batch_create}),
        ("/batches/{}", {"GET": batch_read, "DELETE": batch_delete}),
    ]
]


@cache
def all_routes() -> list[tuple[re.Pattern, dict[str, Callable]]]:
    """ROUTES and the e-commerce routes, imported on first use: `ecommerce_api` builds on this
    module's helpers."""
    from .ecommerce_api import ROUTES as ECOMMERCE_ROUTES
    return ROUTES + [(re.compile(pattern.replace("{}", SEGMENT)), methods)
                     for pattern, methods in ECOMMERCE_ROUTES]


def route_kind(path: str) -> str:
    """The route a /3.0 path takes, ids as {}: "/ecommerce/stores/{}/orders/{}" (the path
    itself when no route matches)."""
    path = path.removeprefix("/3.0").rstrip("/") or "/"
    for regex, _ in all_routes():
        if regex.fullmatch(path):
            return regex.pattern.replace(SEGMENT, "{}")
    return path


def dispatch(sandbox: Sandbox, request: ApiRequest) -> ApiResponse:
    """Run one API call against the account (no auth, faults or limits: the caller's job)."""
    path = request.path.rstrip("/") or "/"
    for regex, methods in all_routes():
        match = regex.fullmatch(path)
        if not match:
            continue
        handler = methods.get(request.method)
        if handler is None:
            return problem(405, "Method Not Allowed", "The requested method and resource are "
                           "not compatible. See the Allow header for this resource's available "
                           "methods.", headers={"Allow": ", ".join(methods)})
        try:
            response = handler(sandbox, request, *match.groups())
        except ApiError as error:
            return problem(error.status, error.title, error.detail, error.errors)
        except Exception:
            # A sandbox bug, not a Mailchimp answer: still a well-formed response, so the client
            # under test sees an error rather than a dropped connection. Tests assert no 500s.
            logger.exception("sandbox handler failed: %s %s", request.method, request.path)
            return problem(500, "Internal Server Error", "The sandbox failed on this request; "
                           "see its log.")
        if response.status == 200 and request.method == "GET" and response.body is not None:
            response.body = apply_fields(response.body, request.query)
        return response
    error = not_found()
    return problem(error.status, error.title, error.detail)


def parse_json(raw: bytes):
    """The request body, or an ApiError like Mailchimp's for malformed JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        raise json_parse_error() from None
