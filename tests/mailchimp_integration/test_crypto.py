"""The API key at rest: encrypted, and only ever shown masked."""
import pytest

from mailchimp_integration import crypto


def test_a_key_round_trips_and_is_not_stored_in_clear():
    token = crypto.encrypt("0123456789abcdef0123456789abcdef-us6")
    assert "0123456789abcdef" not in token
    assert crypto.decrypt(token) == "0123456789abcdef0123456789abcdef-us6"


def test_a_token_from_another_secret_cannot_be_decrypted(settings):
    token = crypto.encrypt("secret-us6")
    settings.MAILCHIMP_ENCRYPTION_KEY = "another key"
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("0123456789abcdef0123456789ab1234-us6", "••••••••1234-us6"),
        ("demo0000sandbox0000key-us6", "••••••••0key-us6"),
        ("short-us6", "••••••••-us6"),  # too short to show any of it
        ("", ""),
    ],
)
def test_masking_shows_at_most_the_last_four_characters_and_the_data_centre(key, masked):
    assert crypto.mask(key) == masked
