"""The API key at rest: encrypted, and only ever shown masked."""
import pytest

from mailchimp_integration import crypto


def test_a_key_round_trips_and_is_not_stored_in_clear():
    token = crypto.encrypt("0123456789abcdef0123456789abcdef-us6")
    assert "0123456789abcdef" not in token
    assert crypto.decrypt(token) == "0123456789abcdef0123456789abcdef-us6"


def test_a_token_from_another_secret_cannot_be_decrypted(settings):
    token = crypto.encrypt("secret-us6")
    settings.SECRET_KEY = "another secret key"
    with pytest.raises(crypto.UndecryptableSecret) as raised:
        crypto.decrypt(token)
    assert "SECRET_KEY_FALLBACKS" in str(raised.value)  # says how to fix it
    assert "secret-us6" not in str(raised.value)


def test_after_rotating_secret_key_with_the_old_one_in_fallbacks_a_token_still_decrypts(
    settings,
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "old secret key", []
    token = crypto.encrypt("secret-us6")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new secret key", ["old secret key"]
    assert crypto.decrypt(token) == "secret-us6"


def test_reencrypting_moves_a_token_onto_the_new_secret_key(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "old secret key", []
    token = crypto.encrypt("secret-us6")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new secret key", ["old secret key"]
    moved = crypto.reencrypt(token)
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.decrypt(moved) == "secret-us6"
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(token)


def test_the_first_of_mailchimp_encryption_keys_encrypts_and_every_key_decrypts(settings):
    settings.MAILCHIMP_ENCRYPTION_KEYS = ["key two", "key one"]
    token = crypto.encrypt("secret-us6")
    settings.MAILCHIMP_ENCRYPTION_KEYS = ["key two"]
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "unrelated", []
    assert crypto.decrypt(token) == "secret-us6"
    settings.MAILCHIMP_ENCRYPTION_KEYS = ["key one"]
    with pytest.raises(crypto.UndecryptableSecret) as raised:
        crypto.decrypt(token)
    assert "MAILCHIMP_ENCRYPTION_KEYS" in str(raised.value)


def test_a_store_moving_to_mailchimp_encryption_keys_still_reads_its_secret_key_token(settings):
    token = crypto.encrypt("secret-us6")
    settings.MAILCHIMP_ENCRYPTION_KEYS = ["a key of its own"]
    assert crypto.decrypt(token) == "secret-us6"


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
