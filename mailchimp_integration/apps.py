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

        # The store's products, orders, carts and promo codes go to the connected store (if
        # any) once saved or deleted.
        from shop.cart.models import Cart
        from shop.catalogue.models import Product, Variant
        from shop.checkout.models import Order, OrderLine
        from shop.promotions.models import PromoCode

        from . import ecommerce_delivery as delivery

        receivers = [
            (post_save, Product, delivery.on_product_saved, "product_saved"),
            (post_delete, Product, delivery.on_product_deleted, "product_deleted"),
            (post_save, Variant, delivery.on_variant_saved, "variant_saved"),
            (post_delete, Variant, delivery.on_variant_deleted, "variant_deleted"),
            (post_save, Order, delivery.on_order_saved, "order_saved"),
            (post_save, OrderLine, delivery.on_order_line_saved, "order_line_saved"),
            (post_save, Cart, delivery.on_cart_changed, "cart_saved"),
            (post_delete, Cart, delivery.on_cart_deleted, "cart_deleted"),
            (post_save, PromoCode, delivery.on_promo_changed, "promo_saved"),
            (post_delete, PromoCode, delivery.on_promo_changed, "promo_deleted"),
        ]
        for signal, model, receiver, name in receivers:
            signal.connect(receiver, sender=model, weak=False,
                           dispatch_uid=f"mailchimp_integration.ecommerce_{name}")
