"""Webhook events in a burst are applied once it settles, in one go, and none waits longer than
MAILCHIMP_WEBHOOK_BURST_MAX_WAIT; a lone event is applied at once."""
from datetime import timedelta

import pytest
from django.utils import timezone

from mailchimp_integration import webhooks
from mailchimp_integration.models import WebhookEvent
from subscriptions import inbound
from tests.mailchimp_integration.factories import AudienceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(settings):
    settings.MAILCHIMP_WEBHOOK_BURST_EVENTS = 20
    settings.MAILCHIMP_WEBHOOK_BURST_MAX_WAIT = 5
    endpoint, _ = webhooks.endpoint_secret_new(audience=AudienceFactory())
    return endpoint


def events(endpoint, count: int, *, ago: float = 0.0) -> None:
    WebhookEvent.objects.bulk_create(
        WebhookEvent(endpoint=endpoint, type="unsubscribe", data={"email": f"p{i}@example.com"})
        for i in range(count))
    if ago:
        WebhookEvent.objects.update(received_at=timezone.now() - timedelta(seconds=ago))


def test_a_lone_event_is_applied_at_once(endpoint):
    events(endpoint, 1)
    assert inbound.events_burst_wait() == 0


def test_a_burst_waits_until_it_settles(endpoint):
    events(endpoint, 25)
    wait = inbound.events_burst_wait()
    assert 0 < wait <= 1


def test_a_burst_that_has_settled_is_applied(endpoint):
    events(endpoint, 25, ago=2)
    assert inbound.events_burst_wait() == 0


def test_no_event_waits_longer_than_the_longest_wait(endpoint):
    events(endpoint, 5, ago=6)  # the oldest pending one has waited past the limit
    events(endpoint, 25)         # while the burst goes on
    assert inbound.events_burst_wait() == 0


def test_applied_events_are_no_burst(endpoint):
    events(endpoint, 25)
    WebhookEvent.objects.update(applied_at=timezone.now())
    assert inbound.events_burst_wait() == 0
