"""GDPR fields: an audience's marketing permissions show only on its members (no endpoint
lists them), each with the member's own `enabled`; an unknown permission id is refused."""
import hashlib

NEWSLETTER = "a1b2c3d4e5"


def member_path(email: str) -> str:
    return f"/lists/{NEWSLETTER}/members/{hashlib.md5(email.lower().encode()).hexdigest()}"


def test_an_audience_without_gdpr_fields_has_no_permissions(api, sandbox):
    assert api.get(f"/lists/{NEWSLETTER}").json()["marketing_permissions"] is False
    member = api.put(member_path("a@example.com"), json={
        "email_address": "a@example.com", "status_if_new": "subscribed"}).json()
    assert member["marketing_permissions"] == []
    refused = api.put(member_path("b@example.com"), json={
        "email_address": "b@example.com", "status_if_new": "subscribed",
        "marketing_permissions": [{"marketing_permission_id": "abc", "enabled": True}]})
    assert refused.status_code == 400
    assert "marketing permission" in refused.json()["detail"]
    assert api.get(member_path("b@example.com")).status_code == 404  # nothing written


def test_members_carry_every_permission_with_their_own_choice(api, sandbox):
    email_id, post_id = sandbox.set_marketing_permissions(NEWSLETTER, ["Email", "Direct Mail"])
    assert api.get(f"/lists/{NEWSLETTER}").json()["marketing_permissions"] is True
    member = api.put(member_path("c@example.com"), json={
        "email_address": "c@example.com", "status_if_new": "subscribed",
        "marketing_permissions": [{"marketing_permission_id": email_id, "enabled": True}],
    }).json()
    assert member["marketing_permissions"] == [
        {"marketing_permission_id": email_id, "text": "Email", "enabled": True},
        {"marketing_permission_id": post_id, "text": "Direct Mail", "enabled": False},
    ]
    # Unsent permissions keep their value; one sent as false turns off.
    member = api.patch(member_path("c@example.com"), json={
        "marketing_permissions": [{"marketing_permission_id": post_id, "enabled": True}],
    }).json()
    assert [p["enabled"] for p in member["marketing_permissions"]] == [True, True]
    listed = api.get(f"/lists/{NEWSLETTER}/members", params={
        "count": 1, "fields": "members.marketing_permissions"}).json()
    assert [p["text"] for p in listed["members"][0]["marketing_permissions"]] == \
        ["Email", "Direct Mail"]
    refused = api.patch(member_path("c@example.com"), json={
        "marketing_permissions": [{"marketing_permission_id": "nope", "enabled": True}]})
    assert refused.status_code == 400


def test_switching_them_on_again_keeps_the_ids(sandbox):
    first = sandbox.set_marketing_permissions(NEWSLETTER, ["Email"])
    again = sandbox.set_marketing_permissions(NEWSLETTER, ["Email", "Customized Online Ads"])
    assert again[0] == first[0] and len(set(again)) == 2
