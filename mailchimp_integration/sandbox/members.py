"""The account's members: add, upsert, update, archive, forget, tags, batch subscribe.

Part of `state.Account` (a mixin): it uses the account's lock, data and lookups. Every status
change passes `compliance`; every body passes `validation` first.
"""
from __future__ import annotations

import hashlib

from . import compliance, validation
from .errors import ApiError, invalid_resource, not_found
from .records import is_valid_email, now_iso, self_link, subscriber_hash, utc_text

SIGNUP_SOURCES = {"api": "API - Generic", "admin": "Admin Add"}
# What a bulk-seeded member may carry besides email and status.
BULK_FIELDS = {"merge_fields", "interests", "last_changed", "timestamp_opt", "ip_opt",
               "timestamp_signup", "ip_signup"}


class AccountMembers:
    """Members, tags and batch subscribe of `state.Account`."""

    # ----------------------------------------------------------------- members
    def members_page(self, list_id: str, *, offset: int, count: int,
                     status: str | None = None, unique_email_id: str | None = None,
                     since: dict | None = None, before: dict | None = None,
                     sort_field: str | None = None,
                     descending: bool = False) -> tuple[list[dict], int]:
        """GET /lists/{id}/members: one page, and the total of the members that match.

        `since` / `before`: {"last_changed" | "timestamp_opt": UTC ISO time}, both strict
        (changed *after* / *before* the time, as the spec words it); a member without that
        time matches neither. Sorted by `sort_field`, a member without it comes first (ASC);
        unsorted, in the order members were added. Filters and sort run on the stored
        members and only the page is rendered: paging 100,000 members costs one sort a call.
        """
        with self.lock:
            audience = self._list(list_id)
            chosen = [
                member for member in audience["members"].values()
                # Archived members are listed only when asked for, with that status.
                if ((member["archived"] and status == "archived")
                    or (not member["archived"] and status in (None, member["status"])))
                and unique_email_id in (None, member["unique_email_id"])
            ]
            for name, bound in (since or {}).items():
                chosen = [m for m in chosen if utc_text(m.get(name)) > bound]
            for name, bound in (before or {}).items():
                chosen = [m for m in chosen if "" < utc_text(m.get(name)) < bound]
            if sort_field:
                chosen.sort(key=lambda member: utc_text(member.get(sort_field)),
                            reverse=descending)
            return ([self._render_member(audience, member)
                     for member in chosen[offset:offset + count]], len(chosen))

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

    def members_bulk_add(self, list_id: str, entries) -> int:
        """Seed many members at once (benches): [{email, status, merge_fields?, interests?,
        last_changed?, timestamp_opt?, ip_opt?, timestamp_signup?, ip_signup?}].

        Each entry is checked as an API body would be, all before any is stored; then no
        compliance check and no webhook. An address already on the list is replaced. An
        unsubscribed or cleaned member is locked as a seeded one is (see `compliance`)."""
        with self.lock:
            audience = self._list(list_id)
            known = self._all_interests(audience)
            checked = []
            for n, entry in enumerate(validation.expect(entries, "array", "members")):
                field = f"members.item:{n}"
                validation.expect(entry, "object", field)
                unknown = set(entry) - BULK_FIELDS - {"email", "status"}
                if unknown:
                    raise invalid_resource(f"{field}: unknown fields {sorted(unknown)}.")
                email = entry.get("email")
                if not is_valid_email(email):
                    raise invalid_resource(f"{field}: {email!r} is not a valid email address.")
                status = validation.expect_enum(entry.get("status"), validation.MEMBER_STATUSES,
                                                f"{field}.status")
                changes = validation.member_changes(
                    {key: value for key, value in entry.items() if key in BULK_FIELDS},
                    known_interests=known)
                if "last_changed" in entry:
                    changes["last_changed"] = validation.timestamp(entry["last_changed"],
                                                                   f"{field}.last_changed")
                checked.append((email.strip(), status, changes))
            timestamp = now_iso()
            for email, status, changes in checked:
                member = self._new_member(audience, email, "admin")
                member["merge_fields"].update(changes.pop("merge_fields", {}))
                member["interests"].update(changes.pop("interests", {}))
                member.update({"status": status, "last_changed": timestamp, **changes})
                if status == "subscribed":
                    member.setdefault("timestamp_opt", timestamp)
                elif status == "unsubscribed":
                    compliance.lock(member, compliance.BY_ADMIN)
                elif status == "cleaned":
                    compliance.lock(member, compliance.BY_BOUNCE)
                audience["members"][member["id"]] = member
            self.on_change()
            return len(checked)

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
        if "marketing_permissions" in changes:
            offered = {p["marketing_permission_id"]
                       for p in audience.get("marketing_permissions", [])}
            for permission in changes["marketing_permissions"]:
                if permission["marketing_permission_id"] not in offered:
                    raise invalid_resource(
                        "Invalid marketing permission ID: "
                        f"'{permission['marketing_permission_id']}'.")
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
        permissions = member.setdefault("marketing_permissions", {})
        for permission in changes.pop("marketing_permissions", []):
            permissions[permission["marketing_permission_id"]] = permission["enabled"]
        for key in ("status", "status_if_new", "email_address"):
            changes.pop(key, None)
        opted_at = changes.get("timestamp_opt")
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
            # Each opt-in is stamped (a confirmation included), unless the body gives the time.
            member["timestamp_opt"] = opted_at or timestamp
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
            "marketing_permissions": {},  # permission id -> enabled
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
            # Every permission of the audience, each with this member's choice.
            "marketing_permissions": [
                {**permission, "enabled": bool(
                    (member.get("marketing_permissions") or {}).get(
                        permission["marketing_permission_id"]))}
                for permission in audience.get("marketing_permissions", [])
            ],
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


def _batch_member(member: dict) -> dict:
    """A member as the batch-subscribe response (ListMembers5) carries it."""
    keep = ("id", "email_address", "unique_email_id", "email_type", "status", "merge_fields",
            "interests", "stats", "ip_signup", "timestamp_signup", "ip_opt", "timestamp_opt",
            "member_rating", "last_changed", "language", "vip", "email_client", "location",
            "tags_count", "tags", "list_id", "contact_id", "_links")
    return {key: member[key] for key in keep if key in member}
