"""URLs of checkout."""
from django.urls import path

from . import views

app_name = "checkout"
urlpatterns = [
    path("", views.checkout, name="checkout"),
    path("thank-you/<str:number>/", views.confirmation, name="confirmation"),
]
