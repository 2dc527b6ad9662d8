"""URLs of the storefront and the back office."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("shop.accounts.urls")),
    path("cart/", include("shop.cart.urls")),
    path("checkout/", include("shop.checkout.urls")),
    path("newsletter/", include("subscriptions.urls")),
    path("", include("shop.catalogue.urls")),
]
