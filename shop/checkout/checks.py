"""Start-up checks of the checkout's settings."""
from django.conf import settings
from django.core.checks import Error
from django_countries import countries


def store_default_country_check(app_configs, **kwargs) -> list[Error]:
    code = settings.STORE_DEFAULT_COUNTRY
    if code in countries:
        return []
    return [
        Error(
            f"STORE_DEFAULT_COUNTRY is {code!r}, which is not a country's code.",
            hint="Use a two-letter ISO 3166 code, such as GB, US or DE.",
            id="checkout.E001",
        )
    ]
