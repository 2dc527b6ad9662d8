"""The customers' back-office pages."""
import pytest
from django.urls import reverse

from shop.accounts.models import User
from tests.shop.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_customer_changelist_and_search(admin_client):
    UserFactory(email="findme@example.com", first_name="Zed")
    url = reverse("admin:accounts_user_changelist")
    assert admin_client.get(url).status_code == 200
    response = admin_client.get(url, {"q": "zed"})
    assert "findme@example.com" in response.content.decode()


def test_customer_change_page(admin_client):
    user = UserFactory()
    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert user.email in response.content.decode()


def test_add_customer_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "Staff.Member@Example.com",
            "first_name": "Staff",
            "last_name": "Member",
            "usable_password": "true",
            "password1": "a-long-unusual-pass",
            "password2": "a-long-unusual-pass",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.filter(email="staff.member@example.com").exists()


def test_add_customer_refuses_a_duplicate_in_another_case(admin_client):
    UserFactory(email="taken@example.com")
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "TAKEN@example.com",
            "usable_password": "true",
            "password1": "a-long-unusual-pass",
            "password2": "a-long-unusual-pass",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_admin_index_shows_the_store_sections(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    for heading in ("Catalogue", "Sales", "Customers"):
        assert heading in page
    assert page.index("Catalogue") < page.index("Sales") < page.index("Customers")


def test_staff_groups_are_under_administration_apart_from_customers_and_mailchimp(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    customers = page[page.index(">Customers<"):page.index(">Marketing<")]
    administration = page[page.index(">Administration<"):]
    assert reverse("admin:auth_group_changelist") not in customers
    assert reverse("admin:auth_group_changelist") in administration
    assert "Staff groups" in administration
    assert page.index(">Marketing<") < page.index(">Administration<")
