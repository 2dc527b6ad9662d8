"""Celery tasks of the Mailchimp integration: thin, they take ids and call services."""
from celery import shared_task

from . import services


@shared_task(name="mailchimp_integration.sync_lists", ignore_result=True)
def sync_lists(run_id: int) -> None:
    """Run the queued SyncRun `run_id` (a button press or a first connection).

    Transient Mailchimp errors are retried inside the sync, call by call; a sync that still
    fails is recorded as failed on its run, with the reason, and the schedule tries again.
    """
    services.sync_run_execute(run_id=run_id)


@shared_task(name="mailchimp_integration.connection_check", ignore_result=True,
             soft_time_limit=120, time_limit=150)
def connection_check(check_id: int) -> None:
    """Check the key of ConnectionCheck `check_id` with Mailchimp (and save it, if asked).

    The key is read from the row (encrypted), never passed in the task's arguments.
    """
    services.connection_check_execute(check_id=check_id)


@shared_task(name="mailchimp_integration.sync_lists_scheduled", ignore_result=True)
def sync_lists_scheduled() -> None:
    """The beat job (MAILCHIMP_SYNC_INTERVAL_MINUTES): re-import the lists."""
    services.sync_run_scheduled()


@shared_task(name="mailchimp_integration.sync_lists_first", ignore_result=True)
def sync_lists_first() -> None:
    """A frequent, cheap beat job: import the lists as soon as the store is found connected
    (a key from the environment needs no admin visit), once; a no-op afterwards. Also wipes
    the keys of connection checks no worker took."""
    services.connection_ensure_first_sync()
    services.connection_check_fail_stale()


@shared_task(name="mailchimp_integration.webhooks_register", ignore_result=True)
def webhooks_register(rotate: bool = False) -> None:
    """Register every audience's webhook with Mailchimp ("Re-register webhooks"); `rotate`
    gives each a new secret. Outcomes are recorded on the endpoints."""
    services.webhooks_register(rotate=rotate)


@shared_task(name="mailchimp_integration.ecommerce_send", ignore_result=True,
             soft_time_limit=50, time_limit=60)
def ecommerce_send(record_id: int) -> None:
    """Send one e-commerce record's current state; a duplicate finds nothing to claim."""
    from . import ecommerce_delivery

    ecommerce_delivery.deliver(record_id=record_id)


@shared_task(name="mailchimp_integration.ecommerce_sweep", ignore_result=True)
def ecommerce_sweep() -> None:
    """The beat job: records whose send was never queued (the broker was down) or whose
    worker died are sent."""
    from . import ecommerce_delivery

    ecommerce_delivery.sweep()


@shared_task(name="mailchimp_integration.ecommerce_backfill", ignore_result=True)
def ecommerce_backfill(backfill_id: int) -> None:
    """Run the queued "Sync store data" StoreBackfill `backfill_id`; a duplicate finds
    nothing to claim."""
    from . import ecommerce_backfill as backfill

    backfill.backfill_run(backfill_id)


@shared_task(name="mailchimp_integration.ecommerce_backfill_watchdog", ignore_result=True)
def ecommerce_backfill_watchdog() -> None:
    """The beat job: a store data sync whose worker died is failed (resumable) and
    is_syncing cleared in Mailchimp."""
    from . import ecommerce_backfill as backfill

    backfill.backfill_watchdog()
