"""What the store sells: products, and the variants (size, colour) a customer actually buys."""
from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Only active products are on sale.")
    image = models.ImageField(
        "picture",
        upload_to="products/",
        blank=True,
        help_text="Shown in the shop; a wide picture (4:3) looks best. JPEG, PNG or WebP.",
    )
    image_alt = models.CharField(
        "picture description",
        max_length=200,
        blank=True,
        help_text=(
            'What the picture shows, for people who cannot see it, e.g. "A white enamel mug '
            'with a blue rim". Empty: the product\'s name.'
        ),
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalogue:product_detail", kwargs={"slug": self.slug})

    @property
    def image_description(self) -> str:
        """The picture's alt text."""
        return self.image_alt or self.name


class Variant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200, help_text='For example "Large / Blue".')
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0)]
    )
    stock = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["product__name", "price", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="catalogue_variant_price_not_negative"
            ),
            # PositiveIntegerField checks this on PostgreSQL; say it for every database.
            models.CheckConstraint(
                condition=models.Q(stock__gte=0), name="catalogue_variant_stock_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} – {self.name}"

    @property
    def in_stock(self) -> bool:
        return self.stock > 0
