"""Registration and the demo superuser."""
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from shop.accounts.models import User
from shop.accounts.services import user_ensure_superuser, user_register
from tests.shop.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_user_register_creates_a_customer():
    user = user_register(
        email="New@Example.com", first_name=" Ann ", last_name="Smith", password="pw-long-enough"
    )
    assert user.email == "new@example.com"
    assert (user.first_name, user.last_name) == ("Ann", "Smith")
    assert user.check_password("pw-long-enough")
    assert not user.is_staff


def test_user_register_refuses_a_duplicate_whatever_its_case():
    UserFactory(email="ann@example.com")
    with pytest.raises(ValidationError) as caught:
        user_register(
            email="ANN@EXAMPLE.COM", first_name="Ann", last_name="S", password="pw-long-enough"
        )
    assert caught.value.code == "email_taken"
    assert User.objects.count() == 1


def test_user_register_rolls_back_with_the_callers_transaction():
    """The subscriptions hook relies on this: a failure after registering undoes it."""
    with pytest.raises(RuntimeError), transaction.atomic():
        user_register(email="ann@example.com", first_name="A", last_name="S", password="pw-12345")
        raise RuntimeError("the newsletter opt-in failed")
    assert not User.objects.filter(email="ann@example.com").exists()


def test_user_ensure_superuser_creates_then_keeps_the_password():
    user, created = user_ensure_superuser(email="admin@example.com", password="first-pass")
    assert created and user.is_superuser and user.check_password("first-pass")

    user, created = user_ensure_superuser(email="admin@example.com", password="second-pass")
    assert not created
    user.refresh_from_db()
    assert user.check_password("first-pass")

    user_ensure_superuser(email="admin@example.com", password="second-pass", reset_password=True)
    user.refresh_from_db()
    assert user.check_password("second-pass")
    assert User.objects.count() == 1


def test_user_ensure_superuser_promotes_an_existing_customer():
    UserFactory(email="admin@example.com")
    user, created = user_ensure_superuser(email="admin@example.com", password="x")
    assert not created and user.is_staff and user.is_superuser
