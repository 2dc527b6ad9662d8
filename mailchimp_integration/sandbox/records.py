"""Small pieces every part of the sandbox's account uses: member ids, timestamps, links."""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

# Mailchimp rejects anything that is not shaped like an address; this is close enough.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
LINK_BASE = "https://us6.api.mailchimp.com/3.0"


def subscriber_hash(email_or_hash: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased email (a path may carry either)."""
    if "@" in email_or_hash:
        return hashlib.md5(email_or_hash.strip().lower().encode()).hexdigest()
    return email_or_hash.lower()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def utc_text(stamp: str | None) -> str:
    """A stored ISO 8601 time as UTC text, so that text order is time order ("" for none).

    Times the sandbox makes are UTC already; one given with another zone is converted."""
    if not stamp or stamp.endswith("+00:00"):
        return stamp or ""
    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()


def is_valid_email(email) -> bool:
    return isinstance(email, str) and bool(EMAIL_PATTERN.match(email.strip()))


def self_link(path: str) -> list[dict]:
    return [{"rel": "self", "href": f"{LINK_BASE}{path}", "method": "GET"}]
