"""App config of the catalogue: products and their variants."""
from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "shop.catalogue"
    label = "catalogue"
    verbose_name = "Catalogue"
    default_auto_field = "django.db.models.BigAutoField"
