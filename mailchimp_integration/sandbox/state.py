"""The sandbox's Mailchimp account: audiences, groups, members, webhooks, and Mailchimp's rules.

Everything is plain JSON-able dicts under one lock, so the whole account can be dumped to a
state file and loaded back. Methods return response bodies already shaped as the spec's
schemas; the HTTP layer only routes, filters fields and pages. This module holds the account
itself, its audiences and groups; members (`members.py`) and webhooks and people's own actions
(`people.py`) are parts of the same class.
"""
from __future__ import annotations

import copy
import hashlib
import random
import threading
from collections.abc import Callable

from . import compliance, validation
from .errors import invalid_resource, not_found
from .members import AccountMembers
from .people import AccountPeople
from .records import now_iso, self_link, subscriber_hash

CATEGORY_TYPES = {"checkboxes", "dropdown", "radio", "hidden"}
ID_RANDOM_SEED = 20240501


class Account(AccountMembers, AccountPeople):
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
                # Stores and their customers, products, orders, carts, promos (`ecommerce`),
                # and the campaigns orders may name.
                "ecommerce": {"stores": {}},
                "campaigns": {},
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
            if audience.get("marketing_permissions"):
                self.list_marketing_permissions_set(list_id, audience["marketing_permissions"])
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
                # A seed may date the last change (timestamp_opt, ip_opt: as in a PUT body),
                # so a test can hold members that changed long ago.
                if "last_changed" in member:
                    self._visible_member(list_id, member["email_address"])["last_changed"] = \
                        validation.timestamp(member["last_changed"], "last_changed")

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
                # GDPR fields: [{"marketing_permission_id", "text"}]; empty while switched off.
                "marketing_permissions": [],
            }
            self.on_change()
            return list_id

    def list_marketing_permissions_set(self, list_id: str, texts: list[str]) -> list[str]:
        """Switch the audience's GDPR fields on with these permissions (off when empty).

        Mailchimp lists them on no endpoint: they show only on members, each member carrying
        every permission of the audience with its own `enabled`. Returns the new ids."""
        with self.lock:
            audience = self._list(list_id)
            known = {p["text"]: p["marketing_permission_id"]
                     for p in audience.get("marketing_permissions", [])}
            audience["marketing_permissions"] = [
                {"marketing_permission_id": known.get(text) or self._new_id(), "text": text}
                for text in texts
            ]
            self.on_change()
            return [p["marketing_permission_id"] for p in audience["marketing_permissions"]]

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
            "marketing_permissions": bool(audience.get("marketing_permissions")),
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
