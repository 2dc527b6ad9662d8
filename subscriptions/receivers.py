"""Receivers: Mailchimp-side deletions found by a list sync annul the matching subscriptions."""
from . import services


def annul_for_removed_audiences(sender, *, audience_ids, **kwargs) -> None:
    services.subscriptions_annul_for_audiences(audience_ids=list(audience_ids))


def annul_removed_interests(sender, *, interest_ids, **kwargs) -> None:
    services.subscriptions_annul_interests(interest_ids=list(interest_ids))
