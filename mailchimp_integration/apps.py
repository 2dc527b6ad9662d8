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

        # The store's products go to the connected store (if any) once saved.
        from shop.catalogue.models import Product, Variant

        from . import ecommerce_delivery

        post_save.connect(ecommerce_delivery.on_product_saved, sender=Product, weak=False,
                          dispatch_uid="mailchimp_integration.ecommerce_product_saved")
        post_save.connect(ecommerce_delivery.on_variant_saved, sender=Variant, weak=False,
                          dispatch_uid="mailchimp_integration.ecommerce_variant_saved")
