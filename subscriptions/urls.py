"""URLs of the newsletter: mounted at /newsletter/."""
from django.urls import path

from . import views

app_name = "subscriptions"
urlpatterns = [
    path("signup/", views.footer_signup, name="footer_signup"),
    path("my-lists/", views.account_lists, name="account"),
]
