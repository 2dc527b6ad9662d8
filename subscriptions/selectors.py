"""Reads: the newsletter settings, what customers may choose, a customer's subscriptions, and
the reads of members from Mailchimp (reconciliations, imports) for the admin."""
from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from mailchimp_integration.models import Audience, Interest
from mailchimp_integration.selectors import audiences_for_forms

from .models import MemberSyncRun, NewsSettings, Subscription

CHECKBOX_TEXT = "Subscribe to our news list and be in touch with our latest offers"
# What a customer reads beside a list (never Mailchimp's or our own internal words).
PENDING_NOTE = (
    "Waiting for your confirmation: please check your inbox for our email and click the link"
    " in it."
)
LEFT_IN_MAILCHIMP_NOTES = {
    "unsubscribed": "You left this list on {date}.",
    "archived": "You were taken off this list on {date}.",
    "cleaned": "Our emails to this address could not be delivered, so we stopped sending them"
               " on {date}.",
}
NOT_OFFERED_NOTE = (
    "This list is no longer open to new subscribers. You can still leave it; once you do, it"
    " will no longer show here."
)


def footer_consent_text() -> str:
    return f"Sign up for {settings.STORE_NAME} news"


# The entry points whose wording and lists the newsletter settings can set.
ENTRY_POINTS = ("footer", "registration", "checkout")


def consent_wording(source: str, settings_row: NewsSettings | None = None) -> str:
    """The exact words a customer agrees to at this entry point (recorded with the consent)."""
    row = settings_row or news_settings_get()
    custom = (getattr(row, f"{source}_wording", "") or "").strip() \
        if source in ENTRY_POINTS else ""
    if custom:
        return custom
    return footer_consent_text() if source == "footer" else CHECKBOX_TEXT


def entry_point_audience_ids(source: str) -> list[int] | None:
    """The lists the settings chose for this entry point, or None: the store's defaults."""
    if source not in ENTRY_POINTS:
        return None
    through = getattr(NewsSettings, f"{source}_lists").through
    ids = list(
        through.objects.filter(newssettings_id=NewsSettings.SINGLETON_ID)
        .values_list("audience_id", flat=True)
    )
    return ids or None


def news_settings_get() -> NewsSettings:
    """The singleton row, or an unsaved one with the defaults when none was saved."""
    row = NewsSettings.objects.filter(pk=NewsSettings.SINGLETON_ID).first()
    return row or NewsSettings(pk=NewsSettings.SINGLETON_ID)


def pushes_paused() -> bool:
    """SUBSCRIPTIONS_PUSHES_PAUSED (a staging copy's environment) or the admin's setting."""
    if getattr(settings, "SUBSCRIPTIONS_PUSHES_PAUSED", False):
        return True
    return NewsSettings.objects.filter(
        pk=NewsSettings.SINGLETON_ID, pushes_paused=True
    ).exists()


def offered_audiences() -> QuerySet[Audience]:
    """Active audiences, each with its active groups prefetched as `interests`."""
    return audiences_for_forms()


def default_audience_ids(*, source: str | None = None) -> list[int]:
    """The offered lists one tick (or the footer's signup) at `source` subscribes to: those
    the settings chose for it, else those marked "subscribe by default"."""
    offered = Audience.objects.filter(active=True, removed_at__isnull=True)
    chosen = entry_point_audience_ids(source) if source else None
    if chosen is not None:
        offered = offered.filter(pk__in=chosen)
    else:
        offered = offered.filter(subscribe_by_default=True)
    return list(offered.order_by("pk").values_list("pk", flat=True))


def audiences_with_permissions(audience_ids) -> list[Audience]:
    """Those of the audiences whose GDPR marketing permissions the store knows."""
    return [
        audience for audience in Audience.objects.filter(
            pk__in=list(audience_ids), gdpr_enabled=True).order_by("name", "pk")
        if audience.marketing_permissions
    ]


def default_interest_ids(*, audience_ids: list[int]) -> list[int]:
    return list(
        Interest.objects.filter(
            audience_id__in=audience_ids,
            active=True,
            removed_at__isnull=True,
            subscribe_by_default=True,
        ).values_list("pk", flat=True)
    )


def customer_subscriptions_shown(*, user) -> list[Subscription]:
    """The lists a customer is on, as their account page lists them: none that is gone."""
    return [s for s in subscriptions_for_user(user=user) if subscription_can_be_left(s)]


def subscription_can_be_left(subscription: Subscription) -> bool:
    """On the list as far as the customer is concerned, and the list still exists (one
    deleted in Mailchimp is gone for the customer, and shown to staff only)."""
    return subscription.opted_in and subscription.audience.removed_at is None


def confirmation_needed(*, subscriptions) -> bool:
    """Whether Mailchimp emails the person a link to confirm: with double opt-in, anyone not
    subscribed yet; without it, someone who had unsubscribed (only they can come back)."""
    double_opt_in = news_settings_get().double_opt_in
    for subscription in subscriptions:
        status = subscription.mailchimp_status
        if not subscription_can_be_left(subscription) or status == "subscribed":
            continue
        if double_opt_in or status in ("unsubscribed", "pending"):
            return True
    return False


def subscriptions_for_email(*, email: str) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(email=email.strip().lower())
        .select_related("audience")
        .prefetch_related(Prefetch("interests", queryset=Interest.objects.order_by("pk")))
    )


def left_in_mailchimp_note(subscription: Subscription) -> str:
    """For a customer's own page: that they left (or bounced) on Mailchimp's side, and when;
    "" if the store made the change itself (the customer's own untick needs no note)."""
    from django.utils import formats, timezone

    template = LEFT_IN_MAILCHIMP_NOTES.get(subscription.mailchimp_status)
    if (template is None or subscription.mailchimp_changed_by in ("", "store")
            or subscription.mailchimp_last_changed is None):
        return ""
    when = timezone.localtime(subscription.mailchimp_last_changed)
    return template.format(date=formats.date_format(when, "DATE_FORMAT"))


def subscriptions_for_user(*, user) -> QuerySet[Subscription]:
    """A customer's subscriptions: linked to the account, or to its email address."""
    from django.db.models import Q

    return (
        Subscription.objects.filter(Q(user=user) | Q(email=user.email.strip().lower()))
        .select_related("audience", "consent")
        .prefetch_related(Prefetch("interests", queryset=Interest.objects.order_by("pk")))
        .order_by("audience__name", "audience_id")
    )


def member_sync_runs_latest(*, audience_ids, kind: str,
                            finished: bool = False) -> dict[int, MemberSyncRun]:
    """Each audience's newest run of this kind (only those that ended, if `finished`), by
    audience id: one query, however many."""
    of_kind = MemberSyncRun.objects.filter(kind=kind)
    if finished:
        of_kind = of_kind.filter(state__in=MemberSyncRun.FINISHED_STATES)
    newest = (of_kind.filter(audience_id=OuterRef("audience_id"))
              .order_by("-queued_at", "-id").values("pk")[:1])
    runs = of_kind.filter(audience_id__in=list(audience_ids), pk=Subquery(newest))
    return {run.audience_id: run for run in runs}


def member_sync_runs_unfinished(*, audience_ids, kind: str) -> dict[int, MemberSyncRun]:
    """Runs of this kind waiting for or in a worker, by audience id (a button pressed twice
    queues nothing more)."""
    runs = (MemberSyncRun.objects.filter(audience_id__in=list(audience_ids), kind=kind)
            .exclude(state__in=MemberSyncRun.FINISHED_STATES).select_related("audience"))
    return {run.audience_id: run for run in runs}


def member_sync_runs_get(*, run_ids) -> list[MemberSyncRun]:
    return list(MemberSyncRun.objects.filter(pk__in=list(run_ids)).select_related("audience")
                .order_by("pk"))


def audiences_for_members_import(*, audience_id: int | None = None) -> list[Audience]:
    """The audience asked for (if Mailchimp still has it), or every one the store offers."""
    audiences = Audience.objects.filter(removed_at__isnull=True)
    if audience_id is not None:
        return list(audiences.filter(pk=audience_id))
    return list(audiences.filter(active=True).order_by("name", "pk"))
