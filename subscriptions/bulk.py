"""The bulk path of the delivery engine: many due subscriptions at once (a backlog, a burst).

The same claim, builder and recorder as one subscription (`delivery.py`): new members go 500 at
a time through Mailchimp's batch subscribe (never changing a member Mailchimp already has),
everything else one by one; the source tags of the new members in one `/batches` call, which
a task follows until Mailchimp has run it.
"""
from __future__ import annotations

import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from mailchimp_integration import outbox
from mailchimp_integration.exceptions import (
    MailchimpError,
    MailchimpMemberExists,
    MailchimpTransientError,
)
from mailchimp_integration.services import mailchimp_client_build

from . import consent
from .delivery import (
    DRAIN_QUEUED_KEY,
    TAG_NOT_APPLIED,
    Claim,
    Outcome,
    Plan,
    build,
    claim_many,
    client_or_hold,
    deliver_claimed,
    due_filter,
    mailchimp_words,
    push_finish,
    push_open,
    record_failure,
    record_success,
    removed_interest_ids,
    tag_operation,
    time_limit_error,
)
from .models import Push, Subscription

# Mailchimp's batch subscribe takes at most 500 members per call.
BULK_CHUNK = 500


def drain_seconds() -> float:
    """How long one drain takes new chunks; the task's soft limit comes two minutes later."""
    return float(getattr(settings, "SUBSCRIPTIONS_DRAIN_TIME_LIMIT", 600)) - 120


def drain(*, seconds: float | None = None) -> dict:
    """Send every due subscription: new members 500 at a time through batch subscribe, the
    rest one by one, all through the same claim, builder and recorder; the source tags of the
    new members in one `/batches` call at the end.

    After `seconds` (default: `drain_seconds()`) it takes no new chunk and queues another drain
    for the rest, so no drain outlives its task's time limit.
    """
    cache.delete(DRAIN_QUEUED_KEY)
    stats = {"bulk_calls": 0, "single": 0, "created": 0, "failed": 0}
    client, held = client_or_hold()
    if client is None:
        return stats
    deadline = time.monotonic() + (drain_seconds() if seconds is None else seconds)
    audience_ids = list(
        Subscription.objects.filter(due_filter(timezone.now())).order_by()
        .values_list("audience_id", flat=True).distinct()
    )
    tag_operations: list[dict] = []
    try:
        for audience_id in audience_ids:
            removed = removed_interest_ids(audience_id)
            while time.monotonic() < deadline:
                claims = claim_many(audience_id=audience_id, limit=BULK_CHUNK)
                if not claims:
                    break
                try:
                    healthy = _drain_chunk(claims, client=client, removed=removed, stats=stats,
                                           tag_operations=tag_operations)
                finally:
                    # Whatever this chunk did not get to (a time limit struck) is free again.
                    outbox.release_unsent(Subscription.objects.all(), token=claims[0].token)
                if not healthy:
                    break  # Mailchimp is failing: the rest waits for its backoff
            else:
                from . import tasks

                transaction.on_commit(tasks.push_drain.delay, robust=True)
                break
    finally:
        if tag_operations:
            _tags_batch_start(tag_operations, client=client, stats=stats)
    return stats


def _drain_chunk(claims: list[Claim], *, client, removed, stats, tag_operations) -> bool:
    bulk, single = [], []
    # Bounced addresses of the chunk, in one query rather than one per member.
    bounced = consent.bounced_among(audience_id=claims[0].subscription.audience_id,
                                    emails=[item.subscription.email for item in claims])
    for item in claims:
        if item.subscription.outcome_unknown:
            single.append(item)
            continue
        plan = build(item.subscription, removed=removed,
                     is_bounced=item.subscription.email in bounced)
        if plan.bulk_ok:
            bulk.append((item, plan))
        else:
            single.append(item)
    healthy = True
    if bulk:
        healthy = _bulk_send(bulk, client=client, stats=stats, single=single,
                             tag_operations=tag_operations)
    for item in single:
        stats["single"] += 1
        deliver_claimed(item, client=client, removed=removed, tag_operations=tag_operations)
    return healthy


def _bulk_send(bulk: list[tuple[Claim, Plan]], *, client, stats, single: list,
               tag_operations: list[dict]) -> bool:
    list_id = bulk[0][1].list_id
    pushes = {item.subscription.pk: push_open(item, plan, channel="bulk") for item, plan in bulk}
    outbox.renew(Subscription.objects.all(), token=bulk[0][0].token)
    try:
        answer = client.members_bulk_create(list_id, [plan.change for _, plan in bulk])
        stats["bulk_calls"] += 1
    except MailchimpError as error:
        stats["bulk_calls"] += 1
        for item, plan in bulk:
            # A call that may still land was addressed there: the next attempt reads it first.
            record_failure(item, error, push=pushes[item.subscription.pk],
                           sent_to=plan.snapshot["email"])
        return not isinstance(error, MailchimpTransientError)
    except SoftTimeLimitExceeded:
        for item, plan in bulk:
            record_failure(item, time_limit_error(), push=pushes[item.subscription.pk],
                           sent_to=plan.snapshot["email"])
        raise
    for item, plan in bulk:
        email = plan.snapshot["email"]
        push = pushes[item.subscription.pk]
        error = answer.errors.get(email)
        if isinstance(error, MailchimpMemberExists):
            # Mailchimp has them already: the single path updates without restating status.
            push_finish(push, state=Push.State.RETRY, note="Already in Mailchimp: sent on its own")
            item.subscription.mailchimp_email = email
            single.append(item)
            continue
        if error is not None:
            stats["failed"] += 1
            record_failure(item, error, push=push)
            continue
        result = answer.members.get(email)
        if result is None:
            record_failure(item, MailchimpError("No answer for this member"), push=push)
            continue
        stats["created"] += 1
        outcome = Outcome(result=result)
        if plan.tags:
            tag_operations.append(
                tag_operation(client, list_id, email, plan.tags, push_id=push.pk)
            )
        record_success(item, plan, outcome, push=push)
    return True


def _tags_batch_start(operations: list[dict], *, client, stats) -> None:
    try:
        batch = client.batch_start(operations)
    except MailchimpError as error:
        tags_not_applied([int(op["operation_id"].removeprefix("push-")) for op in operations],
                         reason=mailchimp_words(error))
        return
    finally:
        stats["bulk_calls"] += 1
    from . import tasks

    # Mailchimp runs the batch later: follow it, and record the tags it could not apply.
    transaction.on_commit(
        lambda: tasks.push_tags_check.apply_async(
            (batch["id"],), countdown=tasks.TAGS_CHECK_FIRST_WAIT
        ),
        robust=True,
    )


def tags_not_applied(push_ids: list[int], *, reason: str) -> None:
    """The member is in Mailchimp, but without its source tag: say so on its attempt, and
    send the tag again with the subscription's next change."""
    Push.objects.filter(pk__in=push_ids).update(
        last_error=f"{TAG_NOT_APPLIED}{reason}", updated_at=timezone.now()
    )
    Subscription.objects.filter(pushes__pk__in=push_ids).update(
        sent_tags=[], failure_reason=f"{TAG_NOT_APPLIED}{reason}"
    )


def tags_batch_check(*, batch_id: str) -> bool:
    """Record on their attempts the source tags a `/batches` call failed to apply.

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
        failed.setdefault(mailchimp_words(result["error"]), []).append(
            int(operation_id.removeprefix("push-"))
        )
    for words, push_ids in failed.items():
        tags_not_applied(push_ids, reason=words)
    return True
