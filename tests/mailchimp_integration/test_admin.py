"""The back-office pages: permissions, CSRF, escaping, in-place toggles, constant queries."""
import json
import sys

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from mailchimp_integration import crypto, services
from mailchimp_integration.models import Audience, Interest, MailchimpConnection, SyncRun

from .factories import (
    LIST_MANAGER_PERMISSIONS,
    SETTINGS_MANAGER_PERMISSIONS,
    AudienceFactory,
    InterestCategoryFactory,
    InterestFactory,
    staff_user,
)

pytestmark = pytest.mark.django_db

LISTS_URL = "admin:mailchimp_integration_audience_changelist"
FLAGS_URL = "admin:mailchimp_integration_audience_flags"
SETTINGS_URL = "admin:mailchimp_integration_mailchimpconnection_changelist"
SYNC_URL = "admin:mailchimp_integration_mailchimpconnection_sync"


def logged_in(user, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def post_flag(client, **payload):
    return client.post(
        reverse(FLAGS_URL), data=json.dumps(payload), content_type="application/json",
        HTTP_ACCEPT="application/json",
    )


def audience_with_groups(*, categories: int = 1, groups: int = 2, **kwargs) -> Audience:
    audience = AudienceFactory(**kwargs)
    for _ in range(categories):
        category = InterestCategoryFactory(audience=audience)
        InterestFactory.create_batch(groups, category=category)
    return audience


# --- Mailchimp lists page ----------------------------------------------------------------------


def test_staff_without_the_permission_is_refused():
    client = logged_in(staff_user())
    assert client.get(reverse(LISTS_URL)).status_code == 403
    audience = AudienceFactory()
    response = post_flag(client, kind="audience", id=audience.pk, field="active", value=True)
    assert response.status_code == 403
    audience.refresh_from_db()
    assert audience.active is False


def test_anonymous_visitors_are_sent_to_the_admin_login():
    response = Client().get(reverse(LISTS_URL))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_view_permission_shows_the_lists_read_only():
    audience_with_groups(name="Newsletter")
    client = logged_in(staff_user(permissions=("mailchimp_integration.view_audience",)))
    response = client.get(reverse(LISTS_URL))
    assert response.status_code == 200
    assert "Newsletter" in response.text
    assert "You can see these lists but not change them." in response.text
    audience = Audience.objects.get()
    response = post_flag(client, kind="audience", id=audience.pk, field="active", value=True)
    assert response.status_code == 403


def test_every_audience_is_listed_with_its_groups_and_member_counts():
    audience = audience_with_groups(name="Newsletter", member_count=1234, groups=2)
    groups = list(Interest.objects.filter(audience=audience).order_by("pk"))
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    html = client.get(reverse(LISTS_URL)).text
    assert "1,234" in html
    for group in groups:
        assert group.name in html
        assert f'data-interest-id="{group.pk}"' in html


def test_toggles_are_saved_in_place_and_only_the_toggled_field_changes():
    audience = audience_with_groups()
    group = Interest.objects.filter(audience=audience).first()
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))

    response = post_flag(client, kind="audience", id=audience.pk, field="active", value=True)
    assert response.status_code == 200
    assert response.json() == {
        "kind": "audience", "id": audience.pk, "active": True, "subscribe_by_default": False,
    }
    response = post_flag(
        client, kind="interest", id=group.pk, field="subscribe_by_default", value=True
    )
    assert response.json()["subscribe_by_default"] is True

    audience.refresh_from_db()
    group.refresh_from_db()
    assert (audience.active, audience.subscribe_by_default) == (True, False)
    assert (group.active, group.subscribe_by_default) == (False, True)


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "audience", "field": "name", "value": True},
        {"kind": "campaign", "field": "active", "value": True},
        {"kind": "audience", "field": "active", "value": "yes"},
        {"kind": "audience", "field": "active"},
    ],
)
def test_bad_toggle_requests_are_rejected(payload):
    audience = AudienceFactory()
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    response = post_flag(client, id=audience.pk, **payload)
    assert response.status_code == 400
    audience.refresh_from_db()
    assert audience.active is False


def test_toggles_need_a_csrf_token():
    audience = AudienceFactory()
    user = staff_user(permissions=LIST_MANAGER_PERMISSIONS)
    client = logged_in(user, enforce_csrf=True)
    response = post_flag(client, kind="audience", id=audience.pk, field="active", value=True)
    assert response.status_code == 403
    audience.refresh_from_db()
    assert audience.active is False

    client.get(reverse(LISTS_URL))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse(FLAGS_URL),
        data=json.dumps({"kind": "audience", "id": audience.pk, "field": "active", "value": True}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200


def test_toggles_are_only_accepted_by_post():
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    assert client.get(reverse(FLAGS_URL)).status_code == 405


def test_names_from_mailchimp_are_escaped():
    audience_with_groups(name='<img src=x onerror="alert(1)">', groups=1)
    Interest.objects.update(name="<script>alert('group')</script>")
    html = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS)).get(reverse(LISTS_URL)).text
    assert "<img src=x" not in html and "<script>alert(" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;script&gt;alert(&#x27;group&#x27;)&lt;/script&gt;" in html


def test_an_inactive_audiences_groups_are_greyed_out_and_locked():
    inactive = audience_with_groups(name="Inactive", active=False, groups=1)
    active = audience_with_groups(name="Active", active=True, groups=1)
    html = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS)).get(reverse(LISTS_URL)).text
    assert f'class="mc-audience is-inactive" data-audience-id="{inactive.pk}"' in html
    assert f'class="mc-audience" data-audience-id="{active.pk}"' in html
    inactive_group = Interest.objects.get(audience=inactive)
    active_group = Interest.objects.get(audience=active)
    assert _input_tag(html, "interest", inactive_group.pk, "active").endswith("disabled>")
    assert not _input_tag(html, "interest", active_group.pk, "active").endswith("disabled>")


def _input_tag(html: str, kind: str, pk: int, field: str) -> str:
    marker = f'data-kind="{kind}" data-id="{pk}" data-field="{field}"'
    start = html.index(marker)
    return " ".join(html[start: html.index(">", start) + 1].split())


def test_a_removed_audience_is_shown_as_removed_with_the_reason_and_cannot_change():
    audience = audience_with_groups(name="Old list")
    Audience.objects.filter(pk=audience.pk).update(
        removed_at="2026-01-02T03:04:05Z", removed_reason=services.REMOVED_IN_MAILCHIMP
    )
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    html = client.get(reverse(LISTS_URL)).text
    assert "is-removed" in html
    assert "Removed: Deleted in Mailchimp" in html
    response = post_flag(client, kind="audience", id=audience.pk, field="active", value=True)
    assert response.status_code == 409
    assert "Deleted in Mailchimp" in response.json()["error"]


def test_toggles_are_recorded_in_the_admin_log():
    from django.contrib.admin.models import LogEntry

    audience = AudienceFactory()
    post_flag(
        logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS)),
        kind="audience", id=audience.pk, field="active", value=True,
    )
    entry = LogEntry.objects.get()
    assert entry.object_id == str(audience.pk)
    assert "Active" in entry.get_change_message() or "active" in entry.get_change_message()


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse(LISTS_URL)).status_code == 200
    return len(queries)


def test_the_lists_page_makes_the_same_number_of_queries_for_few_or_many_audiences():
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    for _ in range(2):
        audience_with_groups(categories=2, groups=3)
    few = page_queries(client)
    for _ in range(20):
        audience_with_groups(categories=2, groups=3)
    assert page_queries(client) == few


# --- Settings page -------------------------------------------------------------------------------


def test_the_settings_page_needs_its_permission():
    client = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS))
    assert client.get(reverse(SETTINGS_URL)).status_code == 403
    assert client.post(reverse(SYNC_URL)).status_code == 403


def test_a_key_from_the_environment_is_shown_masked_and_not_editable(settings):
    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab1234-us6"
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    MailchimpConnection.objects.create(pk=1, lists_synced_at="2026-01-01T00:00:00Z")
    html = client.get(reverse(SETTINGS_URL)).text
    assert "••••••••1234-us6" in html
    assert "from the environment" in html
    assert "0123456789abcdef" not in html
    assert 'name="api_key"' not in html
    response = client.post(reverse(SETTINGS_URL), {"action": "save", "api_key": "x-us1"})
    assert response.status_code == 302
    assert MailchimpConnection.objects.get().api_key_encrypted == ""


def test_a_stored_key_is_shown_masked_and_the_field_is_a_password_input(settings):
    settings.MAILCHIMP_API_KEY = ""
    MailchimpConnection.objects.create(
        pk=1, api_key_encrypted=crypto.encrypt("0123456789abcdef0123456789ab9876-us6"),
        lists_synced_at="2026-01-01T00:00:00Z",
    )
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    html = client.get(reverse(SETTINGS_URL)).text
    assert "••••••••9876-us6" in html
    assert "0123456789abcdef" not in html
    assert 'type="password" name="api_key"' in html


def test_a_malformed_key_is_refused_before_calling_mailchimp(settings):
    settings.MAILCHIMP_API_KEY = ""
    settings.MAILCHIMP_API_URL = ""
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    response = client.post(reverse(SETTINGS_URL), {"action": "save", "api_key": "not a key"})
    assert response.status_code == 200
    assert "does not look like a Mailchimp API key" in response.text
    assert not MailchimpConnection.objects.exclude(api_key_encrypted="").exists()


def test_an_error_report_of_the_key_form_hides_the_key(settings):
    settings.MAILCHIMP_API_KEY = ""
    settings.MAILCHIMP_API_URL = ""
    typed = "0123456789abcdef0123456789abcafe"  # no data centre: refused before any call
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    response = client.post(reverse(SETTINGS_URL), {"action": "save", "api_key": typed})
    assert response.status_code == 200
    request = response.wsgi_request  # as the view saw it, as an error report would

    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown["api_key"] == SafeExceptionReporterFilter.cleansed_substitute
    assert shown["action"] == "save"
    text, html = error_report(request)
    assert "something broke" in text and "api_key" in text
    assert typed not in text and typed not in html


def error_report(request) -> tuple[str, str]:
    """The text and HTML Django would email about a failure while handling `request`."""
    try:
        raise RuntimeError("something broke after the key was posted")
    except RuntimeError:
        report = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        return report.get_traceback_text(), report.get_traceback_html()


def test_view_only_staff_cannot_save_a_key(settings):
    settings.MAILCHIMP_API_KEY = ""
    client = logged_in(staff_user(permissions=("mailchimp_integration.view_mailchimpconnection",)))
    assert client.get(reverse(SETTINGS_URL)).status_code == 200
    response = client.post(reverse(SETTINGS_URL), {"action": "save", "api_key": "a-us6"})
    assert response.status_code == 403


def test_the_update_button_queues_a_sync_for_a_worker_and_returns_at_once(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    from mailchimp_integration import tasks

    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab1234-us6"
    queued = []
    monkeypatch.setattr(tasks.sync_lists, "delay", lambda run_id: queued.append(run_id))
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(SYNC_URL), HTTP_ACCEPT="application/json")
    assert response.status_code == 202
    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.QUEUED and run.trigger == SyncRun.Trigger.BUTTON
    assert queued == [run.pk]  # enqueued for the worker after commit; nothing ran here

    status = client.get(response.json()["status_url"]).json()["run"]
    assert status["state"] == "queued" and status["finished"] is False

    # A second press while the first is queued joins it instead of queuing another.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(reverse(SYNC_URL), HTTP_ACCEPT="application/json")
    assert again.json()["run"]["id"] == run.pk
    assert queued == [run.pk]


def test_the_update_button_needs_a_connection(settings):
    settings.MAILCHIMP_API_KEY = ""
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    response = client.post(reverse(SYNC_URL), HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert not SyncRun.objects.exists()


# --- Settings page against the sandbox ----------------------------------------------------------


@pytest.fixture
def admin_entered_key(connected, settings):
    """Connected to the sandbox's URL, but with no key from the environment."""
    settings.MAILCHIMP_API_KEY = ""
    return connected


@pytest.fixture
def checks_queued(monkeypatch):
    """The ids of the connection checks the page queued for a worker (after commit)."""
    from mailchimp_integration import tasks

    queued = []
    monkeypatch.setattr(tasks.connection_check, "delay", queued.append)
    return queued


def post_key_form(client, capture, data):
    """POST the key form; nothing reaches Mailchimp in the request."""
    with capture(execute=True):
        response = client.post(reverse(SETTINGS_URL), data)
    assert response.status_code == 302
    return response


def run_checks(queued) -> None:
    """What the worker does with each queued check."""
    for check_id in queued:
        services.connection_check_execute(check_id=check_id)
    queued.clear()


def test_saving_a_key_is_checked_by_a_worker_then_stored_encrypted_and_imports_the_lists(
    admin_entered_key, django_capture_on_commit_callbacks, monkeypatch, checks_queued
):
    from mailchimp_integration import tasks
    from mailchimp_integration.models import ConnectionCheck

    syncs = []
    monkeypatch.setattr(tasks.sync_lists, "delay", syncs.append)
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    key = admin_entered_key.api_key
    admin_entered_key.clear_requests()
    post_key_form(client, django_capture_on_commit_callbacks, {"action": "save", "api_key": key})
    # The request answered without calling Mailchimp; the page says the key is being checked.
    assert admin_entered_key.requests() == []
    check = ConnectionCheck.objects.get()
    assert checks_queued == [check.pk] and key not in check.api_key_encrypted
    assert not MailchimpConnection.objects.exclude(api_key_encrypted="").exists()
    html = client.get(reverse(SETTINGS_URL)).text
    assert "Checking with Mailchimp…" in html
    status_url = reverse(
        "admin:mailchimp_integration_mailchimpconnection_check_status", args=[check.pk]
    )
    assert status_url in html
    assert client.get(status_url).json()["check"]["finished"] is False

    with django_capture_on_commit_callbacks(execute=True):
        run_checks(checks_queued)
    stored = MailchimpConnection.objects.get()
    assert key not in stored.api_key_encrypted and crypto.decrypt(stored.api_key_encrypted) == key
    assert stored.account_name == "Hilltop Goods test account"
    assert syncs == [SyncRun.objects.get(trigger=SyncRun.Trigger.FIRST_CONNECTION).pk]
    assert ConnectionCheck.objects.get().api_key_encrypted == ""  # wiped once checked

    status = client.get(status_url).json()["check"]
    assert status["finished"] and status["ok"]
    html = client.get(reverse(SETTINGS_URL)).text
    assert crypto.mask(key) in html and key not in html
    assert "Connected to the Mailchimp account “Hilltop Goods test account”." in html


def test_a_key_mailchimp_rejects_is_not_saved(
    admin_entered_key, django_capture_on_commit_callbacks, checks_queued
):
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    post_key_form(client, django_capture_on_commit_callbacks,
                  {"action": "save", "api_key": "ffffffffffffffffffffffffffffffff-us6"})
    run_checks(checks_queued)
    html = client.get(reverse(SETTINGS_URL)).text
    assert "The key was not saved: Mailchimp rejected the API key (401 API Key Invalid" in html
    assert "ffffffffffffffffffffffffffffffff" not in html  # not even echoed back
    assert not MailchimpConnection.objects.exclude(api_key_encrypted="").exists()


def test_test_connection_shows_the_account_name_or_the_exact_reason(
    admin_entered_key, settings, django_capture_on_commit_callbacks, checks_queued
):
    settings.MAILCHIMP_API_KEY = admin_entered_key.api_key
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    MailchimpConnection.objects.create(pk=1, lists_synced_at="2026-01-01T00:00:00Z")

    def test_connection() -> str:
        post_key_form(client, django_capture_on_commit_callbacks, {"action": "test"})
        run_checks(checks_queued)
        return client.get(reverse(SETTINGS_URL)).text

    assert "Connected to the Mailchimp account “Hilltop Goods test account”." in test_connection()

    admin_entered_key.fail_status(503, times=1)
    assert "Mailchimp had a server error (503 Service Unavailable: " in test_connection()

    settings.MAILCHIMP_API_URL = "http://127.0.0.1:9/3.0"
    assert (
        "Mailchimp is unreachable (Connection failed: 127.0.0.1:9: Connection refused)"
        in test_connection()
    )


def test_test_connection_tries_a_typed_key_without_saving_it(
    admin_entered_key, django_capture_on_commit_callbacks, checks_queued
):
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    post_key_form(client, django_capture_on_commit_callbacks,
                  {"action": "test", "api_key": "ffffffffffffffffffffffffffffffff-us6"})
    run_checks(checks_queued)
    html = client.get(reverse(SETTINGS_URL)).text
    assert "Mailchimp rejected the API key (401 API Key Invalid" in html
    assert not MailchimpConnection.objects.exclude(api_key_encrypted="").exists()


def test_a_newer_key_replaces_one_still_waiting_for_its_check(
    admin_entered_key, django_capture_on_commit_callbacks, checks_queued
):
    from mailchimp_integration.models import ConnectionCheck

    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    for key in ("00000000000000000000000000000000-us6", admin_entered_key.api_key):
        post_key_form(client, django_capture_on_commit_callbacks,
                      {"action": "save", "api_key": key})
    run_checks(checks_queued)
    first, second = ConnectionCheck.objects.order_by("pk")
    assert first.message == "Not saved: a newer key was entered." and not first.api_key_encrypted
    assert second.state == ConnectionCheck.State.SUCCEEDED
    stored = MailchimpConnection.objects.get()
    assert crypto.decrypt(stored.api_key_encrypted) == admin_entered_key.api_key


def test_a_check_no_worker_took_is_failed_and_its_key_wiped(settings):
    from datetime import timedelta

    from django.utils import timezone

    from mailchimp_integration.models import ConnectionCheck

    settings.MAILCHIMP_API_KEY = ""
    check = ConnectionCheck.objects.create(
        purpose="save", api_key_encrypted=crypto.encrypt("k-us6")
    )
    ConnectionCheck.objects.filter(pk=check.pk).update(
        requested_at=timezone.now() - timedelta(minutes=6)
    )
    assert services.connection_check_fail_stale() == 1
    check.refresh_from_db()
    assert check.state == "failed" and check.api_key_encrypted == ""
    assert "is the Celery worker running?" in check.message


def test_a_get_of_the_settings_page_writes_nothing_and_starts_no_sync(settings):
    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab1234-us6"  # connected, never synced
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse(SETTINGS_URL)).status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(
        ("INSERT", "UPDATE", "DELETE"))]
    assert [sql for sql in writes if "django_session" not in sql] == []
    assert not SyncRun.objects.exists()
    assert client.get(reverse(SYNC_URL)).status_code == 405
    assert not SyncRun.objects.exists()


def test_the_update_button_needs_the_csrf_token(settings):
    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab1234-us6"
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS), enforce_csrf=True)
    assert client.post(reverse(SYNC_URL), HTTP_ACCEPT="application/json").status_code == 403
    assert not SyncRun.objects.exists()


def test_the_settings_page_shows_the_last_import_made_by_any_path(settings):
    """Lists imported by `make run`'s seeding or by the command are not "not imported yet"."""
    from django.utils import timezone

    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab1234-us6"
    client = logged_in(
        staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS + LIST_MANAGER_PERMISSIONS)
    )
    assert "The lists have not been imported yet." in client.get(reverse(SETTINGS_URL)).text

    SyncRun.objects.create(
        trigger=SyncRun.Trigger.COMMAND, state=SyncRun.State.SUCCEEDED,
        finished_at=timezone.now(), audiences=1, categories=1, interests=3, created=5,
    )
    for url in (SETTINGS_URL, LISTS_URL):
        html = client.get(reverse(url)).text
        assert "not been imported" not in html
        assert "by the command line. Synced 1 audience, 1 category, 3 groups: 5 created" in html

    SyncRun.objects.create(
        trigger=SyncRun.Trigger.SCHEDULE, state=SyncRun.State.FAILED, error="Mailchimp is down",
        finished_at=timezone.now(),
    )
    html = client.get(reverse(SETTINGS_URL)).text
    assert "Synced 1 audience" in html and "failed: Mailchimp is down" in html


def test_lists_imported_without_a_recorded_run_show_their_time_and_counts(settings):
    MailchimpConnection.objects.create(pk=1, lists_synced_at="2026-01-01T09:30:00Z")
    audience_with_groups(categories=1, groups=2)
    client = logged_in(staff_user(permissions=SETTINGS_MANAGER_PERMISSIONS))
    html = client.get(reverse(SETTINGS_URL)).text
    assert "Last import: " in html
    assert "The store has 1 audience, 1 category and 2 groups from Mailchimp." in html


def test_audiences_still_in_mailchimp_come_before_removed_ones():
    AudienceFactory(name="A removed", removed_at="2026-01-01T00:00:00Z", removed_reason="x")
    AudienceFactory(name="B listed")
    html = logged_in(staff_user(permissions=LIST_MANAGER_PERMISSIONS)).get(reverse(LISTS_URL)).text
    assert html.index("B listed") < html.index("A removed")


def test_both_pages_are_under_marketing_on_the_back_office_index():
    client = logged_in(
        staff_user(permissions=LIST_MANAGER_PERMISSIONS + SETTINGS_MANAGER_PERMISSIONS)
    )
    html = client.get(reverse("admin:index")).text
    marketing = html[html.index("Marketing"):]
    assert "Mailchimp integration" in marketing and "Mailchimp lists" in marketing
