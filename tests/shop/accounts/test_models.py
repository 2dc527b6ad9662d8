"""The email-login user model and its manager."""
import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError

from shop.accounts.models import User

pytestmark = pytest.mark.django_db


def test_create_user_lower_cases_the_email_and_hashes_the_password():
    user = User.objects.create_user(email="  Ann.Smith@Example.COM ", password="s3cret-pass")
    assert user.email == "ann.smith@example.com"
    assert user.check_password("s3cret-pass")
    assert not user.is_staff and not user.is_superuser
    assert not hasattr(user, "username")


def test_create_superuser_is_staff_and_superuser():
    user = User.objects.create_superuser(email="boss@example.com", password="pw-12345678")
    assert user.is_staff and user.is_superuser


def test_create_user_requires_an_email():
    with pytest.raises(ValueError):
        User.objects.create_user(email="", password="x")


def test_database_refuses_a_second_spelling_of_the_same_address():
    User.objects.create_user(email="ann@example.com", password="x")
    with pytest.raises(IntegrityError):
        # Bypass the manager's normalisation, as a raw write would.
        User.objects.create(email="ANN@example.com")


def test_sign_in_ignores_the_case_of_the_email():
    User.objects.create_user(email="ann@example.com", password="s3cret-pass")
    assert authenticate(username="ANN@Example.com", password="s3cret-pass") is not None


def test_names():
    user = User(email="ann@example.com", first_name="Ann", last_name="Smith")
    assert str(user) == "ann@example.com"
    assert user.get_full_name() == "Ann Smith"
    assert user.get_short_name() == "Ann"
