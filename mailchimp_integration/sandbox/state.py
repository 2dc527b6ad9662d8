"""The sandbox's Mailchimp account: audiences, groups, members, webhooks, and Mailchimp's rules.

Everything is plain JSON-able dicts under one lock, so the whole account can be dumped to a
state file and loaded back. Methods return response bodies already shaped as the spec's
schemas; the HTTP layer only routes, filters fields and pages.
"""
from __future__ import annotations

import copy
import hashlib
import random
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from . import compliance, validation
from .errors import ApiError, invalid_resource, not_found

# Mailchimp rejects anything that is not shaped like an address; this is close enough.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
CATEGORY_TYPES = {"checkboxes", "dropdown", "radio", "hidden"}
SIGNUP_SOURCES = {"api": "API - Generic", "admin": "Admin Add"}
LINK_BASE = "https://us6.api.mailchimp.com/3.0"
ID_RANDOM_SEED = 20240501


def subscriber_hash(email_or_hash: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased email (a path may carry either)."""
    if "@" in email_or_hash:
        return hashlib.md5(email_or_hash.strip().lower().encode()).hexdigest()
    return email_or_hash.lower()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_valid_email(email) -> bool:
    return isinstance(email, str) and bool(EMAIL_PATTERN.match(email.strip()))


def self_link(path: str) -> list[dict]:
    return [{"rel": "self", "href": f"{LINK_BASE}{path}", "method": "GET"}]


class Account:
    """One Mailchimp account. Thread-safe: every public method takes the lock.

    `on_event(list_id, event_type, source, data, webhooks)` is called (under the lock, so it
    must only queue work) for every change a webhook can report; `on_change()` after every
    change, for the state file.
    """

    def __init__(self, seed: dict, *, on_event: Callable | None = None,
                 on_change: Callable | None = None):
        self.lock = threading.RLock()
        self.on_event = on_event or (lambda *args: None)
        self.on_change = on_change or (lambda: None)
        self.startup_seed = copy.deepcopy(seed)
        self.load_seed(seed)

    # ----------------------------------------------------------------- whole account
    def load_seed(self, seed: dict) -> None:
        """Replace the account with `seed`'s; a reset still returns to the startup seed.

        The compliance mode is the seed's if it names one, else it stays as it was."""
        with self.lock:
            current = getattr(self, "data", {}).get("compliance_mode", compliance.STRICT)
            mode = seed.get("compliance_mode", current)
            if mode not in compliance.COMPLIANCE_MODES:
                raise invalid_resource(f"Unknown compliance mode {mode!r}.")
            self._random = random.Random(ID_RANDOM_SEED)
            self.data = {
                "account_name": seed.get("account_name", "Sandbox"),
                "compliance_mode": mode,
                "lists": {},
                "tags": {},
                "forgotten": [],
            }
            self._load_seed_lists(copy.deepcopy(seed.get("lists", [])))
            self.on_change()

    def reset(self) -> None:
        """Back to the seed the sandbox started with (deterministic ids included), in the
        seed's compliance mode (strict unless it names one)."""
        self.load_seed({"compliance_mode": compliance.STRICT, **self.startup_seed})

    def _load_seed_lists(self, lists: list[dict]) -> None:
        for audience in lists:
            list_id = self.list_create(
                audience["name"], list_id=audience.get("id"),
                member_count=audience.get("member_count", 0),
            )
            for category in audience.get("categories", []):
                category_id = self.category_create(
                    list_id, category["title"], category_id=category.get("id"),
                    category_type=category.get("type", "checkboxes"),
                )
                for interest in category.get("interests", []):
                    self.interest_create(
                        list_id, category_id, interest["name"], interest_id=interest.get("id"),
                        subscriber_count=interest.get("subscriber_count", 0),
                    )
            for member in audience.get("members", []):
                self.member_upsert(list_id, member["email_address"], {
                    "status_if_new": "subscribed", **member}, source="admin")

    def adopt(self, saved: dict) -> None:
        """Take over a saved account (a state file); a reset still goes back to the seed."""
        with self.lock:
            self.data = copy.deepcopy(saved)
            # Fresh ids: the seeded sequence would repeat ids created before the save.
            self._random = random.Random()

    def dump(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.data)

    def account_details(self) -> dict:
        """GET / (the API root): who the key belongs to."""
        with self.lock:
            name = self.data["account_name"]
            total = sum(
                audience["extra_member_count"] + sum(
                    1 for m in audience["members"].values()
                    if m["status"] == "subscribed" and not m["archived"])
                for audience in self.data["lists"].values())
            return {
                "account_id": "8d3a3db4d97663a9074efcc16", "login_id": "11223344",
                "account_name": name, "email": "owner@example.com", "first_name": "Sandbox",
                "last_name": "Owner", "username": "sandbox", "role": "owner",
                "pro_enabled": False, "account_timezone": "Europe/London",
                "account_industry": "Retail", "pricing_plan_type": "monthly",
                "member_since": "2020-01-01T00:00:00+00:00",
                "contact": {"company": name, "addr1": "1 Hilltop Road", "addr2": "",
                            "city": "Bristol", "state": "", "zip": "BS1 1AA", "country": "GB"},
                "total_subscribers": total,
                "_links": self_link("/"),
            }

    def compliance_mode(self) -> str:
        with self.lock:
            return self.data.get("compliance_mode", compliance.STRICT)

    def set_compliance_mode(self, mode: str) -> None:
        """strict (every compliance lock holds) or permissive (see `compliance`)."""
        if mode not in compliance.COMPLIANCE_MODES:
            raise invalid_resource(f"The compliance mode must be one of "
                                   f"{', '.join(compliance.COMPLIANCE_MODES)}, not {mode!r}.")
        with self.lock:
            self.data["compliance_mode"] = mode
            self.on_change()

    def _new_id(self) -> str:
        return f"{self._random.getrandbits(40):010x}"

    # ----------------------------------------------------------------- lookups
    def _list(self, list_id: str) -> dict:
        audience = self.data["lists"].get(list_id)
        if audience is None:
            raise not_found()
        return audience

    def _category(self, list_id: str, category_id: str) -> dict:
        category = self._list(list_id)["categories"].get(category_id)
        if category is None:
            raise not_found()
        return category

    def _interest(self, list_id: str, category_id: str, interest_id: str) -> dict:
        interest = self._category(list_id, category_id)["interests"].get(interest_id)
        if interest is None:
            raise not_found()
        return interest

    def _all_interests(self, audience: dict) -> dict[str, dict]:
        return {
            interest_id: interest
            for category in audience["categories"].values()
            for interest_id, interest in category["interests"].items()
        }

    def _visible_member(self, list_id: str, email_or_hash: str, *,
                        archived: bool = False) -> dict:
        """The member, or 404; an archived one only where Mailchimp shows it (`archived`)."""
        member = self._list(list_id)["members"].get(subscriber_hash(email_or_hash))
        if member is None or (member["archived"] and not archived):
            raise not_found()
        return member

    # ----------------------------------------------------------------- lists (control)
    def list_create(self, name: str, *, list_id: str | None = None, member_count: int = 0) -> str:
        with self.lock:
            list_id = list_id or self._new_id()
            self.data["lists"][list_id] = {
                "id": list_id,
                "web_id": int(hashlib.md5(list_id.encode()).hexdigest()[:6], 16),
                "name": name,
                "date_created": now_iso(),
                # Members the account "has" beyond those stored here, so an audience can look
                # big without thousands of member records.
                "extra_member_count": int(member_count),
                "categories": {},
                "members": {},
                "webhooks": {},
            }
            self.on_change()
            return list_id

    def list_rename(self, list_id: str, name: str) -> None:
        with self.lock:
            self._list(list_id)["name"] = name
            self.on_change()

    def list_delete(self, list_id: str) -> None:
        with self.lock:
            self._list(list_id)
            del self.data["lists"][list_id]
            self.on_change()

    def category_create(self, list_id: str, title: str, *, category_id: str | None = None,
                        category_type: str = "checkboxes") -> str:
        with self.lock:
            audience = self._list(list_id)
            category_id = category_id or self._new_id()
            audience["categories"][category_id] = {
                "id": category_id, "title": title, "type": category_type,
                "display_order": len(audience["categories"]), "interests": {},
            }
            self.on_change()
            return category_id

    def category_rename(self, list_id: str, category_id: str, title: str) -> None:
        with self.lock:
            self._category(list_id, category_id)["title"] = title
            self.on_change()

    def category_delete(self, list_id: str, category_id: str) -> None:
        with self.lock:
            category = self._category(list_id, category_id)
            self._forget_interests(list_id, set(category["interests"]))
            del self._list(list_id)["categories"][category_id]
            self.on_change()

    def interest_create(self, list_id: str, category_id: str, name: str, *,
                        interest_id: str | None = None, subscriber_count: int = 0) -> str:
        with self.lock:
            category = self._category(list_id, category_id)
            interest_id = interest_id or self._new_id()
            category["interests"][interest_id] = {
                "id": interest_id, "name": name, "display_order": len(category["interests"]),
                "extra_subscriber_count": int(subscriber_count),
            }
            self.on_change()
            return interest_id

    def interest_rename(self, list_id: str, category_id: str, interest_id: str, name: str) -> None:
        with self.lock:
            self._interest(list_id, category_id, interest_id)["name"] = name
            self.on_change()

    def interest_delete(self, list_id: str, category_id: str, interest_id: str) -> None:
        with self.lock:
            self._interest(list_id, category_id, interest_id)
            del self._category(list_id, category_id)["interests"][interest_id]
            self._forget_interests(list_id, {interest_id})
            self.on_change()

    def _forget_interests(self, list_id: str, interest_ids: set[str]) -> None:
        for member in self._list(list_id)["members"].values():
            for interest_id in interest_ids:
                member["interests"].pop(interest_id, None)

    # ----------------------------------------------------------------- lists (API reads)
    def lists_all(self) -> list[dict]:
        with self.lock:
            return [self._render_list(audience) for audience in self.data["lists"].values()]

    def list_get(self, list_id: str) -> dict:
        with self.lock:
            return self._render_list(self._list(list_id))

    def _render_list(self, audience: dict) -> dict:
        counts = {status: 0 for status in validation.MEMBER_STATUSES}
        for member in audience["members"].values():
            if not member["archived"]:
                counts[member["status"]] += 1
        list_id = audience["id"]
        member_count = audience["extra_member_count"] + counts["subscribed"]
        return {
            "id": list_id,
            "web_id": audience["web_id"],
            "name": audience["name"],
            "contact": {
                "company": self.data["account_name"], "address1": "1 Hilltop Road",
                "address2": "", "city": "Bristol", "state": "", "zip": "BS1 1AA",
                "country": "GB", "phone": "",
            },
            "permission_reminder": "You signed up on our website.",
            "use_archive_bar": True,
            "campaign_defaults": {
                "from_name": self.data["account_name"], "from_email": "news@example.com",
                "subject": "", "language": "en",
            },
            "notify_on_subscribe": "",
            "notify_on_unsubscribe": "",
            "date_created": audience["date_created"],
            "list_rating": 0,
            "email_type_option": False,
            "subscribe_url_short": f"http://eepurl.com/{list_id[:6]}",
            "subscribe_url_long": f"https://example.us6.list-manage.com/subscribe?id={list_id}",
            "beamer_address": f"us6-{list_id}@inbound.mailchimp.com",
            "visibility": "pub",
            "double_optin": False,
            "has_welcome": False,
            "marketing_permissions": False,
            "modules": [],
            "stats": {
                "member_count": member_count,
                "total_contacts": member_count + counts["unsubscribed"] + counts["cleaned"]
                + counts["pending"] + counts["transactional"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "member_count_since_send": member_count,
                "unsubscribe_count_since_send": counts["unsubscribed"],
                "cleaned_count_since_send": counts["cleaned"],
                "campaign_count": 0,
                "merge_field_count": 2,
                "avg_sub_rate": 0,
                "avg_unsub_rate": 0,
                "target_sub_rate": 0,
                "open_rate": 0,
                "click_rate": 0,
            },
            "_links": self_link(f"/lists/{list_id}"),
        }

    def categories_all(self, list_id: str) -> list[dict]:
        with self.lock:
            return [self._render_category(list_id, category)
                    for category in self._list(list_id)["categories"].values()]

    def category_get(self, list_id: str, category_id: str) -> dict:
        with self.lock:
            return self._render_category(list_id, self._category(list_id, category_id))

    def _render_category(self, list_id: str, category: dict) -> dict:
        return {
            "list_id": list_id, "id": category["id"], "title": category["title"],
            "display_order": category["display_order"], "type": category["type"],
            "_links": self_link(f"/lists/{list_id}/interest-categories/{category['id']}"),
        }

    def interests_all(self, list_id: str, category_id: str) -> list[dict]:
        with self.lock:
            category = self._category(list_id, category_id)
            return [self._render_interest(list_id, category_id, interest)
                    for interest in category["interests"].values()]

    def interest_get(self, list_id: str, category_id: str, interest_id: str) -> dict:
        with self.lock:
            return self._render_interest(
                list_id, category_id, self._interest(list_id, category_id, interest_id))

    def _render_interest(self, list_id: str, category_id: str, interest: dict) -> dict:
        members = self._list(list_id)["members"].values()
        count = interest["extra_subscriber_count"] + sum(
            1 for member in members
            if not member["archived"] and member["status"] == "subscribed"
            and member["interests"].get(interest["id"])
        )
        return {
            "category_id": category_id, "list_id": list_id, "id": interest["id"],
            "name": interest["name"],
            # The spec (and the live API) give this count as a string.
            "subscriber_count": str(count),
            "display_order": interest["display_order"],
            "_links": self_link(
                f"/lists/{list_id}/interest-categories/{category_id}/interests/{interest['id']}"),
        }

    # ----------------------------------------------------------------- members
    def members_all(self, list_id: str, *, status: str | None = None) -> list[dict]:
        with self.lock:
            audience = self._list(list_id)
            return [
                self._render_member(audience, member)
                for member in audience["members"].values()
                # Archived members are listed only when asked for, with that status.
                if (member["archived"] and status == "archived")
                or (not member["archived"] and (status is None or member["status"] == status))
            ]

    def member_get(self, list_id: str, email_or_hash: str) -> dict:
        with self.lock:
            audience = self._list(list_id)
            return self._render_member(
                audience, self._visible_member(list_id, email_or_hash, archived=True))

    def member_add(self, list_id: str, body: dict, *, source: str = "api") -> dict:
        """POST /lists/{id}/members: create only."""
        with self.lock:
            audience = self._list(list_id)
            email = self._require_email(body)
            existing = audience["members"].get(subscriber_hash(email))
            if existing is not None and not existing["archived"]:
                raise ApiError(400, "Member Exists", f"{email} is already a list member. Use PUT "
                               "to insert or update list members.")
            if "status" not in body:
                raise invalid_resource(
                    "The resource submitted could not be validated. For field-specific details, "
                    "see the 'errors' array.",
                    [{"field": "status", "message": "Schema describes enum, NULL found instead"}])
            return self._upsert(audience, email, {**body, "status_if_new": body["status"]},
                                source=source)

    def member_upsert(self, list_id: str, email_or_hash: str, body: dict, *,
                      source: str = "api") -> dict:
        """PUT /lists/{id}/members/{hash}: add or update; `status_if_new` only for new ones."""
        with self.lock:
            audience = self._list(list_id)
            email = self._require_email(body)
            if subscriber_hash(email) != subscriber_hash(email_or_hash):
                raise invalid_resource(
                    "The subscriber hash in the URL does not match the email address "
                    f"'{email}' in the request body.")
            member = audience["members"].get(subscriber_hash(email))
            if (member is None or member["archived"]) and "status_if_new" not in body \
                    and "status" not in body:
                raise invalid_resource(
                    "The resource submitted could not be validated. For field-specific details, "
                    "see the 'errors' array.",
                    [{"field": "status_if_new",
                      "message": "Schema describes enum, NULL found instead"}])
            return self._upsert(audience, email, body, source=source)

    def member_update(self, list_id: str, email_or_hash: str, body: dict, *,
                      source: str = "api") -> dict:
        """PATCH /lists/{id}/members/{hash}: update an existing member, maybe its email.

        An archived member is brought back by a PATCH that sets a status, as by a PUT; any
        other PATCH does not find it."""
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email_or_hash, archived="status" in body)
            changes = {k: v for k, v in body.items() if k != "email_address"}
            statuses = validation.PATCH_MEMBER_STATUSES
            # Refuse before the address changes, so a refused PATCH changes nothing.
            self._checked(audience, member["email_address"], changes, statuses=statuses)
            new_email = validation.member_changes(
                body, known_interests=None).get("email_address")
            if new_email is not None and new_email.strip().lower() != \
                    member["email_address"].lower():
                self._change_email(audience, member, new_email, source=source)
            return self._upsert(audience, member["email_address"], changes, source=source,
                                statuses=statuses)

    def member_archive(self, list_id: str, email_or_hash: str, *, source: str = "api") -> None:
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email_or_hash)
            member["archived"] = True
            member["last_changed"] = now_iso()
            self._emit(audience, "unsubscribe", source, member, action="delete", reason="manual")
            self.on_change()

    def member_delete_permanent(self, list_id: str, email_or_hash: str) -> None:
        with self.lock:
            audience = self._list(list_id)
            member = audience["members"].get(subscriber_hash(email_or_hash))
            if member is None:
                raise not_found()
            del audience["members"][member["id"]]
            self.data["forgotten"].append([list_id, member["id"]])
            self.on_change()

    def _require_email(self, body: dict) -> str:
        email = body.get("email_address")
        if email is None:
            raise invalid_resource(
                "The resource submitted could not be validated. For field-specific details, "
                "see the 'errors' array.",
                [{"field": "email_address", "message": "This value should not be blank."}])
        validation.expect(email, "string", "email_address")
        if not is_valid_email(email):
            raise invalid_resource("Please provide a valid email address.")
        return email.strip()

    def _checked(self, audience: dict, email: str, body: dict, *, by_person: bool = False,
                 statuses: tuple[str, ...] = validation.MEMBER_STATUSES) -> tuple[dict, str | None]:
        """(the body's checked changes, the status it asks for), or Mailchimp's refusal."""
        changes = validation.member_changes(
            body, known_interests=self._all_interests(audience), statuses=statuses)
        member_hash = subscriber_hash(email)
        member = audience["members"].get(member_hash)
        if member is None or member["archived"]:
            target_status = changes.get("status") or changes.get("status_if_new")
        else:
            target_status = changes.get("status")
        if target_status == "subscribed" and \
                [audience["id"], member_hash] in self.data["forgotten"]:
            raise ApiError(400, "Forgotten Email Not Subscribed", f"{email} was permanently "
                           "deleted and cannot be re-imported. The contact must re-subscribe "
                           "to get back on the list.")
        if not by_person:
            refusal = compliance.api_refusal(member, email, target_status,
                                             self.data.get("compliance_mode", compliance.STRICT))
            if refusal is not None:
                raise refusal
        return changes, target_status

    def _upsert(self, audience: dict, email: str, body: dict, *, source: str,
                by_person: bool = False,
                statuses: tuple[str, ...] = validation.MEMBER_STATUSES) -> dict:
        """Create or change a member. `by_person`: the person's own act (a signup on
        Mailchimp's form, a confirmation), which lifts a compliance lock; the API's may not."""
        changes, target_status = self._checked(audience, email, body, by_person=by_person,
                                               statuses=statuses)
        member_hash = subscriber_hash(email)
        if target_status == "pending" and [audience["id"], member_hash] in self.data["forgotten"]:
            # A confirmation e-mail is the way back for a forgotten address.
            self.data["forgotten"].remove([audience["id"], member_hash])

        timestamp = now_iso()
        member = audience["members"].get(member_hash)
        previous_status = member["status"] if member else None
        if member is None:
            member = audience["members"][member_hash] = self._new_member(audience, email, source)
        was_archived = member["archived"]
        member["archived"] = False
        old_merge_fields, old_interests = dict(member["merge_fields"]), dict(member["interests"])
        member["merge_fields"].update(changes.pop("merge_fields", {}))
        member["interests"].update(changes.pop("interests", {}))
        for key in ("status", "status_if_new", "email_address"):
            changes.pop(key, None)
        member.update(changes)
        if target_status and target_status != previous_status:
            member["status"] = target_status
            if target_status == "unsubscribed":
                member["unsubscribe_reason"] = "N/A (Unsubscribed by an admin)"
                compliance.lock(member, compliance.BY_API if source == "api"
                                else compliance.BY_ADMIN)
            elif target_status == "cleaned":
                compliance.lock(member, compliance.BY_BOUNCE)
        if target_status == "subscribed":
            # The person's own act, or the API where the compliance mode lets it.
            compliance.unlock(member)
        member["last_changed"] = timestamp

        status_changed = member["status"] != previous_status or was_archived
        if status_changed and member["status"] == "subscribed":
            member["timestamp_opt"] = member.get("timestamp_opt") or timestamp
            self._emit(audience, "subscribe", source, member)
        elif status_changed and member["status"] == "unsubscribed" and previous_status:
            self._emit(audience, "unsubscribe", source, member, action="unsub", reason="manual")
        elif not status_changed and (member["merge_fields"] != old_merge_fields
                                     or member["interests"] != old_interests):
            self._emit(audience, "profile", source, member)
        self.on_change()
        return self._render_member(audience, member)

    def _new_member(self, audience: dict, email: str, source: str) -> dict:
        member_hash = subscriber_hash(email)
        unique = hashlib.md5(f"{audience['id']}:{member_hash}".encode()).hexdigest()
        return {
            "id": member_hash,
            "email_address": email,
            "unique_email_id": unique[:10],
            "contact_id": hashlib.sha256(unique.encode()).hexdigest()[:32],
            "web_id": int(unique[:7], 16),
            "status": None,
            "compliance_lock": None,  # who unsubscribed or cleaned them (see `compliance`)
            "archived": False,
            "merge_fields": {"FNAME": "", "LNAME": ""},
            "interests": {},
            "email_type": "html",
            "language": "",
            "vip": False,
            "ip_signup": "",
            "ip_opt": "",
            "source": SIGNUP_SOURCES.get(source, "Hosted Signup Form"),
            "tags": {},
            "last_changed": now_iso(),
        }

    def _render_member(self, audience: dict, member: dict) -> dict:
        all_interests = self._all_interests(audience)
        merge_fields = member["merge_fields"]
        rendered = {
            "id": member["id"],
            "email_address": member["email_address"],
            "unique_email_id": member["unique_email_id"],
            "contact_id": member["contact_id"],
            "full_name": " ".join(filter(None, [merge_fields.get("FNAME"),
                                                merge_fields.get("LNAME")])),
            "web_id": member["web_id"],
            "email_type": member["email_type"],
            "status": "archived" if member["archived"] else member["status"],
            "consents_to_one_to_one_messaging": True,
            "merge_fields": dict(merge_fields),
            "interests": {interest_id: bool(member["interests"].get(interest_id))
                          for interest_id in all_interests},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": member["ip_signup"],
            "ip_opt": member["ip_opt"],
            "member_rating": 2,
            "last_changed": member["last_changed"],
            "language": member["language"],
            "vip": member["vip"],
            "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                         "country_code": "", "timezone": "", "region": ""},
            "marketing_permissions": member.get("marketing_permissions", []),
            "source": member["source"],
            "tags_count": len(member["tags"]),
            "tags": [{"id": self.data["tags"][name], "name": name} for name in member["tags"]],
            "list_id": audience["id"],
            "_links": self_link(f"/lists/{audience['id']}/members/{member['id']}"),
        }
        # Mailchimp sends "" for unknown timestamps; the spec says date-time, so omit them.
        for key in ("timestamp_signup", "timestamp_opt"):
            if member.get(key):
                rendered[key] = member[key]
        if member["status"] == "unsubscribed" and member.get("unsubscribe_reason"):
            rendered["unsubscribe_reason"] = member["unsubscribe_reason"]
        return rendered

    # ----------------------------------------------------------------- tags
    def member_tags_update(self, list_id: str, email_or_hash: str, body: dict) -> None:
        with self.lock:
            member = self._visible_member(list_id, email_or_hash)
            for name, active in validation.member_tags(body):
                if active:
                    self.data["tags"].setdefault(name, len(self.data["tags"]) + 1)
                    member["tags"].setdefault(name, now_iso())
                else:
                    member["tags"].pop(name, None)
            member["last_changed"] = now_iso()
            self.on_change()

    def member_tags_all(self, list_id: str, email_or_hash: str) -> list[dict]:
        with self.lock:
            member = self._visible_member(list_id, email_or_hash)
            return [{"id": self.data["tags"][name], "name": name, "date_added": added}
                    for name, added in member["tags"].items()]

    # ----------------------------------------------------------------- batch subscribe
    def batch_subscribe(self, list_id: str, body: dict) -> dict:
        """POST /lists/{id}: at most 500 members, each succeeding or failing on its own."""
        with self.lock:
            audience = self._list(list_id)
            members, update_existing = validation.batch_subscribe(body)
            if len(members) > 500:
                raise invalid_resource("You may only subscribe or update up to 500 members at "
                                       "a time.")
            # The whole call is checked against the schema first: a wrongly typed field in any
            # member fails the call; what only the account can judge fails that member alone.
            for n, entry in enumerate(members):
                try:
                    validation.member_changes(entry, known_interests=None)
                except ApiError as error:
                    for item in error.errors or []:
                        item["field"] = f"members.item:{n}.{item['field']}"
                    raise
            created, updated, errors = [], [], []
            for entry in members:
                email = entry.get("email_address", "")
                try:
                    if not is_valid_email(email):
                        errors.append({
                            "email_address": email, "error": f"{email} looks fake or invalid, "
                            "please enter a real email address.", "error_code": "ERROR_GENERIC",
                            "field": "email_address", "field_message": "Invalid email address"})
                        continue
                    existing = audience["members"].get(subscriber_hash(email))
                    if existing is not None and not existing["archived"]:
                        if not update_existing:
                            errors.append({
                                "email_address": email, "error": f"{email} is already a list "
                                "member. Use PUT to insert or update list members.",
                                "error_code": "ERROR_CONTACT_EXISTS", "field": "email_address",
                                "field_message": "Contact already exists"})
                            continue
                        updated.append(self._upsert(audience, email, entry, source="api"))
                    else:
                        if "status" not in entry:
                            raise invalid_resource("A status is required for new members.")
                        created.append(self._upsert(
                            audience, email, {**entry, "status_if_new": entry["status"]},
                            source="api"))
                except ApiError as error:
                    # Mailchimp's per-member error carries the detail in `error` (e.g. "… is
                    # in a compliance state …"); the spec's enum has only these two codes.
                    field = (error.errors or [{}])[0]
                    errors.append({"email_address": email, "error": error.detail,
                                   "error_code": "ERROR_GENERIC",
                                   "field": field.get("field", ""),
                                   "field_message": field.get("message", "")})
            return {
                "new_members": [_batch_member(m) for m in created],
                "updated_members": [_batch_member(m) for m in updated],
                "errors": errors,
                "total_created": len(created),
                "total_updated": len(updated),
                "error_count": len(errors),
                "_links": self_link(f"/lists/{list_id}"),
            }

    # ----------------------------------------------------------------- webhooks
    def webhook_create(self, list_id: str, body: dict) -> dict:
        with self.lock:
            audience = self._list(list_id)
            fields = validation.webhook_fields(body)
            url = fields.get("url")
            if url is None:
                raise invalid_resource("The resource submitted could not be validated.",
                                       [{"field": "url", "message": "Please enter a valid URL."}])
            if any(hook["url"] == url for hook in audience["webhooks"].values()):
                raise invalid_resource(f"Sorry, you can't use the same webhook URL twice: {url}")
            webhook_id = self._new_id()
            audience["webhooks"][webhook_id] = {
                "id": webhook_id, "url": url,
                "events": {**dict.fromkeys(
                    ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign"),
                    False), **fields.get("events", {})},
                "sources": {**dict.fromkeys(("user", "admin", "api"), False),
                            **fields.get("sources", {})},
            }
            self.on_change()
            return self._render_webhook(list_id, audience["webhooks"][webhook_id])

    def webhook_update(self, list_id: str, webhook_id: str, body: dict) -> dict:
        with self.lock:
            webhook = self._webhook(list_id, webhook_id)
            fields = validation.webhook_fields(body)
            for key in ("events", "sources"):
                webhook[key].update(fields.get(key, {}))
            if "url" in fields:
                webhook["url"] = fields["url"]
            self.on_change()
            return self._render_webhook(list_id, webhook)

    def webhooks_all(self, list_id: str) -> list[dict]:
        with self.lock:
            return [self._render_webhook(list_id, hook)
                    for hook in self._list(list_id)["webhooks"].values()]

    def webhook_get(self, list_id: str, webhook_id: str) -> dict:
        with self.lock:
            return self._render_webhook(list_id, self._webhook(list_id, webhook_id))

    def webhook_delete(self, list_id: str, webhook_id: str) -> None:
        with self.lock:
            self._webhook(list_id, webhook_id)
            del self._list(list_id)["webhooks"][webhook_id]
            self.on_change()

    def _webhook(self, list_id: str, webhook_id: str) -> dict:
        webhook = self._list(list_id)["webhooks"].get(webhook_id)
        if webhook is None:
            raise not_found()
        return webhook

    def _render_webhook(self, list_id: str, webhook: dict) -> dict:
        return {"id": webhook["id"], "url": webhook["url"], "list_id": list_id,
                "events": dict(webhook["events"]), "sources": dict(webhook["sources"]),
                "_links": self_link(f"/lists/{list_id}/webhooks/{webhook['id']}")}

    def _emit(self, audience: dict, event_type: str, source: str, member: dict, **extra) -> None:
        """Hand a webhook event (Mailchimp's form fields) to the webhooks that want it."""
        webhooks = [
            hook["url"] for hook in audience["webhooks"].values()
            if hook["events"].get(event_type) and hook["sources"].get(source)
        ]
        if not webhooks:
            return
        data = {"list_id": audience["id"], **extra}
        if event_type in {"subscribe", "unsubscribe", "profile"}:
            interest_names = [
                interest["name"] for interest_id, interest in self._all_interests(audience).items()
                if member["interests"].get(interest_id)
            ]
            data.update({
                "id": member["unique_email_id"],
                "email": member["email_address"],
                "email_type": member["email_type"],
                "ip_opt": member["ip_opt"],
                "web_id": str(member["web_id"]),
                "merges": {"EMAIL": member["email_address"], **member["merge_fields"],
                           "INTERESTS": ", ".join(interest_names)},
            })
            if event_type == "subscribe":
                data["ip_signup"] = member["ip_signup"]
        elif event_type == "cleaned":
            data.update({"email": member["email_address"], "campaign_id": ""})
        self.on_event(audience["id"], event_type, source, data, webhooks)

    # ----------------------------------------------------------------- people (control)
    def person_subscribe(self, list_id: str, email: str, *, merge_fields: dict | None = None,
                         interests: dict | None = None, source: str = "user") -> dict:
        """A person signs up on Mailchimp's form, or confirms a pending subscription.

        Their own action lifts the compliance state that stops the API from subscribing them.
        """
        with self.lock:
            audience = self._list(list_id)
            if not is_valid_email(email):
                raise invalid_resource("Please provide a valid email address.")
            forgotten = [list_id, subscriber_hash(email)]
            if forgotten in self.data["forgotten"]:
                self.data["forgotten"].remove(forgotten)
            body = {"email_address": email, "status": "subscribed",
                    "merge_fields": merge_fields or {}, "interests": interests or {}}
            return self._upsert(audience, email, body, source=source, by_person=True)

    def person_confirm(self, list_id: str, email: str, *, source: str = "user") -> dict:
        """A person clicks the link in Mailchimp's confirmation e-mail: pending → subscribed.

        The way back for someone who unsubscribed and was re-sent as pending by the API."""
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email)
            if member["status"] != "pending":
                raise invalid_resource(f"{member['email_address']} is {member['status']}, not "
                                       "pending: there is no confirmation e-mail to click.")
            return self._upsert(audience, member["email_address"], {"status": "subscribed"},
                                source=source, by_person=True)

    def person_update_profile(self, list_id: str, email: str, *, merge_fields: dict | None = None,
                              interests: dict | None = None, source: str = "user") -> dict:
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email)
            body = {"merge_fields": merge_fields or {}, "interests": interests or {}}
            return self._upsert(audience, member["email_address"], body, source=source)

    def person_unsubscribe(self, list_id: str, email: str, *, reason: str = "manual",
                           source: str = "user") -> dict:
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email)
            member["status"] = "unsubscribed"
            member["unsubscribe_reason"] = "N/A (Unsubscribed by the contact)"
            # Staff unsubscribing someone in Mailchimp's app ("admin") lock them as firmly.
            compliance.lock(member, compliance.BY_CONTACT if source == "user"
                            else compliance.BY_ADMIN)
            member["last_changed"] = now_iso()
            self._emit(audience, "unsubscribe", source, member, action="unsub", reason=reason)
            self.on_change()
            return self._render_member(audience, member)

    def person_clean(self, list_id: str, email: str, *, reason: str = "hard",
                     source: str = "admin") -> dict:
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email)
            member["status"] = "cleaned"
            compliance.lock(member, compliance.BY_BOUNCE)
            member["last_changed"] = now_iso()
            self._emit(audience, "cleaned", source, member, reason=reason)
            self.on_change()
            return self._render_member(audience, member)

    def person_change_email(self, list_id: str, old_email: str, new_email: str, *,
                            source: str = "user") -> dict:
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, old_email)
            self._change_email(audience, member, new_email, source=source)
            self.on_change()
            return self._render_member(audience, member)

    def _change_email(self, audience: dict, member: dict, new_email: str, *, source: str) -> None:
        if not is_valid_email(new_email):
            raise invalid_resource("Please provide a valid email address.")
        new_hash = subscriber_hash(new_email)
        if new_hash in audience["members"]:
            raise ApiError(400, "Member Exists", f"{new_email} is already a list member.")
        old_email, old_id = member["email_address"], member["unique_email_id"]
        del audience["members"][member["id"]]
        member.update(id=new_hash, email_address=new_email.strip(), last_changed=now_iso())
        audience["members"][new_hash] = member
        webhooks = [hook["url"] for hook in audience["webhooks"].values()
                    if hook["events"].get("upemail") and hook["sources"].get(source)]
        if webhooks:
            self.on_event(audience["id"], "upemail", source, {
                "list_id": audience["id"], "new_id": old_id, "new_email": member["email_address"],
                "old_email": old_email}, webhooks)


def _batch_member(member: dict) -> dict:
    """A member as the batch-subscribe response (ListMembers5) carries it."""
    keep = ("id", "email_address", "unique_email_id", "email_type", "status", "merge_fields",
            "interests", "stats", "ip_signup", "timestamp_signup", "ip_opt", "timestamp_opt",
            "member_rating", "last_changed", "language", "vip", "email_client", "location",
            "tags_count", "tags", "list_id", "contact_id", "_links")
    return {key: member[key] for key in keep if key in member}
