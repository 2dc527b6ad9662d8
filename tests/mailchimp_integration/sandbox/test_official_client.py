"""The official mailchimp-marketing client (3.0.80) can make every call the sandbox serves."""
import hashlib
import json
import time

import pytest
from mailchimp_marketing.api_client import ApiClientError

NEWSLETTER, TOPICS, RECIPES = "a1b2c3d4e5", "c0ffee0001", "1a2b3c4d01"
EMAIL = "official@example.com"
HASH = hashlib.md5(EMAIL.encode()).hexdigest()


def test_ping_lists_categories_interests(official, spec_check):
    assert official.ping.get()["health_status"] == "Everything's Chimpy!"
    lists = official.lists.get_all_lists(fields=["lists.id", "lists.name", "total_items"],
                                         count=2, offset=1)
    assert lists == {"lists": [{"id": "b7c8d9e0f1", "name": "Product news"},
                               {"id": "f2e3d4c5b6", "name": "Trade customers"}],
                     "total_items": 3}
    assert official.lists.get_list(NEWSLETTER)["name"] == "Newsletter"
    categories = official.lists.get_list_interest_categories(NEWSLETTER)
    assert categories["total_items"] == 2
    assert official.lists.get_interest_category(NEWSLETTER, TOPICS)["title"] == "Topics"
    interests = official.lists.list_interest_category_interests(NEWSLETTER, TOPICS)
    assert len(interests["interests"]) == 3
    assert official.lists.get_interest_category_interest(NEWSLETTER, TOPICS,
                                                         RECIPES)["name"] == "Recipes"
    assert spec_check.checked == 7


def test_member_calls(official):
    member = official.lists.set_list_member(NEWSLETTER, HASH, {
        "email_address": EMAIL, "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Offi"}, "interests": {RECIPES: True}})
    assert member["status"] == "subscribed" and member["interests"][RECIPES] is True
    assert official.lists.get_list_member(NEWSLETTER, HASH)["merge_fields"]["FNAME"] == "Offi"
    patched = official.lists.update_list_member(NEWSLETTER, HASH, {"status": "unsubscribed"})
    assert patched["status"] == "unsubscribed"
    members = official.lists.get_list_members_info(NEWSLETTER, status="unsubscribed")
    assert [m["email_address"] for m in members["members"]] == [EMAIL]
    official.lists.update_list_member_tags(NEWSLETTER, HASH, {
        "tags": [{"name": "Wholesale", "status": "active"}]})
    tags = official.lists.get_list_member_tags(NEWSLETTER, HASH)
    assert [t["name"] for t in tags["tags"]] == ["Wholesale"]
    official.lists.delete_list_member(NEWSLETTER, HASH)
    assert official.lists.get_list_member(NEWSLETTER, HASH)["status"] == "archived"
    with pytest.raises(ApiClientError) as caught:
        official.lists.get_list_member(NEWSLETTER, "never-added@example.com")
    assert caught.value.status_code == 404
    # problem+json bodies arrive as text in this client
    assert json.loads(caught.value.text)["title"] == "Resource Not Found"
    official.lists.delete_list_member_permanent(NEWSLETTER, HASH)


def test_compliance_error_through_the_official_client(official, sandbox):
    official.lists.set_list_member(NEWSLETTER, HASH, {"email_address": EMAIL,
                                                      "status_if_new": "subscribed"})
    sandbox.unsubscribe(NEWSLETTER, EMAIL)
    with pytest.raises(ApiClientError) as caught:
        official.lists.set_list_member(NEWSLETTER, HASH, {
            "email_address": EMAIL, "status_if_new": "subscribed", "status": "subscribed"})
    assert caught.value.status_code == 400
    assert json.loads(caught.value.text)["title"] == "Member In Compliance State"


def test_batch_subscribe_and_batches(official):
    result = official.lists.batch_list_members(NEWSLETTER, {"members": [
        {"email_address": "one@example.com", "status": "subscribed"},
        {"email_address": "nope", "status": "subscribed"}]})
    assert (result["total_created"], result["error_count"]) == (1, 1)
    batch = official.batches.start({"operations": [
        {"method": "GET", "path": f"/lists/{NEWSLETTER}", "operation_id": "get-list"}]})
    for _ in range(100):
        status = official.batches.status(batch["id"])
        if status["status"] == "finished":
            break
        time.sleep(0.05)
    assert status["finished_operations"] == 1 and status["response_body_url"]
    assert batch["id"] in [b["id"] for b in official.batches.list()["batches"]]


def test_webhook_calls(official, webhook_receiver):
    created = official.lists.create_list_webhook(NEWSLETTER, {
        "url": webhook_receiver.url + "/mc", "events": {"subscribe": True},
        "sources": {"user": True}})
    assert official.lists.get_list_webhooks(NEWSLETTER)["total_items"] == 1
    assert official.lists.get_list_webhook(NEWSLETTER, created["id"])["url"].endswith("/mc")
    official.lists.delete_list_webhook(NEWSLETTER, created["id"])
    assert official.lists.get_list_webhooks(NEWSLETTER)["webhooks"] == []
