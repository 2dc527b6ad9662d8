"""seed_demo: a demo catalogue and superuser, safe to run twice."""
import pytest
from django.core.management import call_command

from shop.accounts.models import User
from shop.catalogue.models import Product, Variant

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_keeps_the_password(monkeypatch, capsys):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "first-pass-123")
    call_command("seed_demo")
    output = capsys.readouterr().out
    assert "admin@example.com / first-pass-123" in output
    products, variants = Product.objects.count(), Variant.objects.count()
    assert products >= 3 and variants > products

    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "second-pass-456")
    call_command("seed_demo")
    assert "password unchanged" in capsys.readouterr().out
    assert (Product.objects.count(), Variant.objects.count()) == (products, variants)
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser and admin.check_password("first-pass-123")

    call_command("seed_demo", "--reset-password")
    admin.refresh_from_db()
    assert admin.check_password("second-pass-456")
    assert User.objects.count() == 1
