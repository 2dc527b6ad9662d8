"""List webhooks: the URL check, list/get/delete, and deliveries as Mailchimp sends them."""
import re
import time

import requests

NEWSLETTER = "a1b2c3d4e5"
ALL_EVENTS = {"subscribe": True, "unsubscribe": True, "profile": True, "cleaned": True,
              "upemail": True, "campaign": False}


def register(session, url, *, from_api=False):
    return session.post(f"/lists/{NEWSLETTER}/webhooks", json={
        "url": url, "events": ALL_EVENTS,
        "sources": {"user": True, "admin": True, "api": from_api}})


def test_create_list_get_and_delete(api, webhook_receiver):
    created = register(api, webhook_receiver.url + "/hook?secret=s3")
    assert created.status_code == 200
    webhook = created.json()
    assert webhook["url"].endswith("/hook?secret=s3") and webhook["list_id"] == NEWSLETTER
    listed = api.get(f"/lists/{NEWSLETTER}/webhooks").json()
    assert [w["id"] for w in listed["webhooks"]] == [webhook["id"]]
    assert listed["total_items"] == 1
    path = f"/lists/{NEWSLETTER}/webhooks/{webhook['id']}"
    assert api.get(path).json()["events"]["subscribe"] is True
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_a_url_that_fails_the_get_check_is_refused(api, webhook_receiver):
    response = register(api, webhook_receiver.url + "/broken")
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Resource"
    assert register(api, "http://127.0.0.1:9/nothing-listens").status_code == 400


def test_a_person_unsubscribing_fires_a_form_encoded_unsubscribe(api, sandbox, webhook_receiver):
    register(api, webhook_receiver.url + "/hook")
    posts = webhook_receiver.wait_for(0)
    sandbox.unsubscribe(NEWSLETTER, "ann.example@hilltop.test")
    [post] = webhook_receiver.wait_for(len(posts) + 1)
    form = post["form"]
    assert post["content_type"] == "application/x-www-form-urlencoded"
    assert form["type"] == "unsubscribe"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", form["fired_at"])
    assert form["data[email]"] == "ann.example@hilltop.test"
    assert form["data[list_id]"] == NEWSLETTER
    assert form["data[action]"] == "unsub" and form["data[reason]"] == "manual"
    assert form["data[merges][FNAME]"] == "Ann"
    assert form["data[merges][INTERESTS]"] == "Recipes, Weekly"
    [delivery] = sandbox.webhook_deliveries()
    assert (delivery["type"], delivery["source"], delivery["status_code"]) == (
        "unsubscribe", "user", 200)


def test_subscribe_profile_upemail_and_cleaned(api, sandbox, webhook_receiver):
    register(api, webhook_receiver.url + "/hook")
    sandbox.subscribe(NEWSLETTER, "zed@example.com", merge_fields={"FNAME": "Zed"})
    sandbox.update_profile(NEWSLETTER, "zed@example.com", merge_fields={"LNAME": "Z"})
    sandbox.change_email(NEWSLETTER, "zed@example.com", "zed2@example.com")
    sandbox.clean(NEWSLETTER, "zed2@example.com")
    posts = webhook_receiver.wait_for(4)
    assert [p["form"]["type"] for p in posts] == ["subscribe", "profile", "upemail", "cleaned"]
    assert posts[0]["form"]["data[merges][FNAME]"] == "Zed"
    assert posts[1]["form"]["data[merges][LNAME]"] == "Z"
    assert (posts[2]["form"]["data[old_email]"], posts[2]["form"]["data[new_email]"]) == (
        "zed@example.com", "zed2@example.com")
    assert (posts[3]["form"]["data[email]"], posts[3]["form"]["data[reason]"]) == (
        "zed2@example.com", "hard")


def test_api_changes_fire_only_when_the_api_source_is_on(api, sandbox, webhook_receiver):
    register(api, webhook_receiver.url + "/user-only")
    api.put(f"/lists/{NEWSLETTER}/members/quiet@example.com",
            json={"email_address": "quiet@example.com", "status_if_new": "subscribed"})
    assert sandbox.webhook_deliveries() == []
    register(api, webhook_receiver.url + "/with-api", from_api=True)
    api.put(f"/lists/{NEWSLETTER}/members/loud@example.com",
            json={"email_address": "loud@example.com", "status_if_new": "subscribed"})
    api.delete(f"/lists/{NEWSLETTER}/members/loud@example.com")
    deliveries = sandbox.webhook_deliveries()
    assert [(d["url"].rsplit("/", 1)[1], d["type"], d["source"]) for d in deliveries] == [
        ("with-api", "subscribe", "api"), ("with-api", "unsubscribe", "api")]
    assert deliveries[1]["data"]["data[action]"] == "delete"


def control(sandbox, method, path, **kwargs):
    response = requests.request(method, sandbox.control_url + path, timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def attempts(sandbox):
    return [(d["data"]["data[email]"], d["attempt"], d["status_code"], d["retry_in"])
            for d in sandbox.webhook_deliveries()]


def test_a_failed_delivery_is_retried_on_the_schedule(api, sandbox, webhook_receiver):
    assert control(sandbox, "GET", "/webhook-retries") == {
        "delays": [60, 120, 300, 600, 1200, 2400], "timeout": 10}
    control(sandbox, "PUT", "/webhook-retries", json={"delays": [0.1, 0.2]})
    register(api, webhook_receiver.url + "/hook")
    webhook_receiver.fail_next = 2
    sandbox.subscribe(NEWSLETTER, "retry@example.com")
    posts = webhook_receiver.wait_for(3)
    assert [p["form"]["data[email]"] for p in posts] == ["retry@example.com"] * 3
    assert attempts(sandbox) == [("retry@example.com", 1, 500, 0.1),
                                 ("retry@example.com", 2, 500, 0.2),
                                 ("retry@example.com", 3, 200, None)]
    # Every attempt carries the same event.
    assert len({d["fired_at"] for d in sandbox.webhook_deliveries()}) == 1


def test_retries_give_up_after_the_last_delay(api, sandbox, webhook_receiver):
    control(sandbox, "PUT", "/webhook-retries", json={"delays": [0.05]})
    register(api, webhook_receiver.url + "/hook")
    webhook_receiver.fail_next = 5
    sandbox.subscribe(NEWSLETTER, "never@example.com")
    assert attempts(sandbox) == [("never@example.com", 1, 500, 0.05),
                                 ("never@example.com", 2, 500, None)]


def test_a_receiver_too_slow_to_answer_is_retried(api, sandbox, webhook_receiver):
    control(sandbox, "PUT", "/webhook-retries", json={"delays": [0.1], "timeout": 0.2})
    register(api, webhook_receiver.url + "/hook")
    webhook_receiver.delay = 0.5
    sandbox.subscribe(NEWSLETTER, "slow@example.com")
    [first, second] = sandbox.webhook_deliveries()
    assert (first["status_code"], first["attempt"], second["attempt"]) == (None, 1, 2)
    assert "timed out" in first["error"].lower()


def test_a_waiting_retry_holds_up_no_later_delivery(api, sandbox, webhook_receiver):
    control(sandbox, "PUT", "/webhook-retries", json={"delays": [2.0]})
    register(api, webhook_receiver.url + "/hook")
    webhook_receiver.fail_next = 1
    sandbox.subscribe(NEWSLETTER, "first@example.com")
    sandbox.subscribe(NEWSLETTER, "second@example.com")
    # Idle means nothing due within a second: the retry 2 s away is not waited for.
    assert attempts(sandbox) == [("first@example.com", 1, 500, 2.0),
                                 ("second@example.com", 1, 200, None)]
    posts = webhook_receiver.wait_for(3)
    assert [p["form"]["data[email]"] for p in posts][2] == "first@example.com"
    assert attempts(sandbox)[2] == ("first@example.com", 2, 200, None)


def test_drops_lose_the_next_deliveries_then_all_until_switched_off(api, sandbox,
                                                                     webhook_receiver):
    register(api, webhook_receiver.url + "/hook")
    assert control(sandbox, "POST", "/webhook-drops", json={"count": 1}) == {
        "count": 1, "all": False}
    sandbox.subscribe(NEWSLETTER, "lost@example.com")
    sandbox.subscribe(NEWSLETTER, "kept@example.com")
    [post] = webhook_receiver.wait_for(1)
    assert post["form"]["data[email]"] == "kept@example.com"
    lost, kept = sandbox.webhook_deliveries()
    assert (lost["dropped"], lost["status_code"], lost["retry_in"]) == (True, None, None)
    assert lost["data"]["data[email]"] == "lost@example.com" and kept["dropped"] is False
    assert control(sandbox, "GET", "/webhook-drops") == {"count": 0, "all": False}

    control(sandbox, "POST", "/webhook-drops", json={"all": True})
    sandbox.unsubscribe(NEWSLETTER, "lost@example.com")
    sandbox.unsubscribe(NEWSLETTER, "kept@example.com")
    assert [d["dropped"] for d in sandbox.webhook_deliveries()] == [True, False, True, True]
    assert control(sandbox, "DELETE", "/webhook-drops") == {"count": 0, "all": False}
    sandbox.subscribe(NEWSLETTER, "lost@example.com")
    assert [p["form"]["type"] for p in webhook_receiver.wait_for(2)] == [
        "subscribe", "subscribe"]
    assert len(webhook_receiver.posts) == 2


def test_reset_forgets_drops_pending_retries_and_the_schedule(api, sandbox, webhook_receiver):
    control(sandbox, "PUT", "/webhook-retries", json={"delays": [0.8]})
    register(api, webhook_receiver.url + "/hook")
    webhook_receiver.fail_next = 1
    sandbox.subscribe(NEWSLETTER, "pending@example.com")
    webhook_receiver.wait_for(1)
    control(sandbox, "POST", "/webhook-drops", json={"count": 3, "all": True})
    sandbox.reset()
    assert control(sandbox, "GET", "/webhook-drops") == {"count": 0, "all": False}
    assert control(sandbox, "GET", "/webhook-retries")["delays"][0] == 60
    time.sleep(1.2)
    assert sandbox.webhook_deliveries() == [] and len(webhook_receiver.posts) == 1


def test_bad_retry_and_drop_settings_are_refused(sandbox):
    for path, body in [("/webhook-retries", {"delays": "1,2"}),
                       ("/webhook-retries", {"delays": [-1]}),
                       ("/webhook-retries", {"timeout": 0})]:
        assert requests.put(sandbox.control_url + path, json=body, timeout=10).status_code == 400
    assert requests.post(sandbox.control_url + "/webhook-drops", json={"count": -1},
                         timeout=10).status_code == 400
