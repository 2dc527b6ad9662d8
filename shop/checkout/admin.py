"""Back office for orders: read what was bought, move an order through its statuses."""
from django.contrib import admin

from .models import Order, OrderLine
from .services import order_update_status


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ["product_name", "variant_name", "sku", "unit_price", "quantity", "line_total"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="line total")
    def line_total(self, line):
        return line.line_total


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "created", "email", "full_name", "status", "total"]
    list_filter = ["status", "created", "country"]
    date_hierarchy = "created"
    search_fields = ["number", "email", "last_name"]
    list_select_related = ["user"]
    inlines = [OrderLineInline]
    fieldsets = [
        (None, {"fields": ["number", "status", "total", "created", "user"]}),
        ("Customer", {"fields": ["email", "first_name", "last_name"]}),
        (
            "Delivery address",
            {"fields": ["address_line1", "address_line2", "city", "postcode", "country"]},
        ),
    ]
    # Orders are a record of a sale: only the status moves on; they are placed at checkout.
    readonly_fields = [
        "number", "total", "created", "user", "email", "first_name", "last_name",
        "address_line1", "address_line2", "city", "postcode", "country",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="name", ordering="last_name")
    def full_name(self, order):
        return order.full_name

    def save_model(self, request, obj, form, change):
        order_update_status(order=obj, status=form.cleaned_data["status"])
