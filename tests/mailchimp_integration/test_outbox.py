"""The outbox mechanics, on the one model that uses them today (a subscription)."""
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from mailchimp_integration import outbox
from mailchimp_integration.exceptions import MailchimpUnreachable
from subscriptions.models import Source, Subscription
from tests.subscriptions.factories import sandbox_list


@pytest.fixture
def record(db, mailchimp_sandbox):
    audience = sandbox_list(mailchimp_sandbox)
    return Subscription.objects.create(email="o@example.com", audience=audience,
                                       source=Source.FOOTER)


def test_a_record_is_claimed_once_and_only_while_it_has_unsent_changes(record):
    token = outbox.claim_one(Subscription.objects.all(), pk=record.pk)
    assert token
    assert outbox.claim_one(Subscription.objects.all(), pk=record.pk) == ""
    record.refresh_from_db()
    outbox.confirmed(record, version=record.claimed_version)
    record.save()
    assert outbox.claim_one(Subscription.objects.all(), pk=record.pk) == ""  # nothing unsent
    outbox.mark_changed(record)
    record.save()
    assert outbox.claim_one(Subscription.objects.all(), pk=record.pk)


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_record_get_one_claim(mailchimp_sandbox):
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL (CI runs it)")
    audience = sandbox_list(mailchimp_sandbox)
    record = Subscription.objects.create(email="race@example.com", audience=audience,
                                         source=Source.FOOTER)
    tokens, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        try:
            tokens.append(outbox.claim_one(Subscription.objects.all(), pk=record.pk))
            _, batch = outbox.claim_batch(Subscription.objects.all(), limit=10)
            tokens.append("b" if batch else "")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claims = [t for t in tokens if t and t != "b"]
    batch_claims = [t for t in tokens if t == "b"]
    assert len(claims) + len(batch_claims) == 1


def test_a_transient_failure_waits_with_backoff_and_marks_an_unknown_outcome(record):
    record.claim_token = "x"
    rules = outbox.Policy(base_seconds=2, cap_seconds=60, budget=timedelta(hours=72))
    delay, spent = outbox.retry_later(record, policy=rules, retry_after=None,
                                      outcome_unknown=True)
    assert 1 <= delay <= 2 and not spent
    assert record.claim_token == "" and record.attempts == 1 and record.outcome_unknown
    record.retry_since = timezone.now() - timedelta(hours=73)
    delay, spent = outbox.retry_later(record, policy=rules, retry_after=None,
                                      outcome_unknown=False)
    assert spent and delay >= 3600  # past the budget: still tried, every hour


def test_retry_after_wins_when_longer():
    rules = outbox.Policy(base_seconds=2, cap_seconds=60)
    assert rules.delay(attempt=1, retry_after=30) == 30
    assert max(rules.delay(attempt=n) for n in range(1, 20)) <= 60


def test_a_dead_workers_claim_lapses_after_the_time_limit_and_reads_first(record):
    rules = outbox.Policy(time_limit_seconds=60)
    assert outbox.claim_one(Subscription.objects.all(), pk=record.pk)
    Subscription.objects.update(claimed_at=timezone.now() - timedelta(seconds=74))
    assert outbox.free_lapsed(Subscription.objects.all(), policy=rules) == []
    Subscription.objects.update(claimed_at=timezone.now() - timedelta(seconds=76))
    assert outbox.free_lapsed(Subscription.objects.all(), policy=rules) == [record.pk]
    record.refresh_from_db()
    assert record.claim_token == "" and record.outcome_unknown and record.attempts == 1


def test_the_unknown_outcome_flag_follows_the_error_types():
    assert MailchimpUnreachable("Read timeout", outcome_unknown=True).outcome_unknown
    assert not MailchimpUnreachable("Connect timeout").outcome_unknown
