"""Back office for promo codes."""
from django.contrib import admin

from .models import PromoCode


@admin.register(PromoCode)
class PromoCodeAdmin(admin.ModelAdmin):
    list_display = [
        "code", "description", "kind", "value", "starts_at", "ends_at", "usage",
        "state_shown", "enabled",
    ]
    list_filter = ["enabled", "kind"]
    search_fields = ["code", "description"]
    readonly_fields = ["times_used", "created", "updated"]
    fields = [
        "code", "description", "kind", "value", "starts_at", "ends_at", "usage_limit",
        "times_used", "enabled", "created", "updated",
    ]

    @admin.display(description="used")
    def usage(self, promo):
        if promo.usage_limit is None:
            return f"{promo.times_used}"
        return f"{promo.times_used} of {promo.usage_limit}"

    @admin.display(description="state")
    def state_shown(self, promo):
        return PromoCode.State(promo.state()).label
