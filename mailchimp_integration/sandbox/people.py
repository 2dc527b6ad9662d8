"""The account's webhooks and what people do on Mailchimp's side (each fires the webhooks).

Part of `state.Account` (a mixin): it uses the account's lock, data, lookups and members.
"""
from __future__ import annotations

from . import compliance, validation
from .errors import ApiError, invalid_resource, not_found
from .records import is_valid_email, now_iso, self_link, subscriber_hash


class AccountPeople:
    """Webhooks and people's own actions of `state.Account`."""

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
                if any(hook["url"] == fields["url"] and hook is not webhook
                       for hook in self._list(list_id)["webhooks"].values()):
                    raise invalid_resource(
                        f"Sorry, you can't use the same webhook URL twice: {fields['url']}")
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
                         interests: dict | None = None, ip: str | None = None,
                         source: str = "user") -> dict:
        """A person signs up on Mailchimp's form, or confirms a pending subscription.

        Their own action lifts the compliance state that stops the API from subscribing them.
        The form records when they signed up and, with `ip`, from where (ip_signup, ip_opt).
        """
        with self.lock:
            audience = self._list(list_id)
            if not is_valid_email(email):
                raise invalid_resource("Please provide a valid email address.")
            forgotten = [list_id, subscriber_hash(email)]
            if forgotten in self.data["forgotten"]:
                self.data["forgotten"].remove(forgotten)
            body = {"email_address": email, "status": "subscribed",
                    "merge_fields": merge_fields or {}, "interests": interests or {},
                    "timestamp_signup": now_iso()}
            if ip is not None:
                body.update(ip_signup=ip, ip_opt=ip)
            return self._upsert(audience, email, body, source=source, by_person=True)

    def person_confirm(self, list_id: str, email: str, *, ip: str | None = None,
                       source: str = "user") -> dict:
        """A person clicks the link in Mailchimp's confirmation e-mail: pending → subscribed,
        opted in now (timestamp_opt) from `ip` (ip_opt) if given.

        The way back for someone who unsubscribed and was re-sent as pending by the API."""
        with self.lock:
            audience = self._list(list_id)
            member = self._visible_member(list_id, email)
            if member["status"] != "pending":
                raise invalid_resource(f"{member['email_address']} is {member['status']}, not "
                                       "pending: there is no confirmation e-mail to click.")
            body = {"status": "subscribed", **({"ip_opt": ip} if ip is not None else {})}
            return self._upsert(audience, member["email_address"], body, source=source,
                                by_person=True)

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
