"""A reconciliation or import whose process is killed does not stay "running" for ever: its
heartbeat stops, the watchdog fails it with the reason, and the buttons, which queue nothing
while a run is unfinished, queue a new one.

The run is killed for real: `manage.py import_members` in its own process, on the test
database, held by a hung read in the sandbox, then SIGKILLed."""
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from mailchimp_integration.services import mailchimp_client_build
from subscriptions import inbound
from subscriptions.models import MemberSyncRun
from tests.conftest import database_url_for_test_db, wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

IMPORT = MemberSyncRun.Kind.IMPORT


def test_a_killed_import_is_failed_by_the_watchdog_and_the_button_works_again(
        news_list, account, broker_off, settings):
    account.subscribe(news_list.mailchimp_id, "cy@example.com")
    account.add_fault("hang", route="/lists/*/members", method="GET", seconds=60, times=1)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": database_url_for_test_db(), "MAILCHIMP_API_URL": account.url,
           "MAILCHIMP_API_KEY": account.api_key, "MAILCHIMP_READ_TIMEOUT": "60"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_members", f"--audience={news_list.mailchimp_id}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = wait_for(lambda: MemberSyncRun.objects.filter(
            state=MemberSyncRun.State.RUNNING).first(), timeout=30,
            message="the import did not start")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert run.heartbeat_at is not None

    # Just killed: it looks alive yet, so a press queues nothing more.
    [same] = inbound.runs_enqueue(audiences=[news_list], kind=IMPORT)
    assert same.pk == run.pk
    assert inbound.runs_abandoned_fail() == 0

    later = timezone.now() + timedelta(minutes=settings.MAILCHIMP_MEMBER_RUN_STALE_MINUTES,
                                       seconds=1)
    assert inbound.runs_abandoned_fail(now=later) == 1
    run.refresh_from_db()
    assert run.state == MemberSyncRun.State.FAILED and run.finished_at == later
    assert "The worker stopped while this ran" in run.error and run.watermark is None
    assert inbound.runs_abandoned_fail(now=later) == 0, "failed once"

    [again] = inbound.runs_enqueue(audiences=[news_list], kind=IMPORT)
    assert again.pk != run.pk and again.state == MemberSyncRun.State.QUEUED
    account.clear_faults()
    inbound.run_execute(run=again, client=mailchimp_client_build())
    assert again.state == MemberSyncRun.State.SUCCEEDED
    assert news_list.subscriptions.filter(email="cy@example.com").exists()


def test_an_unexpected_error_fails_the_run_with_its_reason(news_list, account, monkeypatch):
    account.subscribe(news_list.mailchimp_id, "cy@example.com")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(inbound, "apply_members", broken)
    run = inbound.run_create(audience=news_list, kind=IMPORT)
    with pytest.raises(RuntimeError):
        inbound.run_execute(run=run, client=mailchimp_client_build())
    run.refresh_from_db()
    assert run.state == MemberSyncRun.State.FAILED and run.finished_at is not None
    assert "RuntimeError: disk full" in run.error
