from django.apps import AppConfig


class MailchimpIntegrationConfig(AppConfig):
    name = "mailchimp_integration"
    verbose_name = "Marketing"
    default_auto_field = "django.db.models.BigAutoField"
