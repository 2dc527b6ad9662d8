"""App config of checkout: orders and their lines."""
from django.apps import AppConfig
from django.core import checks


class CheckoutConfig(AppConfig):
    name = "shop.checkout"
    label = "checkout"
    verbose_name = "Sales"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .checks import store_default_country_check

        checks.register(store_default_country_check)
