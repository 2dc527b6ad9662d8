"""Reads: the Mailchimp configuration in force, audiences for the admin and the forms, sync runs,
and the webhooks' health."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, Prefetch, QuerySet
from django.utils import formats, timezone

from . import crypto, webhooks
from .client import base_url_for
from .exceptions import MailchimpNotConfigured
from .models import (
    Audience,
    ConnectedStore,
    ConnectionCheck,
    EcommerceRecord,
    Interest,
    InterestCategory,
    MailchimpConnection,
    StoreBackfill,
    SyncRun,
    WebhookEndpoint,
    WebhookEvent,
    count_of,
)


@dataclass(frozen=True)
class MailchimpConfig:
    """The connection settings in force. `api_key` never leaves the server side."""

    api_key: str
    source: str  # "environment", "admin" or "" (none)
    api_url: str
    problem: str = ""  # why a stored key cannot be used, if it cannot

    @property
    def is_configured(self) -> bool:
        return bool(self.api_key)

    @property
    def masked_key(self) -> str:
        return crypto.mask(self.api_key)

    @property
    def from_environment(self) -> bool:
        return self.source == "environment"

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"MailchimpConfig(source={self.source!r}, key={self.masked_key!r})"


def connection_get() -> MailchimpConnection:
    """The singleton row, or an unsaved blank one when nothing was ever stored."""
    connection = MailchimpConnection.objects.filter(pk=MailchimpConnection.SINGLETON_ID).first()
    return connection or MailchimpConnection(pk=MailchimpConnection.SINGLETON_ID)


def mailchimp_config_get(*, connection: MailchimpConnection | None = None) -> MailchimpConfig:
    """MAILCHIMP_API_KEY from the environment wins; else the key saved (encrypted) in the admin."""
    api_url = getattr(settings, "MAILCHIMP_API_URL", "")
    env_key = getattr(settings, "MAILCHIMP_API_KEY", "")
    if env_key:
        return MailchimpConfig(api_key=env_key, source="environment", api_url=api_url)
    connection = connection or connection_get()
    if not connection.api_key_encrypted:
        return MailchimpConfig(api_key="", source="", api_url=api_url)
    try:
        api_key = crypto.decrypt(connection.api_key_encrypted)
    except crypto.UndecryptableSecret as error:
        return MailchimpConfig(api_key="", source="admin", api_url=api_url, problem=str(error))
    return MailchimpConfig(api_key=api_key, source="admin", api_url=api_url)


def delivery_blocked_reason() -> str | None:
    """Why nothing can be sent to Mailchimp now, in words for the store's admin; None if it can.

    Only what the store can tell by itself (the key is missing, cannot be decrypted, or names
    no data centre): at most one query, never a call to Mailchimp, so the delivery engine may
    ask before every send and the admin on every page.
    """
    config = mailchimp_config_get()
    if config.problem:
        return f"Mailchimp is not connected. {config.problem}"
    if not config.is_configured:
        return (
            "Mailchimp is not connected: no API key is set. Enter it on the Mailchimp "
            "integration page."
        )
    try:
        base_url_for(config.api_key, config.api_url)
    except MailchimpNotConfigured as error:
        return f"Mailchimp is not connected: {error.detail}."
    return None


def audiences_for_admin() -> QuerySet[Audience]:
    """Every audience with its categories and groups, in a fixed number of queries.

    Audiences still in Mailchimp first; removed ones after, saying why.
    """
    interests = Interest.objects.order_by("display_order", "name", "id")
    categories = InterestCategory.objects.order_by("display_order", "name", "id").prefetch_related(
        Prefetch("interests", queryset=interests)
    )
    still_listed_first = F("removed_at").asc(nulls_first=True)
    return Audience.objects.order_by(still_listed_first, "name", "id").prefetch_related(
        Prefetch("categories", queryset=categories)
    )


def audiences_for_forms() -> QuerySet[Audience]:
    """What customers may subscribe to: active audiences and their active groups, none removed."""
    interests = (
        Interest.objects.filter(active=True, removed_at__isnull=True)
        .select_related("category")
        .order_by("category__display_order", "category__name", "display_order", "name")
    )
    return (
        Audience.objects.filter(active=True, removed_at__isnull=True)
        .order_by("name", "id")
        .prefetch_related(Prefetch("interests", queryset=interests))
    )


def sync_run_get(*, run_id: int) -> SyncRun | None:
    return SyncRun.objects.filter(pk=run_id).first()


def sync_run_latest() -> SyncRun | None:
    return SyncRun.objects.order_by("-queued_at", "-id").first()


def sync_run_active() -> SyncRun | None:
    """A run that is queued or running now (the newest), if any."""
    return (
        SyncRun.objects.filter(state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING])
        .order_by("-queued_at", "-id")
        .first()
    )


def _when(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@dataclass(frozen=True)
class ListsImportStatus:
    """What the lists page and the settings page say about the last import of the lists."""

    latest_run: SyncRun | None
    last_success: SyncRun | None
    synced_at: datetime | None  # any import, including one made without a recorded run
    audiences: int
    categories: int
    interests: int

    @property
    def imported(self) -> bool:
        return bool(self.last_success or self.synced_at)

    @property
    def last_import_text(self) -> str:
        """"Last import: <when>, by <trigger>. Synced 3 audiences, …", or that there was none."""
        run = self.last_success
        if run is not None and run.finished_at:
            return (
                f"Last import: {_when(run.finished_at)}, by {run.get_trigger_display()}. "
                f"{run.summary}"
            )
        if self.synced_at:
            return (
                f"Last import: {_when(self.synced_at)}. The store has "
                f"{count_of(self.audiences, 'audience', 'audiences')}, "
                f"{count_of(self.categories, 'category', 'categories')} and "
                f"{count_of(self.interests, 'group', 'groups')} from Mailchimp."
            )
        return "The lists have not been imported yet."

    @property
    def failure_text(self) -> str:
        """The newest import, if it failed after the last good one."""
        run = self.latest_run
        if run is None or run.state != SyncRun.State.FAILED:
            return ""
        return f"The import of {_when(run.queued_at)} failed: {run.error}"


def lists_import_status() -> ListsImportStatus:
    listed = {"removed_at__isnull": True}
    return ListsImportStatus(
        latest_run=sync_run_latest(),
        last_success=SyncRun.objects.filter(state=SyncRun.State.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first(),
        synced_at=connection_get().lists_synced_at,
        audiences=Audience.objects.filter(**listed).count(),
        categories=InterestCategory.objects.filter(**listed).count(),
        interests=Interest.objects.filter(**listed).count(),
    )


def connection_check_get(*, check_id: int) -> ConnectionCheck | None:
    return ConnectionCheck.objects.filter(pk=check_id).first()


def connection_check_latest() -> ConnectionCheck | None:
    return ConnectionCheck.objects.order_by("-requested_at", "-id").first()


# --- The webhooks' health (the settings page) ------------------------------------------------

SITE_URL_MISSING = (
    "Not set. Set SITE_URL in the store's environment to its public address (for example "
    "https://shop.example.com) and restart the store, then press “Re-register webhooks”: "
    "until then Mailchimp cannot tell the store about unsubscribes made there."
)


@dataclass
class WebhookHealthRow:
    """One audience the store hears from: its webhook as registered, and what it received
    (`more`: what other apps add to the row, e.g. the last reconciliation)."""

    audience: Audience
    endpoint: WebhookEndpoint | None
    events_last_day: int
    last_event_at: datetime | None = None
    more: dict = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return bool(self.endpoint and self.endpoint.mailchimp_webhook_id)

    @property
    def problem(self) -> str:
        """Why the webhook is not (or no longer) registered, in the admin's words; "" if fine."""
        if self.endpoint is None or not self.endpoint.registration_checked_at:
            return ("Not registered yet: it is registered with the next import of the lists, "
                    "or now with “Re-register webhooks”.")
        if self.endpoint.registration_error:
            return f"Registering failed: {self.endpoint.registration_error}"
        return ""


@dataclass(frozen=True)
class WebhookHealth:
    site_url: str
    rows: list[WebhookHealthRow]

    @property
    def site_url_problem(self) -> str:
        return "" if self.site_url else SITE_URL_MISSING


def webhook_health(*, now: datetime | None = None) -> WebhookHealth:
    """Every audience the store hears from with its webhook endpoint and the events received
    in the last 24 hours: two queries, however many audiences."""
    since = (now or timezone.now()) - timedelta(hours=24)
    audiences = list(webhooks.audiences_to_hook().select_related("webhook_endpoint"))
    received = {
        audience_id: (count, last)
        for audience_id, count, last in
        WebhookEvent.objects.filter(received_at__gte=since,
                                    endpoint__audience__in=[a.pk for a in audiences])
        .values_list("endpoint__audience").annotate(count=Count("pk"), last=Max("received_at"))
        .order_by()
    }
    rows = []
    for audience in audiences:
        endpoint = getattr(audience, "webhook_endpoint", None)
        count, last = received.get(audience.pk, (0, None))
        # The worker records the last event as it applies them; one just received counts too.
        known = [t for t in (last, endpoint and endpoint.last_event_at) if t]
        rows.append(WebhookHealthRow(audience=audience, endpoint=endpoint,
                                     events_last_day=count,
                                     last_event_at=max(known) if known else None))
    return WebhookHealth(site_url=webhooks.site_url(), rows=rows)


# ----------------------------------------------------------------------------- e-commerce
@dataclass
class StorePanel:
    """The "E-commerce" panel of the lists page: the connected store (None when none is),
    its records counted by kind and state, and its last "Sync store data"."""

    store: ConnectedStore | None
    counts: list[dict] = field(default_factory=list)  # [{kind, label, synced, waiting, failed}]
    last_backfill: StoreBackfill | None = None
    backfill_going: bool = False
    failed_total: int = 0


def store_panel() -> StorePanel:
    """Three queries whatever the store holds: the store, the counts, the last run."""
    store = (ConnectedStore.objects.select_related("audience")
             .exclude(state=ConnectedStore.State.DISCONNECTED).first())
    if store is None:
        return StorePanel(store=None)
    by_kind = {kind: {"kind": kind, "label": label, "synced": 0, "waiting": 0, "failed": 0}
               for kind, label in EcommerceRecord.Kind.choices}
    for row in (EcommerceRecord.objects.filter(store=store).values("kind", "state")
                .annotate(n=Count("pk")).order_by()):
        if row["kind"] in by_kind and row["state"] in by_kind[row["kind"]]:
            by_kind[row["kind"]][row["state"]] = row["n"]
    last = StoreBackfill.objects.filter(store=store).first()
    going = last is not None and last.state in (StoreBackfill.State.QUEUED,
                                                StoreBackfill.State.RUNNING)
    return StorePanel(store=store, counts=list(by_kind.values()), last_backfill=last,
                      backfill_going=going,
                      failed_total=sum(row["failed"] for row in by_kind.values()))
