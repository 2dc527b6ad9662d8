"""URLs of the catalogue: the store's front page and product pages."""
from django.urls import path

from . import views

app_name = "catalogue"
urlpatterns = [
    path("", views.product_list, name="product_list"),
    path("products/<slug:slug>/", views.product_detail, name="product_detail"),
]
