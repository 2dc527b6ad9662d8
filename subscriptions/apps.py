"""Customer subscriptions to Mailchimp audiences, their forms, and the outbox that pushes them."""
from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Marketing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mailchimp_integration import signals

        from . import receivers

        signals.audience_removed.connect(
            receivers.annul_for_removed_audiences,
            dispatch_uid="subscriptions.annul_for_removed_audiences",
        )
        signals.interest_removed.connect(
            receivers.annul_removed_interests,
            dispatch_uid="subscriptions.annul_removed_interests",
        )
