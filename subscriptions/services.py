"""Writes: subscribe, unsubscribe, update, carry an email change over, and push to Mailchimp.

Every change writes the subscription and its pending push (the outbox) in one transaction; the
push goes to Celery on commit. A push sends the subscription as it is when claimed, so a
duplicate delivery sends the same thing again (PUT is idempotent) and changes nothing.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mailchimp_integration.exceptions import (
    MailchimpError,
    MailchimpNotFound,
    MailchimpTransientError,
)
from mailchimp_integration.models import Audience, Interest
from mailchimp_integration.services import mailchimp_client_build

from . import selectors
from .models import NewsSettings, Push, Source, Subscription

# Mailchimp's batch subscribe takes at most 500 members per call.
BULK_CHUNK = 500


def _setting(name: str, default):
    return getattr(settings, name, default)


def email_normalize(email: str) -> str:
    """Lower-cased and stripped, or ValidationError with a message for the form."""
    email = (email or "").strip().lower()
    if not email:
        raise ValidationError("Please enter your email address.", code="required")
    validate_email(email)
    return email


# --- Settings ------------------------------------------------------------------------------------

def news_settings_get_or_create() -> NewsSettings:
    row, _ = NewsSettings.objects.get_or_create(pk=NewsSettings.SINGLETON_ID)
    return row


@transaction.atomic
def news_settings_update(
    *, double_opt_in: bool, pushes_paused: bool, customers_choose_lists: bool
) -> NewsSettings:
    row, _ = NewsSettings.objects.select_for_update().get_or_create(pk=NewsSettings.SINGLETON_ID)
    was_paused = row.pushes_paused
    row.double_opt_in = double_opt_in
    row.pushes_paused = pushes_paused
    row.customers_choose_lists = customers_choose_lists
    row.save()
    if was_paused and not pushes_paused:
        # Lifting the pause sends what waited, now rather than at the next sweep (robust: with
        # the broker down the settings are saved all the same, and the beat job sends them).
        transaction.on_commit(lambda: push_sweep(grace_seconds=0), robust=True)
    return row


# --- Changes (each writes the outbox in the same transaction) -------------------------------------

def _consent_record(
    subscription: Subscription, *, source: str, ip: str | None, consent_text: str
) -> None:
    subscription.consent_source = source
    subscription.consent_at = timezone.now()
    subscription.consent_ip = ip or None
    subscription.consent_text = consent_text


def _push_queue(subscription: Subscription, *, action: str) -> Push | None:
    """A WAITING push for this change, reusing one already waiting (it sends the latest state)."""
    subscription.state = Subscription.State.WAITING
    subscription.failure_reason = ""
    waiting = Push.objects.filter(subscription=subscription, state=Push.State.WAITING).first()
    if waiting is not None:
        if waiting.action != action:
            waiting.action = action
            waiting.save(update_fields=["action", "updated_at"])
        return None
    return Push.objects.create(subscription=subscription, action=action)


def _enqueue_on_commit(push_ids: list[int]) -> None:
    """Send the pushes once the transaction commits: one task each, or one bulk task."""
    if not push_ids:
        return
    from . import tasks

    def send():
        if selectors.pushes_paused():
            return  # they wait; the sweeper sends them when the pause is lifted
        if len(push_ids) > _setting("SUBSCRIPTIONS_BULK_THRESHOLD", 20):
            tasks.push_backlog.delay()
        else:
            for push_id in push_ids:
                tasks.push_send.delay(push_id)

    # Robust: a broker that is down must not fail the signup. Django logs the error; the
    # pushes are saved as WAITING and the sweeper sends them once the broker is back.
    transaction.on_commit(send, robust=True)


def _offered_interest_ids(interest_ids: Iterable[int], audience_id: int) -> set[int]:
    return set(
        Interest.objects.filter(
            pk__in=list(interest_ids),
            audience_id=audience_id,
            active=True,
            removed_at__isnull=True,
        ).values_list("pk", flat=True)
    )


@dataclass
class SubscribeResult:
    subscriptions: list[Subscription]
    changed: int


@transaction.atomic
def subscription_subscribe(
    *,
    email: str,
    audience_ids: Iterable[int] | None = None,
    interest_ids: Iterable[int] = (),
    use_defaults: bool = False,
    source: str,
    ip: str | None = None,
    consent_text: str = "",
    user=None,
    first_name: str = "",
    last_name: str = "",
) -> SubscribeResult:
    """Opt `email` in to audiences (only active ones), adding groups; never removes anything.

    `use_defaults` takes the "subscribe by default" audiences and groups. A repeated signup
    with nothing new creates no row and no push.
    """
    email = email_normalize(email)
    if use_defaults:
        audience_ids = selectors.default_audience_ids()
        interest_ids = selectors.default_interest_ids(audience_ids=audience_ids)
    audiences = list(
        Audience.objects.filter(
            pk__in=list(audience_ids or []), active=True, removed_at__isnull=True
        ).order_by("pk")
    )
    interest_ids = list(interest_ids)
    first_name = first_name or getattr(user, "first_name", "") or ""
    last_name = last_name or getattr(user, "last_name", "") or ""
    results, push_ids, changed = [], [], 0
    for audience in audiences:
        subscription, created = Subscription.objects.select_for_update().get_or_create(
            email=email,
            audience=audience,
            defaults={"source": source, "user": user, "first_name": first_name,
                      "last_name": last_name},
        )
        wanted = _offered_interest_ids(interest_ids, audience.pk)
        current = set(subscription.interests.values_list("pk", flat=True))
        dirty = created or not subscription.opted_in or not wanted <= current
        dirty = dirty or subscription.state in (
            Subscription.State.FAILED, Subscription.State.UNSUBSCRIBED
        )
        if user is not None and subscription.user_id is None:
            subscription.user = user
        for field, value in (("first_name", first_name), ("last_name", last_name)):
            if value and getattr(subscription, field) != value:
                setattr(subscription, field, value)
                dirty = True
        if subscription.state == Subscription.State.ANNULLED:
            dirty = False
        if dirty:
            if created or not subscription.opted_in or not subscription.consent_at:
                _consent_record(subscription, source=source, ip=ip, consent_text=consent_text)
            if not subscription.opted_in or subscription.state == Subscription.State.UNSUBSCRIBED:
                subscription.source = source
            subscription.opted_in = True
            push = _push_queue(subscription, action=Push.Action.SUBSCRIBE)
            if push is not None:
                push_ids.append(push.pk)
            if wanted - current:
                subscription.interests.add(*(wanted - current))
            changed += 1
        subscription.save()
        results.append(subscription)
    _enqueue_on_commit(push_ids)
    return SubscribeResult(subscriptions=results, changed=changed)


def subscription_signup(
    *,
    email: str,
    choice,
    source: str,
    ip: str | None = None,
    user=None,
    first_name: str = "",
    last_name: str = "",
) -> SubscribeResult | None:
    """Registration and checkout: what the opt-in fields (`forms.NewsChoice`) said.

    Call it inside the registration's or the order's transaction. Nothing ticked: no change.
    """
    if not choice.any:
        return None
    return subscription_subscribe(
        email=email,
        audience_ids=choice.audience_ids,
        interest_ids=choice.interest_ids,
        use_defaults=choice.use_defaults,
        source=source,
        ip=ip,
        consent_text=choice.consent_text,
        user=user,
        first_name=first_name,
        last_name=last_name,
    )


@transaction.atomic
def subscription_unsubscribe(*, subscription_id: int, source: str) -> Subscription:
    """Opt out (a PATCH to `unsubscribed` follows; never a DELETE)."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    if not subscription.opted_in or subscription.state == Subscription.State.ANNULLED:
        return subscription
    subscription.opted_in = False
    push = _push_queue(subscription, action=Push.Action.UNSUBSCRIBE)
    subscription.save()
    _enqueue_on_commit([push.pk] if push else [])
    return subscription


@transaction.atomic
def subscription_set_for_customer(
    *,
    user,
    choices: dict[int, Iterable[int]],
    source: str,
    ip: str | None = None,
    consent_text: str = "",
) -> int:
    """The account page and the admin tab: exactly these audiences (id -> group ids).

    An offered audience not in `choices` that the customer is subscribed to is unsubscribed;
    groups are replaced. Disabled (annulled, removed, inactive) subscriptions are left as
    they are. Returns how many subscriptions changed.
    """
    email = email_normalize(user.email)
    offered = {a.pk: a for a in Audience.objects.filter(active=True, removed_at__isnull=True)}
    existing = {
        s.audience_id: s
        for s in Subscription.objects.select_for_update()
        .filter(email=email, audience_id__in=list(offered))
    }
    changed, push_ids = 0, []
    for audience_id in offered:
        subscription = existing.get(audience_id)
        if subscription is not None and subscription.state == Subscription.State.ANNULLED:
            continue
        if audience_id in choices:
            wanted = _offered_interest_ids(choices[audience_id], audience_id)
            if subscription is None:
                subscription = Subscription.objects.create(
                    email=email, audience_id=audience_id, user=user, source=source,
                    first_name=user.first_name or "", last_name=user.last_name or "",
                )
                current = set()
            else:
                current = set(subscription.interests.values_list("pk", flat=True))
            offered_now = set(
                Interest.objects.filter(
                    audience_id=audience_id, active=True, removed_at__isnull=True
                ).values_list("pk", flat=True)
            )
            # Only groups the store offers are replaced; others stay as they are.
            to_remove = (current & offered_now) - wanted
            to_add = wanted - current
            was_in = subscription.opted_in and subscription.pk and subscription.state not in (
                Subscription.State.UNSUBSCRIBED, Subscription.State.FAILED
            ) and subscription.consent_at is not None
            if was_in and not to_remove and not to_add and subscription.user_id:
                continue
            if not was_in:
                _consent_record(subscription, source=source, ip=ip, consent_text=consent_text)
                subscription.source = source
            subscription.user = subscription.user or user
            subscription.opted_in = True
            push = _push_queue(subscription, action=Push.Action.SUBSCRIBE)
            subscription.save()
            if to_remove:
                subscription.interests.remove(*to_remove)
            if to_add:
                subscription.interests.add(*to_add)
        else:
            if subscription is None or not subscription.opted_in:
                continue
            subscription.opted_in = False
            push = _push_queue(subscription, action=Push.Action.UNSUBSCRIBE)
            subscription.save()
        if push is not None:
            push_ids.append(push.pk)
        changed += 1
    _enqueue_on_commit(push_ids)
    return changed


@transaction.atomic
def subscription_email_change(*, user, old_email: str, new_email: str) -> int:
    """Carry a customer's subscriptions over to their new address.

    Mailchimp keeps the member: the next push addresses it by the old address it knows
    (`mailchimp_email`) and sets `email_address` to the new one. Where the new address already
    has its own subscription to an audience, that one is kept and linked to the customer.
    """
    old_email, new_email = email_normalize(old_email), email_normalize(new_email)
    if old_email == new_email:
        return 0
    moved, push_ids = 0, []
    taken = set(
        Subscription.objects.filter(email=new_email).values_list("audience_id", flat=True)
    )
    Subscription.objects.filter(email=new_email, user__isnull=True).update(user=user)
    for subscription in Subscription.objects.select_for_update().filter(
        Q(email=old_email) & (Q(user=user) | Q(user__isnull=True))
    ):
        if subscription.audience_id in taken:
            continue
        subscription.email = new_email
        subscription.user = user
        if subscription.state != Subscription.State.ANNULLED and subscription.mailchimp_email:
            action = Push.Action.SUBSCRIBE if subscription.opted_in else Push.Action.UNSUBSCRIBE
            push = _push_queue(subscription, action=action)
            if push is not None:
                push_ids.append(push.pk)
        subscription.save()
        moved += 1
    _enqueue_on_commit(push_ids)
    return moved


@transaction.atomic
def subscriptions_subscribe_users(
    *, user_ids: Iterable[int], audience_ids: Iterable[int], source: str = Source.ADMIN
) -> int:
    """The admin action for customers from before the integration: a backlog, pushed in bulk.

    Written with bulk inserts (10,000 customers in a handful of queries); the default groups
    of each audience are chosen. Already opted-in subscriptions are left alone.
    """
    from django.contrib.auth import get_user_model

    audiences = list(
        Audience.objects.filter(pk__in=list(audience_ids), active=True, removed_at__isnull=True)
    )
    users = list(
        get_user_model().objects.filter(pk__in=list(user_ids)).values(
            "pk", "email", "first_name", "last_name"
        )
    )
    now = timezone.now()
    created_total = 0
    for audience in audiences:
        defaults = selectors.default_interest_ids(audience_ids=[audience.pk])
        taken = set(
            Subscription.objects.filter(audience=audience, opted_in=True).values_list(
                "email", flat=True
            )
        )
        rows, seen = [], set()
        for user in users:
            email = (user["email"] or "").strip().lower()
            if not email or email in taken or email in seen:
                continue
            seen.add(email)
            rows.append(Subscription(
                email=email, audience=audience, user_id=user["pk"],
                first_name=user["first_name"] or "", last_name=user["last_name"] or "",
                source=source, consent_source=source, consent_at=now,
                consent_text="Subscribed by a store admin", created_at=now,
            ))
        # An opted-out row for the same address is re-used (update_conflicts), not duplicated.
        Subscription.objects.bulk_create(
            rows, batch_size=1000, update_conflicts=True,
            unique_fields=["email", "audience"],
            update_fields=["opted_in", "state", "source", "consent_source", "consent_at",
                           "consent_text", "user"],
        )
        ids = list(
            Subscription.objects.filter(audience=audience, email__in=seen).values_list(
                "pk", flat=True
            )
        )
        Through = Subscription.interests.through
        if defaults:
            Through.objects.bulk_create(
                [Through(subscription_id=s, interest_id=i) for s in ids for i in defaults],
                batch_size=2000, ignore_conflicts=True,
            )
        Push.objects.filter(subscription_id__in=ids, state=Push.State.WAITING).delete()
        Push.objects.bulk_create(
            [Push(subscription_id=s, action=Push.Action.SUBSCRIBE, created_at=now,
                  next_attempt_at=now) for s in ids],
            batch_size=2000,
        )
        created_total += len(ids)
    if created_total:
        from . import tasks

        def send():
            if not selectors.pushes_paused():
                tasks.push_backlog.delay()

        # Robust, as for a signup: the backlog is saved, and the sweeper sends it if need be.
        transaction.on_commit(send, robust=True)
    return created_total


# --- Reacting to Mailchimp-side deletions ------------------------------------------------------

@transaction.atomic
def subscriptions_annul_for_audiences(*, audience_ids: list[int]) -> int:
    """Audiences deleted in Mailchimp: their subscriptions are kept, annulled, never pushed."""
    count = 0
    for audience in Audience.objects.filter(pk__in=audience_ids):
        count += Subscription.objects.filter(audience=audience).exclude(
            state=Subscription.State.ANNULLED
        ).update(
            state=Subscription.State.ANNULLED,
            annulled_reason=audience.removed_reason or "Deleted in Mailchimp",
            updated_at=timezone.now(),
        )
    Push.objects.filter(
        subscription__audience_id__in=audience_ids, state=Push.State.WAITING
    ).update(state=Push.State.CANCELLED, last_error="The audience was deleted in Mailchimp",
             finished_at=timezone.now())
    return count


@transaction.atomic
def subscriptions_annul_interests(*, interest_ids: list[int]) -> int:
    """Groups deleted in Mailchimp: taken off each subscription, kept in `annulled_interests`."""
    interests = {i.pk: i for i in Interest.objects.filter(pk__in=interest_ids)}
    Through = Subscription.interests.through
    links = list(Through.objects.filter(interest_id__in=list(interests)))
    by_subscription: dict[int, list[int]] = {}
    for link in links:
        by_subscription.setdefault(link.subscription_id, []).append(link.interest_id)
    for subscription in Subscription.objects.select_for_update().filter(
        pk__in=list(by_subscription)
    ):
        kept = list(subscription.annulled_interests or [])
        for interest_id in by_subscription[subscription.pk]:
            interest = interests[interest_id]
            kept.append({
                "id": interest.pk, "name": interest.name,
                "reason": interest.removed_reason or "Deleted in Mailchimp",
            })
        subscription.annulled_interests = kept
        subscription.save(update_fields=["annulled_interests", "updated_at"])
    Through.objects.filter(pk__in=[link.pk for link in links]).delete()
    return len(by_subscription)


# --- The push ------------------------------------------------------------------------------------

def push_claim(*, push_id: int) -> bool:
    """WAITING and due -> SENDING, for exactly one worker."""
    return bool(
        Push.objects.filter(
            pk=push_id, state=Push.State.WAITING, next_attempt_at__lte=timezone.now()
        ).update(
            state=Push.State.SENDING,
            attempts=F("attempts") + 1,
            claimed_at=timezone.now(),
            channel="member",
        )
    )


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped; Mailchimp's Retry-After wins when longer."""
    base = float(_setting("SUBSCRIPTIONS_RETRY_BASE_SECONDS", 2.0))
    cap = float(_setting("SUBSCRIPTIONS_RETRY_MAX_SECONDS", 300.0))
    backoff = min(cap, base * 2 ** max(0, attempt - 1))
    delay = backoff * (0.5 + random.random() / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _merge_fields(subscription: Subscription) -> dict:
    fields = {}
    if subscription.first_name:
        fields["FNAME"] = subscription.first_name
    if subscription.last_name:
        fields["LNAME"] = subscription.last_name
    return fields


def _offered_interest_mailchimp_ids(audience_id: int) -> list[str]:
    """The Mailchimp ids of the audience's groups the store offers."""
    return list(
        Interest.objects.filter(
            audience_id=audience_id, active=True, removed_at__isnull=True
        ).values_list("mailchimp_id", flat=True)
    )


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") if value else ""


def _member_details(subscription: Subscription, *, offered: list[str]) -> dict:
    """What every push says of a member: groups, FNAME/LNAME, consent.

    Groups: the chosen ones True, the audience's other offered groups False, others untouched.
    """
    details: dict = {}
    chosen = {i.mailchimp_id for i in subscription.interests.all() if i.removed_at is None}
    interests = dict.fromkeys(offered, False)
    interests.update(dict.fromkeys(chosen, True))
    if interests:
        details["interests"] = interests
    merge_fields = _merge_fields(subscription)
    if merge_fields:
        details["merge_fields"] = merge_fields
    if subscription.consent_ip:
        details["ip_signup"] = subscription.consent_ip
    if subscription.consent_at:
        details["timestamp_signup"] = _iso(subscription.consent_at)
    return details


def member_body(subscription: Subscription, *, double_opt_in: bool) -> dict:
    """The PUT body: status_if_new, the groups as the interests map, FNAME/LNAME, consent."""
    body: dict = {
        "email_address": subscription.email,
        "status_if_new": "pending" if double_opt_in else "subscribed",
    }
    if not double_opt_in:
        body["status"] = "subscribed"
    offered = _offered_interest_mailchimp_ids(subscription.audience_id)
    return {**body, **_member_details(subscription, offered=offered)}


def is_compliance_state(error: MailchimpError) -> bool:
    text = f"{error.title} {error.detail}".lower()
    return "compliance state" in text


STATE_FOR_STATUS = {
    "subscribed": Subscription.State.SUBSCRIBED,
    "pending": Subscription.State.PENDING,
    "unsubscribed": Subscription.State.UNSUBSCRIBED,
}


def _send_member(subscription: Subscription, *, double_opt_in: bool, client) -> str:
    """One member's calls; returns Mailchimp's status. Raises MailchimpError."""
    list_id = subscription.audience.mailchimp_id
    address = subscription.mailchimp_email or subscription.email
    if address != subscription.email:
        # The customer changed their email: Mailchimp keeps the member, with the new address.
        try:
            client.member_update(list_id, address, {"email_address": subscription.email})
        except MailchimpNotFound:
            pass
        address = subscription.email
    if not subscription.opted_in:
        try:
            member = client.member_update(list_id, address, {"status": "unsubscribed"})
        except MailchimpNotFound:
            return ""  # never reached Mailchimp: nothing to unsubscribe
        return member.get("status", "unsubscribed")
    body = member_body(subscription, double_opt_in=double_opt_in)
    try:
        member = client.member_upsert(list_id, address, body)
    except MailchimpError as error:
        if error.retryable or not is_compliance_state(error):
            raise
        # Unsubscribed in Mailchimp and opting in again: Mailchimp asks them to confirm.
        body.update(status="pending", status_if_new="pending")
        member = client.member_upsert(list_id, address, body)
    status = member.get("status", "")
    if status in ("unsubscribed", "cleaned") and double_opt_in:
        member = client.member_update(list_id, address, {"status": "pending"})
        status = member.get("status", "pending")
    client.member_tags_add(list_id, subscription.email, [subscription.source])
    return status


def push_send(*, push_id: int) -> Push:
    """Send a claimed (SENDING) push and record the outcome on it and its subscription."""
    push = Push.objects.select_related("subscription__audience").get(pk=push_id)
    subscription = push.subscription
    if push.state != Push.State.SENDING:
        return push
    if subscription.state == Subscription.State.ANNULLED:
        return _push_finish(push, state=Push.State.CANCELLED, error="Annulled")
    double_opt_in = selectors.news_settings_get().double_opt_in
    try:
        client = mailchimp_client_build()
        status = _send_member(subscription, double_opt_in=double_opt_in, client=client)
    except MailchimpTransientError as error:
        return _push_retry_later(push, error)
    except MailchimpError as error:
        return _push_fail(push, reason=_mailchimp_words(error))
    return _push_succeed(push, status=status)


def _mailchimp_words(error: MailchimpError) -> str:
    return f"{error.title}: {error.detail}" if error.detail else error.title


@transaction.atomic
def _push_succeed(push: Push, *, status: str) -> Push:
    subscription = Subscription.objects.select_for_update().get(pk=push.subscription_id)
    subscription.mailchimp_status = status
    subscription.mailchimp_email = subscription.email if status else ""
    subscription.last_pushed_at = timezone.now()
    if subscription.state != Subscription.State.ANNULLED:
        newer = Push.objects.filter(subscription=subscription, state=Push.State.WAITING).exists()
        if not newer:
            subscription.state = STATE_FOR_STATUS.get(
                status,
                Subscription.State.SUBSCRIBED if subscription.opted_in
                else Subscription.State.UNSUBSCRIBED,
            )
            subscription.failure_reason = ""
    subscription.save()
    return _push_finish(push, state=Push.State.DONE, error="")


@transaction.atomic
def _push_fail(push: Push, *, reason: str) -> Push:
    Subscription.objects.filter(pk=push.subscription_id).exclude(
        state=Subscription.State.ANNULLED
    ).update(state=Subscription.State.FAILED, failure_reason=reason, updated_at=timezone.now())
    return _push_finish(push, state=Push.State.FAILED, error=reason)


def _push_finish(push: Push, *, state: str, error: str) -> Push:
    push.state = state
    push.last_error = error
    push.finished_at = timezone.now()
    push.save(update_fields=["state", "last_error", "finished_at", "updated_at"])
    return push


def _push_retry_later(push: Push, error: MailchimpTransientError) -> Push:
    """Back to WAITING with a later next attempt, or FAILED when the attempts ran out."""
    if push.attempts >= int(_setting("SUBSCRIPTIONS_PUSH_MAX_ATTEMPTS", 8)):
        return _push_fail(push, reason=f"Gave up after {push.attempts} attempts: {error.reason}")
    delay = retry_delay(attempt=push.attempts, retry_after=error.retry_after)
    push.state = Push.State.WAITING
    push.last_error = error.reason
    push.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    push.save(update_fields=["state", "last_error", "next_attempt_at", "updated_at"])
    from . import tasks

    transaction.on_commit(lambda: tasks.push_send.apply_async((push.pk,), countdown=delay))
    return push


@transaction.atomic
def push_retry(*, push_ids: Iterable[int]) -> int:
    """The sync log's Retry: failed pushes wait again, with fresh attempts."""
    ids = list(
        Push.objects.filter(pk__in=list(push_ids), state=Push.State.FAILED).values_list(
            "pk", flat=True
        )
    )
    Push.objects.filter(pk__in=ids).update(
        state=Push.State.WAITING, attempts=0, next_attempt_at=timezone.now(), finished_at=None
    )
    Subscription.objects.filter(pushes__pk__in=ids).exclude(
        state=Subscription.State.ANNULLED
    ).update(state=Subscription.State.WAITING, failure_reason="")
    _enqueue_on_commit(ids)
    return len(ids)


def push_sweep(*, grace_seconds: float | None = None) -> int:
    """The beat job: re-send what was left waiting (broker down, worker died, pause lifted)."""
    if selectors.pushes_paused():
        return 0
    now = timezone.now()
    stale = float(_setting("SUBSCRIPTIONS_SENDING_STALE_SECONDS", 600))
    Push.objects.filter(
        state=Push.State.SENDING, claimed_at__lt=now - timedelta(seconds=stale)
    ).update(state=Push.State.WAITING, next_attempt_at=now)
    if grace_seconds is None:
        grace_seconds = float(_setting("SUBSCRIPTIONS_SWEEP_GRACE_SECONDS", 30))
    due = list(
        Push.objects.filter(
            state=Push.State.WAITING,
            next_attempt_at__lte=now - timedelta(seconds=grace_seconds),
        ).values_list("pk", flat=True)[:100_000]
    )
    from . import tasks

    if len(due) > _setting("SUBSCRIPTIONS_BULK_THRESHOLD", 20):
        tasks.push_backlog.delay()
    else:
        for push_id in due:
            tasks.push_send.delay(push_id)
    return len(due)


# --- The backlog: Mailchimp's bulk calls ---------------------------------------------------------

def _bulk_claim(*, audience_id: int, limit: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            Push.objects.select_for_update(skip_locked=True)
            .filter(
                state=Push.State.WAITING,
                action=Push.Action.SUBSCRIBE,
                next_attempt_at__lte=timezone.now(),
                subscription__audience_id=audience_id,
                subscription__opted_in=True,
            )
            .exclude(subscription__state=Subscription.State.ANNULLED)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        Push.objects.filter(pk__in=ids).update(
            state=Push.State.SENDING, attempts=F("attempts") + 1,
            claimed_at=timezone.now(), channel="bulk",
        )
    return ids


def push_backlog_send() -> dict:
    """Send every due WAITING subscribe push in Mailchimp's bulk calls.

    Per audience, chunks of 500 go to `POST /lists/{id}` (batch subscribe, update_existing);
    each member's error is recorded on its own push. The source tags of all members go in
    one `POST /batches` at the end. Calls are made one at a time: one connection.
    Members in compliance state are handed to the single-member path (re-sent as pending).
    """
    stats = {"calls": 0, "done": 0, "failed": 0, "retry": 0}
    if selectors.pushes_paused():
        return stats
    double_opt_in = selectors.news_settings_get().double_opt_in
    client = mailchimp_client_build()
    audience_ids = list(
        Push.objects.filter(state=Push.State.WAITING, action=Push.Action.SUBSCRIBE)
        .values_list("subscription__audience_id", flat=True).distinct()
    )
    tag_operations: list[dict] = []
    for audience_id in audience_ids:
        while True:
            ids = _bulk_claim(audience_id=audience_id, limit=BULK_CHUNK)
            if not ids:
                break
            _bulk_chunk_send(ids, client=client, double_opt_in=double_opt_in,
                             stats=stats, tag_operations=tag_operations)
            if stats.get("stop"):
                break
    if tag_operations:
        try:
            batch = client.batch_start(tag_operations)
            stats["calls"] += 1
        except MailchimpError as error:
            stats["calls"] += 1
            _tags_not_applied(
                [int(op["operation_id"].removeprefix("push-")) for op in tag_operations],
                reason=_mailchimp_words(error),
            )
        else:
            from . import tasks

            # Mailchimp runs the batch later: follow it, and record the tags it could not apply.
            transaction.on_commit(
                lambda: tasks.push_tags_check.apply_async(
                    (batch["id"],), countdown=tasks.TAGS_CHECK_FIRST_WAIT
                ),
                robust=True,
            )
    # Anything left over (e.g. unsubscribes, or added meanwhile) goes member by member.
    from . import tasks

    for push_id in Push.objects.filter(
        state=Push.State.WAITING, next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True)[:1000]:
        tasks.push_send.delay(push_id)
    stats.pop("stop", None)
    return stats


def _bulk_chunk_send(ids, *, client, double_opt_in, stats, tag_operations) -> None:
    pushes = list(
        Push.objects.filter(pk__in=ids).select_related("subscription__audience")
        .prefetch_related("subscription__interests")
    )
    by_email = {p.subscription.email: p for p in pushes}
    audience = pushes[0].subscription.audience
    offered = _offered_interest_mailchimp_ids(audience.pk)
    members = [
        _bulk_member(push.subscription, offered=offered, double_opt_in=double_opt_in)
        for push in pushes
    ]
    try:
        result = client.members_batch_subscribe(audience.mailchimp_id, members)
        stats["calls"] += 1
    except MailchimpTransientError as error:
        stats["calls"] += 1
        # Capped as on the single-member path: a chunk never waits forever.
        max_attempts = int(_setting("SUBSCRIPTIONS_PUSH_MAX_ATTEMPTS", 8))
        for push in pushes:
            if push.attempts >= max_attempts:
                _push_fail(push, reason=f"Gave up after {push.attempts} attempts: {error.reason}")
                stats["failed"] += 1
        ids = [push.pk for push in pushes if push.attempts < max_attempts]
        if not ids:
            return
        stats["stop"] = True
        delay = retry_delay(attempt=pushes[0].attempts, retry_after=error.retry_after)
        Push.objects.filter(pk__in=ids).update(
            state=Push.State.WAITING, last_error=error.reason,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        stats["retry"] += len(ids)
        from . import tasks

        transaction.on_commit(lambda: tasks.push_backlog.apply_async(countdown=delay))
        return
    except MailchimpError as error:
        stats["calls"] += 1
        for push in pushes:
            _push_fail(push, reason=_mailchimp_words(error))
        stats["failed"] += len(pushes)
        return
    statuses = {}
    for member in (result.get("new_members") or []) + (result.get("updated_members") or []):
        statuses[str(member.get("email_address", "")).lower()] = member.get("status", "")
    errors = {
        str(e.get("email_address", "")).lower(): e for e in (result.get("errors") or [])
    }
    now = timezone.now()
    done_ids, state_groups = [], {}
    with transaction.atomic():
        for email, push in by_email.items():
            error = errors.get(email)
            if error is not None:
                words = str(error.get("error") or error.get("error_code") or "error")
                if "compliance" in words.lower():
                    # Re-sent on its own, as pending (Mailchimp's advice).
                    Push.objects.filter(pk=push.pk).update(
                        state=Push.State.WAITING, channel="member", last_error=words
                    )
                    continue
                code = error.get("error_code")
                _push_fail(push, reason=f"{code}: {words}" if code else words)
                stats["failed"] += 1
                continue
            status = statuses.get(email) or ("pending" if double_opt_in else "subscribed")
            state_groups.setdefault(status, []).append(push.subscription_id)
            done_ids.append(push.pk)
            tag_operations.append({
                "method": "POST",
                "path": f"/lists/{audience.mailchimp_id}/members/"
                        f"{client.subscriber_hash(email)}/tags",
                "operation_id": f"push-{push.pk}",
                "body": _json_dumps({"tags": [{"name": push.subscription.source,
                                               "status": "active"}]}),
            })
        for status, subscription_ids in state_groups.items():
            Subscription.objects.filter(pk__in=subscription_ids).exclude(
                state=Subscription.State.ANNULLED
            ).update(
                state=STATE_FOR_STATUS.get(status, Subscription.State.SUBSCRIBED),
                mailchimp_status=status, mailchimp_email=F("email"), last_pushed_at=now,
                failure_reason="", updated_at=now,
            )
        Push.objects.filter(pk__in=done_ids).update(
            state=Push.State.DONE, last_error="", finished_at=now, updated_at=now
        )
    stats["done"] += len(done_ids)


def _bulk_member(subscription: Subscription, *, offered: list[str], double_opt_in: bool):
    """One member of a batch subscribe (`POST /lists/{id}` with update_existing)."""
    return {
        "email_address": subscription.email,
        "status": "pending" if double_opt_in else "subscribed",
        **_member_details(subscription, offered=offered),
    }


def _json_dumps(value) -> str:
    return json.dumps(value)


TAG_NOT_APPLIED = "Tag not applied: "


def _tags_not_applied(push_ids: list[int], *, reason: str) -> None:
    """The member is in Mailchimp (the push is done), but without its source tag: say so."""
    Push.objects.filter(pk__in=push_ids).update(
        last_error=f"{TAG_NOT_APPLIED}{reason}", updated_at=timezone.now()
    )


def push_tags_batch_check(*, batch_id: str) -> bool:
    """Record on their pushes the source tags a `/batches` call failed to apply.

    Returns False while Mailchimp has not finished the batch (the caller asks again later).
    """
    client = mailchimp_client_build()
    batch = client.batch_get(batch_id)
    if batch.get("status") != "finished":
        return False
    if not batch.get("errored_operations"):
        return True
    failed: dict[str, list[int]] = {}
    for result in client.batch_results(batch["response_body_url"]):
        operation_id = result["operation_id"]
        if result["error"] is None or not operation_id.startswith("push-"):
            continue
        words = _mailchimp_words(result["error"])
        failed.setdefault(words, []).append(int(operation_id.removeprefix("push-")))
    for words, push_ids in failed.items():
        _tags_not_applied(push_ids, reason=words)
    return True
