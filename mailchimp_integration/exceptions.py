"""Our own Mailchimp error types: each says whether a retry can help and carries Mailchimp's words.

Nothing above `client.py` sees `mailchimp_marketing.ApiClientError` or a `requests` exception;
`client.py` translates every failure into one of these.
"""
from __future__ import annotations


class MailchimpError(Exception):
    """A Mailchimp call failed. `retryable` says whether trying again later can help."""

    retryable = False

    def __init__(
        self,
        title: str,
        detail: str = "",
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
    ):
        self.title = title
        self.detail = detail
        self.status = status
        self.method = method
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.status} {self.title}" if self.status else self.title
        return f"{head}: {self.detail}" if self.detail else head

    @property
    def reason(self) -> str:
        """One sentence for a person: what went wrong, with Mailchimp's own words in brackets."""
        return f"Mailchimp call failed ({self})"


class MailchimpTransientError(MailchimpError):
    """Worth retrying: a timeout, a dropped connection, a 429 or a 5xx.

    `outcome_unknown` says the request may have reached Mailchimp and may still take effect
    (a read timeout, a connection lost after sending, a 500): the caller must read before it
    writes again. A refused connection, a connect timeout, a 429 or a 503 were not applied.
    """

    retryable = True
    outcome_unknown = False

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class MailchimpUnreachable(MailchimpTransientError):
    """No answer: connection refused or reset, DNS failure, or a timeout."""

    def __init__(self, *args, outcome_unknown: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcome_unknown = outcome_unknown

    @property
    def reason(self) -> str:
        return f"Mailchimp is unreachable ({self})"


class MailchimpRateLimited(MailchimpTransientError):
    """429 Too Many Requests (or Mailchimp's empty-body 403 under heavy load)."""

    @property
    def reason(self) -> str:
        return f"Mailchimp is throttling requests ({self})"


class MailchimpServerError(MailchimpTransientError):
    """A 5xx from Mailchimp (a 500 or 504 may have been applied; a 502 or 503 was not)."""

    @property
    def outcome_unknown(self) -> bool:  # type: ignore[override]
        return self.status in (500, 504)

    @property
    def reason(self) -> str:
        return f"Mailchimp had a server error ({self})"


class MailchimpPermanentError(MailchimpError):
    """Retrying the same call cannot help: a 4xx other than 429."""


class MailchimpAuthError(MailchimpPermanentError):
    """401/403: the API key is wrong, revoked or lacks access."""

    @property
    def reason(self) -> str:
        return f"Mailchimp rejected the API key ({self})"


class MailchimpNotFound(MailchimpPermanentError):
    """404: the list, category or member does not exist (any more)."""


class MailchimpComplianceState(MailchimpPermanentError):
    """"Member In Compliance State": unsubscribed, cleaned or under review; the API may not
    subscribe them. Only the person's own new consent re-opens them, as `pending`."""


class MailchimpForgottenEmail(MailchimpPermanentError):
    """"Forgotten Email Not Subscribed": permanently deleted (GDPR); never importable again."""


class MailchimpMemberExists(MailchimpPermanentError):
    """"Member Exists" (a POST, or a batch subscribe without update_existing)."""


class MailchimpInvalidResource(MailchimpPermanentError):
    """"Invalid Resource": Mailchimp refused the data (a fake address, a bad field)."""


class MailchimpNotConfigured(MailchimpPermanentError):
    """No API key, or a key without a data-centre suffix and no MAILCHIMP_API_URL."""

    def __init__(self, detail: str):
        super().__init__("Mailchimp is not configured", detail)

    @property
    def reason(self) -> str:
        return f"Mailchimp is not configured ({self.detail})"
