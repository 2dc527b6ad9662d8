"""What reconciliation reads: members filtered by when they changed or opted in, sorted and
paged; timestamp_opt and ip_opt as they are recorded; seeding many members fast."""
import time

import pytest
import requests

NEWSLETTER = "a1b2c3d4e5"
FIELDS = "members.email_address,members.status,members.last_changed,total_items"


def at(hour: int) -> str:
    return f"2026-01-01T{hour:02}:00:00+00:00"


def control(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, sandbox.control_url + path, timeout=30, **kwargs)


def bulk(sandbox, list_id: str, members: list[dict]) -> requests.Response:
    return control(sandbox, "POST", f"/lists/{list_id}/members-bulk", json={"members": members})


@pytest.fixture
def changed_list(sandbox):
    """A list of five members who changed at 10:00, 11:00 … 14:00 and opted in in reverse."""
    list_id = sandbox.create_list("Reconciled")
    created = bulk(sandbox, list_id, [
        {"email": f"m{n}@example.com", "status": "subscribed", "last_changed": at(10 + n),
         "timestamp_opt": at(4 - n), "ip_opt": f"203.0.113.{n}"}
        for n in range(5)])
    assert created.json() == {"created": 5}
    return list_id


def emails(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [member["email_address"] for member in response.json()["members"]]


def test_since_and_before_last_changed_are_strict(api, changed_list, spec_check):
    path = f"/lists/{changed_list}/members"
    since = api.get(path, params={"since_last_changed": at(11)})
    assert emails(since) == ["m2@example.com", "m3@example.com", "m4@example.com"]
    assert since.json()["total_items"] == 3
    assert emails(api.get(path, params={"before_last_changed": at(13)})) == [
        "m0@example.com", "m1@example.com", "m2@example.com"]
    assert emails(api.get(path, params={"since_last_changed": at(10),
                                        "before_last_changed": at(14)})) == [
        "m1@example.com", "m2@example.com", "m3@example.com"]
    # Another zone is the same moment: 13:00+02:00 is 11:00 UTC.
    assert emails(api.get(path, params={
        "since_last_changed": "2026-01-01T13:00:00+02:00"}))[0] == "m2@example.com"
    assert emails(api.get(path, params={"since_timestamp_opt": at(2)})) == [
        "m0@example.com", "m1@example.com"]
    assert spec_check.checked == 5


def test_sort_then_page_and_the_total_counts_the_filtered_members(api, changed_list):
    path = f"/lists/{changed_list}/members"
    assert emails(api.get(path, params={"sort_field": "last_changed", "sort_dir": "DESC"})) == [
        f"m{n}@example.com" for n in (4, 3, 2, 1, 0)]
    assert emails(api.get(path, params={"sort_field": "timestamp_opt"})) == [
        f"m{n}@example.com" for n in (4, 3, 2, 1, 0)]
    paged = api.get(path, params={"since_last_changed": at(10), "sort_field": "last_changed",
                                  "sort_dir": "DESC", "count": 2, "offset": 1})
    assert emails(paged) == ["m3@example.com", "m2@example.com"]
    assert paged.json()["total_items"] == 4


def test_fields_trims_members_to_what_was_asked(api, changed_list):
    body = api.get(f"/lists/{changed_list}/members",
                   params={"fields": FIELDS, "count": 1, "sort_field": "last_changed"}).json()
    assert body == {"members": [{"email_address": "m0@example.com", "status": "subscribed",
                                 "last_changed": at(10)}], "total_items": 5}


@pytest.mark.parametrize("value", ["yesterday", "2026-01-01", "2026-13-01T10:00:00+00:00"])
def test_a_since_that_is_no_date_time_is_a_400(api, value):
    response = api.get(f"/lists/{NEWSLETTER}/members", params={"since_last_changed": value})
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Resource"
    assert response.json()["errors"][0]["field"] == "since_last_changed"


@pytest.mark.parametrize("params", [{"sort_field": "email_address"}, {"sort_dir": "down"}])
def test_a_sort_outside_the_enum_is_a_400(api, spec_check, params):
    spec_check.requests = False  # the spec's enum forbids it: that is the point
    response = api.get(f"/lists/{NEWSLETTER}/members", params=params)
    assert (response.status_code, response.json()["title"]) == (400, "Invalid Resource")


def test_bulk_members_render_like_any_and_fire_no_webhooks(api, sandbox, changed_list):
    member = api.get(f"/lists/{changed_list}/members/m1@example.com").json()
    assert (member["last_changed"], member["timestamp_opt"], member["ip_opt"]) == (
        at(11), at(3), "203.0.113.1")
    created = bulk(sandbox, NEWSLETTER, [
        {"email": "gone@example.com", "status": "unsubscribed",
         "merge_fields": {"FNAME": "Gone"}, "interests": {"1a2b3c4d01": True}},
        {"email": "later@example.com", "status": "pending"}])
    assert created.json() == {"created": 2}
    gone = api.get(f"/lists/{NEWSLETTER}/members/gone@example.com").json()
    assert (gone["status"], gone["merge_fields"]["FNAME"], gone["interests"]["1a2b3c4d01"]) == (
        "unsubscribed", "Gone", True)
    # Not kinder than Mailchimp: a seeded unsubscribe locks as staff's would.
    refused = api.put(f"/lists/{NEWSLETTER}/members/gone@example.com",
                      json={"email_address": "gone@example.com", "status": "subscribed",
                            "status_if_new": "subscribed"})
    assert refused.json()["title"] == "Member In Compliance State"
    assert "timestamp_opt" not in api.get(f"/lists/{NEWSLETTER}/members/later@example.com").json()
    assert sandbox.webhook_deliveries() == []


@pytest.mark.parametrize("entry", [
    {"email": "not-an-email", "status": "subscribed"},
    {"email": "a@example.com", "status": "archived"},
    {"email": "a@example.com", "status": "subscribed", "last_changed": "soon"},
    {"email": "a@example.com", "status": "subscribed", "interests": {"deadbeef00": True}},
    {"email": "a@example.com", "status": "subscribed", "vip": True},
])
def test_a_bad_bulk_entry_stores_nothing(api, sandbox, entry):
    response = bulk(sandbox, NEWSLETTER, [{"email": "fine@example.com", "status": "subscribed"},
                                          entry])
    assert response.status_code == 400
    assert api.get(f"/lists/{NEWSLETTER}/members/fine@example.com").status_code == 404


def test_a_signup_and_a_confirmation_record_when_and_from_where(api, sandbox):
    before = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 1))
    signed = control(sandbox, "POST", f"/lists/{NEWSLETTER}/people/subscribe",
                     json={"email": "form@example.com", "ip": "198.51.100.4"}).json()
    assert (signed["ip_signup"], signed["ip_opt"]) == ("198.51.100.4", "198.51.100.4")
    assert signed["timestamp_opt"] >= before and signed["timestamp_signup"] >= before

    api.put(f"/lists/{NEWSLETTER}/members/dbl@example.com",
            json={"email_address": "dbl@example.com", "status_if_new": "pending"})
    assert "timestamp_opt" not in api.get(f"/lists/{NEWSLETTER}/members/dbl@example.com").json()
    control(sandbox, "POST", f"/lists/{NEWSLETTER}/people/confirm",
            json={"email": "dbl@example.com", "ip": "198.51.100.5"})
    confirmed = api.get(f"/lists/{NEWSLETTER}/members/dbl@example.com").json()
    assert (confirmed["status"], confirmed["ip_opt"]) == ("subscribed", "198.51.100.5")
    assert confirmed["timestamp_opt"] >= before
    listed = api.get(f"/lists/{NEWSLETTER}/members",
                     params={"since_timestamp_opt": before, "sort_field": "timestamp_opt"})
    assert {"form@example.com", "dbl@example.com"} <= set(emails(listed))


def test_an_api_write_stores_the_opt_in_it_sends(api):
    path = f"/lists/{NEWSLETTER}/members/imported@example.com"
    member = api.put(path, json={"email_address": "imported@example.com",
                                 "status_if_new": "subscribed", "ip_opt": "192.0.2.7",
                                 "timestamp_opt": "2020-02-02T08:00:00+00:00"}).json()
    assert (member["ip_opt"], member["timestamp_opt"]) == ("192.0.2.7",
                                                           "2020-02-02T08:00:00+00:00")
    patched = api.patch(path, json={"timestamp_opt": "2020-03-03T08:00:00+00:00"}).json()
    assert patched["timestamp_opt"] == "2020-03-03T08:00:00+00:00"


def test_a_new_opt_in_is_stamped_anew(api, sandbox):
    sandbox.load_seed({"lists": [{"id": NEWSLETTER, "name": "Newsletter", "members": [
        {"email_address": "back@example.com", "timestamp_opt": at(9), "ip_opt": "192.0.2.1",
         "last_changed": at(9)}]}]})
    path = f"/lists/{NEWSLETTER}/members/back@example.com"
    seeded = api.get(path).json()
    assert (seeded["timestamp_opt"], seeded["ip_opt"], seeded["last_changed"]) == (
        at(9), "192.0.2.1", at(9))
    sandbox.unsubscribe(NEWSLETTER, "back@example.com")
    sandbox.subscribe(NEWSLETTER, "back@example.com")
    assert api.get(path).json()["timestamp_opt"] > at(9)


def test_a_seed_may_date_members_last_change(api, sandbox):
    sandbox.load_seed({"lists": [{"id": NEWSLETTER, "name": "Newsletter", "members": [
        {"email_address": "old@example.com", "last_changed": "2020-01-01T00:00:00+00:00"},
        {"email_address": "new@example.com"}]}]})
    assert emails(api.get(f"/lists/{NEWSLETTER}/members",
                          params={"since_last_changed": "2021-01-01T00:00:00+00:00"})) == [
        "new@example.com"]


def test_paging_a_big_list_is_not_quadratic(mailchimp_sandbox):
    """100,000 members, read by 1000 changed since a time, newest first, as the store does."""
    list_id = mailchimp_sandbox.create_list("Big")
    members = [{"email": f"p{n}@example.com", "status": "subscribed",
                "last_changed": f"2025-{1 + n % 12:02}-01T00:00:00+00:00"}
               for n in range(100_000)]
    started = time.monotonic()
    assert bulk(mailchimp_sandbox, list_id, members).json() == {"created": 100_000}
    session = requests.Session()
    session.auth = ("anystring", mailchimp_sandbox.api_key)
    seen, offset = 0, 0
    while True:
        body = session.get(f"{mailchimp_sandbox.url}/lists/{list_id}/members", params={
            "since_last_changed": "2025-06-15T00:00:00+00:00", "sort_field": "last_changed",
            "sort_dir": "DESC", "count": 1000, "offset": offset, "fields": FIELDS},
            timeout=30).json()
        seen += len(body["members"])
        offset += 1000
        if offset >= body["total_items"]:
            break
    # Changed in July to December: n % 12 from 6 to 11.
    assert seen == body["total_items"] == sum(1 for n in range(100_000) if n % 12 >= 6)
    assert time.monotonic() - started < 60
