"""What customers and staff do to subscriptions: opt in, opt out, choose lists, change email.

Each change writes the subscription, its consent record when it carries one, and a new wanted
version in one transaction; the delivery engine (`delivery.py`) sends it once it commits.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Case, Q, When
from django.utils import timezone

from mailchimp_integration.models import Audience, Interest
from shop.db import bulk_update

from . import consent, delivery, selectors
from .models import ConsentEvent, NewsSettings, Source, Subscription

Action = ConsentEvent.Action
Actor = ConsentEvent.Actor

BULK_WORDING_SUBSCRIBED = "Added by a store admin: they agreed to receive our news elsewhere"
BULK_WORDING_CONTACT = "Added by a store admin as a contact, not subscribed to news"


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
    *, double_opt_in: bool, pushes_paused: bool, customers_choose_lists: bool,
    wording: dict[str, str] | None = None, lists: dict[str, Iterable[int]] | None = None,
) -> NewsSettings:
    """Save the settings. Turning double opt-in on or off changes no consent already given:
    each consent keeps the setting in force when it was given.

    `wording` and `lists` (by entry point: footer, registration, checkout) set what each
    entry point's customers agree to and which lists its tick means; omitted: unchanged."""
    row, _ = NewsSettings.objects.select_for_update().get_or_create(pk=NewsSettings.SINGLETON_ID)
    was_paused = row.pushes_paused
    row.double_opt_in = double_opt_in
    row.pushes_paused = pushes_paused
    row.customers_choose_lists = customers_choose_lists
    for entry_point, text in (wording or {}).items():
        if entry_point not in selectors.ENTRY_POINTS:
            raise ValueError(f"Unknown entry point {entry_point!r}")
        setattr(row, f"{entry_point}_wording", (text or "").strip())
    row.save()
    for entry_point, audience_ids in (lists or {}).items():
        if entry_point not in selectors.ENTRY_POINTS:
            raise ValueError(f"Unknown entry point {entry_point!r}")
        getattr(row, f"{entry_point}_lists").set(list(audience_ids))
    if was_paused and not pushes_paused:
        # Lifting the pause sends what waited now rather than at the next sweep.
        from . import tasks

        transaction.on_commit(tasks.push_sweep.delay, robust=True)
    return row


# --- The person's consent ------------------------------------------------------------------------

def _actor_for(*, source: str, user, email: str) -> tuple[str, object]:
    if source in (Source.ADMIN, Source.ADMIN_BULK):
        return Actor.STAFF, None
    if user is not None and (user.email or "").strip().lower() == email:
        return Actor.PERSON, user
    return Actor.ANONYMOUS, None


def _offered_interest_ids(interest_ids: Iterable[int], audience_id: int) -> set[int]:
    return set(
        Interest.objects.filter(
            pk__in=list(interest_ids), audience_id=audience_id, active=True,
            removed_at__isnull=True,
        ).values_list("pk", flat=True)
    )


def _names_apply(subscription: Subscription, *, first_name: str, last_name: str,
                 fill_only: bool) -> bool:
    """The customer's own names replace; a checkout's (maybe a gift's) only fill empty ones."""
    changed = False
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        current = getattr(subscription, name)
        if value and current != value and (not fill_only or not current):
            setattr(subscription, name, value)
            changed = True
    return changed


@dataclass
class SubscribeResult:
    subscriptions: list[Subscription] = field(default_factory=list)
    changed: int = 0
    # Opted out before: a confirmation email from Mailchimp decides (no change until then).
    needs_confirmation: int = 0


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
    permissions: dict[int, list[dict]] | None = None,
) -> SubscribeResult:
    """The person opts `email` in to audiences (active ones only), adding groups; never removes.

    `use_defaults` takes the entry point's (`source`) lists and the default groups. Someone
    already in gets no new consent record; a repeated signup with nothing new changes nothing.
    `permissions` (audience id -> GDPR marketing permissions as shown, ticked or not) are
    recorded with the consent; ticked ones are granted, unticked ones change nothing. Someone
    already in grants more only themselves (an anonymous signup never changes theirs).
    """
    email = email_normalize(email)
    if use_defaults:
        audience_ids = selectors.default_audience_ids(source=source)
        interest_ids = selectors.default_interest_ids(audience_ids=audience_ids)
    audiences = list(
        Audience.objects.filter(
            pk__in=list(audience_ids or []), active=True, removed_at__isnull=True
        ).order_by("pk")
    )
    interest_ids = list(interest_ids)
    actor, actor_user = _actor_for(source=source, user=user, email=email)
    if actor == Actor.PERSON:
        first_name = first_name or getattr(user, "first_name", "") or ""
        last_name = last_name or getattr(user, "last_name", "") or ""
    double_opt_in = selectors.news_settings_get().double_opt_in
    result = SubscribeResult()
    changed_ids = []
    for audience in audiences:
        subscription, created = Subscription.objects.select_for_update().get_or_create(
            email=email, audience=audience,
            defaults={"source": source, "user": user if actor == Actor.PERSON else None},
        )
        wanted = _offered_interest_ids(interest_ids, audience.pk)
        current = set(subscription.interests.values_list("pk", flat=True))
        shown = consent.permissions_known(audience, (permissions or {}).get(audience.pk))
        granted = {p["id"]: True for p in shown if p["enabled"]}
        dirty = False
        if actor == Actor.PERSON and subscription.user_id is None:
            subscription.user = user
        if created or not subscription.opted_in or subscription.consent_id is None:
            event = consent.event_record(
                subscription=subscription, action=Action.OPT_IN, actor=actor, source=source,
                double_opt_in=double_opt_in, ip=ip, wording=consent_text, user=actor_user,
                marketing_permissions=shown,
            )
            subscription.source = source
            result.needs_confirmation += int(event.needs_confirmation)
            dirty = True
        elif actor == Actor.PERSON and any(
            not (subscription.marketing_permissions or {}).get(pid) for pid in granted
        ):
            consent.permissions_record(
                subscription=subscription, actor=actor, source=source,
                double_opt_in=double_opt_in, shown=shown, ip=ip, wording=consent_text,
                user=actor_user,
            )
            dirty = True
        else:
            granted = {}
        if granted:
            subscription.marketing_permissions = {
                **(subscription.marketing_permissions or {}), **granted}
        if wanted - current:
            subscription.interests.add(*(wanted - current))
            dirty = True
        # A stranger's names never replace the person's; a checkout's only fill empty ones.
        if actor != Actor.ANONYMOUS or created:
            dirty |= _names_apply(subscription, first_name=first_name, last_name=last_name,
                                  fill_only=source == Source.CHECKOUT or actor != Actor.PERSON)
        if subscription.failed_permanently and not dirty:
            dirty = True  # the person asks again: try again
        if dirty:
            delivery.mark_changed(subscription)
            changed_ids.append(subscription.pk)
            result.changed += 1
        subscription.save()
        result.subscriptions.append(subscription)
    delivery.enqueue_on_commit(changed_ids)
    return result


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
        email=email, audience_ids=choice.audience_ids, interest_ids=choice.interest_ids,
        use_defaults=choice.use_defaults, source=source, ip=ip,
        consent_text=choice.consent_text, user=user, first_name=first_name,
        last_name=last_name, permissions=choice.permissions,
    )


def _opt_out(subscription: Subscription, *, source: str, ip: str | None, user,
             actor: str) -> None:
    consent.event_record(
        subscription=subscription, action=Action.OPT_OUT, actor=actor, source=source,
        double_opt_in=selectors.news_settings_get().double_opt_in, ip=ip, user=user,
    )
    delivery.mark_changed(subscription)
    subscription.save()


@transaction.atomic
def subscription_unsubscribe(
    *, subscription_id: int, source: str, ip: str | None = None, user=None
) -> Subscription:
    """Opt out: a PATCH to `unsubscribed` follows (never a DELETE), whatever the list's offer."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    if not subscription.opted_in:
        return subscription
    actor = Actor.STAFF if source == Source.ADMIN else Actor.PERSON
    _opt_out(subscription, source=source, ip=ip, user=user, actor=actor)
    delivery.enqueue_on_commit([subscription.pk])
    return subscription


@transaction.atomic
def subscription_set_for_customer(
    *,
    user,
    choices: dict[int, Iterable[int]],
    source: str,
    ip: str | None = None,
    consent_text: str = "",
    lists: Iterable[int] | None = None,
    permissions: dict[int, list[dict]] | None = None,
) -> int:
    """The account page (the person) and the admin tab (staff, on the person's request):
    exactly these audiences (id -> group ids), deciding only on `lists` (the lists the page
    showed; None: every list).

    Joining needs the store's offer; leaving is always allowed: a list the customer is on and
    that is not in `choices` is left, offered or not. Groups the store offers are replaced;
    others (chosen in Mailchimp) are kept. `permissions` (audience id -> GDPR marketing
    permissions as shown and ticked): joining grants the ticked ones; on a list already held
    the page showed the current ones, so a box ticked or unticked there changes that one.
    Returns how many subscriptions changed.
    """
    email = email_normalize(user.email)
    offered = set(
        Audience.objects.filter(active=True, removed_at__isnull=True).values_list("pk", flat=True)
    )
    # Their subscriptions by address; and, where the person changed their address in
    # Mailchimp (the store followed them there), the one linked to their account.
    existing = {
        s.audience_id: s
        for s in Subscription.objects.select_for_update().filter(Q(email=email) | Q(user=user))
        .select_related("audience").order_by(Case(When(email=email, then=1), default=0))
    }
    actor = Actor.STAFF if source == Source.ADMIN else Actor.PERSON
    double_opt_in = selectors.news_settings_get().double_opt_in
    changed_ids = []
    decided = offered | set(existing)
    if lists is not None:
        decided &= set(lists)
    for audience_id in sorted(decided):
        subscription = existing.get(audience_id)
        if subscription is not None and subscription.audience.removed_at is not None:
            continue  # gone from Mailchimp: kept as it is until it comes back
        if audience_id not in choices:
            if subscription is not None and subscription.opted_in:
                _opt_out(subscription, source=source, ip=ip, user=user if actor == Actor.PERSON
                         else None, actor=actor)
                changed_ids.append(subscription.pk)
            continue
        if audience_id not in offered:
            continue  # joining (or changing groups of) a list the store no longer offers
        if subscription is None:
            subscription = Subscription.objects.create(
                email=email, audience_id=audience_id, user=user, source=source,
                first_name=user.first_name or "", last_name=user.last_name or "",
            )
            current: set[int] = set()
        else:
            current = set(subscription.interests.values_list("pk", flat=True))
        wanted = _offered_interest_ids(choices[audience_id], audience_id)
        offered_groups = set(
            Interest.objects.filter(audience_id=audience_id, active=True,
                                    removed_at__isnull=True).values_list("pk", flat=True)
        )
        to_remove = (current & offered_groups) - wanted
        to_add = wanted - current
        dirty = bool(to_remove or to_add)
        shown = consent.permissions_known(subscription.audience,
                                          (permissions or {}).get(audience_id))
        held = subscription.marketing_permissions or {}
        if not subscription.opted_in or subscription.consent_id is None:
            consent.event_record(
                subscription=subscription, action=Action.OPT_IN, actor=actor, source=source,
                double_opt_in=double_opt_in, ip=ip, wording=consent_text,
                user=user if actor == Actor.PERSON else None, marketing_permissions=shown,
            )
            subscription.source = source
            dirty = True
            permission_changes = {p["id"]: True for p in shown if p["enabled"]}
        else:
            permission_changes = {p["id"]: p["enabled"] for p in shown
                                  if bool(held.get(p["id"])) != p["enabled"]}
            if permission_changes:
                consent.permissions_record(
                    subscription=subscription, actor=actor, source=source,
                    double_opt_in=double_opt_in, shown=shown, ip=ip, wording=consent_text,
                    user=user if actor == Actor.PERSON else None,
                )
                dirty = True
        if permission_changes:
            subscription.marketing_permissions = {**held, **permission_changes}
        if subscription.user_id is None:
            subscription.user = user
        if not dirty:
            if subscription.user_id and subscription.pk:
                subscription.save()
            continue
        if to_remove:
            subscription.interests.remove(*to_remove)
        if to_add:
            subscription.interests.add(*to_add)
        delivery.mark_changed(subscription)
        subscription.save()
        changed_ids.append(subscription.pk)
    delivery.enqueue_on_commit(changed_ids)
    return len(changed_ids)


@transaction.atomic
def subscription_customer_renamed(*, user) -> int:
    """The customer's own name changed: send the new names (nothing else) to Mailchimp."""
    changed = []
    for subscription in Subscription.objects.select_for_update().filter(user=user):
        if _names_apply(subscription, first_name=user.first_name or "",
                        last_name=user.last_name or "", fill_only=False):
            delivery.mark_changed(subscription)
            subscription.save()
            changed.append(subscription.pk)
    delivery.enqueue_on_commit(changed)
    return len(changed)


@transaction.atomic
def subscription_email_change(*, user, old_email: str, new_email: str) -> int:
    """Carry a customer's subscriptions over to their new address.

    Mailchimp keeps the member: the next push addresses it by the address it knows
    (`mailchimp_email`) and moves it to the new one. Where the new address already has its
    own subscription to an audience, that one is kept and linked to the customer.
    """
    old_email, new_email = email_normalize(old_email), email_normalize(new_email)
    if old_email == new_email:
        return 0
    taken = set(
        Subscription.objects.filter(email=new_email).values_list("audience_id", flat=True)
    )
    Subscription.objects.filter(email=new_email, user__isnull=True).update(user=user)
    moved = []
    for subscription in Subscription.objects.select_for_update().filter(
        Q(email=old_email) & (Q(user=user) | Q(user__isnull=True))
    ):
        if subscription.audience_id in taken:
            continue
        subscription.email = new_email
        subscription.user = user
        delivery.mark_changed(subscription)
        subscription.save()
        moved.append(subscription.pk)
    delivery.enqueue_on_commit(moved)
    return len(moved)


@dataclass
class BulkAddResult:
    """What the backlog action does (or would do): in all, and per list (`lists`)."""

    name: str = ""
    added: int = 0
    already_in: int = 0
    opted_out: int = 0  # left out: they opted out, only they can come back
    bounced: int = 0  # left out: Mailchimp cleaned the address, it is never sent again
    lists: list[BulkAddResult] = field(default_factory=list)

    def count(self, kind: str, audience: Audience) -> None:
        if not self.lists or self.lists[-1].name != audience.name:
            self.lists.append(BulkAddResult(name=audience.name))
        for target in (self, self.lists[-1]):
            setattr(target, kind, getattr(target, kind) + 1)


def subscriptions_bulk_preview(*, user_ids: Iterable[int], audience_ids: Iterable[int]):
    """What `subscriptions_subscribe_users` would do, for the admin's confirmation page."""
    return _bulk_plan(user_ids=user_ids, audience_ids=audience_ids)[0]


def _bulk_plan(*, user_ids, audience_ids):
    from django.contrib.auth import get_user_model

    audiences = list(
        Audience.objects.filter(pk__in=list(audience_ids), active=True, removed_at__isnull=True)
    )
    users = list(
        get_user_model().objects.filter(pk__in=list(user_ids))
        .values("pk", "email", "first_name", "last_name")
    )
    emails = {(u["email"] or "").strip().lower() for u in users} - {""}
    existing = {
        (s.audience_id, s.email): s
        for s in Subscription.objects.filter(audience__in=audiences, email__in=emails)
    }
    left = dict(
        ConsentEvent.objects.filter(
            subscription__audience__in=audiences, subscription__email__in=emails,
            action__in=[Action.OPT_OUT, Action.CLEANED],
        ).order_by("at").values_list("subscription_id", "action")
    )
    from .models import BouncedAddress

    bounced = set(BouncedAddress.objects.filter(audience__in=audiences, email__in=emails)
                  .values_list("audience_id", "email"))
    result, todo = BulkAddResult(), []
    for audience in audiences:
        seen = set()
        result.lists.append(BulkAddResult(name=audience.name))
        for row in users:
            email = (row["email"] or "").strip().lower()
            if not email or email in seen:
                continue
            seen.add(email)
            subscription = existing.get((audience.pk, email))
            if (audience.pk, email) in bounced or subscription is not None and (
                subscription.mailchimp_status == consent.CLEANED
                or left.get(subscription.pk) == Action.CLEANED
            ):
                result.count("bounced", audience)
            elif subscription is not None and \
                    subscription.mailchimp_status in consent.LOCKED_STATUSES:
                result.count("opted_out", audience)
            elif subscription is not None and subscription.opted_in:
                result.count("already_in", audience)  # came back by their own consent, too
            elif subscription is not None and subscription.pk in left:
                result.count("opted_out", audience)
            elif subscription is not None and subscription.consent_id is not None:
                result.count("already_in", audience)
            else:
                result.count("added", audience)
                todo.append((audience, row, email, subscription))
    return result, todo


@transaction.atomic
def subscriptions_subscribe_users(
    *,
    user_ids: Iterable[int],
    audience_ids: Iterable[int],
    as_contacts: bool = False,
    staff_user=None,
    source: str = Source.ADMIN_BULK,
) -> BulkAddResult:
    """Staff add customers from before the integration: never anyone who opted out, never a
    change to an existing member's status. `as_contacts`: added as non-subscribed contacts
    (`transactional`); otherwise as subscribed, recorded as agreed elsewhere."""
    result, todo = _bulk_plan(user_ids=user_ids, audience_ids=audience_ids)
    double_opt_in = selectors.news_settings_get().double_opt_in
    action = Action.CONTACT if as_contacts else Action.OPT_IN
    wording = BULK_WORDING_CONTACT if as_contacts else BULK_WORDING_SUBSCRIBED
    now = timezone.now()
    # Written in bulk (10,000 customers in a handful of queries): new rows, then one consent
    # record each, then each row pointed at its record with a new wanted version.
    Subscription.objects.bulk_create(
        [Subscription(email=email, audience=audience, user_id=row["pk"],
                      source=Source.ADMIN_BULK, first_name=row["first_name"] or "",
                      last_name=row["last_name"] or "", created_at=now)
         for audience, row, email, subscription in todo if subscription is None],
        batch_size=1000, ignore_conflicts=True,
    )
    keys = {(audience.pk, email) for audience, _, email, _ in todo}
    rows = [
        s for s in Subscription.objects.filter(
            audience_id__in={a for a, _ in keys}, email__in={e for _, e in keys}
        ) if (s.audience_id, s.email) in keys
    ]
    events = ConsentEvent.objects.bulk_create(
        [ConsentEvent(subscription=s, action=action, actor=Actor.STAFF, actor_user=staff_user,
                      source=source, at=now, wording=wording, double_opt_in=double_opt_in)
         for s in rows],
        batch_size=1000,
    )
    for subscription, event in zip(rows, events, strict=True):
        subscription.consent = event
        subscription.opted_in = not as_contacts
        subscription.source = Source.ADMIN_BULK
        delivery.mark_changed(subscription)
    bulk_update(Subscription, rows, [
        "consent", "opted_in", "source", "wanted_version", "failed_permanently",
        "next_attempt_at", "state", "failure_reason",
    ], batch_size=1000)
    if not as_contacts:
        Through = Subscription.interests.through
        links = []
        for audience_id in {s.audience_id for s in rows}:
            groups = selectors.default_interest_ids(audience_ids=[audience_id])
            links += [Through(subscription_id=s.pk, interest_id=g)
                      for s in rows if s.audience_id == audience_id for g in groups]
        Through.objects.bulk_create(links, batch_size=2000, ignore_conflicts=True)
    delivery.enqueue_on_commit([s.pk for s in rows])
    return result
