"""The Celery tasks: registered under stable names, scheduled by beat, thin over services."""
import pytest
from django.conf import settings

from mailchimp_integration import tasks
from mailchimp_integration.models import Audience, SyncRun
from shop.celery import app

from .test_services import seed


def test_the_beat_schedule_re_imports_the_lists_at_the_configured_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["mailchimp-sync-lists"]
    assert entry["task"] == tasks.sync_lists_scheduled.name
    assert entry["schedule"] == settings.MAILCHIMP_SYNC_INTERVAL_MINUTES * 60
    app.loader.import_default_modules()
    assert {tasks.sync_lists.name, tasks.sync_lists_scheduled.name} <= set(app.tasks)


@pytest.mark.django_db
def test_the_scheduled_task_syncs(connected):
    seed(connected, lists=2, categories=1, groups=1)
    tasks.sync_lists_scheduled()
    assert SyncRun.objects.get().state == SyncRun.State.SUCCEEDED
    assert Audience.objects.count() == 2


@pytest.mark.django_db
def test_the_task_takes_a_run_id_and_runs_it_once(connected):
    seed(connected, lists=1, categories=1, groups=1)
    run = SyncRun.objects.create(trigger=SyncRun.Trigger.BUTTON)
    tasks.sync_lists(run.pk)
    tasks.sync_lists(run.pk)  # a redelivery finds it claimed and does nothing
    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED and run.created == 3


@pytest.mark.django_db
def test_beat_finds_a_newly_connected_store_within_a_minute(
    connected, django_capture_on_commit_callbacks, monkeypatch
):
    entry = settings.CELERY_BEAT_SCHEDULE["mailchimp-first-sync"]
    assert entry["task"] == tasks.sync_lists_first.name and entry["schedule"] <= 60
    queued = []
    monkeypatch.setattr(tasks.sync_lists, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_lists_first()
        tasks.sync_lists_first()  # the next tick: already requested, nothing more
    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.FIRST_CONNECTION and queued == [run.pk]


@pytest.mark.django_db(transaction=True)
def test_a_sync_queued_while_the_broker_is_down_fails_visibly_and_blocks_no_later_sync():
    from mailchimp_integration import services
    from tests.processes import celery_app_broker, free_port

    with celery_app_broker(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        run = services.sync_run_enqueue(trigger=SyncRun.Trigger.BUTTON)
    run.refresh_from_db()
    assert run.state == SyncRun.State.FAILED
    assert "task queue could not be reached" in run.error
    # The next try (the broker back) gets a run of its own, not the dead one.
    with celery_app_broker(f"redis://127.0.0.1:{free_port()}/0"):
        again = services.sync_run_enqueue(trigger=SyncRun.Trigger.BUTTON)
    assert again.pk != run.pk
