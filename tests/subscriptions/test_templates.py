"""What a customer reads: no internal words in any storefront template or message."""
import re
from pathlib import Path

from subscriptions import selectors, views
from subscriptions.forms import INVALID_GROUP

BASE_DIR = Path(__file__).resolve().parents[2]
CUSTOMER_TEMPLATES = [
    *(path for path in (BASE_DIR / "templates").rglob("*.html")
      if "admin" not in path.relative_to(BASE_DIR / "templates").parts),
    *(BASE_DIR / "subscriptions" / "templates" / "subscriptions").rglob("*.html"),
]
INTERNAL = re.compile(
    r"Mailchimp|annul|\bpush|audience|double opt-in|Removed in|Deleted in", re.IGNORECASE
)


def test_no_internal_words_in_the_customers_templates():
    assert len(CUSTOMER_TEMPLATES) > 10
    found = {}
    for path in CUSTOMER_TEMPLATES:
        # Template code (variables, tags, comments) is not read by customers: drop it.
        text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", path.read_text(),
                      flags=re.S)
        text = re.sub(r"{[{%#].*?[}%#]}", "", text, flags=re.S)
        hits = INTERNAL.findall(text)
        if hits:
            found[str(path.relative_to(BASE_DIR))] = hits
    assert found == {}


def test_no_internal_words_in_the_customers_messages():
    messages = [
        selectors.CHECKBOX_TEXT, selectors.PENDING_NOTE, selectors.NOT_OFFERED_NOTE,
        views.CONFIRM_BY_EMAIL, INVALID_GROUP,
        views.NewsOutcome(asked=True).message,
        views.NewsOutcome(asked=True, lists=["News"]).message,
        views.NewsOutcome(asked=True, lists=["News"], confirmation_needed=True).message,
    ]
    assert [m for m in messages if INTERNAL.search(m)] == []
