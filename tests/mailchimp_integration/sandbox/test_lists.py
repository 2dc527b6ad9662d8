"""Lists, interest categories and interests: reads, paging, fields, errors, auth."""
import pytest

NEWSLETTER, PRODUCT_NEWS, TRADE = "a1b2c3d4e5", "b7c8d9e0f1", "f2e3d4c5b6"
TOPICS, RECIPES = "c0ffee0001", "1a2b3c4d01"


def test_ping_answers_chimpy(api):
    response = api.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"health_status": "Everything's Chimpy!"}


def test_the_api_root_names_the_account(api):
    assert api.get("/").json()["account_name"] == "Hilltop Goods"


def test_the_demo_account_has_three_audiences(api):
    body = api.get("/lists").json()
    assert [item["name"] for item in body["lists"]] == [
        "Newsletter", "Product news", "Trade customers"]
    assert body["total_items"] == 3
    assert body["lists"][0]["stats"]["member_count"] == 1251  # 1250 + the seeded member


def test_lists_honour_count_and_offset(api, sandbox):
    for n in range(12):
        sandbox.create_list(f"Extra {n}")
    first = api.get("/lists").json()
    assert len(first["lists"]) == 10 and first["total_items"] == 15
    rest = api.get("/lists", params={"count": 10, "offset": 10}).json()
    assert [item["name"] for item in rest["lists"]] == [f"Extra {n}" for n in range(7, 12)]


def test_fields_keeps_only_the_dotted_paths(api):
    body = api.get("/lists", params={
        "fields": "lists.id,lists.name,lists.stats.member_count,total_items"}).json()
    assert body == {
        "lists": [
            {"id": NEWSLETTER, "name": "Newsletter", "stats": {"member_count": 1251}},
            {"id": PRODUCT_NEWS, "name": "Product news", "stats": {"member_count": 640}},
            {"id": TRADE, "name": "Trade customers", "stats": {"member_count": 85}},
        ],
        "total_items": 3,
    }


def test_exclude_fields_drops_the_dotted_paths(api):
    body = api.get(f"/lists/{NEWSLETTER}", params={"exclude_fields": "_links,stats,contact"})
    assert body.status_code == 200
    assert {"_links", "stats", "contact"}.isdisjoint(body.json())
    assert body.json()["name"] == "Newsletter"


def test_an_unknown_list_is_a_404_problem(api):
    response = api.get("/lists/0000000000")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= {"type", "title", "status", "detail", "instance"}
    assert (problem["title"], problem["status"]) == ("Resource Not Found", 404)


def test_a_wrong_key_is_a_401(api):
    api.auth = ("anystring", "ffffffffffffffffffffffffffffffff-us6")
    response = api.get("/lists")
    assert response.status_code == 401
    assert response.json()["title"] == "API Key Invalid"


def test_no_key_is_a_401(api, spec_check):
    spec_check.requests = False  # the spec requires basic auth
    api.auth = None
    response = api.get("/lists")
    assert (response.status_code, response.json()["title"]) == (401, "API Key Missing")


def test_the_key_with_its_datacenter_suffix_is_accepted(sandbox):
    assert sandbox.api_key.endswith("-us6")
    client = sandbox.official_client()
    assert client.ping.get()["health_status"]


def test_categories_of_a_list(api):
    body = api.get(f"/lists/{NEWSLETTER}/interest-categories").json()
    assert body["list_id"] == NEWSLETTER
    assert [(c["id"], c["title"], c["type"]) for c in body["categories"]] == [
        ("c0ffee0001", "Topics", "checkboxes"), ("c0ffee0002", "How often", "radio")]
    assert body["total_items"] == 2


def test_one_category_and_its_404(api):
    assert api.get(f"/lists/{NEWSLETTER}/interest-categories/{TOPICS}").json()["title"] == "Topics"
    assert api.get(f"/lists/{NEWSLETTER}/interest-categories/nope").status_code == 404
    assert api.get("/lists/nope/interest-categories").status_code == 404


def test_interests_of_a_category_with_counts_as_strings(api):
    body = api.get(f"/lists/{NEWSLETTER}/interest-categories/{TOPICS}/interests",
                   params={"count": 2}).json()
    assert [(i["name"], i["subscriber_count"]) for i in body["interests"]] == [
        ("Recipes", "411"), ("Gardening", "380")]
    assert body["total_items"] == 3


def test_one_interest_and_its_404(api):
    path = f"/lists/{NEWSLETTER}/interest-categories/{TOPICS}/interests"
    assert api.get(f"{path}/{RECIPES}").json()["name"] == "Recipes"
    response = api.get(f"{path}/ffffffffff")
    assert response.status_code == 404 and response.json()["status"] == 404


def test_control_changes_show_in_the_api(api, sandbox):
    list_id = sandbox.create_list("Wholesale", member_count=7)
    category_id = sandbox.create_category(list_id, "Regions")
    interest_id = sandbox.create_interest(list_id, category_id, "North", subscriber_count=3)
    sandbox.rename_interest(list_id, category_id, interest_id, "North east")
    sandbox.rename_list(list_id, "Wholesale UK")
    audience = api.get(f"/lists/{list_id}").json()
    assert (audience["name"], audience["stats"]["member_count"]) == ("Wholesale UK", 7)
    interest = api.get(
        f"/lists/{list_id}/interest-categories/{category_id}/interests/{interest_id}").json()
    assert (interest["name"], interest["subscriber_count"]) == ("North east", "3")
    sandbox.delete_interest(list_id, category_id, interest_id)
    sandbox.delete_category(list_id, category_id)
    assert api.get(f"/lists/{list_id}/interest-categories").json()["total_items"] == 0
    sandbox.delete_list(list_id)
    assert api.get(f"/lists/{list_id}").status_code == 404


def test_ids_look_like_mailchimps_and_repeat_after_a_reset(sandbox):
    first = sandbox.create_list("A")
    sandbox.reset()
    assert sandbox.create_list("A") == first
    assert len(first) == 10 and int(first, 16) >= 0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_method_the_route_lacks_is_a_405(api, spec_check, method):
    spec_check.requests = spec_check.responses = False  # not operations of the spec
    response = api.request(method, "/lists")
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/problem+json"
