"""Registration, sign-in, sign-out and the account page."""
import pytest
from django.urls import reverse

from shop.accounts.models import User
from tests.shop.accounts.factories import PASSWORD, UserFactory
from tests.shop.checkout.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

REGISTRATION = {
    "email": "New.Customer@Example.com",
    "first_name": "New",
    "last_name": "Customer",
    "password1": "a-long-unusual-pass",
    "password2": "a-long-unusual-pass",
}


def test_register_creates_the_account_and_signs_in(client):
    response = client.post(reverse("accounts:register"), REGISTRATION, follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:account")
    user = User.objects.get()
    assert user.email == "new.customer@example.com"
    assert response.context["user"] == user
    assert "Welcome, New" in response.content.decode()


def test_register_follows_a_safe_next(client):
    response = client.post(
        reverse("accounts:register"), {**REGISTRATION, "next": "/checkout/"}
    )
    assert response["Location"] == "/checkout/"


def test_register_ignores_an_offsite_next(client):
    response = client.post(
        reverse("accounts:register"), {**REGISTRATION, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("accounts:account")


def test_register_duplicate_shows_the_error(client):
    UserFactory(email="new.customer@example.com")
    response = client.post(reverse("accounts:register"), REGISTRATION)
    assert response.status_code == 200
    assert "already an account" in response.content.decode()
    assert User.objects.count() == 1


def test_register_page_loads(client):
    response = client.get(reverse("accounts:register"))
    assert response.status_code == 200
    assert "csrfmiddlewaretoken" in response.content.decode()


def test_sign_in_and_out(client):
    user = UserFactory(email="ann@example.com")
    response = client.post(
        reverse("accounts:login"), {"username": "ANN@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    assert int(client.session["_auth_user_id"]) == user.pk

    assert client.get(reverse("accounts:logout")).status_code == 405  # GET never signs out
    response = client.post(reverse("accounts:logout"), follow=True)
    assert "_auth_user_id" not in client.session
    assert "signed out" in response.content.decode()


def test_sign_in_with_a_wrong_password_says_so(client):
    UserFactory(email="ann@example.com")
    response = client.post(
        reverse("accounts:login"), {"username": "ann@example.com", "password": "wrong"}
    )
    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()


def test_account_page_needs_sign_in(client):
    response = client.get(reverse("accounts:account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_account_page_lists_only_the_customers_own_orders(client):
    user = UserFactory()
    mine = OrderLineFactory(order=OrderFactory(user=user), product_name="My Mug").order
    theirs = OrderLineFactory(order=OrderFactory(user=UserFactory()), product_name="Not Mine")
    guest = OrderFactory(user=None, email=user.email)
    client.force_login(user)
    response = client.get(reverse("accounts:account"))
    page = response.content.decode()
    assert list(response.context["orders"]) == [mine]
    assert mine.number in page and "My Mug" in page
    assert theirs.order.number not in page and "Not Mine" not in page
    assert guest.number not in page


def test_account_page_without_orders(client):
    client.force_login(UserFactory())
    response = client.get(reverse("accounts:account"))
    assert "placed any orders yet" in response.content.decode()
