"""Files the store serves itself: uploaded pictures under /media/, and the favicon."""
import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse


def test_uploaded_files_are_served_with_a_cache_lifetime(client, media_root):
    (media_root / "products").mkdir(parents=True)
    (media_root / "products" / "mug.webp").write_bytes(b"RIFF....WEBP")
    response = client.get("/media/products/mug.webp")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert "max-age=3600" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == b"RIFF....WEBP"


def test_missing_or_outside_files_are_not_found(client, media_root, tmp_path):
    media_root.mkdir()
    (tmp_path / "secret.txt").write_text("not for the public")
    client.raise_request_exception = False  # answered as a browser would get it
    assert client.get("/media/products/nope.webp").status_code == 404
    for url in ("/media/../secret.txt", "/media/%2e%2e/secret.txt"):
        response = client.get(url)
        assert response.status_code in (400, 404)  # a suspicious path is a bad request
        assert b"not for the public" not in response.content
    assert client.post("/media/products/nope.webp").status_code == 405


def test_the_favicon_is_served_at_the_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


@pytest.mark.django_db
def test_every_page_links_the_favicon(client):
    page = client.get(reverse("catalogue:product_list")).content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in page
    assert 'href="/static/shop/favicon.svg" type="image/svg+xml"' in page
    assert finders.find("shop/favicon.svg")


def test_the_liveness_check_answers_without_the_database(client):
    # No database fixture: a query anywhere on the way would raise.
    response = client.get(reverse("alive"))
    assert response.status_code == 200 and response.content == b"ok"
    assert "no-store" in response["Cache-Control"]
    assert client.post(reverse("alive")).status_code == 405
