"""seed_demo: a demo catalogue and superuser, safe to run twice."""
import pytest
from django.core.management import call_command

from shop.accounts.models import User
from shop.catalogue.models import Product, Variant
from shop.catalogue.services import product_image_set
from tests.shop.catalogue.factories import picture_bytes

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


def test_seed_demo_makes_the_admin_that_demo_admin_email_names(monkeypatch, capsys):
    """`make run` prints DEMO_ADMIN_EMAIL as the login: the seed must create that account."""
    monkeypatch.setenv("DEMO_ADMIN_EMAIL", "owner@shop.example")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "owner-pass-123")
    call_command("seed_demo")
    assert "owner@shop.example / owner-pass-123" in capsys.readouterr().out
    owner = User.objects.get()
    assert owner.email == "owner@shop.example" and owner.check_password("owner-pass-123")


def test_seed_demo_draws_each_picture_once_and_again_when_its_file_is_gone(media_root, capsys):
    call_command("seed_demo")
    assert "5 pictures added" in capsys.readouterr().out
    mug = Product.objects.get(slug="enamel-camp-mug")
    assert mug.image.name == "products/enamel-camp-mug.webp"
    assert (media_root / mug.image.name).stat().st_size > 1000
    assert mug.image_alt.startswith("A white enamel mug")

    call_command("seed_demo")
    assert "0 pictures added" in capsys.readouterr().out

    (media_root / mug.image.name).unlink()
    call_command("seed_demo")
    assert "1 picture added" in capsys.readouterr().out
    assert (media_root / "products" / "enamel-camp-mug.webp").exists()


def test_seed_demo_keeps_a_picture_chosen_in_the_admin(media_root):
    call_command("seed_demo")
    tote = Product.objects.get(slug="canvas-tote")
    product_image_set(product=tote, content=picture_bytes(), filename="mine.png", alt="Mine")
    call_command("seed_demo")
    tote.refresh_from_db()
    assert (tote.image.name, tote.image_alt) == ("products/mine.png", "Mine")
