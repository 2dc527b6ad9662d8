"""shop.db.bulk_update writes what Django's bulk_update writes, field for field, in a constant
number of queries per batch."""
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.db import bulk_update
from subscriptions.models import ConsentEvent, Source, Subscription
from tests.mailchimp_integration.factories import AudienceFactory

FIELDS = ["email", "first_name", "opted_in", "state", "consent", "mailchimp_last_changed",
          "sent_interests", "sent_merge_fields", "mailchimp_notice", "wanted_version"]

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
values = st.fixed_dictionaries({
    "first_name": text,
    "opted_in": st.booleans(),
    "state": st.sampled_from([s.value for s in Subscription.State]),
    "consent": st.booleans(),  # set to the row's consent record, or cleared
    "mailchimp_last_changed": st.none() | st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    "sent_interests": st.lists(st.text(alphabet="abcdef0123456789", min_size=1, max_size=10),
                               max_size=4),
    "sent_merge_fields": st.dictionaries(st.sampled_from(["FNAME", "LNAME"]), text),
    "mailchimp_notice": text,
    "wanted_version": st.integers(min_value=0, max_value=2**31 - 1),
})


def rows(count: int) -> list[Subscription]:
    audience = AudienceFactory()
    made = Subscription.objects.bulk_create(
        Subscription(email=f"person{n}@example.com", audience=audience, source=Source.FOOTER)
        for n in range(count))
    events = ConsentEvent.objects.bulk_create(
        ConsentEvent(subscription=row, action=ConsentEvent.Action.OPT_IN,
                     actor=ConsentEvent.Actor.ANONYMOUS, source=Source.FOOTER,
                     wording="Send me the news.") for row in made)
    for row, event in zip(made, events, strict=True):
        row.event = event
    return made


def snapshot(pks) -> list[tuple]:
    return list(Subscription.objects.filter(pk__in=pks).order_by("pk")
                .values_list("pk", "email", *FIELDS[1:]))


@pytest.mark.django_db
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.lists(values, min_size=1, max_size=7), batch_size=st.integers(1, 4))
def test_it_writes_what_djangos_bulk_update_writes(changes, batch_size):
    ours, django = rows(len(changes)), rows(len(changes))
    for made in (ours, django):
        for n, (row, change) in enumerate(zip(made, changes, strict=True)):
            row.email = f"changed{n}@example.com"
            for name, value in change.items():
                setattr(row, name, (row.event if value else None) if name == "consent" else value)
    assert bulk_update(Subscription, ours, FIELDS, batch_size=batch_size) == len(ours)
    Subscription.objects.bulk_update(django, FIELDS)

    def comparable(snap, made):
        # The consent records differ by row; compare which of them each row points at.
        events = {row.event.pk: "own" for row in made}
        return [(email, *rest[:3], events.get(rest[3], rest[3]), *rest[4:])
                for _pk, email, *rest in snap]

    assert comparable(snapshot([r.pk for r in ours]), ours) == \
        comparable(snapshot([r.pk for r in django]), django)


@pytest.mark.django_db
def test_one_query_per_batch_whatever_the_number_of_fields():
    made = rows(10)
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    for n, row in enumerate(made):
        row.mailchimp_last_changed = moment + timedelta(minutes=n)
        row.state = Subscription.State.UNSUBSCRIBED
    with CaptureQueriesContext(connection) as queries:
        assert bulk_update(Subscription, made, FIELDS, batch_size=4) == 10
    if connection.vendor == "postgresql":  # elsewhere it is Django's own bulk_update
        updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
        assert len(updates) == 3
    assert sorted(Subscription.objects.filter(pk__in=[r.pk for r in made])
                  .values_list("mailchimp_last_changed", flat=True)) == \
        [moment + timedelta(minutes=n) for n in range(10)]


@pytest.mark.django_db
def test_the_key_and_unsaved_rows_are_refused():
    made = rows(1)
    with pytest.raises(ValueError, match="key"):
        bulk_update(Subscription, made, ["id"])
    with pytest.raises(ValueError):
        bulk_update(Subscription, [Subscription(email="x@example.com")], ["email"])
    assert bulk_update(Subscription, [], ["email"]) == 0
