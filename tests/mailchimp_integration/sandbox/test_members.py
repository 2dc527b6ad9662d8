"""Members: upsert, update, archive, forgetting, paging, tags, batch subscribe (compliance: see
test_compliance.py)."""
import hashlib

NEWSLETTER = "a1b2c3d4e5"
RECIPES, GARDENING, EVENTS, WEEKLY, MONTHLY = (f"1a2b3c4d0{n}" for n in range(1, 6))


def member_path(email: str, list_id: str = NEWSLETTER) -> str:
    return f"/lists/{list_id}/members/{hashlib.md5(email.lower().encode()).hexdigest()}"


def put(api, email, **body):
    return api.put(member_path(email), json={"email_address": email, **body})


def test_put_creates_a_member_with_status_if_new(api, spec_check):
    response = put(api, "New.Person@Example.com", status_if_new="subscribed",
                   merge_fields={"FNAME": "New", "LNAME": "Person"},
                   interests={RECIPES: True}, ip_signup="203.0.113.9",
                   timestamp_signup="2024-05-01T10:00:00+00:00", language="en")
    assert response.status_code == 200
    member = response.json()
    assert member["id"] == hashlib.md5(b"new.person@example.com").hexdigest()
    assert member["email_address"] == "New.Person@Example.com"
    assert member["status"] == "subscribed" and member["list_id"] == NEWSLETTER
    assert member["merge_fields"] == {"FNAME": "New", "LNAME": "Person"}
    # Every interest of the list, true or false.
    assert member["interests"] == {RECIPES: True, GARDENING: False, EVENTS: False,
                                   WEEKLY: False, MONTHLY: False}
    assert member["ip_signup"] == "203.0.113.9"
    assert member["timestamp_signup"] == "2024-05-01T10:00:00+00:00"
    assert len(member["unique_email_id"]) == 10 and member["last_changed"]
    assert member["stats"] == {"avg_open_rate": 0, "avg_click_rate": 0}
    assert spec_check.checked == 1


def test_status_if_new_does_not_touch_an_existing_member(api):
    put(api, "keep@example.com", status_if_new="pending")
    again = put(api, "keep@example.com", status_if_new="subscribed",
                merge_fields={"FNAME": "Kept"}).json()
    assert again["status"] == "pending" and again["merge_fields"]["FNAME"] == "Kept"
    assert put(api, "keep@example.com", status_if_new="pending",
               status="subscribed").json()["status"] == "subscribed"


def test_the_hash_must_match_the_email(api):
    response = api.put(member_path("one@example.com"),
                       json={"email_address": "other@example.com", "status_if_new": "subscribed"})
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Resource"


def test_the_path_may_carry_the_email_itself(api):
    response = api.put(f"/lists/{NEWSLETTER}/members/Plain@Example.com",
                       json={"email_address": "plain@example.com", "status_if_new": "pending"})
    assert response.status_code == 200
    assert api.get(member_path("plain@example.com")).json()["status"] == "pending"


def test_an_invalid_email_is_a_400(api):
    response = api.put(f"/lists/{NEWSLETTER}/members/not-an-email",
                       json={"email_address": "not-an-email", "status_if_new": "subscribed"})
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Resource"
    assert response.json()["detail"] == "Please provide a valid email address."


def test_an_unknown_interest_is_a_400_naming_it(api):
    response = put(api, "groups@example.com", status_if_new="subscribed",
                   interests={"deadbeef00": True})
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Resource"
    assert "deadbeef00" in response.json()["detail"]


def test_an_interest_of_another_list_is_unknown_here(api):
    response = put(api, "x@example.com", status_if_new="subscribed",
                   interests={"2b3c4d5e01": True})
    assert response.status_code == 400


def test_an_unknown_list_is_a_404(api):
    response = api.put(member_path("a@example.com", "0000000000"),
                       json={"email_address": "a@example.com", "status_if_new": "subscribed"})
    assert response.status_code == 404


def test_patch_updates_fields_and_groups(api):
    put(api, "patch@example.com", status_if_new="subscribed", interests={RECIPES: True})
    response = api.patch(member_path("patch@example.com"), json={
        "merge_fields": {"LNAME": "Smith"}, "interests": {RECIPES: False, EVENTS: True}})
    member = response.json()
    assert member["merge_fields"]["LNAME"] == "Smith"
    assert (member["interests"][RECIPES], member["interests"][EVENTS]) == (False, True)


def test_patch_of_a_missing_member_is_a_404(api):
    assert api.patch(member_path("ghost@example.com"), json={"vip": True}).status_code == 404


def test_patch_can_change_the_email(api):
    put(api, "old@example.com", status_if_new="subscribed")
    member = api.patch(member_path("old@example.com"),
                       json={"email_address": "new@example.com"}).json()
    assert member["email_address"] == "new@example.com"
    assert api.get(member_path("old@example.com")).status_code == 404
    assert api.get(member_path("new@example.com")).status_code == 200


def test_delete_archives_until_an_upsert_brings_the_member_back(api):
    put(api, "arch@example.com", status_if_new="subscribed")
    assert api.delete(member_path("arch@example.com")).status_code == 204
    # Mailchimp still shows an archived member, with that status, and lists it only on request.
    assert api.get(member_path("arch@example.com")).json()["status"] == "archived"
    listed = api.get(f"/lists/{NEWSLETTER}/members", params={"count": 1000}).json()
    assert "arch@example.com" not in [m["email_address"] for m in listed["members"]]
    archived = api.get(f"/lists/{NEWSLETTER}/members", params={"status": "archived"}).json()
    assert [m["email_address"] for m in archived["members"]] == ["arch@example.com"]
    assert api.delete(member_path("arch@example.com")).status_code == 404
    back = put(api, "arch@example.com", status_if_new="subscribed").json()
    assert back["status"] == "subscribed"
    assert api.get(member_path("arch@example.com")).json()["status"] == "subscribed"


def test_a_patch_with_a_status_brings_an_archived_member_back(api):
    put(api, "unarch@example.com", status_if_new="subscribed")
    api.delete(member_path("unarch@example.com"))
    assert api.patch(member_path("unarch@example.com"), json={"language": "fr"}).status_code == 404
    back = api.patch(member_path("unarch@example.com"), json={"status": "subscribed"})
    assert back.status_code == 200 and back.json()["status"] == "subscribed"


def test_a_permanently_deleted_email_cannot_be_subscribed_again(api):
    put(api, "forget@example.com", status_if_new="subscribed")
    path = member_path("forget@example.com") + "/actions/delete-permanent"
    assert api.post(path).status_code == 204
    assert api.get(member_path("forget@example.com")).status_code == 404
    response = put(api, "forget@example.com", status_if_new="subscribed")
    assert response.status_code == 400
    assert response.json()["title"] == "Forgotten Email Not Subscribed"


def test_post_members_adds_once(api):
    body = {"email_address": "added@example.com", "status": "subscribed"}
    assert api.post(f"/lists/{NEWSLETTER}/members", json=body).status_code == 200
    again = api.post(f"/lists/{NEWSLETTER}/members", json=body)
    assert (again.status_code, again.json()["title"]) == (400, "Member Exists")


def test_members_are_paged_and_filtered_by_status(api):
    for n in range(12):
        put(api, f"p{n}@example.com", status_if_new="pending" if n % 3 else "subscribed")
    everyone = api.get(f"/lists/{NEWSLETTER}/members", params={"count": 5, "offset": 10}).json()
    assert everyone["total_items"] == 13 and len(everyone["members"]) == 3
    pending = api.get(f"/lists/{NEWSLETTER}/members",
                      params={"status": "pending", "count": 100}).json()
    assert pending["total_items"] == 8
    assert {m["status"] for m in pending["members"]} == {"pending"}
    ids = api.get(f"/lists/{NEWSLETTER}/members", params={
        "fields": "members.email_address,total_items", "count": 2}).json()
    assert ids == {"members": [{"email_address": "ann.example@hilltop.test"},
                               {"email_address": "p0@example.com"}], "total_items": 13}


def test_member_tags_are_added_listed_and_removed(api):
    put(api, "tags@example.com", status_if_new="subscribed")
    path = member_path("tags@example.com") + "/tags"
    response = api.post(path, json={"tags": [{"name": "VIP", "status": "active"},
                                             {"name": "Trade", "status": "active"}]})
    assert response.status_code == 204
    assert [t["name"] for t in api.get(path).json()["tags"]] == ["VIP", "Trade"]
    api.post(path, json={"tags": [{"name": "VIP", "status": "inactive"}]})
    tags = api.get(path).json()
    assert [t["name"] for t in tags["tags"]] == ["Trade"] and tags["total_items"] == 1
    member = api.get(member_path("tags@example.com")).json()
    assert member["tags_count"] == 1 and member["tags"][0]["name"] == "Trade"


def test_batch_subscribe_reports_each_member(api):
    put(api, "exists@example.com", status_if_new="subscribed")
    response = api.post(f"/lists/{NEWSLETTER}", json={"members": [
        {"email_address": "fresh@example.com", "status": "subscribed"},
        {"email_address": "exists@example.com", "status": "subscribed"},
        {"email_address": "bad-address", "status": "subscribed"},
    ]})
    body = response.json()
    assert (body["total_created"], body["total_updated"], body["error_count"]) == (1, 0, 2)
    assert [m["email_address"] for m in body["new_members"]] == ["fresh@example.com"]
    codes = {e["email_address"]: e["error_code"] for e in body["errors"]}
    assert codes == {"exists@example.com": "ERROR_CONTACT_EXISTS", "bad-address": "ERROR_GENERIC"}
    assert all(e["error"] for e in body["errors"])


def test_batch_subscribe_with_update_existing(api):
    put(api, "exists@example.com", status_if_new="subscribed")
    body = api.post(f"/lists/{NEWSLETTER}", json={"update_existing": True, "members": [
        {"email_address": "exists@example.com", "merge_fields": {"FNAME": "Upd"}}]}).json()
    assert body["total_updated"] == 1
    assert body["updated_members"][0]["merge_fields"]["FNAME"] == "Upd"


def test_batch_subscribe_takes_at_most_500(api):
    members = [{"email_address": f"m{n}@example.com", "status": "subscribed"}
               for n in range(501)]
    response = api.post(f"/lists/{NEWSLETTER}", json={"members": members})
    assert response.status_code == 400
    assert api.post(f"/lists/{NEWSLETTER}",
                    json={"members": members[:500]}).json()["total_created"] == 500
