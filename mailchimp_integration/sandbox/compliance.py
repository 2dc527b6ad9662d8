"""Mailchimp's compliance state: who may bring back a member who unsubscribed or bounced.

A member who unsubscribed, or whose address was cleaned, carries a lock naming who put them
there. The API cannot subscribe a locked member ("Member In Compliance State"); it may set
`pending`, which in Mailchimp sends the person a confirmation e-mail, and the member keeps the
lock while pending: only the person's own action (confirming, or signing up on Mailchimp's
form) lifts it. The lock survives archiving, so a DELETE then a PUT cannot launder it.

The account's compliance mode says how far the lock goes:
- strict (the default): every lock holds against the API.
- permissive: a member unsubscribed through the API may be subscribed by the API again, as
  some Mailchimp accounts report; an unsubscribe by the person, by staff in Mailchimp's app or
  a bounce still holds.
"""
from __future__ import annotations

from .errors import ApiError, member_in_compliance_state

STRICT, PERMISSIVE = "strict", "permissive"
COMPLIANCE_MODES = (STRICT, PERMISSIVE)

# Who locked the member, weakest first: a later, stronger lock replaces a weaker one.
BY_API = "api"            # PUT/PATCH/batch with status "unsubscribed"
BY_ADMIN = "admin"        # staff in Mailchimp's app (or a seeded unsubscribed member)
BY_CONTACT = "contact"    # the person: an unsubscribe link, the preferences page
BY_BOUNCE = "cleaned"     # the address bounced (or was reported as abuse)
_STRENGTH = {None: 0, BY_API: 1, BY_ADMIN: 2, BY_CONTACT: 2, BY_BOUNCE: 3}


def lock_of(member: dict | None) -> str | None:
    """Who locked this member, or None. A member saved before locks were recorded is taken
    as locked by the person (or the bounce), the strictest reading."""
    if member is None:
        return None
    if "compliance_lock" in member:
        return member["compliance_lock"]
    return {"unsubscribed": BY_CONTACT, "cleaned": BY_BOUNCE}.get(member.get("status"))


def lock(member: dict, by: str) -> None:
    """Record that `by` unsubscribed or cleaned the member, unless a stronger lock is there."""
    current = lock_of(member)
    member["compliance_lock"] = by if _STRENGTH[by] >= _STRENGTH[current] else current


def unlock(member: dict) -> None:
    member["compliance_lock"] = None


def api_refusal(member: dict | None, email: str, target_status: str | None,
                mode: str) -> ApiError | None:
    """Mailchimp's answer when the API asks for `target_status` on a locked member, or None."""
    held_by = lock_of(member)
    if held_by is None:
        return None
    if target_status == "subscribed":
        if held_by == BY_API and mode == PERMISSIVE:
            return None
        return member_in_compliance_state(email)
    if target_status == "pending" and held_by == BY_BOUNCE:
        # Mailchimp's help says cleaned contacts "can't be edited" and that a corrected
        # address must be added as a new contact; a confirmation e-mail to an address that
        # hard-bounced is the re-send it forbids. So the API cannot move a cleaned member
        # to pending either (a stricter reading than for unsubscribes, where pending is the
        # documented way back); only the person signing up again on Mailchimp's form can.
        return member_in_compliance_state(email)
    return None
