"""URLs of the cart pages."""
from django.urls import path

from . import views

app_name = "cart"
urlpatterns = [
    path("", views.cart_detail, name="detail"),
    path("add/<int:product_id>/", views.cart_add, name="add"),
    path("update/<int:variant_id>/", views.cart_update, name="update"),
    path("remove/<int:variant_id>/", views.cart_remove, name="remove"),
    path("promo/", views.promo_apply, name="promo_apply"),
    path("promo/remove/", views.promo_remove, name="promo_remove"),
    path("code/<str:code>/", views.promo_redeem, name="promo_redeem"),
    path("email/", views.cart_email, name="email"),
    path("restore/<str:signed>/", views.cart_restore, name="restore"),
]
