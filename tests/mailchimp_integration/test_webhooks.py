"""Mailchimp's webhooks, the receiving end: one URL per audience with a secret only its hash
of is kept; Mailchimp's GET check; each event stored as it came, at once; a wrong secret
refused with nothing stored. Through Django's client, and from the sandbox over HTTP."""
import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from mailchimp_integration import webhooks
from mailchimp_integration.models import Audience, WebhookEndpoint, WebhookEvent
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db

UNSUBSCRIBE = {
    "type": "unsubscribe", "fired_at": "2026-12-04 10:11:12",
    "data[action]": "unsub", "data[reason]": "manual", "data[id]": "8a25ff1d98",
    "data[list_id]": "a6b5da1054", "data[email]": "ann@example.com",
    "data[email_type]": "html", "data[merges][EMAIL]": "ann@example.com",
    "data[merges][FNAME]": "Ann", "data[merges][INTERESTS]": "Offers, Recipes",
    "data[ip_opt]": "203.0.113.7",
}


@pytest.fixture
def endpoint():
    audience = Audience.objects.create(mailchimp_id="a6b5da1054", name="Newsletter",
                                       last_seen_at=timezone.now())
    return webhooks.endpoint_secret_new(audience=audience)


def test_the_url_answers_mailchimps_check_only_with_its_secret(client, endpoint):
    hook, secret = endpoint
    assert client.get(webhooks.endpoint_path(hook, secret)).status_code == 200
    assert client.get(webhooks.endpoint_path(hook, secret + "x")).status_code == 404
    assert client.get(f"/mailchimp/webhooks/{hook.pk + 1}/{secret}/").status_code == 404
    # Only the secret's hash is kept.
    assert secret not in WebhookEndpoint.objects.get().secret_hash


def test_an_event_is_stored_as_it_came_without_a_csrf_token(endpoint):
    hook, secret = endpoint
    response = Client(enforce_csrf_checks=True).post(webhooks.endpoint_path(hook, secret),
                                                     UNSUBSCRIBE)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.type, event.fired_at) == ("unsubscribe", "2026-12-04 10:11:12")
    assert event.data["merges"] == {"EMAIL": "ann@example.com", "FNAME": "Ann",
                                    "INTERESTS": "Offers, Recipes"}
    assert event.data["email"] == "ann@example.com" and event.data["action"] == "unsub"
    assert event.applied_at is None
    hook.refresh_from_db()
    assert hook.last_event_at is None, "the POST writes the event and nothing else"


def test_a_wrong_secret_is_refused_nothing_stored_and_repeated_tries_are_limited(
    client, endpoint, settings, monkeypatch
):
    import logging

    from mailchimp_integration import views

    # Its own handler and level: `sync_lists`, run by earlier tests, quiets the integration's
    # loggers below ERROR for the rest of the process.
    logged: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = logged.append
    monkeypatch.setattr(views.logger, "disabled", False)
    views.logger.setLevel(logging.WARNING)  # setLevel, not .level: it clears the level cache
    views.logger.addHandler(handler)
    hook, secret = endpoint
    settings.MAILCHIMP_WEBHOOK_REFUSALS_LIMIT = 3
    statuses = [client.post(webhooks.endpoint_path(hook, "guess"), UNSUBSCRIBE,
                            REMOTE_ADDR="198.51.100.9").status_code for _ in range(5)]
    assert statuses == [404, 404, 404, 429, 429]
    assert WebhookEvent.objects.count() == 0
    views.logger.removeHandler(handler)
    views.logger.setLevel(logging.NOTSET)
    assert len(logged) == 5 and "webhook refused" in logged[0].getMessage()
    # Mailchimp itself, with the right secret, is not held back by someone else's guesses.
    assert client.post(webhooks.endpoint_path(hook, secret), UNSUBSCRIBE).status_code == 200


def test_a_new_secret_retires_the_old_url_after_a_day_and_the_one_before_at_once(
    client, endpoint
):
    from datetime import timedelta

    hook, old = endpoint
    hook, new = webhooks.endpoint_secret_new(audience=hook.audience)
    # Mailchimp still retries deliveries to the old URL for over an hour: accepted 24 h.
    assert client.get(webhooks.endpoint_path(hook, old)).status_code == 200
    assert client.get(webhooks.endpoint_path(hook, new)).status_code == 200
    hook, newest = webhooks.endpoint_secret_new(audience=hook.audience)
    assert client.get(webhooks.endpoint_path(hook, old)).status_code == 404
    assert client.get(webhooks.endpoint_path(hook, new)).status_code == 200
    WebhookEndpoint.objects.update(previous_valid_until=timezone.now() - timedelta(seconds=1))
    webhooks.forget_known()  # an update() sends no signal: as once the process's copy expires
    assert client.get(webhooks.endpoint_path(hook, new)).status_code == 404
    assert client.get(webhooks.endpoint_path(hook, newest)).status_code == 200
    assert WebhookEndpoint.objects.count() == 1


def test_a_body_that_is_no_mailchimp_event_is_refused(client, endpoint):
    hook, secret = endpoint
    response = client.post(webhooks.endpoint_path(hook, secret), {"type": "hello"})
    assert response.status_code == 400 and WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_a_persons_unsubscribe_to_the_store(live_server, connected):
    from tests.subscriptions.helpers import api

    list_id = connected.create_list("Webhooked")
    audience = Audience.objects.create(mailchimp_id=list_id, name="Webhooked",
                                       last_seen_at=timezone.now())
    hook, secret = webhooks.endpoint_secret_new(audience=audience)
    url = live_server.url + webhooks.endpoint_path(hook, secret)
    created = api(connected, "POST", f"/lists/{list_id}/webhooks", json={
        "url": url, "events": {"unsubscribe": True, "subscribe": True},
        "sources": {"user": True, "admin": True, "api": False}})
    assert created.status_code == 200, created.text
    # Mailchimp retries a failed delivery for over an hour; here within a second or two.
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5, 1, 2]})
    connected.subscribe(list_id, "person@example.com")
    connected.unsubscribe(list_id, "person@example.com")
    connected.webhook_deliveries(wait=True)
    events = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(
        list(WebhookEvent.objects.order_by("pk"))), timeout=10,
        message=f"two events did not arrive: {connected.webhook_deliveries(wait=False)}")
    assert [e.type for e in events] == ["subscribe", "unsubscribe"]
    assert events[1].data["email"] == "person@example.com"
    assert events[1].endpoint_id == hook.pk


def test_a_post_to_a_known_endpoint_costs_one_insert(client, endpoint,
                                                      django_assert_num_queries):
    """The endpoint is read once per process and a while; each event then is one INSERT."""
    hook, secret = endpoint
    path = webhooks.endpoint_path(hook, secret)
    webhooks.forget_known()
    assert client.post(path, UNSUBSCRIBE).status_code == 200  # reads the endpoint
    with django_assert_num_queries(1) as queries:
        assert client.post(path, UNSUBSCRIBE).status_code == 200
    assert queries.captured_queries[0]["sql"].startswith('INSERT INTO "mailchimp_integration')
    # A secret the copy does not know is checked against the database.
    hook, new = webhooks.endpoint_secret_new(audience=hook.audience)
    assert client.post(webhooks.endpoint_path(hook, new), UNSUBSCRIBE).status_code == 200
    # Deleted with its list: not accepted from the copy.
    hook.audience.delete()
    assert client.post(webhooks.endpoint_path(hook, new), UNSUBSCRIBE).status_code == 404
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no connection to lose")
def test_a_post_sends_no_health_check_and_outlives_a_dead_connection(endpoint, monkeypatch):
    """No SELECT 1 before the view's one INSERT; a connection the database dropped is
    replaced and the event still stored, once."""
    import psycopg
    from django.test import RequestFactory

    from mailchimp_integration.views import webhook

    hook, secret = endpoint
    checks = []
    wrapper = connections["default"]
    real_is_usable = wrapper.is_usable
    monkeypatch.setattr(wrapper, "is_usable", lambda: checks.append(1) or real_is_usable())
    monkeypatch.setattr(wrapper, "health_check_enabled", True)

    def post():
        connection.health_check_done = False  # as at the start of every request
        request = RequestFactory().post(webhooks.endpoint_path(hook, secret), UNSUBSCRIBE)
        return webhook(request, endpoint_id=hook.pk, secret=secret)

    assert post().status_code == 200
    assert checks == [], "no health check before the INSERT"

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.settings_dict
    with psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"],
                         port=params["PORT"] or 5432, password=params["PASSWORD"],
                         autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert post().status_code == 200
    assert WebhookEvent.objects.count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid, "a new connection"


def test_the_worker_is_told_once_the_answer_is_sent(endpoint,
                                                   django_capture_on_commit_callbacks):
    """The broker round trip that queues the worker comes after the answer: the WSGI server
    calls close() once it has written the body."""
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from django.test import RequestFactory

    from mailchimp_integration.signals import webhook_event_received
    from mailchimp_integration.views import webhook

    hook, secret = endpoint
    told = []

    def receiver(**kwargs):
        told.append(kwargs["event_id"])

    webhook_event_received.connect(receiver, dispatch_uid="test-told")
    try:
        request = RequestFactory().post(webhooks.endpoint_path(hook, secret), UNSUBSCRIBE)
        response = webhook(request, endpoint_id=hook.pk, secret=secret)
        assert response.status_code == 200 and told == []
        # As Django's test client does: the test's transaction outlives the "request".
        request_finished.disconnect(close_old_connections)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                response.close()
        finally:
            request_finished.connect(close_old_connections)
        assert told == [WebhookEvent.objects.get().pk]
    finally:
        webhook_event_received.disconnect(dispatch_uid="test-told")
