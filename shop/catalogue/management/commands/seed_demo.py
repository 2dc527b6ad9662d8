"""Seed a demo catalogue and a back-office superuser; safe to run again and again."""
import os
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.template.defaultfilters import pluralize

from shop.accounts.services import user_ensure_superuser
from shop.catalogue.demo_images import demo_picture
from shop.catalogue.selectors import product_image_missing
from shop.catalogue.services import (
    product_get_or_create,
    product_image_set,
    variant_get_or_create,
)

DEFAULT_DEMO_ADMIN_EMAIL = "admin@example.com"
DEFAULT_DEMO_ADMIN_PASSWORD = "admin-demo-123"

# (slug, name, description, [(sku, variant name, price, stock), ...])
DEMO_PRODUCTS = [
    (
        "enamel-camp-mug",
        "Enamel Camp Mug",
        "A tough enamel mug for tea on the trail or coffee at the desk.",
        [
            ("MUG-WHT", "White", "12.00", 40),
            ("MUG-BLU", "Blue", "12.00", 25),
            ("MUG-GRN", "Forest green", "13.50", 5),
        ],
    ),
    (
        "merino-beanie",
        "Merino Beanie",
        "Soft, warm and itch-free: a beanie knitted from fine merino wool.",
        [
            ("BEANIE-CHR", "Charcoal", "24.00", 30),
            ("BEANIE-RST", "Rust", "24.00", 12),
        ],
    ),
    (
        "organic-cotton-tee",
        "Organic Cotton Tee",
        "A heavyweight T-shirt in organic cotton with the hilltop logo.",
        [
            ("TEE-S-NVY", "Small / Navy", "28.00", 10),
            ("TEE-M-NVY", "Medium / Navy", "28.00", 15),
            ("TEE-L-NVY", "Large / Navy", "28.00", 8),
            ("TEE-L-BLU", "Large / Blue", "30.00", 3),
        ],
    ),
    (
        "trail-map-print",
        "Trail Map Print",
        "An A3 print of our favourite ridge walks, on recycled paper.",
        [
            ("PRINT-A3", "A3 unframed", "18.00", 50),
            ("PRINT-A3-FR", "A3 framed", "55.00", 4),
        ],
    ),
    (
        "canvas-tote",
        "Canvas Tote Bag",
        "A roomy tote for the market, the library or the beach.",
        [("TOTE-NAT", "Natural", "15.00", 60)],
    ),
]


class Command(BaseCommand):
    help = (
        "Create a demo catalogue with pictures and the admin@example.com superuser (password "
        "from DEMO_ADMIN_PASSWORD). Existing products, pictures, stock and passwords are left "
        "alone; a picture whose file is missing is drawn again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Set the superuser's password again even if the account already exists.",
        )

    def handle(self, *args, reset_password: bool = False, **options):
        products_created = variants_created = pictures_drawn = 0
        for slug, name, description, variants in DEMO_PRODUCTS:
            product, created = product_get_or_create(slug=slug, name=name, description=description)
            products_created += created
            picture = demo_picture(slug)
            if picture and product_image_missing(product=product):
                content, alt = picture
                product_image_set(
                    product=product, content=content, filename=f"{slug}.webp", alt=alt
                )
                pictures_drawn += 1
            for sku, variant_name, price, stock in variants:
                _, created = variant_get_or_create(
                    product=product, sku=sku, name=variant_name, price=Decimal(price), stock=stock
                )
                variants_created += created

        password = os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_DEMO_ADMIN_PASSWORD
        email = os.environ.get("DEMO_ADMIN_EMAIL") or DEFAULT_DEMO_ADMIN_EMAIL
        _, user_created = user_ensure_superuser(
            email=email, password=password, reset_password=reset_password
        )
        self.stdout.write(
            f"Catalogue: {products_created} product{pluralize(products_created)}, "
            f"{variants_created} variant{pluralize(variants_created)} and "
            f"{pictures_drawn} picture{pluralize(pictures_drawn)} added "
            f"({len(DEMO_PRODUCTS)} demo products in all)."
        )
        if user_created or reset_password:
            self.stdout.write(
                self.style.SUCCESS(f"Back office: /admin/ as {email} / {password}")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Back office: /admin/ as {email} (password unchanged; "
                    "--reset-password sets it from DEMO_ADMIN_PASSWORD again)"
                )
            )
