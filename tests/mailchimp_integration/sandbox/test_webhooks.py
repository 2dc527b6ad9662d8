"""List webhooks: the URL check, list/get/delete, and deliveries as Mailchimp sends them."""
import re

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
