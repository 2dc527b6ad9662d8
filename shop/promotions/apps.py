"""App config of promotions: promo codes customers enter at checkout."""
from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "shop.promotions"
    label = "promotions"
    verbose_name = "Promotions"
    default_auto_field = "django.db.models.BigAutoField"
