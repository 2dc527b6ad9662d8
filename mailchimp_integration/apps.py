from django.apps import AppConfig


class MailchimpIntegrationConfig(AppConfig):
    name = "mailchimp_integration"
    verbose_name = "Marketing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from . import webhooks
        from .models import WebhookEndpoint

        def forget(sender, instance, **kwargs):
            webhooks.forget_known(instance.pk)

        # A webhook's secret saved or its endpoint deleted here is not accepted from the
        # copy this process keeps (webhooks.endpoint_for).
        post_save.connect(forget, sender=WebhookEndpoint, weak=False,
                          dispatch_uid="mailchimp_integration.webhook_endpoint_saved")
        post_delete.connect(forget, sender=WebhookEndpoint, weak=False,
                            dispatch_uid="mailchimp_integration.webhook_endpoint_deleted")
