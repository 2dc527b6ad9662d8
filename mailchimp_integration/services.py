"""Writes of the Mailchimp integration: the connection, list syncs and the store's toggles."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Value, When
from django.utils import timezone

from . import crypto, selectors, signals, webhooks
from .client import MailchimpClient, all_pages, max_connections, with_retries
from .exceptions import MailchimpError, MailchimpNotConfigured, MailchimpNotFound
from .models import (
    Audience,
    ConnectionCheck,
    Interest,
    InterestCategory,
    MailchimpConnection,
    SyncRun,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

REMOVED_IN_MAILCHIMP = "Deleted in Mailchimp"
REMOVED_WITH_AUDIENCE = "Its audience was deleted in Mailchimp"
REMOVED_WITH_CATEGORY = "Its group category was deleted in Mailchimp"


# --- Connection --------------------------------------------------------------------------------

def mailchimp_client_build(*, api_key: str | None = None) -> MailchimpClient:
    """A client for `api_key`, or for the configuration in force."""
    config = selectors.mailchimp_config_get()
    key = api_key if api_key is not None else config.api_key
    if not key:
        raise MailchimpNotConfigured(config.problem or "no API key is set")
    return MailchimpClient(api_key=key, api_url=config.api_url)


def connection_get_or_create() -> MailchimpConnection:
    connection, _ = MailchimpConnection.objects.get_or_create(pk=MailchimpConnection.SINGLETON_ID)
    return connection


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str
    account_name: str = ""
    retryable: bool = False  # failed, but Mailchimp may answer later (timeout, 429, 5xx)


def connection_test(*, api_key: str | None = None) -> ConnectionTestResult:
    """Ask Mailchimp who the key belongs to; say the account name or exactly why it failed."""
    try:
        client = mailchimp_client_build(api_key=api_key)
        account_name = client.account_name()
    except MailchimpError as error:
        return ConnectionTestResult(ok=False, message=error.reason, retryable=error.retryable)
    return ConnectionTestResult(
        ok=True,
        message=f"Connected to the Mailchimp account “{account_name}”.",
        account_name=account_name,
    )


@transaction.atomic
def connection_save_api_key(*, api_key: str, account_name: str = "") -> MailchimpConnection:
    """Store a key entered in the admin (encrypted) and import the lists of the new account."""
    connection = MailchimpConnection.objects.select_for_update().get(
        pk=connection_get_or_create().pk
    )
    connection.api_key_encrypted = crypto.encrypt(api_key.strip())
    connection.api_key_updated_at = timezone.now()
    connection.account_name = account_name
    connection.first_sync_requested_at = connection.first_sync_requested_at or timezone.now()
    connection.save(
        update_fields=[
            "api_key_encrypted", "api_key_updated_at", "account_name", "first_sync_requested_at",
        ]
    )
    # A new key may be a new account: import its lists now (in a worker, after commit).
    sync_run_enqueue(trigger=SyncRun.Trigger.FIRST_CONNECTION)
    return connection


CONNECTION_CHECK_STALE = timedelta(minutes=5)


@transaction.atomic
def connection_check_request(*, purpose: str, api_key: str = "") -> ConnectionCheck:
    """Queue a check of `api_key` (empty: the key in force) for a worker, after commit.

    The admin page never waits on Mailchimp: it shows the check's state and polls for it.
    A newer "Save key" replaces one still waiting, so the last key entered is the one saved.
    """
    from . import tasks  # tasks import services

    connection_check_fail_stale()
    if purpose == ConnectionCheck.Purpose.SAVE:
        ConnectionCheck.objects.filter(
            purpose=ConnectionCheck.Purpose.SAVE, state=ConnectionCheck.State.QUEUED
        ).update(
            state=ConnectionCheck.State.FAILED, api_key_encrypted="", finished_at=timezone.now(),
            message="Not saved: a newer key was entered.",
        )
    check = ConnectionCheck.objects.create(
        purpose=purpose, api_key_encrypted=crypto.encrypt(api_key) if api_key else ""
    )
    # Robust: with the broker down the page still answers; the check is then marked stale.
    transaction.on_commit(lambda: tasks.connection_check.delay(check.pk), robust=True)
    return check


def connection_check_execute(*, check_id: int) -> ConnectionCheck:
    """Run a queued check in a worker: ask Mailchimp, save the key if that was asked and
    Mailchimp did not refuse it, record the outcome in words, and wipe the key."""
    claimed = ConnectionCheck.objects.filter(
        pk=check_id, state=ConnectionCheck.State.QUEUED
    ).update(state=ConnectionCheck.State.RUNNING)
    check = ConnectionCheck.objects.get(pk=check_id)
    if not claimed:
        return check
    try:
        api_key = crypto.decrypt(check.api_key_encrypted) if check.api_key_encrypted else None
        result = connection_test(api_key=api_key)
        ok, message = result.ok, result.message
        if check.purpose == ConnectionCheck.Purpose.SAVE:
            ok, message = _connection_check_save(check, api_key or "", result)
    except Exception as error:
        ConnectionCheck.objects.filter(pk=check_id).update(
            state=ConnectionCheck.State.FAILED, api_key_encrypted="", finished_at=timezone.now(),
            message=f"The check could not be completed ({error.__class__.__name__}).",
        )
        raise
    ConnectionCheck.objects.filter(pk=check_id).update(
        state=ConnectionCheck.State.SUCCEEDED if ok else ConnectionCheck.State.FAILED,
        message=message, api_key_encrypted="", finished_at=timezone.now(),
    )
    return ConnectionCheck.objects.get(pk=check_id)


def _connection_check_save(
    check: ConnectionCheck, api_key: str, result: ConnectionTestResult
) -> tuple[bool, str]:
    """Save the checked key: (saved and accepted, what to tell the admin). A key Mailchimp
    refuses is not saved; if Mailchimp is only unreachable, it is saved and the page says so."""
    if not result.ok and not result.retryable:
        return False, f"The key was not saved: {result.message}"
    newer = ConnectionCheck.objects.filter(
        purpose=ConnectionCheck.Purpose.SAVE, pk__gt=check.pk
    ).exists()
    if newer:
        return False, "Not saved: a newer key was entered."
    connection_save_api_key(api_key=api_key, account_name=result.account_name)
    if not result.ok:
        return False, f"The key was saved, but Mailchimp could not check it: {result.message}"
    return True, f"The key was saved. {result.message} Importing the lists…"


def connection_check_fail_stale() -> int:
    """Checks no worker took in time: failed, and their key wiped."""
    return ConnectionCheck.objects.filter(
        state__in=[ConnectionCheck.State.QUEUED, ConnectionCheck.State.RUNNING],
        requested_at__lt=timezone.now() - CONNECTION_CHECK_STALE,
    ).update(
        state=ConnectionCheck.State.FAILED, api_key_encrypted="", finished_at=timezone.now(),
        message="No worker checked the key in time (is the Celery worker running?). "
        "Try again.",
    )


@transaction.atomic
def connection_clear_api_key() -> MailchimpConnection:
    connection = connection_get_or_create()
    connection.api_key_encrypted = ""
    connection.api_key_updated_at = timezone.now()
    connection.account_name = ""
    connection.save(update_fields=["api_key_encrypted", "api_key_updated_at", "account_name"])
    return connection


@transaction.atomic
def connection_reencrypt_api_key() -> bool:
    """Encrypt the stored API key again with the first encryption key in force, so that the
    older ones (a former SECRET_KEY) can be retired. False when no key is stored.

    Raises crypto.UndecryptableSecret when none of the keys in force opens it.
    """
    connection = (
        MailchimpConnection.objects.select_for_update()
        .filter(pk=MailchimpConnection.SINGLETON_ID)
        .first()
    )
    if connection is None or not connection.api_key_encrypted:
        return False
    connection.api_key_encrypted = crypto.reencrypt(connection.api_key_encrypted)
    connection.save(update_fields=["api_key_encrypted"])
    return True


def connection_ensure_first_sync() -> SyncRun | None:
    """Import the lists once when the store is first found connected (e.g. a key from the
    environment), if nothing has imported them yet. Idempotent and race-free."""
    if not selectors.mailchimp_config_get().is_configured:
        return None
    connection = selectors.connection_get()
    if connection.first_sync_requested_at or connection.lists_synced_at:
        return None
    connection_get_or_create()
    with transaction.atomic():
        claimed = MailchimpConnection.objects.filter(
            pk=MailchimpConnection.SINGLETON_ID,
            first_sync_requested_at__isnull=True,
            lists_synced_at__isnull=True,
        ).update(first_sync_requested_at=timezone.now())
        if not claimed:
            return None
        return sync_run_enqueue(trigger=SyncRun.Trigger.FIRST_CONNECTION)


# --- Sync runs ---------------------------------------------------------------------------------

def _stale_after() -> timedelta:
    # A run still "running" after the hard time limit had its worker killed.
    return timedelta(seconds=int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 360)) + 60)


def sync_run_fail_stale() -> int:
    """Mark runs whose worker died (queued or running past the time limit) as failed."""
    cutoff = timezone.now() - _stale_after()
    return SyncRun.objects.filter(
        state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING], queued_at__lt=cutoff
    ).update(
        state=SyncRun.State.FAILED,
        error="The sync did not finish in time (the worker stopped or the queue is stuck).",
        finished_at=timezone.now(),
    )


def sync_run_create(*, trigger: str) -> SyncRun:
    return SyncRun.objects.create(trigger=trigger)


def sync_run_enqueue(*, trigger: str) -> SyncRun:
    """Queue a sync for a worker, unless one is already queued or running (then that one)."""
    from . import tasks  # tasks import services

    sync_run_fail_stale()
    active = selectors.sync_run_active()
    if active is not None:
        return active
    run = sync_run_create(trigger=trigger)

    def send() -> None:
        try:
            tasks.sync_lists.delay(run.pk)
        except Exception as error:  # the broker is down: say so on the run, block nothing
            logger.warning("could not queue sync run %s: %s", run.pk, error)
            SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.QUEUED).update(
                state=SyncRun.State.FAILED, finished_at=timezone.now(),
                error="The task queue could not be reached; nothing was imported. "
                      "Try again once the workers' broker is back.",
            )

    transaction.on_commit(send, robust=True)
    return run


def sync_run_execute(*, run_id: int, on_progress: ProgressCallback | None = None) -> SyncRun:
    """Run a queued sync: claim it, import the lists, record the outcome on the run.

    Returns the finished run; a run someone else claimed is returned untouched.
    """
    claimed = SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
        state=SyncRun.State.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return SyncRun.objects.get(pk=run_id)

    last_write = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last_write
        if on_progress:
            on_progress(done, total)
        now = time.monotonic()
        if now - last_write >= 0.5 or done == total:  # a handful of writes, not one per call
            last_write = now
            SyncRun.objects.filter(pk=run_id).update(progress_done=done, progress_total=total)

    try:
        result = audience_sync_all(progress=progress)
    except MailchimpError as error:
        logger.warning("Mailchimp list sync %s failed: %s", run_id, error)
        SyncRun.objects.filter(pk=run_id).update(
            state=SyncRun.State.FAILED, error=error.reason, finished_at=timezone.now()
        )
        return SyncRun.objects.get(pk=run_id)
    except Exception as error:
        SyncRun.objects.filter(pk=run_id).update(
            state=SyncRun.State.FAILED,
            error=f"Unexpected error: {error.__class__.__name__}: {error}",
            finished_at=timezone.now(),
        )
        raise
    SyncRun.objects.filter(pk=run_id).update(
        state=SyncRun.State.SUCCEEDED,
        finished_at=timezone.now(),
        progress_done=result.calls,
        progress_total=result.calls,
        audiences=result.audiences,
        categories=result.categories,
        interests=result.interests,
        created=result.created,
        updated=result.updated,
        removed=result.removed,
    )
    webhooks_register()  # every list sync (hence every new connection) checks the webhooks
    return SyncRun.objects.get(pk=run_id)


def webhooks_register(*, rotate: bool = False) -> list[webhooks.Registration]:
    """Register the webhook of every audience the store hears from (see
    `webhooks.webhook_register`); each outcome is recorded on its endpoint, never raised."""
    try:
        client = mailchimp_client_build()
    except MailchimpNotConfigured:
        return []
    return webhooks.webhooks_register_all(client=client, rotate=rotate)


def webhooks_register_enqueue(*, rotate: bool = False) -> bool:
    """Queue a registration (the admin's "Re-register webhooks"); False if the queue is down."""
    from . import tasks  # tasks import services

    try:
        tasks.webhooks_register.delay(rotate=rotate)
    except Exception as error:  # the broker is down: say so rather than pretend
        logger.warning("could not queue the webhooks' registration: %s", error)
        return False
    return True


def sync_run_scheduled() -> SyncRun | None:
    """The beat job: import the lists if the store is connected and no sync is under way."""
    sync_run_fail_stale()
    if not selectors.mailchimp_config_get().is_configured:
        return None
    if selectors.sync_run_active() is not None:
        return None
    MailchimpConnection.objects.filter(
        pk=connection_get_or_create().pk, first_sync_requested_at__isnull=True
    ).update(first_sync_requested_at=timezone.now())
    run = sync_run_create(trigger=SyncRun.Trigger.SCHEDULE)
    return sync_run_execute(run_id=run.pk)


# --- The list sync -----------------------------------------------------------------------------

@dataclass
class CategorySnapshot:
    mailchimp_id: str
    name: str
    type: str
    display_order: int
    interests: list[dict] = field(default_factory=list)


@dataclass
class AudienceSnapshot:
    mailchimp_id: str
    name: str
    member_count: int
    categories: list[CategorySnapshot] = field(default_factory=list)
    gdpr_enabled: bool = False
    # [{"id", "text"}] read from a member; None: not read (no member yet, or GDPR off).
    marketing_permissions: list[dict] | None = None


@dataclass
class SyncResult:
    audiences: int = 0
    categories: int = 0
    interests: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    calls: int = 0
    superseded: bool = False  # a newer sync had already written a fresher snapshot


def _as_int(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


class _CallCounter:
    """Counts the HTTP calls a sync made (from the worker threads) and the ones it knows of."""

    def __init__(self):
        self._lock = threading.Lock()
        self.done = 0
        self.known = 1  # the first page of lists

    def call(self, fetch):
        page = with_retries(fetch)
        with self._lock:
            self.done += 1
        return page

    def expect(self, n: int) -> None:
        with self._lock:
            self.known += n


def _fetch_snapshot(
    client: MailchimpClient, progress: ProgressCallback | None
) -> tuple[list[AudienceSnapshot], int]:
    """Everything Mailchimp has: 1 call per 1000 lists, then 1 per list and 1 per category.

    The per-list and per-category calls run in parallel, at most MAILCHIMP_MAX_CONNECTIONS at a
    time, sharing the pooled session; each retries transient errors. No database access here.
    """
    counter = _CallCounter()

    def report():
        if progress:
            progress(counter.done, max(counter.known, counter.done))

    audiences = [
        AudienceSnapshot(
            mailchimp_id=item["id"],
            name=item.get("name", ""),
            member_count=_as_int((item.get("stats") or {}).get("member_count")),
            gdpr_enabled=item.get("marketing_permissions") is True,
        )
        for item in all_pages(client.lists_page, call=counter.call)
    ]
    gdpr = [a for a in audiences if a.gdpr_enabled]
    counter.expect(len(audiences) + len(gdpr))
    report()

    def fetch_permissions(audience: AudienceSnapshot) -> list[dict] | None:
        found = counter.call(lambda: client.marketing_permissions_read(audience.mailchimp_id))
        return None if found is None else [{"id": p.id, "text": p.text} for p in found]

    def fetch_categories(audience: AudienceSnapshot) -> list[dict]:
        def fetch(**page):
            return client.interest_categories_page(audience.mailchimp_id, **page)

        return list(all_pages(fetch, call=counter.call))

    def fetch_interests(audience: AudienceSnapshot, category: CategorySnapshot) -> list[dict]:
        def fetch(**page):
            return client.interests_page(audience.mailchimp_id, category.mailchimp_id, **page)

        return list(all_pages(fetch, call=counter.call))

    gone_audiences: set[str] = set()
    gone_categories: set[tuple[str, str]] = set()
    with ThreadPoolExecutor(
        max_workers=max_connections(), thread_name_prefix="mailchimp-sync"
    ) as pool:
        pending: dict[Future, tuple[AudienceSnapshot, CategorySnapshot | None]] = {
            pool.submit(fetch_categories, audience): (audience, None) for audience in audiences
        }
        permission_reads = {pool.submit(fetch_permissions, a): a for a in gdpr}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    audience, category = pending.pop(future)
                    try:
                        items = future.result()
                    except MailchimpNotFound:
                        # Deleted in Mailchimp while we were reading it: it is gone.
                        if category is None:
                            gone_audiences.add(audience.mailchimp_id)
                        else:
                            gone_categories.add((audience.mailchimp_id, category.mailchimp_id))
                        continue
                    if category is not None:
                        category.interests = items
                        continue
                    counter.expect(len(items))
                    for item in items:
                        new = CategorySnapshot(
                            mailchimp_id=item["id"],
                            name=item.get("title", ""),
                            type=item.get("type") or "",
                            display_order=_as_int(item.get("display_order")),
                        )
                        audience.categories.append(new)
                        pending[pool.submit(fetch_interests, audience, new)] = (audience, new)
                report()
            for future, audience in permission_reads.items():
                try:
                    audience.marketing_permissions = future.result()
                except MailchimpNotFound:
                    gone_audiences.add(audience.mailchimp_id)
            report()
        except BaseException:
            for future in [*pending, *permission_reads]:
                future.cancel()
            raise
    audiences = [a for a in audiences if a.mailchimp_id not in gone_audiences]
    for audience in audiences:
        audience.categories = [
            c for c in audience.categories
            if (audience.mailchimp_id, c.mailchimp_id) not in gone_categories
        ]
    return audiences, counter.done


def audience_sync_all(
    *,
    client: MailchimpClient | None = None,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """Import every audience, group category and group from Mailchimp.

    Reads everything first (no transaction held during HTTP), then writes it in one
    transaction with a fixed number of queries. Idempotent; concurrent syncs are serialised
    on the connection row and upsert only Mailchimp-owned fields, so the store's toggles are
    never lost and nothing is duplicated. What Mailchimp no longer lists is marked removed
    (kept, with the reason) and announced by `signals.audience_removed`/`interest_removed`.
    """
    client = client or mailchimp_client_build()
    fetch_started = timezone.now()
    snapshot, calls = _fetch_snapshot(client, progress)
    result = _snapshot_write(snapshot, seen_at=fetch_started)
    result.calls = calls
    return result


def _removal_case(reasons: dict[int, str]) -> Case:
    by_reason: dict[str, list[int]] = {}
    for pk, reason in reasons.items():
        by_reason.setdefault(reason, []).append(pk)
    return Case(
        *[When(pk__in=pks, then=Value(reason)) for reason, pks in by_reason.items()],
        output_field=CharField(),
    )


def _upsert(model, rows: list, *, unique_fields: list[str], update_fields: list[str]) -> list:
    """Insert new rows and update changed ones in one statement; only Mailchimp-owned fields
    are in `update_fields`, so the store's toggles are never touched."""
    if not rows:
        return []
    return model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields
    )


@transaction.atomic
def _snapshot_write(snapshot: list[AudienceSnapshot], *, seen_at: datetime) -> SyncResult:
    """Write a snapshot in a fixed number of queries, whatever the number of lists.

    Only new and changed rows are upserted; `last_seen_at` of everything still listed is then
    bumped with one UPDATE per table, so a sync in which nothing changed stays cheap.
    """
    result = SyncResult(
        audiences=len(snapshot),
        categories=sum(len(a.categories) for a in snapshot),
        interests=sum(len(c.interests) for a in snapshot for c in a.categories),
    )
    connection_get_or_create()
    # Serialise the write phase of concurrent syncs (SQLite's IMMEDIATE transactions already do).
    connection = MailchimpConnection.objects.select_for_update().get(
        pk=MailchimpConnection.SINGLETON_ID
    )
    if connection.lists_synced_at and connection.lists_synced_at > seen_at:
        result.superseded = True
        return result

    created = updated = 0
    listed = {"last_seen_at": seen_at, "removed_at": None, "removed_reason": ""}
    mailchimp_fields = ["name", "last_seen_at", "removed_at", "removed_reason"]

    # Audiences: existing rows by Mailchimp id -> (pk, name, member_count, removed_at).
    existing_audiences = {
        row[1]: row
        for row in Audience.objects.values_list(
            "id", "mailchimp_id", "name", "member_count", "gdpr_enabled",
            "marketing_permissions", "removed_at",
        )
    }
    audience_pk = {mailchimp_id: row[0] for mailchimp_id, row in existing_audiences.items()}
    changed = []
    for a in snapshot:
        old = existing_audiences.get(a.mailchimp_id)
        # Permissions not read this time (no member to read them from) stay as known.
        permissions = a.marketing_permissions
        if permissions is None:
            permissions = list(old[5]) if old is not None and a.gdpr_enabled else []
        if old is None:
            created += 1
        elif old[2:] != (a.name, a.member_count, a.gdpr_enabled, permissions, None):
            updated += 1
        else:
            continue
        changed.append(
            Audience(
                mailchimp_id=a.mailchimp_id, name=a.name, member_count=a.member_count,
                gdpr_enabled=a.gdpr_enabled, marketing_permissions=permissions, **listed
            )
        )
    for row in _upsert(
        Audience, changed, unique_fields=["mailchimp_id"],
        update_fields=[*mailchimp_fields, "member_count", "gdpr_enabled",
                       "marketing_permissions"],
    ):
        audience_pk[row.mailchimp_id] = row.pk

    # Group categories: by (audience pk, Mailchimp id).
    existing_categories = {
        (row[1], row[2]): row
        for row in InterestCategory.objects.values_list(
            "id", "audience_id", "mailchimp_id", "name", "type", "display_order", "removed_at"
        )
    }
    category_pk = {key: row[0] for key, row in existing_categories.items()}
    seen_categories, changed = set(), []
    for a in snapshot:
        for c in a.categories:
            key = (audience_pk[a.mailchimp_id], c.mailchimp_id)
            seen_categories.add(key)
            old = existing_categories.get(key)
            if old is None:
                created += 1
            elif old[3:] != (c.name, c.type, c.display_order, None):
                updated += 1
            else:
                continue
            changed.append(
                InterestCategory(
                    audience_id=key[0], mailchimp_id=c.mailchimp_id, name=c.name, type=c.type,
                    display_order=c.display_order, **listed,
                )
            )
    for row in _upsert(
        InterestCategory, changed, unique_fields=["audience", "mailchimp_id"],
        update_fields=[*mailchimp_fields, "type", "display_order"],
    ):
        category_pk[(row.audience_id, row.mailchimp_id)] = row.pk

    # Groups: by (audience pk, Mailchimp id).
    existing_interests = {
        (row[1], row[2]): row
        for row in Interest.objects.values_list(
            "id", "audience_id", "mailchimp_id", "category_id", "name", "member_count",
            "display_order", "removed_at",
        )
    }
    seen_interests, changed = set(), []
    for a in snapshot:
        audience_id = audience_pk[a.mailchimp_id]
        for c in a.categories:
            category_id = category_pk[(audience_id, c.mailchimp_id)]
            for item in c.interests:
                key = (audience_id, item["id"])
                seen_interests.add(key)
                name = item.get("name", "")
                member_count = _as_int(item.get("subscriber_count"))
                display_order = _as_int(item.get("display_order"))
                old = existing_interests.get(key)
                if old is None:
                    created += 1
                elif old[3:] != (category_id, name, member_count, display_order, None):
                    updated += 1
                else:
                    continue
                changed.append(
                    Interest(
                        audience_id=audience_id, category_id=category_id, mailchimp_id=item["id"],
                        name=name, member_count=member_count, display_order=display_order,
                        **listed,
                    )
                )
    _upsert(
        Interest, changed, unique_fields=["audience", "mailchimp_id"],
        update_fields=[*mailchimp_fields, "category", "member_count", "display_order"],
    )

    # Whatever Mailchimp no longer lists: removed, with the reason, never deleted.
    seen_audiences = {a.mailchimp_id for a in snapshot}
    removed_audiences = {
        row[0]: REMOVED_IN_MAILCHIMP
        for mailchimp_id, row in existing_audiences.items()
        if row[6] is None and mailchimp_id not in seen_audiences
    }
    removed_categories = {
        row[0]: REMOVED_WITH_AUDIENCE if row[1] in removed_audiences else REMOVED_IN_MAILCHIMP
        for key, row in existing_categories.items()
        if row[6] is None and key not in seen_categories
    }
    removed_interests = {}
    for key, row in existing_interests.items():
        if row[7] is not None or key in seen_interests:
            continue
        if row[1] in removed_audiences:
            removed_interests[row[0]] = REMOVED_WITH_AUDIENCE
        elif row[3] in removed_categories:
            removed_interests[row[0]] = REMOVED_WITH_CATEGORY
        else:
            removed_interests[row[0]] = REMOVED_IN_MAILCHIMP
    for model, reasons in (
        (Audience, removed_audiences),
        (InterestCategory, removed_categories),
        (Interest, removed_interests),
    ):
        if reasons:
            model.objects.filter(pk__in=list(reasons)).update(
                removed_at=seen_at, removed_reason=_removal_case(reasons)
            )
        # Now exactly the rows Mailchimp listed are not removed: they were all seen now.
        model.objects.filter(removed_at__isnull=True, last_seen_at__lt=seen_at).update(
            last_seen_at=seen_at
        )

    connection.lists_synced_at = seen_at
    connection.save(update_fields=["lists_synced_at"])

    result.created = created
    result.updated = updated
    result.removed = len(removed_audiences) + len(removed_categories) + len(removed_interests)
    audience_ids, interest_ids = sorted(removed_audiences), sorted(removed_interests)
    if audience_ids:
        transaction.on_commit(
            lambda: signals.audience_removed.send(sender=Audience, audience_ids=audience_ids)
        )
    if interest_ids:
        transaction.on_commit(
            lambda: signals.interest_removed.send(sender=Interest, interest_ids=interest_ids)
        )
    return result


# --- The store's own settings for each audience and group -------------------------------------

class RemovedInMailchimp(Exception):
    """The audience or group was deleted in Mailchimp; its settings can no longer change."""


def _flags_set(model, *, pk: int, active: bool | None, subscribe_by_default: bool | None):
    with transaction.atomic():
        obj = model.objects.select_for_update().get(pk=pk)
        if obj.removed_at is not None:
            raise RemovedInMailchimp(f"“{obj.name}” was removed: {obj.removed_reason}.")
        changed = []
        if active is not None and obj.active != active:
            obj.active = active
            changed.append("active")
        if subscribe_by_default is not None and obj.subscribe_by_default != subscribe_by_default:
            obj.subscribe_by_default = subscribe_by_default
            changed.append("subscribe_by_default")
        if changed:
            # Only the toggles: a concurrent sync's name or count update is never overwritten.
            obj.save(update_fields=changed)
    return obj, changed


def audience_flags_set(
    *, audience_id: int, active: bool | None = None, subscribe_by_default: bool | None = None
) -> tuple[Audience, list[str]]:
    """Switch an audience on/off for the store, or (un)set it as subscribed by default."""
    return _flags_set(
        Audience, pk=audience_id, active=active, subscribe_by_default=subscribe_by_default
    )


def interest_flags_set(
    *, interest_id: int, active: bool | None = None, subscribe_by_default: bool | None = None
) -> tuple[Interest, list[str]]:
    """Switch a group on/off for the store, or (un)set it as subscribed by default."""
    return _flags_set(
        Interest, pk=interest_id, active=active, subscribe_by_default=subscribe_by_default
    )


def audience_demo_default_offer() -> Audience | None:
    """Switch on the first audience and its groups and make it the default, for a demo store;
    only while no audience is on at all, so nothing an admin chose is ever overridden."""
    with transaction.atomic():
        if Audience.objects.filter(active=True).exists():
            return None
        audience = Audience.objects.filter(removed_at__isnull=True).order_by("pk").first()
        if audience is None:
            return None
        audience_flags_set(audience_id=audience.pk, active=True, subscribe_by_default=True)
        for interest_id in audience.interests.filter(removed_at__isnull=True).values_list(
            "pk", flat=True
        ):
            interest_flags_set(interest_id=interest_id, active=True)
    audience.refresh_from_db()
    return audience
