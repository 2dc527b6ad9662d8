"""App configs of the project package itself: our admin site replaces Django's default."""
from django.contrib.admin.apps import AdminConfig


class ShopAdminConfig(AdminConfig):
    default_site = "shop.admin_site.ShopAdminSite"
