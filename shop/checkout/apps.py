"""App config of checkout: orders and their lines."""
from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "shop.checkout"
    label = "checkout"
    verbose_name = "Sales"
    default_auto_field = "django.db.models.BigAutoField"
