"""Error translation at the boundary: which failures a retry can help, with Mailchimp's words."""
import pytest
import requests

from mailchimp_integration.client import (
    error_for_status,
    error_from_api_client_error,
    error_from_transport,
    parse_retry_after,
)
from mailchimp_integration.exceptions import (
    MailchimpAuthError,
    MailchimpNotFound,
    MailchimpPermanentError,
    MailchimpRateLimited,
    MailchimpServerError,
    MailchimpTransientError,
    MailchimpUnreachable,
)

PROBLEM = (
    '{"type": "https://mailchimp.com/developer/marketing/docs/errors/", '
    '"title": "API Key Invalid", "status": 401, '
    '"detail": "Your API key may be invalid.", "instance": "x"}'
)


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [
        (400, MailchimpPermanentError, False),
        (401, MailchimpAuthError, False),
        (403, MailchimpAuthError, False),
        (404, MailchimpNotFound, False),
        (422, MailchimpPermanentError, False),
        (429, MailchimpRateLimited, True),
        (500, MailchimpServerError, True),
        (503, MailchimpServerError, True),
    ],
)
def test_each_status_maps_to_a_type_that_says_whether_to_retry(status, expected, retryable):
    error = error_for_status(status, '{"title": "T", "detail": "D"}')
    assert type(error) is expected
    assert error.retryable is retryable
    assert isinstance(error, MailchimpTransientError) is retryable
    assert (error.title, error.detail, error.status) == ("T", "D", status)


def test_problem_json_as_a_string_and_as_a_dict_give_the_same_error():
    as_text = error_for_status(401, PROBLEM)
    as_dict = error_for_status(
        401, {"title": "API Key Invalid", "detail": "Your API key may be invalid."}
    )
    assert str(as_text) == str(as_dict) == "401 API Key Invalid: Your API key may be invalid."
    assert as_text.reason == (
        "Mailchimp rejected the API key (401 API Key Invalid: Your API key may be invalid.)"
    )


def test_an_empty_body_error_is_still_an_error_with_the_http_reason():
    error = error_for_status(400, b"", reason="Bad Request")
    assert isinstance(error, MailchimpPermanentError)
    assert error.title == "Bad Request"
    assert "empty response body" in error.detail


def test_an_empty_body_403_is_mailchimps_throttling_and_retryable():
    # Mailchimp: "under very high volume a 429 or 403 can arrive with an empty body".
    assert isinstance(error_for_status(403, "", reason="Forbidden"), MailchimpRateLimited)
    forbidden = error_for_status(403, '{"title": "Forbidden", "detail": "no"}')
    assert isinstance(forbidden, MailchimpAuthError)


def test_field_errors_are_part_of_the_detail():
    body = {
        "title": "Invalid Resource",
        "detail": "Bad data.",
        "errors": [{"field": "email_address", "message": "Blank"}],
    }
    assert error_for_status(400, body).detail == "Bad data. (email_address: Blank)"


def test_retry_after_in_seconds_or_as_an_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.001
    assert error_for_status(429, "", retry_after="2").retry_after == 2.0


def test_the_official_clients_exception_is_translated_too():
    from mailchimp_marketing.api_client import ApiClientError

    assert isinstance(error_from_api_client_error(ApiClientError(PROBLEM, 401)), MailchimpAuthError)
    assert isinstance(
        error_from_api_client_error(ApiClientError({"title": "Gone", "detail": "x"}, 404)),
        MailchimpNotFound,
    )
    assert isinstance(error_from_api_client_error(ApiClientError("boom")), MailchimpUnreachable)


def test_transport_failures_are_transient():
    request = requests.Request("GET", "http://127.0.0.1:9/3.0/lists").prepare()
    refused = requests.ConnectionError("[Errno 111] Connection refused", request=request)
    error = error_from_transport(refused, "GET", "/lists")
    assert isinstance(error, MailchimpUnreachable) and error.retryable
    assert str(error) == "Connection failed: 127.0.0.1:9: Connection refused"
    timeout = error_from_transport(requests.ReadTimeout("x", request=request), "GET", "/lists")
    assert isinstance(timeout, MailchimpUnreachable) and timeout.title == "Read timeout"
