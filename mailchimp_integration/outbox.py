"""The outbox mechanics every record kept in step with Mailchimp shares.

A subscription now; a customer, product, order or cart of Mailchimp's e-commerce API later.
Such a model inherits `DeliveryState`: a wanted version bumped with every change the store
makes, the version Mailchimp last confirmed, one claim at a time (a conditional UPDATE; a lease
that lapses after the send task's time limit), a retry budget by time, and the flag that makes
the next write read first after a call whose outcome is unknown. Its own delivery module builds
the payload and records what Mailchimp confirmed; it calls these for the rest.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone


class DeliveryState(models.Model):
    """Where a record stands with Mailchimp: versions, the claim, retries."""

    wanted_version = models.PositiveIntegerField(default=1)
    sent_version = models.PositiveIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_version = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    retry_since = models.DateTimeField(null=True, blank=True)
    failed_permanently = models.BooleanField(default=False)
    # A call that may or may not have landed: read the record before the next write, and
    # check again once a late call can no longer land (`verify_at`).
    outcome_unknown = models.BooleanField(default=False)
    unknown_at = models.DateTimeField(null=True, blank=True)
    verify_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Policy:
    """Backoff (base, cap), the budget after which a failure shows, and the claim's lease."""

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    budget: timedelta = timedelta(hours=72)
    time_limit_seconds: float = 60.0

    @classmethod
    def from_settings(cls, prefix: str) -> Policy:
        def value(name: str, default: float) -> float:
            return float(getattr(settings, f"{prefix}_{name}", default))

        return cls(
            base_seconds=value("RETRY_BASE_SECONDS", 2),
            cap_seconds=value("RETRY_MAX_SECONDS", 300),
            budget=timedelta(hours=value("RETRY_BUDGET_HOURS", 72)),
            time_limit_seconds=value("PUSH_TIME_LIMIT", 60),
        )

    @property
    def stale_after(self) -> timedelta:
        """A claim older than the send task's hard time limit belongs to a dead worker."""
        return timedelta(seconds=self.time_limit_seconds + 15)

    def delay(self, *, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter, capped; Mailchimp's Retry-After wins when longer."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        delay = backoff * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


def mark_changed(record: DeliveryState) -> None:
    """The store changed the record: a new version to send (the caller saves it)."""
    record.wanted_version = (record.wanted_version or 0) + 1
    record.failed_permanently = False
    record.next_attempt_at = timezone.now()


def due(now: datetime) -> Q:
    """Unsent changes, nobody holding the claim, no permanent failure, their time has come."""
    return Q(
        wanted_version__gt=F("sent_version"),
        claim_token="",
        failed_permanently=False,
        next_attempt_at__lte=now,
    )


def claim_one(queryset: QuerySet, *, pk: int) -> str:
    """The claim of one due record for this worker (its token), or "" if it is not to be had.

    One conditional UPDATE on plain columns: of two workers, exactly one gets it.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    taken = queryset.filter(due(now), pk=pk).update(
        claim_token=token, claimed_at=now, claimed_version=F("wanted_version")
    )
    return token if taken else ""


def claim_batch(queryset: QuerySet, *, limit: int) -> tuple[str, list[int]]:
    """The claims of up to `limit` due records (rows another worker is claiming are skipped)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            queryset.select_for_update(skip_locked=True).filter(due(now))
            .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]
        )
        if ids:
            queryset.model.objects.filter(pk__in=ids, claim_token="").update(
                claim_token=token, claimed_at=now, claimed_version=F("wanted_version")
            )
    return token, ids


def held(model: type[DeliveryState], *, pk: int, token: str) -> DeliveryState | None:
    """The record, locked, if `token` still holds its claim (call inside a transaction)."""
    return model.objects.select_for_update().filter(pk=pk, claim_token=token).first()


class ClaimLost(Exception):
    """This worker's claim lapsed (another worker may hold the record now): send nothing more."""


def renew(queryset: QuerySet, *, token: str) -> int:
    """Extend the lease of every record `token` still holds; how many it holds.

    Called before each write to Mailchimp, so a claim lapses only after a worker stopped
    calling (it died, or hangs past its time limit), never while it works through a long drain.
    """
    return queryset.filter(claim_token=token).update(claimed_at=timezone.now())


def release_unsent(queryset: QuerySet, *, token: str) -> int:
    """Give back the claims `token` still holds on records nothing was sent for yet."""
    return queryset.filter(claim_token=token).update(claim_token="", claimed_at=None)


def release(record: DeliveryState) -> None:
    record.claim_token = ""
    record.claimed_at = None


def confirmed(record: DeliveryState, *, version: int) -> None:
    """Mailchimp confirmed `version`: the claim ends, the retries with it."""
    record.sent_version = version
    record.attempts = 0
    record.retry_since = None
    record.outcome_unknown = False
    release(record)


def retry_later(record: DeliveryState, *, policy: Policy, retry_after: float | None,
                outcome_unknown: bool) -> tuple[float, bool]:
    """A transient failure: the claim ends and the record waits. Returns the delay and whether
    the budget is spent (then it is still tried, every hour at least)."""
    now = timezone.now()
    release(record)
    record.attempts += 1
    if outcome_unknown:
        record.outcome_unknown = True
        record.unknown_at = record.unknown_at or now
    record.retry_since = record.retry_since or now
    delay = policy.delay(attempt=record.attempts, retry_after=retry_after)
    spent = now - record.retry_since > policy.budget
    if spent:
        delay = max(delay, 3600.0)
    record.next_attempt_at = now + timedelta(seconds=delay)
    return delay, spent


def failed(record: DeliveryState) -> None:
    """A permanent failure: not tried again until the store changes it or staff retry."""
    release(record)
    record.attempts += 1
    record.failed_permanently = True


def free_lapsed(queryset: QuerySet, *, policy: Policy) -> list[int]:
    """Claims older than the lease belong to dead workers: freed, and since their call may
    still land, the next write reads first."""
    now = timezone.now()
    old = now - policy.stale_after
    ids = list(queryset.exclude(claim_token="").filter(claimed_at__lt=old)
               .values_list("pk", flat=True))
    if ids:
        queryset.filter(pk__in=ids).exclude(claim_token="").filter(claimed_at__lt=old).update(
            claim_token="", claimed_at=None, outcome_unknown=True, unknown_at=now,
            next_attempt_at=now, attempts=F("attempts") + 1,
        )
    return ids


def start_due_checks(queryset: QuerySet) -> int:
    """Records whose check after an unknown outcome is due: a new version, read first."""
    now = timezone.now()
    return queryset.filter(verify_at__lte=now).update(
        verify_at=None, unknown_at=None, outcome_unknown=True,
        wanted_version=F("wanted_version") + 1, next_attempt_at=now,
    )
