"""The catalogue's back-office pages."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.shop.catalogue.factories import ProductFactory, VariantFactory, picture_bytes

pytestmark = pytest.mark.django_db


def test_product_changelist_and_change_page(admin_client):
    variant = VariantFactory(product__name="Enamel Mug", sku="MUG-BLU")
    changelist = admin_client.get(reverse("admin:catalogue_product_changelist"))
    assert changelist.status_code == 200 and "Enamel Mug" in changelist.content.decode()
    assert "Enamel Mug" in admin_client.get(
        reverse("admin:catalogue_product_changelist"), {"q": "MUG-BLU"}
    ).content.decode()
    change = admin_client.get(
        reverse("admin:catalogue_product_change", args=[variant.product_id])
    )
    assert change.status_code == 200
    assert "MUG-BLU" in change.content.decode()  # the variants inline


def test_product_add_page(admin_client):
    assert admin_client.get(reverse("admin:catalogue_product_add")).status_code == 200


def product_form(product, **changes) -> dict:
    """The product's change form as the admin posts it, with no variant rows."""
    data = {
        "name": product.name, "slug": product.slug, "description": product.description,
        "active": "on", "image_alt": product.image_alt,
        "variants-TOTAL_FORMS": "0", "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000",
    }
    return {**data, **changes}


def test_an_admin_uploads_a_picture_and_sees_it(admin_client, media_root):
    product = ProductFactory(name="Enamel Mug")
    url = reverse("admin:catalogue_product_change", args=[product.pk])
    assert "No picture yet" in admin_client.get(url).content.decode()
    upload = SimpleUploadedFile("mug.png", picture_bytes(), content_type="image/png")
    response = admin_client.post(
        url, product_form(product, image=upload, image_alt="A green mug")
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.image.name == "products/mug.png" and product.image_alt == "A green mug"
    page = admin_client.get(url).content.decode()
    assert f'src="{product.image.url}" alt="A green mug"' in page
    changelist = admin_client.get(reverse("admin:catalogue_product_changelist"))
    assert f'src="{product.image.url}"' in changelist.content.decode()


def test_a_file_that_is_not_a_picture_is_refused_in_words(admin_client, media_root):
    product = ProductFactory()
    upload = SimpleUploadedFile("mug.png", b"not a picture", content_type="image/png")
    response = admin_client.post(
        reverse("admin:catalogue_product_change", args=[product.pk]),
        product_form(product, image=upload),
    )
    assert response.status_code == 200
    assert "Upload a valid image" in response.content.decode()
    product.refresh_from_db()
    assert not product.image
