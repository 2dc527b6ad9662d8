"""Subscriptions from before the delivery engine: their consent becomes the first record of
the history, and what Mailchimp had confirmed counts as sent (nothing is sent twice)."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("subscriptions", "0001_initial"), ("mailchimp_integration", "0001_initial"),
          ("accounts", "0001_initial")]
AFTER = [("subscriptions", "0002_delivery_engine")]


@pytest.mark.django_db(transaction=True)
def test_old_subscriptions_carry_their_consent_and_what_mailchimp_confirmed():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Audience = old.get_model("mailchimp_integration", "Audience")
    Subscription = old.get_model("subscriptions", "Subscription")
    audience = Audience.objects.create(mailchimp_id="l1", name="News", last_seen_at=timezone.now())
    when = timezone.now()
    pushed = Subscription.objects.create(
        email="in@example.com", audience=audience, source="footer", consent_source="footer",
        consent_at=when, consent_ip="203.0.113.9", consent_text="Sign up for news",
        state="subscribed", mailchimp_status="subscribed", mailchimp_email="in@example.com")
    waiting = Subscription.objects.create(
        email="new@example.com", audience=audience, source="checkout",
        consent_source="checkout", consent_at=when, consent_text="Subscribe", state="waiting")
    out = Subscription.objects.create(
        email="out@example.com", audience=audience, source="account", consent_source="account",
        consent_at=when, opted_in=False, state="unsubscribed", mailchimp_status="unsubscribed",
        mailchimp_email="out@example.com")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Subscription = new.get_model("subscriptions", "Subscription")
    ConsentEvent = new.get_model("subscriptions", "ConsentEvent")

    pushed = Subscription.objects.get(pk=pushed.pk)
    event = ConsentEvent.objects.get(subscription_id=pushed.pk)
    assert (event.action, event.ip, event.wording, event.at) == (
        "opt_in", "203.0.113.9", "Sign up for news", when)
    assert pushed.consent_id == event.pk == pushed.sent_consent_id
    assert pushed.sent_version == pushed.wanted_version  # nothing to send again
    waiting = Subscription.objects.get(pk=waiting.pk)
    assert waiting.sent_version < waiting.wanted_version and waiting.sent_consent_id is None
    out = Subscription.objects.get(pk=out.pk)
    assert list(ConsentEvent.objects.filter(subscription_id=out.pk)
                .order_by("pk").values_list("action", flat=True)) == ["opt_in", "opt_out"]
    assert out.consent.action == "opt_out" and out.sent_version == out.wanted_version

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest for the rest
