"""The demo products' pictures, drawn with Pillow."""
import io

import pytest
from PIL import Image

from shop.catalogue.demo_images import PICTURES, demo_picture
from shop.catalogue.management.commands.seed_demo import DEMO_PRODUCTS


def test_every_demo_product_has_a_picture():
    assert {slug for slug, *_ in DEMO_PRODUCTS} == set(PICTURES)


@pytest.mark.parametrize("slug", sorted(PICTURES))
def test_a_demo_picture_is_a_small_4_by_3_webp_with_a_description(slug):
    content, alt = demo_picture(slug)
    image = Image.open(io.BytesIO(content))
    assert image.format == "WEBP" and image.size == (800, 600)
    assert len(content) < 30_000
    assert len(alt) > 20 and alt[0].isupper()
    # Drawn, not blank: more than a few colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 50


def test_other_products_have_no_demo_picture():
    assert demo_picture("something-else") is None
