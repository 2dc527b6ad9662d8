"""Celery tasks of the subscriptions: thin, they take ids and call the delivery engine.

Sends run on the default queue; the periodic jobs (sweeper, pruning) on the maintenance queue
(CELERY_TASK_ROUTES), so a backlog of sends never starves them.
"""
from celery import shared_task
from django.conf import settings

from mailchimp_integration.exceptions import MailchimpTransientError

from . import bulk, delivery, inbound

# Mailchimp runs a batch within minutes: look after 10 s, then less and less often (at most
# every 2 minutes), for about an hour in all.
TAGS_CHECK_FIRST_WAIT = 10
TAGS_CHECK_MAX_WAIT = 120
TAGS_CHECK_MAX_TRIES = 35

# A send is a few calls of at most connect + read timeout each; past the hard limit the
# worker process is killed and the sweeper frees the claim (outbox.Policy.stale_after).
PUSH_TIME_LIMIT = int(getattr(settings, "SUBSCRIPTIONS_PUSH_TIME_LIMIT", 60))
# A drain takes new chunks for two minutes less than this, then queues the next drain; every
# write renews its claims, so no claim lapses while it works.
DRAIN_TIME_LIMIT = int(getattr(settings, "SUBSCRIPTIONS_DRAIN_TIME_LIMIT", 600))


@shared_task(name="subscriptions.push_send", ignore_result=True,
             soft_time_limit=PUSH_TIME_LIMIT - 10, time_limit=PUSH_TIME_LIMIT)
def push_send(subscription_id: int) -> None:
    """Send one subscription's unsent changes. A duplicate delivery finds nothing to claim."""
    delivery.deliver(subscription_id=subscription_id)


@shared_task(name="subscriptions.push_drain", ignore_result=True,
             soft_time_limit=DRAIN_TIME_LIMIT - 60, time_limit=DRAIN_TIME_LIMIT)
def push_drain() -> None:
    """Send every due subscription, new members through Mailchimp's bulk calls."""
    bulk.drain()


@shared_task(name="subscriptions.push_sweep", ignore_result=True)
def push_sweep() -> None:
    """The beat job: free dead workers' claims, and send what is due."""
    delivery.sweep()


@shared_task(name="subscriptions.push_prune", ignore_result=True)
def push_prune() -> None:
    """The beat job: forget finished attempts past SUBSCRIPTIONS_PUSH_RETENTION_DAYS."""
    delivery.prune()


@shared_task(
    name="subscriptions.push_tags_check", bind=True, ignore_result=True,
    max_retries=TAGS_CHECK_MAX_TRIES,
)
def push_tags_check(self, batch_id: str) -> None:
    """Follow a `/batches` call of source tags until it has run; record the tags that failed."""
    try:
        finished = bulk.tags_batch_check(batch_id=batch_id)
    except MailchimpTransientError as error:
        raise self.retry(countdown=error.retry_after or 30, exc=error) from None
    if not finished:
        raise self.retry(countdown=min(TAGS_CHECK_MAX_WAIT, 10 * 2**self.request.retries))


@shared_task(name="subscriptions.webhooks_apply", bind=True, ignore_result=True,
             soft_time_limit=DRAIN_TIME_LIMIT - 60, time_limit=DRAIN_TIME_LIMIT)
def webhooks_apply(self) -> None:
    """Apply Mailchimp's webhook events stored since (each re-reads its member); in a burst,
    once it settles (a few seconds at most)."""
    wait = inbound.events_burst_wait()
    if wait:
        inbound.events_enqueue_later(countdown=wait)
        return
    try:
        deferred = inbound.events_apply_now()
    except MailchimpTransientError as error:
        raise self.retry(countdown=error.retry_after or 30, exc=error, max_retries=None) \
            from None
    if deferred:
        # A push of that member is in flight: apply once it has recorded what it sent.
        webhooks_apply.apply_async(countdown=5)


@shared_task(name="subscriptions.webhooks_sweep", ignore_result=True)
def webhooks_sweep() -> None:
    """The beat job: apply events no task was queued for (the broker was down)."""
    if inbound.events_pending():
        inbound.events_enqueue()


@shared_task(name="subscriptions.member_runs_watchdog", ignore_result=True)
def member_runs_watchdog() -> None:
    """The beat job: fail the reconciliations and imports whose worker died under them."""
    inbound.runs_abandoned_fail()


@shared_task(name="subscriptions.members_reconcile", ignore_result=True,
             soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def members_reconcile(run_id: int | None = None) -> None:
    """Run the queued MemberSyncRun `run_id` (a button, the command), or, from the beat
    (MAILCHIMP_RECONCILE_MINUTES), reconcile every audience the store uses."""
    inbound.runs_execute(run_id=run_id)
