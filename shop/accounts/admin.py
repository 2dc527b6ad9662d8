"""Back office for customers: Django's UserAdmin, with email in place of a username."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .forms import CustomerChangeForm, CustomerCreationForm
from .models import User


@admin.register(User)
class CustomerAdmin(UserAdmin):
    form = CustomerChangeForm
    add_form = CustomerCreationForm
    list_display = ["email", "first_name", "last_name", "date_joined", "is_staff"]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["email"]
    date_hierarchy = "date_joined"
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Name", {"fields": ["first_name", "last_name"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "email", "first_name", "last_name", "usable_password", "password1", "password2",
                ],
            },
        ),
    ]
