"""URLs of the storefront and the back office."""
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .views import alive, media_serve

urlpatterns = [
    path("alive/", alive, name="alive"),
    path("admin/", admin.site.urls),
    path("accounts/", include("shop.accounts.urls")),
    path("cart/", include("shop.cart.urls")),
    path("checkout/", include("shop.checkout.urls")),
    path("newsletter/", include("subscriptions.urls")),
    path("mailchimp/", include("mailchimp_integration.urls")),
    path("", include("shop.catalogue.urls")),
]

if settings.SERVE_MEDIA:
    urlpatterns.insert(0, path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media_serve))
