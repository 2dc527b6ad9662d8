"""Registering the store's webhooks with Mailchimp (issue "Two-way sync"): one per audience
the store hears from, at SITE_URL with the current secret, sources user and admin (never
api), all events; idempotent (one GET when in place); a changed URL or a new secret PATCHes
ours; never two of ours; other tools' webhooks left alone; failures shown with Mailchimp's
reason. Against the sandbox over HTTP, which checks the URL answers as Mailchimp does."""
import io
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mailchimp_integration import services, webhooks
from mailchimp_integration.models import Audience, WebhookEndpoint, WebhookEvent
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def api(sandbox, method, path, **kwargs):
    return requests.request(method, sandbox.url + path, auth=("x", sandbox.api_key),
                            timeout=10, **kwargs)


@pytest.fixture
def site(settings, live_server, connected):
    """SITE_URL is the live server, which the sandbox reaches."""
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def news(connected):
    list_id = connected.create_list("Newsletter")
    return Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                   last_seen_at=timezone.now())


def hooks_of(sandbox, audience) -> list[dict]:
    response = api(sandbox, "GET", f"/lists/{audience.mailchimp_id}/webhooks")
    assert response.status_code == 200, response.text
    return response.json()["webhooks"]


def writes(sandbox) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in sandbox.request_log()
            if r["method"] != "GET"]


def test_the_first_registration_makes_one_webhook_for_people_and_admins_never_the_api(
    connected, site, news
):
    [registration] = services.webhooks_register()
    assert (registration.outcome, registration.error) == ("created", "")
    [hook] = hooks_of(connected, news)
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    assert all(hook["events"].values()) and set(hook["events"]) >= set(webhooks.EVENTS)
    endpoint = WebhookEndpoint.objects.get(audience=news)
    assert hook["url"].startswith(f"{site}/mailchimp/webhooks/{endpoint.pk}/")
    assert endpoint.mailchimp_webhook_id == hook["id"] and endpoint.registered_at
    # Shown masked: the secret never in full (not on the endpoint, not in the outcome).
    secret = hook["url"].rstrip("/").rsplit("/", 1)[1]
    assert secret not in endpoint.registered_url and secret not in registration.url
    assert endpoint.registered_url == registration.url == webhooks.url_masked(hook["url"])
    # Mailchimp's deliveries reach the store through it.
    connected._call("PUT", "/webhook-retries", json={"delays": [0.2, 0.5]})
    connected.subscribe(news.mailchimp_id, "ann@example.com")
    wait_for(lambda: WebhookEvent.objects.filter(type="subscribe").exists(), timeout=10,
             message=f"no event arrived: {connected.webhook_deliveries()}")


def test_registering_again_changes_nothing_with_one_get(connected, site, news):
    services.webhooks_register()
    before = hooks_of(connected, news)
    connected.clear_requests()
    [registration] = services.webhooks_register()
    assert registration.outcome == "unchanged"
    assert connected.requests() == [f"GET /3.0/lists/{news.mailchimp_id}/webhooks"]
    assert hooks_of(connected, news) == before


def test_a_new_site_url_moves_our_webhook_and_the_old_url_is_accepted_a_day(
    connected, site, news, settings
):
    services.webhooks_register()
    [old] = hooks_of(connected, news)
    old_path = old["url"][len(site):]
    settings.SITE_URL = site.replace("localhost", "127.0.0.1")
    assert settings.SITE_URL != site
    [registration] = services.webhooks_register()
    assert registration.outcome == "updated"
    [new] = hooks_of(connected, news)
    assert new["id"] == old["id"] and new["url"].startswith(settings.SITE_URL + "/")
    assert writes(connected)[-1] == f"PATCH /3.0/lists/{news.mailchimp_id}/webhooks/{old['id']}"
    # Mailchimp may still retry an event to the old URL: accepted for 24 hours, not after.
    client = Client()
    assert client.get(old_path).status_code == 200
    WebhookEndpoint.objects.update(previous_valid_until=timezone.now() - timedelta(seconds=1))
    webhooks.forget_known()  # an update() sends no signal: as once the process's copy expires
    assert client.get(old_path).status_code == 404
    assert client.get(new["url"][len(settings.SITE_URL):]).status_code == 200


def test_extra_webhooks_of_ours_are_removed_and_other_tools_webhooks_kept(
    connected, site, news
):
    services.webhooks_register()
    endpoint = WebhookEndpoint.objects.get()
    # A copy of ours left by an earlier secret (its URL still answers while accepted), and a
    # webhook of another tool.
    _, extra_secret = webhooks.endpoint_secret_new(audience=news)
    extra = api(connected, "POST", f"/lists/{news.mailchimp_id}/webhooks", json={
        "url": site + webhooks.endpoint_path(endpoint, extra_secret),
        "events": {"unsubscribe": True}, "sources": {"user": True}})
    assert extra.status_code == 200, extra.text
    other = api(connected, "POST", f"/lists/{news.mailchimp_id}/webhooks", json={
        "url": site + "/", "events": {"subscribe": True}, "sources": {"api": True}})
    assert other.status_code == 200, other.text
    assert len(hooks_of(connected, news)) == 3
    [registration] = services.webhooks_register()
    assert registration.ok and registration.removed == 1
    urls = sorted(hook["url"] for hook in hooks_of(connected, news))
    assert len(urls) == 2 and site + "/" in urls
    [ours] = [url for url in urls if "/mailchimp/webhooks/" in url]
    assert Client().get(ours[len(site):]).status_code == 200


def test_a_rotation_gives_a_new_secret_and_keeps_one_webhook(connected, site, news):
    services.webhooks_register()
    [before] = hooks_of(connected, news)
    [registration] = services.webhooks_register(rotate=True)
    assert registration.outcome == "updated"
    [after] = hooks_of(connected, news)
    assert after["id"] == before["id"] and after["url"] != before["url"]
    assert Client().get(before["url"][len(site):]).status_code == 200  # for a day
    assert Client().get(after["url"][len(site):]).status_code == 200


def test_without_site_url_nothing_is_sent_and_the_reason_is_shown(connected, settings, news):
    settings.SITE_URL = ""
    connected.clear_requests()
    [registration] = services.webhooks_register()
    assert registration.outcome == "failed" and "SITE_URL" in registration.error
    assert connected.requests() == []
    assert "SITE_URL" in WebhookEndpoint.objects.get(audience=news).registration_error


def test_a_url_mailchimp_cannot_reach_fails_with_its_reason_and_keeps_the_working_one(
    connected, site, news, settings
):
    services.webhooks_register()
    [working] = hooks_of(connected, news)
    settings.SITE_URL = "http://127.0.0.1:9"  # nothing answers there
    [registration] = services.webhooks_register()
    assert registration.outcome == "failed" and "did not return a valid response" in (
        registration.error)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.registration_error == registration.error
    # Mailchimp still holds the working URL, and its secret is still the current one.
    assert hooks_of(connected, news) == [working]
    assert Client().get(working["url"][len(site):]).status_code == 200
    settings.SITE_URL = site
    [again] = services.webhooks_register()
    assert again.outcome == "unchanged"
    endpoint.refresh_from_db()
    assert endpoint.registration_error == ""


def test_a_list_sync_registers_the_audiences_the_store_hears_from(connected, site):
    on = connected.create_list("Newsletter")
    off = connected.create_list("Wholesale")
    call_command("sync_lists", stdout=io.StringIO())  # new lists arrive off: none hooked
    assert not [w for w in writes(connected) if w.endswith("/webhooks")]
    Audience.objects.filter(mailchimp_id=on).update(active=True)
    call_command("sync_lists", stdout=io.StringIO())
    assert len(hooks_of(connected, Audience.objects.get(mailchimp_id=on))) == 1
    call_command("sync_lists", stdout=io.StringIO())  # the next sync: in place, no write
    assert len(hooks_of(connected, Audience.objects.get(mailchimp_id=on))) == 1
    assert hooks_of(connected, Audience.objects.get(mailchimp_id=off)) == []
    assert [w for w in writes(connected) if "/webhooks" in w] == [
        f"POST /3.0/lists/{on}/webhooks"]


def test_register_webhooks_prints_a_line_per_audience_and_exits_1_on_a_failure(
    connected, site, news, settings, capsys
):
    out = io.StringIO()
    call_command("register_webhooks", stdout=out)
    assert out.getvalue().startswith("Newsletter (") and ": created, " in out.getvalue()
    settings.SITE_URL = ""
    with pytest.raises(SystemExit) as exit_:
        call_command("register_webhooks", stdout=io.StringIO())
    assert exit_.value.code == 1
    assert "failed: SITE_URL is not set" in capsys.readouterr().err
