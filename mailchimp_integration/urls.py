"""The integration's public URL: Mailchimp's webhooks."""
from django.urls import path

from . import views

app_name = "mailchimp_integration"

urlpatterns = [
    path("webhooks/<int:endpoint_id>/<str:secret>/", views.webhook, name="webhook"),
]
