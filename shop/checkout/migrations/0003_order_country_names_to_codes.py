# The country of an order was free text; 0004 makes it an ISO 3166 code (django-countries).
# Its own migration: PostgreSQL will not alter a table with row updates pending in the
# same transaction.

from django.db import migrations
from django_countries import countries

# Names customers typed that are not a country's official name.
ALIASES = {
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "usa": "US", "u.s.a.": "US", "u.s.": "US", "america": "US",
    "united states of america": "US",
}


def country_code(text: str) -> str:
    """The code for a country as typed, or "" when it is not recognised."""
    text = " ".join(text.split())
    if not text:
        return ""
    return (
        ALIASES.get(text.lower())
        or countries.by_name(text)
        or (countries.alpha2(text) if len(text) in (2, 3) and text.isalpha() else "")
    )


def names_to_codes(apps, schema_editor):
    Order = apps.get_model("checkout", "Order")
    for order in Order.objects.only("pk", "country", "address_line2").iterator():
        code = country_code(order.country)
        if code:
            Order.objects.filter(pk=order.pk).update(country=code)
        else:
            # Not a country we know: keep the words on the address rather than lose them.
            kept = ", ".join(part for part in (order.address_line2, order.country) if part)
            Order.objects.filter(pk=order.pk).update(address_line2=kept[:255], country="")


def codes_to_names(apps, schema_editor):
    Order = apps.get_model("checkout", "Order")
    for order in Order.objects.only("pk", "country").iterator():
        if order.country:
            name = str(dict(countries).get(order.country, order.country))
            Order.objects.filter(pk=order.pk).update(country=name)


class Migration(migrations.Migration):

    dependencies = [
        ('checkout', '0002_order_confirmation_sent_at'),
    ]

    operations = [
        migrations.RunPython(names_to_codes, codes_to_names, elidable=True),
    ]
