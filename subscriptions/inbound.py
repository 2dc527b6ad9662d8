"""The way back from Mailchimp: members as Mailchimp holds them, applied to the subscriptions.

One applier (`apply_members`) serves the three paths: webhook events (each a hint: the member
is read again), reconciliation (members changed since a watermark) and the import. The rules:
- Mailchimp's state is applied only when it is at least as new as what the store holds
  (`last_changed`); equal times apply only what differs, so the same event twice, or events
  out of order, end in the same state.
- A status change is recorded in the consent history with source `mailchimp`; it is what the
  store last confirmed (`sent_consent`), so nothing is pushed back: no version is bumped.
- A change the store made and has not sent yet, made after Mailchimp's, still goes out: only
  its baseline (what Mailchimp holds) moves, and an opt-out or opt-in is kept as evidence.
- A subscription in flight (claimed by a push) is deferred; its push records what it sent.
Every page is a constant number of queries: subscriptions, groups and customers are read once
per page, and the writes are bulk.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mailchimp_integration import webhooks
from mailchimp_integration.client import PAGE_SIZE, MailchimpClient
from mailchimp_integration.exceptions import MailchimpError
from mailchimp_integration.models import Audience, Interest
from shop.db import bulk_update

from . import consent
from .delivery import STATE_FOR_STATUS, mailchimp_time
from .models import ConsentEvent, MemberSyncRun, Source, Subscription

logger = logging.getLogger(__name__)

Action = ConsentEvent.Action
EXAMPLES_PER_KIND = 5
# How far before the watermark a reconciliation reads again (clocks, same-second changes).
OVERLAP = timedelta(minutes=5)

ORIGINS = dict(Subscription._meta.get_field("mailchimp_changed_by").choices)
WORDING = {
    "unsubscribed": "Unsubscribed in Mailchimp",
    "archived": "Archived (removed from the audience) in Mailchimp",
    "cleaned": "Mailchimp cleaned the address (its emails bounced)",
    "subscribed": "Subscribed in Mailchimp",
    "pending": "Signed up in Mailchimp; waiting for the person's confirmation",
    "confirmed": "Confirmed the subscription in Mailchimp's email",
    "deleted": "Deleted permanently in Mailchimp",
}


def _time(value) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


@dataclass(frozen=True)
class Remote:
    """One member as Mailchimp holds it (the fields `MailchimpClient.MEMBER_FIELDS` reads)."""

    email: str
    status: str
    unique_id: str = ""
    last_changed: datetime | None = None
    interests: frozenset[str] = frozenset()  # ids of the groups the member is in
    first_name: str = ""
    last_name: str = ""
    timestamp_opt: datetime | None = None
    ip_opt: str = ""
    unsubscribe_reason: str = ""
    gone: bool = False  # Mailchimp has no such member (deleted permanently)

    @classmethod
    def of(cls, member: dict) -> Remote:
        merge = member.get("merge_fields") or {}
        return cls(
            email=str(member.get("email_address") or "").strip().lower(),
            status=str(member.get("status") or ""),
            unique_id=str(member.get("unique_email_id") or ""),
            last_changed=_time(member.get("last_changed")),
            interests=frozenset(k for k, on in (member.get("interests") or {}).items() if on),
            first_name=str(merge.get("FNAME") or ""), last_name=str(merge.get("LNAME") or ""),
            timestamp_opt=_time(member.get("timestamp_opt")),
            ip_opt=str(member.get("ip_opt") or ""),
            unsubscribe_reason=str(member.get("unsubscribe_reason") or ""),
        )


@dataclass
class Drift:
    """What one application found, by kind, with the first examples of each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    # Per address: what was done with it ("applied: unsubscribed", "deferred", …).
    outcomes: dict[str, str] = field(default_factory=dict)
    newest: datetime | None = None  # the newest last_changed applied
    oldest_deferred: datetime | None = None

    def note(self, kind: str, email: str) -> None:
        self.counts[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < EXAMPLES_PER_KIND:
            examples.append(email)

    def merge(self, other: Drift) -> None:
        self.counts.update(other.counts)
        for kind, emails in other.examples.items():
            mine = self.examples.setdefault(kind, [])
            mine.extend(emails[: EXAMPLES_PER_KIND - len(mine)])
        self.outcomes.update(other.outcomes)
        for name, pick in (("newest", max), ("oldest_deferred", min)):
            values = [v for v in (getattr(self, name), getattr(other, name)) if v is not None]
            setattr(self, name, pick(values) if values else None)


def _status_event(subscription: Subscription, remote: Remote, *, action: str, wording: str,
                  origin: str) -> ConsentEvent:
    at = remote.last_changed or timezone.now()
    ip = None
    if action in (Action.OPT_IN, Action.CONFIRMED):
        at = remote.timestamp_opt or at
        ip = remote.ip_opt or None
    if action == Action.OPT_OUT and remote.unsubscribe_reason:
        wording = f"{wording}: {remote.unsubscribe_reason}"  # who: the contact, or an admin
    return ConsentEvent(
        subscription=subscription, action=action, actor=ConsentEvent.Actor.MAILCHIMP,
        source=Source.MAILCHIMP, at=at, ip=ip,
        wording=f"{wording} (learnt through: {ORIGINS[origin].lower()})",
        double_opt_in=remote.status == "pending",
    )


def _newer_unsent_consent(subscription: Subscription, remote: Remote) -> bool:
    """The store holds a consent it has not sent yet, given after Mailchimp's change."""
    if not consent.consent_is_new(subscription) or subscription.consent is None:
        return False
    return remote.last_changed is None or subscription.consent.at > remote.last_changed


def _status_change(subscription: Subscription, remote: Remote, *, origin: str
                   ) -> tuple[ConsentEvent | None, bool]:
    """The consent record Mailchimp's new status makes (or None), and whether it becomes
    the subscription's latest consent."""
    status, previous = remote.status, subscription.mailchimp_status
    if remote.gone:
        status = "deleted"
    if status in ("unsubscribed", "archived", "deleted", consent.CLEANED):
        if not subscription.opted_in and status != consent.CLEANED:
            return None, False
        action = Action.CLEANED if status == consent.CLEANED else Action.OPT_OUT
        event = _status_event(subscription, remote, action=action, wording=WORDING[status],
                              origin=origin)
        return event, status == consent.CLEANED or not _newer_unsent_consent(subscription, remote)
    if status in ("subscribed", "pending"):
        contact = subscription.consent is not None and \
            subscription.consent.action == Action.CONTACT
        if subscription.opted_in and not contact:
            if status == "subscribed" and previous == "pending":
                event = _status_event(subscription, remote, action=Action.CONFIRMED,
                                      wording=WORDING["confirmed"], origin=origin)
                return event, not consent.consent_is_new(subscription)
            return None, False
        # The person signed up (or back) on Mailchimp's side: their own consent.
        event = _status_event(subscription, remote, action=Action.OPT_IN,
                              wording=WORDING[status], origin=origin)
        return event, not _newer_unsent_consent(subscription, remote)
    return None, False


@dataclass
class _Page:
    """What one page writes, in bulk."""

    events: list[tuple[Subscription, ConsentEvent, bool]] = field(default_factory=list)
    changed: dict[int, Subscription] = field(default_factory=dict)
    interests: dict[int, set[int]] = field(default_factory=dict)
    created: list[tuple[Subscription, set[int]]] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)


def _apply_one(subscription: Subscription, remote: Remote, *, origin: str, page: _Page,
               interest_pks: dict[str, int], others: dict[str, Subscription],
               users: dict[str, object], drift: Drift) -> None:
    """Mailchimp's member onto the store's subscription (not yet saved: `page` writes it)."""
    kinds = []
    unsent = subscription.wanted_version > subscription.sent_version
    known_changed = subscription.mailchimp_last_changed
    if remote.email and remote.email != subscription.email and not remote.gone:
        taken = others.get(remote.email)
        if taken is not None and taken.pk != subscription.pk:
            subscription.mailchimp_notice = (
                f"The person changed their address in Mailchimp to {remote.email}, which has "
                "a subscription of its own here: staff should decide which one to keep."
            )
            kinds.append("email_conflict")
        else:
            owner = users.get(remote.email)
            if owner is not None and subscription.user_id not in (None, owner.pk):
                subscription.mailchimp_notice = (
                    f"The person changed their address in Mailchimp to {remote.email}, the "
                    f"address of another customer ({owner}); the subscription followed it."
                )
            subscription.email = remote.email
            subscription.mailchimp_email = remote.email
            kinds.append("email")
    effective = "" if remote.gone else remote.status
    if effective != subscription.mailchimp_status:
        event, latest = _status_change(subscription, remote, origin=origin)
        if event is not None:
            page.events.append((subscription, event, latest))
        if effective == consent.CLEANED:
            page.bounced.append(subscription.email)
        subscription.mailchimp_status = effective
        subscription.mailchimp_email = "" if remote.gone else (remote.email or
                                                               subscription.mailchimp_email)
        subscription.state = STATE_FOR_STATUS.get(effective, Subscription.State.UNSUBSCRIBED)
        subscription.mailchimp_changed_by = origin
        kinds.append("deleted" if remote.gone else (effective or "status"))
    if not remote.gone:
        known = {i for i in remote.interests if i in interest_pks}
        if known != set(subscription.sent_interests or []):
            subscription.sent_interests = sorted(known)
            if not unsent:
                page.interests[subscription.pk] = {interest_pks[i] for i in known}
            kinds.append("groups")
        names = {"FNAME": remote.first_name, "LNAME": remote.last_name}
        sent_names = subscription.sent_merge_fields or {}
        if any(sent_names.get(k, "") != v for k, v in names.items()):
            subscription.sent_merge_fields = {**sent_names, **names}
            if not unsent:
                subscription.first_name, subscription.last_name = remote.first_name, \
                    remote.last_name
            kinds.append("names")
        if remote.unique_id:
            subscription.mailchimp_unique_id = remote.unique_id
    if remote.last_changed is not None:
        subscription.mailchimp_last_changed = remote.last_changed
    if not kinds:
        drift.note("unchanged", subscription.email)
        drift.outcomes[remote.email or subscription.email] = "no change: as the store has it"
        if subscription.mailchimp_last_changed != known_changed:
            page.changed[subscription.pk] = subscription  # only the time moves on
        return
    for kind in kinds:
        drift.note(kind, subscription.email)
    drift.outcomes[remote.email or subscription.email] = "applied: " + ", ".join(kinds)
    page.changed[subscription.pk] = subscription


def _new_subscription(audience: Audience, remote: Remote, *, origin: str, page: _Page,
                      interest_pks: dict[str, int], users: dict[str, object]) -> None:
    """A member the store did not have: a subscription that holds what Mailchimp holds, with
    Mailchimp's own consent evidence (timestamp_opt, ip_opt), and nothing to send."""
    owner = users.get(remote.email)
    known = {i for i in remote.interests if i in interest_pks}
    subscription = Subscription(
        email=remote.email, audience=audience, user=owner,
        first_name=remote.first_name, last_name=remote.last_name,
        opted_in=remote.status in ("subscribed", "pending"),
        state=STATE_FOR_STATUS.get(remote.status, Subscription.State.CONTACT),
        source=Source.MAILCHIMP, mailchimp_email=remote.email,
        mailchimp_unique_id=remote.unique_id, mailchimp_status=remote.status,
        mailchimp_last_changed=remote.last_changed, mailchimp_changed_by=origin,
        sent_interests=sorted(known),
        sent_merge_fields={"FNAME": remote.first_name, "LNAME": remote.last_name},
        wanted_version=1, sent_version=1,
    )
    action = {"subscribed": Action.OPT_IN, "pending": Action.OPT_IN,
              "unsubscribed": Action.OPT_OUT, "archived": Action.OPT_OUT,
              consent.CLEANED: Action.CLEANED}.get(remote.status, Action.CONTACT)
    wording = WORDING.get(remote.status, "A contact in Mailchimp (not subscribed)")
    event = _status_event(subscription, remote, action=action, wording=wording, origin=origin)
    page.created.append((subscription, {interest_pks[i] for i in known}))
    page.events.append((subscription, event, True))
    if remote.status == consent.CLEANED:
        page.bounced.append(remote.email)


def _users_by_email(emails) -> dict[str, object]:
    emails = {e for e in emails if e}
    if not emails:
        return {}
    users = get_user_model().objects.annotate(lower_email=Lower("email")).filter(
        lower_email__in=emails).order_by("pk")
    found: dict[str, object] = {}
    for user in users:
        found.setdefault(user.lower_email, user)
    return found


@transaction.atomic
def apply_members(audience: Audience, remotes: list[Remote], *, origin: str,
                  create_missing: bool, dry_run: bool = False,
                  previous: dict[str, str] | None = None) -> Drift:
    """Apply one page of Mailchimp's members to the audience's subscriptions (see the module
    docstring for the rules); `create_missing`: members the store lacks become subscriptions;
    `previous`: an address Mailchimp changed, new → old (an upemail event). `dry_run`: report
    only, write nothing."""
    drift = Drift()
    previous = previous or {}
    remotes = [r for r in remotes if r.email]
    emails = {r.email for r in remotes} | set(previous.values())
    unique_ids = {r.unique_id for r in remotes if r.unique_id}
    rows = list(
        Subscription.objects.select_for_update(of=("self",)).select_related("consent")
        .filter(audience=audience)
        .filter(Q(email__in=emails) | Q(mailchimp_unique_id__in=unique_ids))
    )
    by_email = {s.email: s for s in rows}
    by_unique = {s.mailchimp_unique_id: s for s in rows if s.mailchimp_unique_id}
    interest_pks = dict(Interest.objects.filter(audience=audience)
                        .values_list("mailchimp_id", "pk"))
    users = _users_by_email(emails)
    page = _Page()
    seen: set[int] = set()
    for remote in remotes:
        # Mailchimp's id of the member first: after an address change there, the store's
        # subscription is found by it (or by the old address), not by the new one's.
        subscription = by_unique.get(remote.unique_id) or \
            by_email.get(previous.get(remote.email, "")) or by_email.get(remote.email)
        if subscription is None:
            if remote.gone:
                drift.outcomes[remote.email] = "no change: neither the store nor Mailchimp " \
                    "has this member"
                continue
            if not create_missing or remote.status == "archived":
                drift.note("not_in_store", remote.email)
                drift.outcomes[remote.email] = "not in the store (import Mailchimp's members " \
                    "to add it)"
                continue
            drift.note("new", remote.email)
            drift.outcomes[remote.email] = "applied: added from Mailchimp"
            _new_subscription(audience, remote, origin=origin, page=page,
                              interest_pks=interest_pks, users=users)
        elif subscription.pk in seen:
            continue
        elif subscription.claim_token:
            drift.note("deferred", remote.email)
            drift.outcomes[remote.email] = "deferred: a push of this subscription is in flight"
            if remote.last_changed is not None:
                drift.oldest_deferred = min(filter(None, [drift.oldest_deferred,
                                                          remote.last_changed]))
            continue
        elif (remote.last_changed is not None and subscription.mailchimp_last_changed
              is not None and remote.last_changed < subscription.mailchimp_last_changed):
            drift.note("stale", remote.email)
            drift.outcomes[remote.email] = "no change: the store holds a newer state"
            continue
        else:
            seen.add(subscription.pk)
            _apply_one(subscription, remote, origin=origin, page=page,
                       interest_pks=interest_pks, others=by_email, users=users, drift=drift)
        if remote.last_changed is not None:
            drift.newest = max(filter(None, [drift.newest, remote.last_changed]))
    if dry_run:
        transaction.set_rollback(True)
        return drift
    _write(audience, page)
    return drift


def _write(audience: Audience, page: _Page) -> None:
    """The page's writes: a constant number of queries, whatever its size."""
    if page.created:
        Subscription.objects.bulk_create([s for s, _ in page.created])
    for subscription, event, _ in page.events:
        event.subscription = subscription  # a new subscription has its pk only now
    events = ConsentEvent.objects.bulk_create([event for _, event, _ in page.events])
    for (subscription, _event, latest), saved in zip(page.events, events, strict=True):
        if latest:
            subscription.consent_id = subscription.sent_consent_id = saved.pk
            subscription.opted_in = saved.action in (Action.OPT_IN, Action.CONFIRMED)
            page.changed.setdefault(subscription.pk, subscription)
    for subscription, interest_ids in page.created:
        page.interests[subscription.pk] = interest_ids
    if page.changed:
        bulk_update(Subscription, page.changed.values(), [
            "email", "mailchimp_email", "mailchimp_status", "mailchimp_unique_id",
            "mailchimp_last_changed", "mailchimp_changed_by", "mailchimp_notice", "state",
            "sent_interests", "sent_merge_fields", "first_name", "last_name", "consent",
            "sent_consent", "opted_in", "updated_at",
        ])
    if page.interests:
        through = Subscription.interests.through
        through.objects.filter(subscription_id__in=list(page.interests)).delete()
        through.objects.bulk_create([
            through(subscription_id=pk, interest_id=i)
            for pk, ids in page.interests.items() for i in sorted(ids)
        ])
    if page.bounced:
        consent.bounced_record(audience_id=audience.pk, emails=page.bounced)


# --- Reconciliation and import -------------------------------------------------------------

def watermark_of(audience: Audience) -> datetime | None:
    """The newest change the last finished reconciliation or import applied."""
    return (MemberSyncRun.objects.filter(audience=audience, state=MemberSyncRun.State.SUCCEEDED,
                                         dry_run=False, watermark__isnull=False)
            .order_by("-watermark").values_list("watermark", flat=True).first())


def run_create(*, audience: Audience, kind: str, full: bool = False,
               dry_run: bool = False) -> MemberSyncRun:
    return MemberSyncRun.objects.create(audience=audience, kind=kind, full=full,
                                        dry_run=dry_run)


def run_execute(*, run: MemberSyncRun, client: MailchimpClient, progress=None) -> MemberSyncRun:
    """Read the members (changed since the watermark, or all) page by page, apply each page,
    and record the drift; a Mailchimp error fails the run with the reason, keeping what the
    pages before it applied."""
    audience = run.audience
    importing = run.kind == MemberSyncRun.Kind.IMPORT
    since_at = None if (run.full or importing) else watermark_of(audience)
    since = mailchimp_time(since_at - OVERLAP) if since_at else ""
    # Members the store lacks are added by an import, and by a reconciliation once it reads
    # only what changed since the last one (a Mailchimp-side signup a webhook missed).
    create_missing = importing or bool(since)
    run.state = MemberSyncRun.State.RUNNING
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["state", "heartbeat_at"])
    drift = Drift()
    offset = 0
    try:
        while True:
            page = client.members_changed_page(audience.mailchimp_id, since=since,
                                               offset=offset, count=PAGE_SIZE)
            run.api_calls += 1
            run.progress_total = page.total_items
            drift.merge(apply_members(
                audience, [Remote.of(m) for m in page.items], create_missing=create_missing,
                origin="import" if importing else "reconciliation", dry_run=run.dry_run,
            ))
            offset += len(page.items)
            run.progress_done = min(offset, page.total_items)
            MemberSyncRun.objects.filter(pk=run.pk).update(
                progress_done=run.progress_done, progress_total=run.progress_total,
                heartbeat_at=timezone.now())
            if progress is not None:
                progress(run.progress_done, run.progress_total)
            if not page.items or offset >= page.total_items:
                break
    except MailchimpError as error:
        run.state = MemberSyncRun.State.FAILED
        run.error = f"{error.title}: {error.detail}" if error.detail else error.title
    except Exception as error:  # the time limit, the database: failed with it, not "running"
        run.state = MemberSyncRun.State.FAILED
        run.error = (f"It stopped on an unexpected error ({type(error).__name__}: {error}); "
                     "what the pages before it applied is kept.")
        try:
            _run_finish(run, drift, since_at)
        except Exception:  # the database itself: the watchdog fails it later
            logger.exception("could not record the failure of member sync run %s", run.pk)
        raise
    else:
        run.state = MemberSyncRun.State.SUCCEEDED
    _run_finish(run, drift, since_at)
    return run


def _run_finish(run: MemberSyncRun, drift: Drift, since_at: datetime | None) -> None:
    """Record the run's end: the drift it found and, if it succeeded, the watermark the next
    reconciliation reads from."""
    run.counts = dict(drift.counts)
    run.examples = drift.examples
    newest = drift.newest or since_at
    if drift.oldest_deferred is not None:
        newest = min(filter(None, [newest, drift.oldest_deferred]))
    run.watermark = newest if run.state == MemberSyncRun.State.SUCCEEDED else None
    run.finished_at = timezone.now()
    run.save()


def runs_abandoned_fail(*, now: datetime | None = None) -> int:
    """Fail the runs whose worker died under them (killed, restarted, out of memory): running,
    with no sign of life for MAILCHIMP_MEMBER_RUN_STALE_MINUTES. Otherwise they would stay
    "running" forever, and the buttons, which queue nothing while a run is unfinished, would
    do nothing. Returns how many."""
    from django.conf import settings

    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.MAILCHIMP_MEMBER_RUN_STALE_MINUTES)
    failed = MemberSyncRun.objects.filter(state=MemberSyncRun.State.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, queued_at__lt=stale),
    ).update(
        state=MemberSyncRun.State.FAILED, finished_at=now, watermark=None,
        error="The worker stopped while this ran (it was killed or restarted); what it "
              "applied before is kept. Run it again.",
    )
    if failed:
        logger.warning("%d member sync run(s) failed: their worker stopped", failed)
    return failed


def audiences_to_reconcile() -> list[Audience]:
    """Audiences Mailchimp still has that the store offers or holds subscriptions of."""
    return list(Audience.objects.filter(removed_at__isnull=True).filter(
        Q(active=True) | Q(subscriptions__isnull=False)).distinct().order_by("name", "pk"))


# --- Webhook events ------------------------------------------------------------------------

APPLY_QUEUED_KEY = "subscriptions:webhooks-apply-queued"
# Up to this many members an event batch reads one by one (a GET each); more, one list read.
READ_ONE_BY_ONE = 20


def _event_address(event) -> tuple[str, str]:
    """(the address to read, the address it had before: upemail only)."""
    data = event.data or {}
    if event.type == "upemail":
        return (str(data.get("new_email") or "").strip().lower(),
                str(data.get("old_email") or "").strip().lower())
    return str(data.get("email") or "").strip().lower(), ""


def _read(client: MailchimpClient, audience: Audience, addresses: dict[str, str],
          since: datetime) -> list[Remote]:
    """Each address as Mailchimp holds it now: a GET each, or for many one read of what
    changed since `since` (then a GET for any it did not list: archived, or deleted)."""
    found: dict[str, Remote] = {}
    if len(addresses) > READ_ONE_BY_ONE:
        offset = 0
        while True:
            page = client.members_changed_page(audience.mailchimp_id,
                                               since=mailchimp_time(since - OVERLAP), offset=offset)
            for member in page.items:
                remote = Remote.of(member)
                if remote.email in addresses:
                    found[remote.email] = remote
            offset += len(page.items)
            if not page.items or offset >= page.total_items:
                break
    for address in addresses:
        if address in found:
            continue
        member = client.member_get(audience.mailchimp_id, address)
        found[address] = Remote.of(member) if member is not None else \
            Remote(email=address, status="", gone=True)
    return list(found.values())


def events_apply(*, client: MailchimpClient, limit: int = 1000) -> dict:
    """Apply the webhook events not applied yet: each is a hint, the member is read again
    (once for all the events about it) and applied by the rules above. Events of members
    whose push is in flight stay for the next run. Returns counts."""
    from mailchimp_integration.models import WebhookEvent

    stats = Counter()
    skip: set[int] = set()
    while True:
        with transaction.atomic():
            events = list(
                WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(applied_at__isnull=True).exclude(pk__in=skip)
                .select_related("endpoint__audience").order_by("pk")[:limit]
            )
            if not events:
                return dict(stats)
            now = timezone.now()
            by_audience: dict[int, list] = {}
            for event in events:
                by_audience.setdefault(event.endpoint.audience_id, []).append(event)
            for group in by_audience.values():
                _apply_group(client, group, now=now, stats=stats, skip=skip)
            webhooks.endpoints_heard_from(events)


def _apply_group(client: MailchimpClient, events: list, *, now: datetime, stats: Counter,
                 skip: set[int]) -> None:
    from mailchimp_integration.models import WebhookEvent

    audience = events[0].endpoint.audience
    addresses: dict[str, str] = {}
    for event in events:
        if event.type in ("subscribe", "unsubscribe", "profile", "cleaned", "upemail"):
            address, before = _event_address(event)
            if address:
                addresses.setdefault(address, before)
    drift = Drift()
    if addresses and audience.removed_at is None:
        since = min(e.received_at for e in events)
        remotes = _read(client, audience, addresses, since)
        drift = apply_members(audience, remotes, origin="webhook", create_missing=True,
                              previous={a: b for a, b in addresses.items() if b})
    for event in events:
        address, _ = _event_address(event)
        if event.type == "campaign":
            event.outcome = "A campaign event: kept, not acted on."
        elif audience.removed_at is not None:
            event.outcome = "Not applied: the list was deleted in Mailchimp."
        elif not address:
            event.outcome = "Not applied: the event names no address."
        else:
            event.outcome = drift.outcomes.get(address, "no change")
        if event.outcome.startswith("deferred"):
            skip.add(event.pk)
            stats["deferred"] += 1
            continue
        event.applied_at = now
        stats["applied"] += 1
    # One UPDATE per distinct outcome (there are a handful): events are written by the
    # thousand in a burst.
    by_outcome: dict[tuple, list[int]] = {}
    for event in events:
        by_outcome.setdefault((event.outcome, event.applied_at), []).append(event.pk)
    for (outcome, applied_at), pks in by_outcome.items():
        WebhookEvent.objects.filter(pk__in=pks).update(outcome=outcome, applied_at=applied_at)


def events_enqueue() -> None:
    """A webhook event arrived: queue the task that applies events (at most one waiting).

    The task clears the mark before it reads, so an event stored after that queues another."""
    from django.core.cache import cache

    from . import tasks

    if cache.add(APPLY_QUEUED_KEY, 1, timeout=60):
        try:
            tasks.webhooks_apply.delay()
        except Exception:  # the broker is down: the sweeper applies them later
            cache.delete(APPLY_QUEUED_KEY)
            logger.warning("could not queue the webhook events; the sweeper will",
                           exc_info=True)


def events_burst_wait(*, now: datetime | None = None) -> float:
    """Seconds to wait before applying, or 0. While events pour in (a burst: at least
    MAILCHIMP_WEBHOOK_BURST_EVENTS stored in the last second) the web answers them first and
    the worker applies the burst in one go once it settles, with one read of the members
    changed, but never holds an event longer than MAILCHIMP_WEBHOOK_BURST_MAX_WAIT seconds."""
    from django.conf import settings
    from django.db.models import Count, Min

    from mailchimp_integration.models import WebhookEvent

    burst = int(getattr(settings, "MAILCHIMP_WEBHOOK_BURST_EVENTS", 20))
    longest = float(getattr(settings, "MAILCHIMP_WEBHOOK_BURST_MAX_WAIT", 5))
    if burst <= 0 or longest <= 0:
        return 0.0
    now = now or timezone.now()
    pending = WebhookEvent.objects.filter(applied_at__isnull=True).aggregate(
        oldest=Min("received_at"),
        recent=Count("pk", filter=Q(received_at__gte=now - timedelta(seconds=1))),
    )
    if pending["oldest"] is None or pending["recent"] < burst:
        return 0.0
    left = longest - (now - pending["oldest"]).total_seconds()
    return max(0.0, min(1.0, left))


def events_enqueue_later(*, countdown: float) -> None:
    """Apply after `countdown` seconds (a burst settling); the mark stays, so the events
    arriving meanwhile queue no more tasks."""
    from django.core.cache import cache

    from . import tasks

    cache.set(APPLY_QUEUED_KEY, 1, timeout=60 + countdown)
    try:
        tasks.webhooks_apply.apply_async(countdown=countdown)
    except Exception:  # the broker is down: the sweeper applies them later
        cache.delete(APPLY_QUEUED_KEY)
        logger.warning("could not queue the webhook events; the sweeper will", exc_info=True)


def events_pending() -> int:
    from mailchimp_integration.models import WebhookEvent

    return WebhookEvent.objects.filter(applied_at__isnull=True).count()


def events_apply_now() -> int:
    """The task's work: apply what is pending; returns how many were deferred."""
    from django.core.cache import cache

    from mailchimp_integration.exceptions import MailchimpNotConfigured
    from mailchimp_integration.services import mailchimp_client_build

    cache.delete(APPLY_QUEUED_KEY)  # from here on, a new event queues a new task
    try:
        client = mailchimp_client_build()
    except MailchimpNotConfigured:
        logger.warning("webhook events wait: Mailchimp is not connected")
        return 0
    return events_apply(client=client).get("deferred", 0)


def runs_execute(*, run_id: int | None) -> list[MemberSyncRun]:
    """Run one queued run, or (run_id None: the schedule) reconcile every audience in use."""
    from mailchimp_integration.exceptions import MailchimpNotConfigured
    from mailchimp_integration.services import mailchimp_client_build

    if run_id is None:
        runs = [run_create(audience=a, kind=MemberSyncRun.Kind.RECONCILE)
                for a in audiences_to_reconcile()]
    else:
        runs = list(MemberSyncRun.objects.filter(pk=run_id, state=MemberSyncRun.State.QUEUED)
                    .select_related("audience"))
    try:
        client = mailchimp_client_build()
    except MailchimpNotConfigured as error:
        MemberSyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(
            state=MemberSyncRun.State.FAILED, error=error.reason, finished_at=timezone.now())
        return runs
    return [run_execute(run=run, client=client) for run in runs]


def run_enqueue(*, audience: Audience, kind: str, full: bool = False) -> MemberSyncRun:
    """Queue a run for a worker (the admin's buttons): it shows its progress as it goes."""
    from . import tasks

    run = run_create(audience=audience, kind=kind, full=full)

    def send() -> None:
        try:
            tasks.members_reconcile.delay(run.pk)
        except Exception:
            MemberSyncRun.objects.filter(pk=run.pk).update(
                state=MemberSyncRun.State.FAILED, finished_at=timezone.now(),
                error="The task queue could not be reached; try again in a moment.")

    transaction.on_commit(send)
    return run


def runs_enqueue(*, audiences: list[Audience], kind: str) -> list[MemberSyncRun]:
    """A run of `kind` queued for each audience, or the one already waiting or running
    there (the admin's "Reconcile now" and "Import members" pressed twice queue no more)."""
    from .selectors import member_sync_runs_unfinished

    runs_abandoned_fail()
    unfinished = member_sync_runs_unfinished(audience_ids=[a.pk for a in audiences], kind=kind)
    return [unfinished.get(audience.pk) or run_enqueue(audience=audience, kind=kind)
            for audience in audiences]
