"""The delivery engine: claim a subscription, build what changed, send it, record the outcome.

One subscription is in flight at most once (a conditional UPDATE takes its claim; a lease
lapses after the task's own time limit). The payload is built from the database at claim time
and says only what changed since Mailchimp last confirmed; the outcome is recorded for the
version that was sent, and a subscription whose wanted version moved on meanwhile is claimed
again at once. The bulk path (`bulk.drain`) runs the same claim, builder and recorder:
Mailchimp's batch subscribe is only a faster way to create new members.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mailchimp_integration import outbox
from mailchimp_integration.client import MailchimpClient, MemberChange, MemberResult
from mailchimp_integration.exceptions import (
    MailchimpError,
    MailchimpNotConfigured,
    MailchimpTransientError,
    MailchimpUnreachable,
)
from mailchimp_integration.models import Audience, Interest
from mailchimp_integration.selectors import delivery_blocked_reason
from mailchimp_integration.services import mailchimp_client_build

from . import consent, selectors
from .models import ConsentEvent, Push, Subscription

logger = logging.getLogger(__name__)

TAG_NOT_APPLIED = "Tag not applied: "
NOT_IN_MAILCHIMP = (
    "Mailchimp has no member at this address any more (deleted there, or the address was "
    "changed there); the store adds it back only with the person's new consent."
)


def _setting(name: str, default):
    return getattr(settings, name, default)


def policy() -> outbox.Policy:
    return outbox.Policy.from_settings("SUBSCRIPTIONS")


# --- Changes and enqueueing ----------------------------------------------------------------------

def mark_changed(subscription: Subscription) -> None:
    """The store changed this subscription: a new version to send (the caller saves it)."""
    outbox.mark_changed(subscription)
    subscription.state = Subscription.State.WAITING
    subscription.failure_reason = ""


def enqueue_on_commit(subscription_ids: Iterable[int]) -> None:
    """Once the transaction commits: one task per subscription, or one drain for many.

    Robust: a broker that is down must not fail a signup; the sweeper sends them later.
    """
    ids = list(subscription_ids)
    if not ids:
        return
    from . import tasks

    def send():
        if selectors.pushes_paused():
            return
        if len(ids) > int(_setting("SUBSCRIPTIONS_BULK_THRESHOLD", 20)):
            tasks.push_drain.delay()
        else:
            for subscription_id in ids:
                tasks.push_send.delay(subscription_id)

    transaction.on_commit(send, robust=True)


def _sendable() -> QuerySet[Subscription]:
    """Subscriptions of audiences Mailchimp still has (the others are held, not cancelled)."""
    live = list(Audience.objects.filter(removed_at__isnull=True).values_list("pk", flat=True))
    return Subscription.objects.filter(audience_id__in=live)


def due_filter(now: datetime) -> Q:
    return outbox.due(now) & Q(
        audience_id__in=Audience.objects.filter(removed_at__isnull=True).values("pk")
    )


def due_count(*, limit: int) -> int:
    """How many subscriptions are due, counting no further than `limit`."""
    return len(
        Subscription.objects.filter(due_filter(timezone.now())).order_by()
        .values_list("pk", flat=True)[:limit]
    )


# --- Claim ----------------------------------------------------------------------------------------

@dataclass
class Claim:
    subscription: Subscription
    token: str
    version: int


def _claimed(ids: list[int], token: str) -> list[Subscription]:
    return list(
        Subscription.objects.filter(pk__in=ids, claim_token=token)
        .select_related("audience", "consent")
        .prefetch_related("interests")
        .order_by("pk")
    )


def claim(*, subscription_id: int) -> Claim | None:
    """Take the subscription for this worker if it is due and nobody holds it."""
    token = outbox.claim_one(_sendable(), pk=subscription_id)
    if not token:
        return None
    [subscription] = _claimed([subscription_id], token)
    return Claim(subscription=subscription, token=token, version=subscription.claimed_version)


def claim_many(*, audience_id: int, limit: int) -> list[Claim]:
    """Up to `limit` due subscriptions of one audience, for this worker alone."""
    if Audience.objects.filter(pk=audience_id, removed_at__isnull=False).exists():
        return []
    token, ids = outbox.claim_batch(
        Subscription.objects.filter(audience_id=audience_id), limit=limit
    )
    if not ids:
        return []
    return [Claim(subscription=s, token=token, version=s.claimed_version)
            for s in _claimed(ids, token)]


# --- Build ----------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What one attempt sends, and what becomes confirmed if Mailchimp accepts it."""

    list_id: str
    change: MemberChange | None
    move_from: str = ""  # the old address Mailchimp knows, for an email change
    tags: list[str] = field(default_factory=list)
    fail_reason: str = ""
    read_first: bool = False
    unique_id: str = ""  # Mailchimp's unique_email_id, to find a member who moved there
    bulk_ok: bool = False
    event: ConsentEvent | None = None
    new_consent: bool = False
    snapshot: dict = field(default_factory=dict)

    @property
    def action(self) -> str:
        if self.fail_reason:
            return "refused"
        if self.change is None:
            return "nothing to send"
        if self.change.status == "unsubscribed":
            return "unsubscribe"
        if self.change.create:
            return "subscribe" if self.change.status_if_new != "transactional" else "add contact"
        return "update"

    def payload(self) -> dict:
        """What was sent, for the sync log."""
        sent: dict = {}
        if self.move_from:
            sent["email_change"] = {"from": self.move_from, "to": self.snapshot["email"]}
        if self.change is not None:
            sent["method"] = "PUT" if self.change.create else "PATCH"
            sent["body"] = self.change.body()
        if self.tags:
            sent["tags"] = self.tags
        return sent


def mailchimp_time(value: datetime | None) -> str:
    """A time as Mailchimp's API takes it (UTC, to the second), or "" for none."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") if value else ""


def removed_interest_ids(audience_id: int) -> set[str]:
    return set(
        Interest.objects.filter(audience_id=audience_id, removed_at__isnull=False)
        .values_list("mailchimp_id", flat=True)
    )


def build(subscription: Subscription, *, removed: set[str] | None = None,
          is_bounced: bool | None = None) -> Plan:
    """The payload for this subscription's unsent changes, by the consent rules (`removed`
    and `is_bounced` when the caller looked them up for many at once)."""
    if removed is None:
        removed = removed_interest_ids(subscription.audience_id)
    list_id = subscription.audience.mailchimp_id
    event = subscription.consent
    new = consent.consent_is_new(subscription)
    wanted = {i.mailchimp_id for i in subscription.interests.all() if i.mailchimp_id not in removed}
    sent = set(subscription.sent_interests or [])
    interests = {i: True for i in sorted(wanted - sent)}
    interests.update({i: False for i in sorted((sent - wanted) - removed)})
    # GDPR marketing permissions the person changed, of those the audience still has.
    known = {p["id"] for p in subscription.audience.marketing_permissions or []}
    sent_permissions = subscription.sent_marketing_permissions or {}
    # A new consent may create the member afresh (deleted or moved away in Mailchimp): it
    # restates what the person last said; other changes send only what changed.
    permissions = {
        pid: enabled for pid, enabled in sorted((subscription.marketing_permissions or {}).items())
        if pid in known and (new or sent_permissions.get(pid) != enabled)
    }
    names = {"FNAME": subscription.first_name, "LNAME": subscription.last_name}
    sent_names = subscription.sent_merge_fields or {}
    merge_fields = {k: v for k, v in names.items() if v and sent_names.get(k) != v}
    move_from = ""
    if subscription.mailchimp_email and subscription.mailchimp_email != subscription.email:
        move_from = subscription.mailchimp_email
    tag = event.source if event is not None and event.action != ConsentEvent.Action.OPT_OUT \
        else subscription.source
    tags = [tag] if subscription.opted_in and tag and tag not in (subscription.sent_tags or []) \
        else []
    snapshot = {
        "consent_id": subscription.consent_id,
        "interests": sorted(wanted | (sent & removed)),
        "merge_fields": {**sent_names, **merge_fields},
        "email": subscription.email,
        "tags": sorted(set(subscription.sent_tags or []) | set(tags)),
        "marketing_permissions": {**sent_permissions, **permissions},
    }
    plan = Plan(list_id=list_id, change=None, move_from=move_from, tags=tags, event=event,
                new_consent=new, snapshot=snapshot, read_first=subscription.outcome_unknown,
                unique_id=subscription.mailchimp_unique_id)
    details = {"interests": interests or None, "merge_fields": merge_fields or None}
    if not subscription.opted_in and (event is None or event.action != ConsentEvent.Action.CONTACT):
        plan.tags = []
        plan.snapshot["tags"] = sorted(subscription.sent_tags or [])
        # Permissions the person withdrew go out with it; none is ever given here.
        withdrawn = {pid: False for pid, enabled in permissions.items() if not enabled}
        plan.snapshot["marketing_permissions"] = {**sent_permissions, **withdrawn}
        if withdrawn:
            details["marketing_permissions"] = withdrawn
        if subscription.mailchimp_status == consent.CLEANED:
            return plan  # a cleaned address is never written to again, nor mailed
        if consent.unsubscribe_needed(subscription):
            plan.change = MemberChange(email=subscription.email, status="unsubscribed", **details)
        elif interests or merge_fields or withdrawn:
            plan.change = MemberChange(email=subscription.email, **details)
        return plan
    refusal = consent.may_send(subscription, is_bounced=is_bounced)
    if refusal:
        plan.fail_reason = refusal
        return plan
    if permissions:
        details["marketing_permissions"] = permissions
    if new and event is not None:
        signup = {}
        if event.action == ConsentEvent.Action.OPT_IN:
            signup = {"ip_signup": event.ip or "", "timestamp_signup": mailchimp_time(event.at)}
        plan.change = MemberChange(
            email=subscription.email, create=True,
            status_if_new=consent.status_if_new(event), **details, **signup,
        )
        plan.bulk_ok = (
            not move_from and not plan.read_first and not subscription.mailchimp_email
            and subscription.sent_version == 0 and not event.needs_confirmation
            # Mailchimp's batch subscribe takes no marketing permissions.
            and not permissions
        )
    elif interests or merge_fields or permissions:
        plan.change = MemberChange(email=subscription.email, **details)
    return plan


# --- Send -----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    result: MemberResult
    note: str = ""
    tags_applied: bool = True


class Refused(Exception):
    """The consent rules refuse what Mailchimp's answer shows (e.g. a cleaned address);
    `remote_status` keeps what the answer said, so nothing is sent on it again."""

    def __init__(self, reason: str, *, remote_status: str = "", remote_email: str = ""):
        super().__init__(reason)
        self.remote_status = remote_status
        self.remote_email = remote_email


class MovedInMailchimp(Exception):
    """The person changed their address in Mailchimp: the member is at `email` now."""

    def __init__(self, email: str, status: str):
        super().__init__(email)
        self.email = email
        self.status = status


def find_moved(list_id: str, unique_id: str, *, address: str,
               client: MailchimpClient) -> None:
    """Mailchimp has nobody at `address`: if the member is elsewhere now, raise where."""
    if not unique_id:
        return
    found = client.member_find(list_id, unique_id)
    if found.found and found.email and found.email != address.lower():
        raise MovedInMailchimp(found.email, found.status)


def read_remote(subscription: Subscription, *, client: MailchimpClient) -> datetime | None:
    """After an unknown outcome: where the member stands now, before anything is written.

    Returns when to read again instead, if the call that may still land was addressed to an
    address the subscription no longer has and nothing is there yet: sending to the new
    address now would make two contacts when that call lands.
    """
    list_id = subscription.audience.mailchimp_id
    addresses = [subscription.email]
    if subscription.mailchimp_email and subscription.mailchimp_email != subscription.email:
        addresses.append(subscription.mailchimp_email)
    for address in addresses:
        found = client.member_read(list_id, address)
        if found.found:
            subscription.mailchimp_email = found.email or address
            subscription.mailchimp_status = found.status
            subscription.mailchimp_unique_id = found.unique_id or \
                subscription.mailchimp_unique_id
            subscription.outcome_unknown = False
            return None
    find_moved(list_id, subscription.mailchimp_unique_id, address=subscription.email,
               client=client)
    if len(addresses) > 1 and subscription.unknown_at is not None:
        window = float(_setting("SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS", 120))
        until = subscription.unknown_at + timedelta(seconds=window)
        if timezone.now() < until:
            return until
    subscription.mailchimp_email = ""
    subscription.mailchimp_status = ""
    subscription.outcome_unknown = False
    return None


def send(plan: Plan, *, client: MailchimpClient, keep=None, tag_batch=None) -> Outcome:
    """The calls of one plan; raises MailchimpError (or Refused) when one fails.

    `keep()` runs before each write: it renews this worker's claim, and raises
    `outbox.ClaimLost` when the claim lapsed (nothing more is sent then). `tag_batch(email,
    tags)`, in a drain, takes the source tags into the drain's one `/batches` call.
    """
    if plan.fail_reason:
        raise Refused(plan.fail_reason)
    keep = keep or (lambda: None)
    email = plan.snapshot["email"]
    moved = None
    if plan.move_from:
        # The customer changed their address: Mailchimp keeps the member, with the new one.
        keep()
        moved = client.member_write(
            plan.list_id, MemberChange(email=plan.move_from, new_email=email)
        )
        if not moved.found:
            find_moved(plan.list_id, plan.unique_id, address=plan.move_from, client=client)
    if plan.change is None:
        # Only the move, or nothing: what Mailchimp answered to it (or nothing new to learn).
        return Outcome(result=moved or MemberResult(found=True, status=""))
    if plan.change.create and plan.unique_id and not plan.move_from:
        # A new consent for a member Mailchimp had: if the person moved it to another
        # address there, a PUT here would make them a second contact.
        find_moved(plan.list_id, plan.unique_id, address=plan.change.email, client=client)
    keep()
    result = client.member_write(plan.list_id, plan.change)
    if not result.found and moved is None:
        find_moved(plan.list_id, plan.unique_id, address=plan.change.email, client=client)
    if result.found and result.status == consent.CLEANED and plan.new_consent and \
            plan.change.create:
        raise Refused(
            "Mailchimp holds this address as cleaned (its emails bounced); the store never "
            "sends a cleaned address again.",
            remote_status=result.status, remote_email=result.email or email,
        )
    follow = consent.status_after_write(
        plan.event, new=plan.new_consent, remote_status=result.status
    )
    if result.found and follow:
        keep()
        result = client.member_write(plan.list_id, MemberChange(email=email, status=follow))
    outcome = Outcome(result=result)
    if not (result.found and plan.tags):
        return outcome
    if result.status not in consent.HELD_IN_STATUSES:
        outcome.tags_applied = False  # nobody who left is tagged; it goes with a new consent
    elif tag_batch is not None:
        tag_batch(email, plan.tags)
    else:
        keep()
        try:
            client.member_tags_add(plan.list_id, email, plan.tags)
        except MailchimpError as error:
            # The member is in Mailchimp: the subscription is confirmed, the tag noted.
            outcome.note = f"{TAG_NOT_APPLIED}{mailchimp_words(error)}"
            outcome.tags_applied = False
    return outcome


def tag_operation(client: MailchimpClient, list_id: str, email: str, tags: list[str], *,
                  push_id: int) -> dict:
    """One operation of a `/batches` call adding source tags (its id names the attempt)."""
    return {
        "method": "POST",
        "path": f"/lists/{list_id}/members/{client.subscriber_hash(email)}/tags",
        "operation_id": f"push-{push_id}",
        "body": json.dumps({"tags": [{"name": t, "status": "active"} for t in tags]}),
    }


def mailchimp_words(error: MailchimpError) -> str:
    """Mailchimp's title and detail, as the sync log shows them."""
    return f"{error.title}: {error.detail}" if error.detail else error.title


# --- Record ---------------------------------------------------------------------------------------

def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped; Mailchimp's Retry-After wins when longer."""
    return policy().delay(attempt=attempt, retry_after=retry_after)


STATE_FOR_STATUS = {
    "subscribed": Subscription.State.SUBSCRIBED,
    "pending": Subscription.State.PENDING,
    "unsubscribed": Subscription.State.UNSUBSCRIBED,
    "transactional": Subscription.State.CONTACT,
    "cleaned": Subscription.State.UNSUBSCRIBED,
    "archived": Subscription.State.UNSUBSCRIBED,
}


def push_finish(push: Push, *, state: str, note: str) -> None:
    """An attempt ended (not in success: `record_success` says what Mailchimp held)."""
    push.state = state
    push.last_error = note
    push.finished_at = timezone.now()
    push.save(update_fields=["state", "last_error", "finished_at", "updated_at"])


def push_open(claim: Claim, plan: Plan, *, channel: str) -> Push:
    return Push.objects.create(
        subscription_id=claim.subscription.pk, version=claim.version, action=plan.action,
        attempt=claim.subscription.attempts + 1, channel=channel, payload=plan.payload(),
        claimed_at=claim.subscription.claimed_at or timezone.now(),
    )


def _locked(claim: Claim) -> Subscription | None:
    """The subscription, locked, if this worker still holds its claim."""
    return outbox.held(Subscription, pk=claim.subscription.pk, token=claim.token)


def _requeue_if_moved(subscription: Subscription) -> None:
    if subscription.wanted_version > subscription.sent_version:
        subscription.state = Subscription.State.WAITING
        enqueue_on_commit([subscription.pk])


@transaction.atomic
def record_success(claim: Claim, plan: Plan, outcome: Outcome, *, push: Push) -> None:
    """Mailchimp accepted this version: what was sent (not what is there now) is confirmed."""
    now = timezone.now()
    result = outcome.result
    push.state = Push.State.DONE
    push.mailchimp_status = result.status
    push.last_error = outcome.note
    push.finished_at = now
    push.save(update_fields=["state", "mailchimp_status", "last_error", "finished_at",
                             "updated_at"])
    subscription = _locked(claim)
    if subscription is None:
        return  # the claim lapsed; whoever holds it now reads the member first
    snapshot = plan.snapshot
    outbox.confirmed(subscription, version=claim.version)
    subscription.sent_consent_id = snapshot["consent_id"]
    subscription.sent_interests = snapshot["interests"]
    subscription.sent_merge_fields = snapshot["merge_fields"]
    subscription.sent_marketing_permissions = snapshot["marketing_permissions"]
    tags = snapshot["tags"] if outcome.tags_applied else subscription.sent_tags
    subscription.sent_tags = tags
    if result.found and result.status == consent.CLEANED:
        # The bounce was at the address the member had: the old one too, after a move.
        consent.bounced_record(audience_id=subscription.audience_id,
                               emails=[snapshot["email"], plan.move_from])
    if plan.change is not None or plan.move_from:
        subscription.mailchimp_email = snapshot["email"] if result.found else ""
        subscription.mailchimp_status = result.status if result.found else ""
        if result.found and result.unique_id:
            subscription.mailchimp_unique_id = result.unique_id
        if result.found and result.last_changed:
            subscription.mailchimp_last_changed = parse_datetime(result.last_changed)
        if result.found and result.status:
            subscription.mailchimp_changed_by = "store"
    if subscription.unknown_at is not None and not subscription.opted_in:
        # A call that may still land (Mailchimp's slowest) could undo this unsubscribe.
        window = float(_setting("SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS", 120))
        subscription.verify_at = subscription.unknown_at + timedelta(seconds=window)
    subscription.unknown_at = None if subscription.opted_in else subscription.unknown_at
    subscription.failure_reason = outcome.note
    subscription.last_pushed_at = now
    if subscription.mailchimp_status:
        subscription.state = STATE_FOR_STATUS.get(
            subscription.mailchimp_status, Subscription.State.SUBSCRIBED
        )
    elif (plan.change is not None or plan.move_from) and subscription.opted_in:
        # A PATCH found nobody: deleted in Mailchimp, or their address changed there. Adding
        # them back would need the person's new consent; say so rather than wait for ever.
        subscription.state = Subscription.State.FAILED
        subscription.failure_reason = NOT_IN_MAILCHIMP
    else:
        subscription.state = (
            Subscription.State.UNSUBSCRIBED if not subscription.opted_in
            else Subscription.State.WAITING
        )
    _requeue_if_moved(subscription)
    subscription.save()


@transaction.atomic
def record_failure(claim: Claim, error: Exception, *, push: Push | None,
                   sent_to: str = "") -> None:
    """A transient error waits and is tried again (within the budget, then slower, visibly);
    anything else fails this version with Mailchimp's words until the store changes it."""
    transient = isinstance(error, MailchimpTransientError)
    reason = error.reason if isinstance(error, MailchimpError) and transient else (
        mailchimp_words(error) if isinstance(error, MailchimpError) else str(error)
    )
    if push is not None:
        push_finish(push, state=Push.State.RETRY if transient else Push.State.FAILED,
                    note=reason)
    subscription = _locked(claim)
    if subscription is None:
        return
    subscription.failure_reason = reason
    if isinstance(error, Refused) and error.remote_status:
        if error.remote_status == consent.CLEANED:
            consent.bounced_record(audience_id=subscription.audience_id,
                                   emails=[error.remote_email])
        subscription.mailchimp_status = error.remote_status
        subscription.mailchimp_email = error.remote_email
    if transient:
        rules = policy()
        unknown = getattr(error, "outcome_unknown", False)
        delay, spent = outbox.retry_later(
            subscription, policy=rules, retry_after=getattr(error, "retry_after", None),
            outcome_unknown=unknown,
        )
        if unknown and sent_to and not subscription.mailchimp_email:
            # Mailchimp may know them by this address now: the next attempt reads it first.
            subscription.mailchimp_email = sent_to
        if spent:
            # Past the budget it shows as failed, and is still tried every hour: nothing is
            # given up, an unsubscribe least of all.
            subscription.state = Subscription.State.FAILED
            hours = rules.budget.total_seconds() / 3600
            subscription.failure_reason = (
                f"Still failing after {hours:g} hours (tried again every hour): {reason}"
            )
        else:
            subscription.state = Subscription.State.WAITING
        from . import tasks

        subscription_id = subscription.pk
        transaction.on_commit(
            lambda: tasks.push_send.apply_async((subscription_id,), countdown=delay),
            robust=True,
        )
    else:
        outbox.failed(subscription)
        subscription.state = Subscription.State.FAILED
    subscription.save()


@transaction.atomic
def release_held(claim: Claim, *, reason: str, until: datetime | None = None) -> None:
    """Nothing was sent (pushes paused, Mailchimp not connected, a late call awaited): wait,
    no attempt counted."""
    subscription = _locked(claim)
    if subscription is None:
        return
    outbox.release(subscription)
    subscription.next_attempt_at = until or timezone.now() + timedelta(seconds=60)
    subscription.failure_reason = reason
    subscription.save()


@transaction.atomic
def record_moved(claim: Claim, moved: MovedInMailchimp, *, push: Push | None) -> None:
    """The person changed their address in Mailchimp: the store follows them there (their
    choice is not undone) and sends this version again, to the member where it is now."""
    note = f"The person changed their address in Mailchimp to {moved.email}; sent there."
    if push is not None:
        push_finish(push, state=Push.State.RETRY, note=note)
    subscription = _locked(claim)
    if subscription is None:
        return
    outbox.release(subscription)
    subscription.outcome_unknown = False
    taken = Subscription.objects.filter(audience_id=subscription.audience_id,
                                        email=moved.email).exclude(pk=subscription.pk)
    if taken.exists():
        # Another subscription of the store has that address: it speaks for that member.
        outbox.failed(subscription)
        subscription.state = Subscription.State.FAILED
        subscription.failure_reason = (
            f"The person changed their address in Mailchimp to {moved.email}, which has a "
            "subscription of its own here."
        )
    else:
        subscription.email = moved.email
        subscription.mailchimp_email = moved.email
        subscription.mailchimp_status = moved.status
        subscription.next_attempt_at = timezone.now()
        subscription.failure_reason = ""
        subscription.state = Subscription.State.WAITING
        enqueue_on_commit([subscription.pk])
    subscription.save()


# --- One subscription (the drain in bulk.py runs the same functions) ------------------------

def client_or_hold() -> tuple[MailchimpClient | None, str]:
    """A client, or why nothing may be sent now: held, never failed, for those reasons."""
    if selectors.pushes_paused():
        return None, "Pushes to Mailchimp are paused in the newsletter settings."
    blocked = delivery_blocked_reason()
    if blocked:
        return None, blocked
    try:
        return mailchimp_client_build(), ""
    except MailchimpNotConfigured as error:
        return None, error.reason


def keeper(claim: Claim):
    """What `send` calls before each write: renew this claim, or stop if it lapsed."""
    # The whole chunk the claim came with is renewed (a drain's later members wait on this
    # one), provided this subscription is still held: one UPDATE.
    mine = Subscription.objects.filter(pk=claim.subscription.pk, claim_token=claim.token)
    chunk = Subscription.objects.filter(Exists(mine))

    def keep() -> None:
        if not outbox.renew(chunk, token=claim.token):
            raise outbox.ClaimLost(f"subscription {claim.subscription.pk}")
    return keep


def time_limit_error() -> MailchimpUnreachable:
    """The worker's time limit struck mid-call: that call may still land (read first)."""
    return MailchimpUnreachable(
        "Time limit", "the worker stopped waiting for Mailchimp's answer", outcome_unknown=True
    )


def deliver_claimed(claim: Claim, *, client: MailchimpClient, removed=None,
                    channel: str = "member", tag_operations: list | None = None) -> None:
    """Build, send and record one claimed subscription (its source tags into
    `tag_operations`, a drain's `/batches` call, when given)."""
    subscription = claim.subscription
    push = None
    tag_batch = None
    if tag_operations is not None:
        def tag_batch(email: str, tags: list[str]) -> None:
            tag_operations.append(tag_operation(
                client, subscription.audience.mailchimp_id, email, tags, push_id=push.pk))
    try:
        if subscription.outcome_unknown:
            until = read_remote(subscription, client=client)
            if until is not None:
                release_held(claim, until=until, reason=(
                    "Waiting until an earlier call to Mailchimp can no longer land, so the "
                    "address change makes no second contact."))
                return
            Subscription.objects.filter(pk=subscription.pk, claim_token=claim.token).update(
                outcome_unknown=False, mailchimp_email=subscription.mailchimp_email,
                mailchimp_status=subscription.mailchimp_status,
                mailchimp_unique_id=subscription.mailchimp_unique_id,
            )
        plan = build(subscription, removed=removed)
        push = push_open(claim, plan, channel=channel)
        outcome = send(plan, client=client, keep=keeper(claim), tag_batch=tag_batch)
    except MovedInMailchimp as moved:
        record_moved(claim, moved, push=push)
        return
    except outbox.ClaimLost:
        # The lease lapsed (the sweeper freed it, and the next holder reads the member first).
        if push is not None:
            Push.objects.filter(pk=push.pk, state=Push.State.SENDING).update(
                state=Push.State.LOST, finished_at=timezone.now(),
                last_error="This worker's claim lapsed; another attempt sends it.",
            )
        return
    except (MailchimpError, Refused) as error:
        # A call that may still land was addressed to this address: read there first, next.
        sent_to = plan.snapshot["email"] if push is not None else ""
        record_failure(claim, error, push=push, sent_to=sent_to)
        return
    except SoftTimeLimitExceeded:
        # Not a failure of the subscription: tried again, and what may have landed read first.
        sent_to = plan.snapshot["email"] if push is not None else ""
        record_failure(claim, time_limit_error(), push=push, sent_to=sent_to)
        raise
    except Exception as error:
        # Never left in flight: the claim is released with the reason, and it raises on.
        record_failure(claim, MailchimpError("Unexpected error", repr(error)[:500]), push=push)
        raise
    record_success(claim, plan, outcome, push=push)


DRAIN_QUEUED_KEY = "subscriptions:drain-queued"


def drain_enqueue() -> None:
    """Queue a drain (the bulk path), at most one every few seconds from a burst of sends."""
    from . import tasks

    if cache.add(DRAIN_QUEUED_KEY, 1, timeout=5):
        try:
            tasks.push_drain.delay()
        except Exception:  # the broker is down: the sweeper starts the drain later
            cache.delete(DRAIN_QUEUED_KEY)
            logger.warning("could not queue the drain; the sweeper will", exc_info=True)


def deliver(*, subscription_id: int) -> bool:
    """The push task: send one subscription, or drain when many are waiting (a burst)."""
    threshold = int(_setting("SUBSCRIPTIONS_BULK_THRESHOLD", 20))
    if due_count(limit=threshold + 1) > threshold:
        # A burst: one drain sends them all through the bulk calls, in a task with a time
        # limit of its own (this one's is for a single subscription's few calls).
        drain_enqueue()
        return True
    client, held = client_or_hold()
    if client is None:
        Subscription.objects.filter(pk=subscription_id, claim_token="").update(
            failure_reason=held
        )
        return False
    taken = claim(subscription_id=subscription_id)
    if taken is None:
        return False
    deliver_claimed(taken, client=client)
    return True


# --- Maintenance: the sweeper and the pruning ---------------------------------------------------

def sweep() -> dict:
    """The beat job: free claims of dead workers (their call may still land: read first),
    start the checks of unsubscribes after unknown outcomes, and send what is due."""
    now = timezone.now()
    lapsed = outbox.free_lapsed(Subscription.objects.all(), policy=policy())
    if lapsed:
        Push.objects.filter(subscription_id__in=lapsed, state=Push.State.SENDING).update(
            state=Push.State.LOST, finished_at=now,
            last_error="The worker stopped during this attempt; it is sent again.",
        )
    verified = outbox.start_due_checks(Subscription.objects.all())
    now = timezone.now()  # after the updates above, so what they made due counts as due
    stats = {"lapsed": len(lapsed), "verify": verified, "due": 0}
    if selectors.pushes_paused():
        return stats
    threshold = int(_setting("SUBSCRIPTIONS_BULK_THRESHOLD", 20))
    grace = timedelta(seconds=float(_setting("SUBSCRIPTIONS_SWEEP_GRACE_SECONDS", 30)))
    due = list(
        Subscription.objects.filter(due_filter(now - grace) | Q(
            due_filter(now), Q(outcome_unknown=True) | Q(pk__in=lapsed)
        )).order_by().values_list("pk", flat=True)[: threshold + 1]
    )
    stats["due"] = len(due)
    from . import tasks

    if len(due) > threshold:
        tasks.push_drain.delay()
    else:
        for subscription_id in due:
            tasks.push_send.delay(subscription_id)
    return stats


def prune(*, days: float | None = None) -> int:
    """Delete finished attempts older than the retention (the subscriptions stay)."""
    days = float(days if days is not None else _setting("SUBSCRIPTIONS_PUSH_RETENTION_DAYS", 90))
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Push.objects.filter(finished_at__lt=cutoff).exclude(
        state=Push.State.SENDING
    ).delete()
    return deleted


def retry(*, subscription_ids: Iterable[int]) -> int:
    """Staff's Retry: failed subscriptions are sent again now."""
    ids = list(
        Subscription.objects.filter(pk__in=list(subscription_ids), claim_token="")
        .filter(Q(failed_permanently=True) | Q(state=Subscription.State.FAILED))
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        Subscription.objects.filter(pk__in=ids).update(
            failed_permanently=False, next_attempt_at=timezone.now(), attempts=0,
            retry_since=None, state=Subscription.State.WAITING, failure_reason="",
        )
        enqueue_on_commit(ids)
    return len(ids)

