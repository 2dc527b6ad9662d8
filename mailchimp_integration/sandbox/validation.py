"""The request bodies Mailchimp accepts: anything else is its 400 "Invalid Resource", never a crash.

Each function takes a parsed JSON body (any JSON value: a client may send a list, a string or
`null` where an object belongs) and returns only what it checked, so the account never touches
an unchecked value. Type errors use Mailchimp's schema wording ("Schema describes boolean,
string found instead") with the field named in `errors`.
"""
from __future__ import annotations

from datetime import UTC, datetime

from .errors import invalid_resource, schema_error

MEMBER_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
# PATCH's `status` enum lacks "transactional" (the spec's UpdateListMember schema).
PATCH_MEMBER_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")
EMAIL_TYPES = ("html", "text")
TAG_STATUSES = ("active", "inactive")
WEBHOOK_EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
WEBHOOK_SOURCES = ("user", "admin", "api")
BATCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MEMBER_STRING_FIELDS = ("ip_signup", "ip_opt", "language")
MEMBER_TIME_FIELDS = ("timestamp_signup", "timestamp_opt")


def json_type(value) -> str:
    """The JSON Schema name of a parsed value, as Mailchimp's messages spell it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def expect(value, kind: str, field: str):
    """`value` if it is of JSON type `kind` ("object", "array", "string", "boolean", "number")."""
    found = json_type(value)
    if found == kind or (kind == "number" and found == "integer"):
        return value
    raise schema_error(field, f"Schema describes {kind}, {found} found instead")


def expect_enum(value, allowed: tuple[str, ...], field: str) -> str:
    expect(value, "string", field)
    if value not in allowed:
        raise schema_error(field, f"Value '{value}' is not one of: {', '.join(allowed)}.")
    return value


def timestamp(value, field: str) -> str:
    """An ISO 8601 date and time ("" for none), as the member shows it: "+00:00" when the
    client gave no zone."""
    expect(value, "string", field)
    if value == "":
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise schema_error(field, f"'{value}' is not a valid date-time (ISO 8601).") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def body_object(body) -> dict:
    """The request body, which every write takes as a JSON object."""
    return expect(body, "object", "")


def member_changes(body: dict, *, known_interests, statuses=MEMBER_STATUSES) -> dict:
    """The member fields of a PUT/PATCH/POST body (or a batch-subscribe entry), checked.

    `known_interests`: the list's interest ids (None: check only the values' types)."""
    changes: dict = {}
    for key in ("status", "status_if_new"):
        if key in body:
            changes[key] = expect_enum(body[key], statuses, key)
    if "email_address" in body:
        changes["email_address"] = expect(body["email_address"], "string", "email_address")
    if "merge_fields" in body:
        merge_fields = expect(body["merge_fields"], "object", "merge_fields")
        for name, value in merge_fields.items():
            if json_type(value) not in {"string", "integer", "number"}:
                raise invalid_resource("Your merge fields were invalid.", [
                    {"field": f"merge_fields.{name}",
                     "message": "Merge field values must be strings."}])
        changes["merge_fields"] = {name.upper(): str(value)
                                   for name, value in merge_fields.items()}
    if "interests" in body:
        interests = expect(body["interests"], "object", "interests")
        for interest_id, value in interests.items():
            if known_interests is not None and interest_id not in known_interests:
                raise invalid_resource(f"Invalid interest ID: '{interest_id}'.")
            expect(value, "boolean", f"interests.{interest_id}")
        changes["interests"] = dict(interests)
    for key in MEMBER_STRING_FIELDS:
        if key in body:
            changes[key] = expect(body[key], "string", key)
    for key in MEMBER_TIME_FIELDS:
        if key in body:
            changes[key] = timestamp(body[key], key)
    if "email_type" in body:
        changes["email_type"] = expect_enum(body["email_type"], EMAIL_TYPES, "email_type")
    if "vip" in body:
        changes["vip"] = expect(body["vip"], "boolean", "vip")
    if "location" in body:
        location = expect(body["location"], "object", "location")
        changes["location"] = {
            key: expect(location[key], "number", f"location.{key}")
            for key in ("latitude", "longitude") if key in location}
    if "marketing_permissions" in body:
        permissions = expect(body["marketing_permissions"], "array", "marketing_permissions")
        checked = []
        for n, permission in enumerate(permissions):
            field = f"marketing_permissions.item:{n}"
            expect(permission, "object", field)
            checked.append({
                "marketing_permission_id": expect(permission.get("marketing_permission_id"),
                                                  "string", f"{field}.marketing_permission_id"),
                "enabled": expect(permission.get("enabled"), "boolean", f"{field}.enabled"),
            })
        changes["marketing_permissions"] = checked
    if "tags" in body:
        for n, tag in enumerate(expect(body["tags"], "array", "tags")):
            expect(tag, "string", f"tags.item:{n}")
    return changes


def member_tags(body) -> list[tuple[str, bool]]:
    """POST .../members/{hash}/tags: [(name, active)], each tag an object with both keys."""
    body = body_object(body)
    if "tags" not in body:
        raise schema_error("tags", "Required property 'tags' was not present.")
    if "is_syncing" in body:
        expect(body["is_syncing"], "boolean", "is_syncing")
    changes = []
    for n, tag in enumerate(expect(body["tags"], "array", "tags")):
        field = f"tags.item:{n}"
        expect(tag, "object", field)
        name = expect(tag.get("name"), "string", f"{field}.name")
        status = expect_enum(tag.get("status"), TAG_STATUSES, f"{field}.status")
        if not name.strip():
            raise schema_error(f"{field}.name", "A tag name cannot be blank.")
        changes.append((name, status == "active"))
    return changes


def webhook_fields(body) -> dict:
    """A webhook's url, events and sources (each optional here), checked."""
    body = body_object(body)
    fields: dict = {}
    if "url" in body:
        url = expect(body["url"], "string", "url")
        if not url.startswith(("http://", "https://")):
            raise invalid_resource("The resource submitted could not be validated.", [
                {"field": "url", "message": "Please enter a valid URL."}])
        fields["url"] = url
    for key, names in (("events", WEBHOOK_EVENTS), ("sources", WEBHOOK_SOURCES)):
        if key in body:
            flags = expect(body[key], "object", key)
            fields[key] = {name: expect(flags[name], "boolean", f"{key}.{name}")
                           for name in names if name in flags}
    return fields


def batch_subscribe(body) -> tuple[list[dict], bool]:
    """POST /lists/{id}: (members, update_existing); the whole call fails on a bad shape."""
    body = body_object(body)
    if "members" not in body:
        raise schema_error("members", "Required property 'members' was not present.")
    members = expect(body["members"], "array", "members")
    for n, entry in enumerate(members):
        expect(entry, "object", f"members.item:{n}")
    for key in ("update_existing", "sync_tags"):
        if key in body:
            expect(body[key], "boolean", key)
    return members, bool(body.get("update_existing"))


def batch_operations(body) -> list[dict]:
    """POST /batches: each operation's method, path, params, body (a JSON string), id."""
    body = body_object(body)
    if "operations" not in body:
        raise schema_error("operations", "Required property 'operations' was not present.")
    operations = []
    for n, operation in enumerate(expect(body["operations"], "array", "operations")):
        field = f"operations.item:{n}"
        expect(operation, "object", field)
        if "method" not in operation or "path" not in operation:
            raise invalid_resource("Each operation needs a method and a path.")
        method = expect_enum(operation["method"], BATCH_METHODS, f"{field}.method")
        path = expect(operation["path"], "string", f"{field}.path")
        if not path:
            raise invalid_resource("Each operation needs a method and a path.")
        params = operation.get("params") or {}
        expect(params, "object", f"{field}.params")
        if "body" in operation:
            expect(operation["body"], "string", f"{field}.body")
        if "operation_id" in operation:
            expect(operation["operation_id"], "string", f"{field}.operation_id")
        operations.append({"method": method, "path": path,
                           "params": {key: str(value) for key, value in params.items()},
                           "body": operation.get("body") or "",
                           "operation_id": operation.get("operation_id")})
    return operations
