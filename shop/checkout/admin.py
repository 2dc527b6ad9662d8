"""Back office for orders: read what was bought, move an order through its statuses."""
from decimal import Decimal, InvalidOperation

from django.contrib import admin, messages
from django.shortcuts import redirect

from . import services
from .models import Order, OrderLine

# The buttons of the order's change page: what each does, and what it says once done.
ORDER_ACTIONS = {
    "mark_paid": "marked paid",
    "mark_shipped": "marked shipped",
    "cancel": "cancelled; its stock is back on sale",
    "refund": "refunded",
}


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
        (
            None,
            {
                "fields": [
                    "number", "status", "subtotal", "discount_total", "promo_code_text",
                    "total", "refunded_total", "tracking_number", "created", "user",
                ]
            },
        ),
        (
            "History",
            {"fields": ["paid_at", "shipped_at", "cancelled_at", "refunded_at"]},
        ),
        (
            "Campaign",
            {
                "fields": [
                    "campaign_id", "campaign_email_id", "campaign_tracking_code", "landing_url",
                ]
            },
        ),
        ("Customer", {"fields": ["email", "first_name", "last_name"]}),
        (
            "Delivery address",
            {"fields": ["address_line1", "address_line2", "city", "postcode", "country"]},
        ),
    ]
    # Orders are a record of a sale, placed at checkout: nothing is edited here; the status
    # moves on only through the buttons of the change page (services check each move).
    readonly_fields = [
        "number", "status", "subtotal", "discount_total", "promo_code_text", "total",
        "refunded_total", "tracking_number", "created", "user", "email", "first_name",
        "last_name", "address_line1", "address_line2", "city", "postcode", "country",
        "paid_at", "shipped_at", "cancelled_at", "refunded_at", "campaign_id",
        "campaign_email_id", "campaign_tracking_code", "landing_url",
    ]
    change_form_template = "admin/checkout/order/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="name", ordering="last_name")
    def full_name(self, order):
        return order.full_name

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        action = request.POST.get("_order_action") if request.method == "POST" else None
        if object_id and action:
            return self.order_action(request, object_id, action)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def order_action(self, request, object_id, action):
        order = self.get_object(request, object_id)
        if order is None or not self.has_change_permission(request, order):
            return redirect("admin:checkout_order_changelist")
        try:
            if action == "mark_paid":
                services.order_mark_paid(order=order)
            elif action == "mark_shipped":
                services.order_mark_shipped(
                    order=order, tracking_number=request.POST.get("tracking_number", "")
                )
            elif action == "cancel":
                services.order_cancel(order=order)
            elif action == "refund":
                services.order_refund(order=order, amount=refund_amount(request.POST))
            else:
                raise services.OrderStatusError("Unknown action.")
        except services.OrderStatusError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.log_change(request, order, f"Order {ORDER_ACTIONS[action]}.")
            self.message_user(request, f"{order} {ORDER_ACTIONS[action]}.", messages.SUCCESS)
        return redirect("admin:checkout_order_change", order.pk)


def refund_amount(data) -> Decimal:
    try:
        return Decimal((data.get("refund_amount") or "").strip())
    except InvalidOperation:
        raise services.OrderStatusError("Enter the amount to refund, like 12.50.") from None
