"""Back office for products, with their variants edited on the product's page."""
from django.contrib import admin
from django.db.models import Count, Min, Sum
from django.utils.html import format_html

from .models import Product, Variant
from .templatetags.money import money


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 1
    fields = ["sku", "name", "price", "stock"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail", "name", "active", "variant_count", "from_price", "total_stock", "created",
    ]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["active", "created"]
    search_fields = ["name", "slug", "variants__sku"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created", "picture_preview"]
    fields = [
        "name", "slug", "description", "active", "image", "picture_preview", "image_alt",
        "created",
    ]
    inlines = [VariantInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                variant_count=Count("variants"),
                from_price=Min("variants__price"),
                total_stock=Sum("variants__stock"),
            )
        )

    @admin.display(description="variants", ordering="variant_count")
    def variant_count(self, product):
        return product.variant_count

    @admin.display(description="from", ordering="from_price")
    def from_price(self, product):
        return money(product.from_price)

    @admin.display(description="in stock", ordering="total_stock")
    def total_stock(self, product):
        return product.total_stock or 0

    @admin.display(description="picture")
    def thumbnail(self, product):
        return picture_tag(product, width=64, height=48, alt="") if product.image else "–"

    @admin.display(description="current picture")
    def picture_preview(self, product):
        if not product.image:
            return "No picture yet: the shop shows a plain placeholder."
        return picture_tag(product, width=240, height=180, alt=product.image_description)


def picture_tag(product, *, width: int, height: int, alt: str):
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" style="object-fit: cover;">',
        product.image.url, alt, width, height,
    )
