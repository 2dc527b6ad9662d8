"""Celery tasks of the subscriptions: thin, they take ids, claim their row and call services."""
from celery import shared_task

from . import selectors, services


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
