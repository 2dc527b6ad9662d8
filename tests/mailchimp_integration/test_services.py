"""The list sync and the store's toggles, over real HTTP against the Mailchimp sandbox."""
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailchimp_integration import services, signals
from mailchimp_integration.exceptions import (
    MailchimpAuthError,
    MailchimpNotConfigured,
    MailchimpUnreachable,
)
from mailchimp_integration.models import (
    Audience,
    Interest,
    InterestCategory,
    MailchimpConnection,
    SyncRun,
)

pytestmark = pytest.mark.django_db


def seed(sandbox, *, lists: int = 2, categories: int = 2, groups: int = 3) -> dict:
    """Lists, categories and groups on the Mailchimp side; their ids by name."""
    ids = {}
    for n in range(lists):
        list_id = ids[f"L{n}"] = sandbox.create_list(f"List {n}", member_count=100 + n)
        for c in range(categories):
            cat_id = ids[f"L{n}C{c}"] = sandbox.create_category(list_id, f"Category {n}.{c}")
            for g in range(groups):
                ids[f"L{n}C{c}G{g}"] = sandbox.create_interest(
                    list_id, cat_id, f"Group {n}.{c}.{g}", subscriber_count=g
                )
    return ids


def test_the_first_sync_imports_every_list_category_and_group_inactive(connected):
    ids = seed(connected, lists=2, categories=2, groups=3)
    result = services.audience_sync_all()
    assert (result.audiences, result.categories, result.interests) == (2, 4, 12)
    assert (result.created, result.updated, result.removed) == (18, 0, 0)
    audience = Audience.objects.get(mailchimp_id=ids["L1"])
    assert (audience.name, audience.member_count) == ("List 1", 101)
    assert audience.active is False and audience.subscribe_by_default is False
    assert audience.last_seen_at is not None and audience.removed_at is None
    group = Interest.objects.get(mailchimp_id=ids["L1C0G2"])
    assert (group.name, group.member_count, group.audience, group.active) == (
        "Group 1.0.2", 2, audience, False,
    )
    assert group.category == InterestCategory.objects.get(mailchimp_id=ids["L1C0"])


def test_a_sync_makes_one_call_per_list_and_per_category_fetching_only_stored_fields(connected):
    seed(connected, lists=3, categories=2, groups=2)
    connected.clear_requests()
    result = services.audience_sync_all()
    paths = connected.requests()
    assert len(paths) == 1 + 3 + 3 * 2 == result.calls
    assert all("count=1000" in p and "fields=" in p for p in paths)
    lists_call = next(p for p in paths if p.split("?")[0].endswith("/lists"))
    assert "lists.id" in lists_call and "lists.stats.member_count" in lists_call


def test_a_second_sync_changes_nothing(connected):
    seed(connected)
    services.audience_sync_all()
    before = list(Audience.objects.values_list("pk", "name")), Interest.objects.count()
    result = services.audience_sync_all()
    assert (result.created, result.updated, result.removed) == (0, 0, 0)
    assert (list(Audience.objects.values_list("pk", "name")), Interest.objects.count()) == before


def test_renames_keep_the_stores_toggles(connected):
    ids = seed(connected, lists=1, categories=1, groups=2)
    services.audience_sync_all()
    audience = Audience.objects.get(mailchimp_id=ids["L0"])
    group = Interest.objects.get(mailchimp_id=ids["L0C0G0"])
    services.audience_flags_set(audience_id=audience.pk, active=True, subscribe_by_default=True)
    services.interest_flags_set(interest_id=group.pk, active=True)

    connected.rename_list(ids["L0"], "Weekly news")
    connected.rename_interest(ids["L0"], ids["L0C0"], ids["L0C0G0"], "Shoes")
    result = services.audience_sync_all()

    assert (result.created, result.updated, result.removed) == (0, 2, 0)
    audience.refresh_from_db()
    group.refresh_from_db()
    assert (audience.pk, audience.name, audience.active, audience.subscribe_by_default) == (
        audience.pk, "Weekly news", True, True,
    )
    assert (group.name, group.active) == ("Shoes", True)


def test_new_lists_arrive_inactive_and_deleted_ones_are_marked_removed_not_deleted(
    connected, django_capture_on_commit_callbacks
):
    ids = seed(connected, lists=2, categories=1, groups=2)
    services.audience_sync_all()
    Audience.objects.update(active=True)
    announced = []

    def on_audience(sender, audience_ids, **kwargs):
        announced.append(("audiences", audience_ids))

    def on_interest(sender, interest_ids, **kwargs):
        announced.append(("interests", interest_ids))

    signals.audience_removed.connect(on_audience, dispatch_uid="test-a")
    signals.interest_removed.connect(on_interest, dispatch_uid="test-i")
    try:
        connected.delete_list(ids["L0"])
        connected.delete_interest(ids["L1"], ids["L1C0"], ids["L1C0G1"])
        new_list = connected.create_list("Brand new", member_count=5)
        with django_capture_on_commit_callbacks(execute=True):  # announced after commit
            result = services.audience_sync_all()
    finally:
        signals.audience_removed.disconnect(dispatch_uid="test-a")
        signals.interest_removed.disconnect(dispatch_uid="test-i")

    assert (result.created, result.removed) == (1, 1 + 1 + 2 + 1)
    gone = Audience.objects.get(mailchimp_id=ids["L0"])
    assert gone.removed_at is not None and gone.removed_reason == "Deleted in Mailchimp"
    assert gone.active is True  # kept as it was: the subscriptions app shows it disabled
    assert set(
        Interest.objects.filter(audience=gone).values_list("removed_reason", flat=True)
    ) == {"Its audience was deleted in Mailchimp"}
    deleted_group = Interest.objects.get(mailchimp_id=ids["L1C0G1"])
    assert deleted_group.removed_reason == "Deleted in Mailchimp"
    assert Interest.objects.get(mailchimp_id=ids["L1C0G0"]).removed_at is None
    assert Audience.objects.get(mailchimp_id=new_list).active is False

    removed_interest_ids = set(
        Interest.objects.exclude(removed_at=None).values_list("pk", flat=True)
    )
    assert announced == [
        ("audiences", [gone.pk]),
        ("interests", sorted(removed_interest_ids)),
    ]
    # Removed things leave the forms.
    from mailchimp_integration.selectors import audiences_for_forms

    offered = audiences_for_forms()
    assert gone not in offered
    assert deleted_group.pk not in {i.pk for a in offered for i in a.interests.all()}

    # A further sync does not announce or count them again.
    assert services.audience_sync_all().removed == 0


def test_a_deleted_category_removes_its_groups(connected):
    ids = seed(connected, lists=1, categories=2, groups=2)
    services.audience_sync_all()
    connected.delete_category(ids["L0"], ids["L0C1"])
    result = services.audience_sync_all()
    assert result.removed == 1 + 2
    assert set(
        Interest.objects.filter(category__mailchimp_id=ids["L0C1"]).values_list(
            "removed_reason", flat=True
        )
    ) == {"Its group category was deleted in Mailchimp"}


def test_the_sql_queries_of_a_sync_do_not_grow_with_the_number_of_lists(connected):
    seed(connected, lists=2, categories=2, groups=2)
    services.audience_sync_all()
    with CaptureQueriesContext(connection) as small:
        services.audience_sync_all()
    seed(connected, lists=15, categories=2, groups=2)
    services.audience_sync_all()
    with CaptureQueriesContext(connection) as large:
        services.audience_sync_all()
    if connection.vendor == "postgresql":
        assert len(large) == len(small)
    else:  # SQLite caps the variables of one statement, so big upserts are split.
        assert len(large) <= len(small) + 6


def test_a_429_during_a_sync_is_retried_and_the_sync_completes(connected):
    seed(connected, lists=3, categories=1, groups=1)
    connected.fail_429(times=3, retry_after=0.1)
    result = services.audience_sync_all()
    assert (result.audiences, result.interests) == (3, 3)
    assert Audience.objects.count() == 3


def test_a_bad_key_fails_with_mailchimps_reason(connected, settings):
    settings.MAILCHIMP_API_KEY = "0000000000wrongkey-us6"
    with pytest.raises(MailchimpAuthError) as caught:
        services.audience_sync_all()
    assert caught.value.status == 401
    assert caught.value.reason.startswith("Mailchimp rejected the API key (401 ")


def test_mailchimp_down_fails_the_sync_as_unreachable_without_writing(connected, settings):
    seed(connected)
    settings.MAILCHIMP_API_URL = "http://127.0.0.1:9/3.0"  # nothing listens on the discard port
    settings.MAILCHIMP_RETRY_ATTEMPTS = 2
    with pytest.raises(MailchimpUnreachable) as caught:
        services.audience_sync_all()
    assert caught.value.retryable
    assert not Audience.objects.exists()


def test_without_a_key_the_sync_says_so(settings):
    settings.MAILCHIMP_API_KEY = ""
    with pytest.raises(MailchimpNotConfigured):
        services.audience_sync_all()


def test_connection_test_names_the_account_or_the_exact_failure(connected, settings):
    ok = services.connection_test()
    assert ok.ok and ok.account_name and ok.account_name in ok.message
    bad = services.connection_test(api_key="0000000000wrongkey-us6")
    assert not bad.ok and bad.message.startswith("Mailchimp rejected the API key (401 ")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_leave_no_duplicates_and_lose_no_toggles(connected):
    ids = seed(connected, lists=4, categories=2, groups=3)
    services.audience_sync_all()
    Audience.objects.filter(mailchimp_id=ids["L0"]).update(active=True)
    connected.rename_list(ids["L1"], "Renamed")
    connected.create_list("Another", member_count=1)
    connected.set_latency(0.02)  # keep both syncs in flight together

    errors, barrier = [], threading.Barrier(3)

    def sync():
        try:
            barrier.wait()
            services.audience_sync_all()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait()
    # A toggle saved while both syncs run is kept.
    group = Interest.objects.get(mailchimp_id=ids["L2C1G2"])
    services.interest_flags_set(interest_id=group.pk, active=True, subscribe_by_default=True)
    for thread in threads:
        thread.join()

    assert errors == []
    assert Audience.objects.count() == 5
    assert InterestCategory.objects.count() == 8 and Interest.objects.count() == 24
    assert Audience.objects.get(mailchimp_id=ids["L0"]).active is True
    assert Audience.objects.get(mailchimp_id=ids["L1"]).name == "Renamed"
    group.refresh_from_db()
    assert (group.active, group.subscribe_by_default) == (True, True)
    assert connected.peak_concurrency() <= 10


# --- Sync runs: what the button, the schedule and the command record -----------------------


def test_a_run_records_progress_counts_and_success(connected):
    seed(connected, lists=2, categories=1, groups=1)
    run = services.sync_run_create(trigger=SyncRun.Trigger.BUTTON)
    seen = []
    run = services.sync_run_execute(run_id=run.pk, on_progress=lambda d, t: seen.append((d, t)))
    assert run.state == SyncRun.State.SUCCEEDED
    assert (run.audiences, run.categories, run.interests, run.created) == (2, 2, 2, 6)
    assert run.progress_done == run.progress_total == 5
    assert seen[-1] == (5, 5)
    assert run.summary == (
        "Synced 2 audiences, 2 categories, 2 groups: 6 created, 0 updated, 0 removed."
    )
    # A run is executed once: a second delivery of the task does nothing.
    assert services.sync_run_execute(run_id=run.pk).finished_at == run.finished_at


def test_a_failed_run_records_the_reason(connected, settings):
    settings.MAILCHIMP_API_KEY = "0000000000wrongkey-us6"
    run = services.sync_run_create(trigger=SyncRun.Trigger.SCHEDULE)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.state == SyncRun.State.FAILED
    assert run.error.startswith("Mailchimp rejected the API key (401 ")


def test_saving_a_key_imports_the_lists_once_committed(
    connected, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from mailchimp_integration import tasks

    settings.MAILCHIMP_API_KEY = ""
    seed(connected, lists=1, categories=1, groups=1)
    queued = []
    monkeypatch.setattr(tasks.sync_lists, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_save_api_key(api_key=connected.api_key, account_name="Demo")
    run = SyncRun.objects.get()
    assert queued == [run.pk] and run.trigger == SyncRun.Trigger.FIRST_CONNECTION
    stored = MailchimpConnection.objects.get()
    assert connected.api_key not in stored.api_key_encrypted
    # The worker's side of it, run here directly: the task with the run's id.
    tasks.sync_lists(run.pk)
    assert SyncRun.objects.get().state == SyncRun.State.SUCCEEDED
    assert Audience.objects.count() == 1


def test_a_key_from_the_environment_is_synced_on_first_sight_only(
    connected, django_capture_on_commit_callbacks, monkeypatch
):
    from mailchimp_integration import tasks

    monkeypatch.setattr(tasks.sync_lists, "delay", lambda run_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.connection_ensure_first_sync()
        second = services.connection_ensure_first_sync()
    assert first is not None and second is None
    assert SyncRun.objects.count() == 1


def test_the_scheduled_sync_runs_when_connected_and_skips_otherwise(connected, settings):
    seed(connected, lists=1, categories=1, groups=1)
    run = services.sync_run_scheduled()
    assert run.state == SyncRun.State.SUCCEEDED and run.trigger == SyncRun.Trigger.SCHEDULE
    settings.MAILCHIMP_API_KEY = ""
    assert services.sync_run_scheduled() is None


def test_runs_whose_worker_died_are_marked_failed(settings):
    from django.utils import timezone

    run = services.sync_run_create(trigger=SyncRun.Trigger.BUTTON)
    SyncRun.objects.filter(pk=run.pk).update(
        state=SyncRun.State.RUNNING, queued_at=timezone.now() - timezone.timedelta(hours=2)
    )
    assert services.sync_run_fail_stale() == 1
    assert "did not finish" in SyncRun.objects.get().error
