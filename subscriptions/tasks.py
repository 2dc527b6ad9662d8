"""Celery tasks of the subscriptions: thin, they take ids, claim their row and call services."""
from celery import shared_task

from mailchimp_integration.exceptions import MailchimpTransientError

from . import selectors, services

# Mailchimp runs a batch within minutes: look after 10 s, then less and less often (at most
# every 2 minutes), for about an hour in all.
TAGS_CHECK_FIRST_WAIT = 10
TAGS_CHECK_MAX_WAIT = 120
TAGS_CHECK_MAX_TRIES = 35


@shared_task(name="subscriptions.push_send", ignore_result=True, acks_late=True)
def push_send(push_id: int) -> None:
    """Send one subscription change. A duplicate delivery finds nothing to claim."""
    if selectors.pushes_paused():
        return
    if not services.push_claim(push_id=push_id):
        return
    services.push_send(push_id=push_id)


@shared_task(name="subscriptions.push_backlog", ignore_result=True, acks_late=True)
def push_backlog() -> None:
    """Send every waiting subscribe in Mailchimp's bulk calls (the admin action's backlog)."""
    services.push_backlog_send()


@shared_task(name="subscriptions.push_sweep", ignore_result=True)
def push_sweep() -> None:
    """The beat job: re-send what was left waiting, and what a dead worker left sending."""
    services.push_sweep()


@shared_task(
    name="subscriptions.push_tags_check", bind=True, ignore_result=True,
    max_retries=TAGS_CHECK_MAX_TRIES,
)
def push_tags_check(self, batch_id: str) -> None:
    """Follow a `/batches` call of source tags until it has run; record the tags that failed."""
    try:
        finished = services.push_tags_batch_check(batch_id=batch_id)
    except MailchimpTransientError as error:
        raise self.retry(countdown=error.retry_after or 30, exc=error) from None
    if not finished:
        raise self.retry(countdown=min(TAGS_CHECK_MAX_WAIT, 10 * 2**self.request.retries))
