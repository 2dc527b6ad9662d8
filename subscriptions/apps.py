"""Customer subscriptions to Mailchimp audiences, their consent, forms and delivery."""
from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Marketing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mailchimp_integration.signals import webhook_event_received

        from . import inbound

        webhook_event_received.connect(
            lambda **kwargs: inbound.events_enqueue(), weak=False,
            dispatch_uid="subscriptions.webhook_event_received",
        )
