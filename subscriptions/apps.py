"""Customer subscriptions to Mailchimp audiences, their consent, forms and delivery."""
from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Marketing"
    default_auto_field = "django.db.models.BigAutoField"
