"""Reads behind what a customer is told."""
import pytest

from subscriptions import selectors
from subscriptions.models import NewsSettings, Source, Subscription
from tests.mailchimp_integration.factories import AudienceFactory

pytestmark = pytest.mark.django_db


def on_list(status, **extra):
    audience = AudienceFactory(active=True, **extra)
    return Subscription.objects.create(email="ann@example.com", audience=audience,
                                       source=Source.FOOTER, mailchimp_status=status)


@pytest.mark.parametrize("double_opt_in, status, needed", [
    (True, "", True),  # new: Mailchimp asks them to confirm
    (True, "subscribed", False),  # already in: nothing to confirm
    (False, "", False),
    (False, "unsubscribed", True),  # back after opting out: only their confirmation counts
])
def test_when_the_customer_is_asked_to_confirm_by_email(double_opt_in, status, needed):
    NewsSettings.objects.create(pk=1, double_opt_in=double_opt_in)
    assert selectors.confirmation_needed(subscriptions=[on_list(status)]) is needed


def test_a_list_that_is_gone_is_not_one_the_customer_is_on():
    from django.utils import timezone

    gone = on_list("subscribed", removed_at=timezone.now())
    kept = on_list("subscribed")
    assert not selectors.subscription_can_be_left(gone)
    assert selectors.subscription_can_be_left(kept)
    kept.opted_in = False
    assert not selectors.subscription_can_be_left(kept)
