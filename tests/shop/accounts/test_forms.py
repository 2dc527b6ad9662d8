"""The registration form's checks, in the customer's words."""
import pytest

from shop.accounts.forms import RegistrationForm
from tests.shop.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

VALID = {
    "email": "ann@example.com",
    "first_name": "Ann",
    "last_name": "Smith",
    "password1": "a-long-unusual-pass",
    "password2": "a-long-unusual-pass",
}


def test_valid_registration():
    form = RegistrationForm(VALID)
    assert form.is_valid(), form.errors
    assert form.registration_data() == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Smith",
        "password": "a-long-unusual-pass",
    }


def test_passwords_must_match():
    form = RegistrationForm({**VALID, "password2": "something-else-entirely"})
    assert not form.is_valid()
    assert "don't match" in form.errors["password2"][0]


def test_weak_password_is_refused():
    form = RegistrationForm({**VALID, "password1": "12345678", "password2": "12345678"})
    assert not form.is_valid()
    assert "password1" in form.errors


def test_duplicate_email_any_case_is_refused():
    UserFactory(email="ann@example.com")
    form = RegistrationForm({**VALID, "email": "Ann@Example.com"})
    assert not form.is_valid()
    assert "already an account" in form.errors["email"][0]


def test_invalid_email():
    form = RegistrationForm({**VALID, "email": "not-an-email"})
    assert not form.is_valid()
    assert "valid email address" in form.errors["email"][0]
