"""The consent rules, written once: recording consent, and what status a change may send.

Rules (each has a row in tests/subscriptions/test_consent.py):
1. `status` goes to Mailchimp only with a new consent (an opt-in or opt-out not yet sent);
   group, name and email changes never carry it.
2. A member Mailchimp holds as unsubscribed or archived is re-opened only by the person's own
   new consent, and then as `pending` (Mailchimp's confirmation email), whatever the double
   opt-in setting. Cleaned (bounced) addresses are never re-sent.
3. Consent is an append-only history; an anonymous signup for an address with an opt-out on
   record appends a request that only Mailchimp's confirmation can turn into a subscription.
4. Double opt-in is read when consent is given and stored with it; `pending` stays pending
   until Mailchimp says otherwise (the store never sends `subscribed` over it).
5. Staff adding customers in bulk never includes anyone who opted out, and never changes an
   existing member's status (`status_if_new` only).
"""
from __future__ import annotations

from .models import ConsentEvent, Source, Subscription

Action = ConsentEvent.Action
Actor = ConsentEvent.Actor

# Mailchimp statuses the API may not move to subscribed: only the person re-opens them.
LOCKED_STATUSES = frozenset({"unsubscribed", "archived"})
CLEANED = "cleaned"
# Mailchimp statuses of someone on the list (they get mail, or a confirmation, or are a contact).
HELD_IN_STATUSES = frozenset({"subscribed", "pending", "transactional"})
# Sources whose opt-in adds people without changing an existing member's status.
BULK_SOURCES = frozenset({Source.ADMIN_BULK})


def has_opted_out(subscription: Subscription) -> bool:
    """An opt-out (in the store or in Mailchimp) is on record for this address and audience."""
    if subscription.mailchimp_status in LOCKED_STATUSES:
        return True
    if subscription.pk is None:
        return False
    return subscription.consent_events.filter(
        action__in=[Action.OPT_OUT, Action.CLEANED]
    ).exists()


def event_record(
    *,
    subscription: Subscription,
    action: str,
    actor: str,
    source: str,
    double_opt_in: bool,
    ip: str | None = None,
    wording: str = "",
    user=None,
    marketing_permissions: list[dict] | None = None,
) -> ConsentEvent:
    """Append a consent record and point the subscription at it (the caller saves it)."""
    needs_confirmation = action == Action.OPT_IN and has_opted_out(subscription)
    event = ConsentEvent.objects.create(
        subscription=subscription,
        action=action,
        actor=actor,
        actor_user=user,
        source=source,
        ip=ip or None,
        wording=wording,
        double_opt_in=double_opt_in,
        needs_confirmation=needs_confirmation,
        marketing_permissions=marketing_permissions or [],
    )
    subscription.consent = event
    subscription.opted_in = action in (Action.OPT_IN, Action.CONFIRMED)
    return event


def permissions_record(
    *,
    subscription: Subscription,
    actor: str,
    source: str,
    double_opt_in: bool,
    shown: list[dict],
    ip: str | None = None,
    wording: str = "",
    user=None,
) -> ConsentEvent:
    """Append the GDPR marketing permissions someone already subscribed gave or withdrew.

    Evidence only: it is no opt-in, so the subscription keeps pointing at its latest consent
    and no status is sent with it (rule 1)."""
    return ConsentEvent.objects.create(
        subscription=subscription, action=Action.PERMISSIONS, actor=actor, actor_user=user,
        source=source, ip=ip or None, wording=wording, double_opt_in=double_opt_in,
        marketing_permissions=shown,
    )


def permissions_known(audience, shown: list[dict] | None) -> list[dict]:
    """The permissions of a form that the audience still has, in Mailchimp's wording."""
    texts = {p["id"]: p["text"] for p in audience.marketing_permissions or []}
    return [
        {"id": p["id"], "text": texts[p["id"]], "enabled": bool(p["enabled"])}
        for p in shown or [] if p.get("id") in texts
    ]


def bulk_add_allowed(subscription: Subscription | None) -> bool:
    """Rule 5: staff adding customers in bulk leaves out whoever opted out, and whoever is in."""
    if subscription is None:
        return True
    if subscription.opted_in and subscription.consent_id is not None:
        return False  # already in: nothing to add
    return not has_opted_out(subscription)


def consent_is_new(subscription: Subscription) -> bool:
    """Rule 1: the latest consent has not been confirmed by Mailchimp yet."""
    return (
        subscription.consent_id is not None
        and subscription.consent_id != subscription.sent_consent_id
    )


def status_if_new(event: ConsentEvent) -> str:
    """The status a member Mailchimp does not have yet is created with."""
    if event.action == Action.CONTACT:
        return "transactional"
    if event.double_opt_in or event.needs_confirmation:
        return "pending"
    return "subscribed"


def status_after_write(event: ConsentEvent | None, *, new: bool, remote_status: str) -> str:
    """Rules 2 and 5: after an upsert answered with `remote_status`, the status a follow-up
    PATCH must set for the person's new opt-in, or "" for none."""
    if event is None or not new or event.action != Action.OPT_IN:
        return ""
    if event.source in BULK_SOURCES:
        return ""  # staff in bulk: existing members keep their status
    if remote_status in LOCKED_STATUSES:
        return "pending"  # re-opened only through Mailchimp's confirmation
    if remote_status == "transactional":
        return "pending" if (event.double_opt_in or event.needs_confirmation) else "subscribed"
    return ""


def unsubscribe_needed(subscription: Subscription) -> bool:
    """An opt-out is sent while new, and again whenever Mailchimp is seen holding them in."""
    if subscription.opted_in or subscription.consent_id is None:
        return False
    if subscription.mailchimp_status == CLEANED:
        return False  # never mailed again anyway, and never written to
    return consent_is_new(subscription) or subscription.mailchimp_status in HELD_IN_STATUSES


def bounced(subscription: Subscription) -> bool:
    """Mailchimp cleaned this address on this audience, with whichever subscription it was."""
    from .models import BouncedAddress

    if subscription.audience_id is None or not subscription.email:
        return False
    return BouncedAddress.objects.filter(audience_id=subscription.audience_id,
                                         email=subscription.email).exists()


def bounced_among(*, audience_id: int, emails) -> set[str]:
    """Which of `emails` bounced on this audience (one query for a drain's chunk)."""
    from .models import BouncedAddress

    return set(BouncedAddress.objects.filter(audience_id=audience_id, email__in=list(emails))
               .values_list("email", flat=True))


def bounced_record(*, audience_id: int, emails) -> None:
    """Remember addresses Mailchimp answered as cleaned (idempotent)."""
    from .models import BouncedAddress

    BouncedAddress.objects.bulk_create(
        [BouncedAddress(audience_id=audience_id, email=e.strip().lower()) for e in emails if e],
        ignore_conflicts=True,
    )


def may_send(subscription: Subscription, *, is_bounced: bool | None = None) -> str:
    """"" when the store may write this member, else the reason it may not (rule 2).

    `is_bounced`: whether the address is a `BouncedAddress` of the audience, when the caller
    looked it up for many at once (a drain's chunk); None: looked up here."""
    if is_bounced is None:
        is_bounced = bounced(subscription)
    if subscription.mailchimp_status == CLEANED or is_bounced:
        # An opt-in, or staff adding a contact, to an address that bounced.
        return (
            "Mailchimp cleaned this address (its emails bounced); the store never sends a "
            "cleaned address again."
        )
    return ""
