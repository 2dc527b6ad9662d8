"""App config of customer accounts: the email-login user model."""
from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "shop.accounts"
    label = "accounts"
    verbose_name = "Customers"
    default_auto_field = "django.db.models.BigAutoField"
