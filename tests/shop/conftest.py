"""Fixtures of the storefront's tests."""
import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore

from shop.cart.cart import Cart


@pytest.fixture
def session():
    """A session that needs no database, for the cart's unit tests."""
    return SessionStore()


@pytest.fixture
def cart(session):
    return Cart(session)


@pytest.fixture
def client_cart(client):
    """Put variants into the test client's cart: `client_cart(variant, 2)`."""
    from django.urls import reverse

    def add(variant, quantity=1):
        response = client.post(
            reverse("cart:add", args=[variant.product_id]),
            {"variant": variant.pk, "quantity": quantity},
            follow=True,  # reads the "Added ..." message, so a test sees only its own
        )
        assert response.redirect_chain[-1][0] == reverse("cart:detail")
        return response

    return add


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploaded files of this test only, in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
