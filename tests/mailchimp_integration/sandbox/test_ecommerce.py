"""E-commerce endpoints: stores, customers (and their consent rules), products, orders, carts,
promos, campaigns; every exchange checked against the spec by `spec_check`."""
import json

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError
from openapi_core.testing import MockRequest, MockResponse

from .conftest import SPEC_SERVER, openapi
from .test_batches import wait_finished
from .test_compliance import batch_results
from .test_validation import assert_invalid

NEWSLETTER = "a1b2c3d4e5"
OTHER_LIST = "b7c8d9e0f1"
SEEDED = "ann.example@hilltop.test"  # subscribed in the seed
S = "/ecommerce/stores/shop"


def make_store(api, store_id="shop", **extra):
    body = {"id": store_id, "list_id": NEWSLETTER, "name": "Hilltop Goods",
            "currency_code": "GBP", "domain": f"{store_id}.example.com", **extra}
    response = api.post("/ecommerce/stores", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def make_product(api, product_id="mug", variants=("mug-blue",), store=S):
    response = api.post(f"{store}/products", json={
        "id": product_id, "title": "Mug", "variants": [
            {"id": v, "title": f"Mug {v}", "price": 8.5, "inventory_quantity": 3}
            for v in variants]})
    assert response.status_code == 200, response.text
    return response.json()


def order_body(order_id="o1", email="buyer@example.com", opt_in=False, customer_id="c1",
               **extra):
    return {"id": order_id, "currency_code": "GBP", "order_total": 17.0,
            "customer": {"id": customer_id, "email_address": email, "opt_in_status": opt_in},
            "lines": [{"id": "l1", "product_id": "mug", "product_variant_id": "mug-blue",
                       "quantity": 2, "price": 8.5}], **extra}


def member_status(api, email, list_id=NEWSLETTER):
    response = api.get(f"/lists/{list_id}/members/{email}")
    return response.json()["status"] if response.status_code == 200 else None


@pytest.fixture
def shop(api):
    make_store(api)
    make_product(api)
    return api


# ----------------------------------------------------------------------- stores
def test_a_store_is_created_read_listed_patched_and_deleted(api, spec_check):
    created = make_store(api, is_syncing=True)
    assert (created["id"], created["list_id"], created["is_syncing"]) == ("shop", NEWSLETTER, True)
    assert created["list_is_active"] is True and created["created_at"]
    make_store(api, "second")
    listing = api.get("/ecommerce/stores", params={"count": 1, "offset": 1}).json()
    assert listing["total_items"] == 2
    assert [s["id"] for s in listing["stores"]] == ["second"]
    assert api.get("/ecommerce/stores", params={"fields": "stores.id"}).json() == {
        "stores": [{"id": "shop"}, {"id": "second"}]}
    patched = api.patch(S, json={"name": "Hilltop", "is_syncing": False}).json()
    assert (patched["name"], patched["is_syncing"], patched["currency_code"]) == (
        "Hilltop", False, "GBP")
    assert api.get(S).json()["name"] == "Hilltop"
    assert api.delete(S).status_code == 204
    assert api.get(S).status_code == 404
    assert spec_check.checked >= 8


@pytest.mark.parametrize("missing", ["id", "list_id", "name", "currency_code"])
def test_a_store_without_a_required_field_is_refused(api, spec_check, missing):
    spec_check.requests = False
    body = {"id": "shop", "list_id": NEWSLETTER, "name": "Shop", "currency_code": "GBP"}
    del body[missing]
    assert_invalid(api.post("/ecommerce/stores", json=body), missing)
    assert api.get("/ecommerce/stores").json()["total_items"] == 0


def test_store_refusals(api, spec_check):
    make_store(api)
    again = api.post("/ecommerce/stores", json={"id": "shop", "list_id": NEWSLETTER,
                                                "name": "x", "currency_code": "GBP"})
    assert_invalid(again, "id")
    unknown = api.post("/ecommerce/stores", json={"id": "s2", "list_id": "0000000000",
                                                  "name": "x", "currency_code": "GBP"})
    assert_invalid(unknown, "list_id")
    # One store per domain, however the domain is spelt.
    same_domain = api.post("/ecommerce/stores", json={
        "id": "s3", "list_id": NEWSLETTER, "name": "x", "currency_code": "GBP",
        "domain": "HTTPS://Shop.Example.com/"})
    assert_invalid(same_domain, "domain")
    assert "already exists" in same_domain.json()["detail"]
    make_store(api, "s4")
    assert_invalid(api.patch("/ecommerce/stores/s4", json={"domain": "shop.example.com"}),
                   "domain")
    # list_id cannot change; sending the same one is harmless.
    assert_invalid(api.patch(S, json={"list_id": OTHER_LIST}), "list_id")
    assert api.patch(S, json={"list_id": NEWSLETTER}).status_code == 200
    assert api.get(S).json()["list_id"] == NEWSLETTER
    spec_check.requests = False
    assert_invalid(api.post("/ecommerce/stores", json={
        "id": "s5", "list_id": NEWSLETTER, "name": "x", "currency_code": "pounds"}),
        "currency_code")
    assert_invalid(api.patch(S, json={"is_syncing": "yes"}), "is_syncing")
    assert api.get("/ecommerce/stores").json()["total_items"] == 2


def test_deleting_a_store_deletes_everything_in_it_but_not_the_members(shop, sandbox):
    shop.post(f"{S}/orders", json=order_body())
    shop.post(f"{S}/carts", json={**order_body("cart1"), "checkout_url": "https://x.test/c"})
    shop.post(f"{S}/promo-rules", json={"id": "r1", "description": "10%", "amount": 0.1,
                                        "type": "percentage", "target": "total"})
    assert len(sandbox.ecommerce_store("shop")["orders"]) == 1
    assert shop.delete(S).status_code == 204
    make_store(shop)
    for path, key in (("customers", "customers"), ("products", "products"),
                      ("orders", "orders"), ("carts", "carts"), ("promo-rules", "promo_rules")):
        assert shop.get(f"{S}/{path}").json()[key] == []
    assert shop.get(f"{S}/orders/o1").status_code == 404
    assert member_status(shop, "buyer@example.com") == "transactional"


@pytest.mark.parametrize("path", ["/ecommerce/stores", f"{S}/customers", f"{S}/products",
                                  f"{S}/orders", f"{S}/carts", f"{S}/promo-rules",
                                  "/ecommerce/orders"])
@pytest.mark.parametrize("params", [{"count": 1001}, {"offset": -1}, {"count": "ten"}])
def test_paging_outside_the_spec_is_a_400(shop, spec_check, path, params):
    spec_check.requests = False
    assert_invalid(shop.get(path, params=params), field=next(iter(params)))


# ----------------------------------------------------------------------- customers
def test_customer_create_read_upsert_patch_delete(shop):
    body = {"id": "c1", "email_address": "cust@example.com", "opt_in_status": False,
            "first_name": "Cas", "address": {"city": "Bristol", "country_code": "GB"}}
    created = shop.post(f"{S}/customers", json=body).json()
    assert (created["email_address"], created["orders_count"], created["total_spent"]) == (
        "cust@example.com", 0, 0)
    assert created["address"]["city"] == "Bristol"
    assert shop.get(f"{S}/customers/c1").json()["first_name"] == "Cas"
    put = shop.put(f"{S}/customers/c2", json={"id": "c2", "email_address": "two@example.com",
                                              "opt_in_status": False})
    assert put.status_code == 200
    put = shop.put(f"{S}/customers/c2", json={"id": "c2", "email_address": "two@example.com",
                                              "opt_in_status": False, "last_name": "Two"})
    assert put.json()["last_name"] == "Two"
    assert shop.patch(f"{S}/customers/c1", json={"company": "Acme"}).json()["company"] == "Acme"
    listing = shop.get(f"{S}/customers", params={"email_address": "two@example.com"}).json()
    assert [c["id"] for c in listing["customers"]] == ["c2"]
    assert shop.get(f"{S}/customers").json()["total_items"] == 2
    assert shop.delete(f"{S}/customers/c1").status_code == 204
    assert shop.get(f"{S}/customers/c1").status_code == 404
    assert shop.patch(f"{S}/customers/c1", json={"company": "x"}).status_code == 404


def test_customer_refusals(shop, spec_check):
    body = {"id": "c1", "email_address": "cust@example.com", "opt_in_status": True}
    shop.post(f"{S}/customers", json=body)
    assert_invalid(shop.post(f"{S}/customers", json=body), "id")
    assert_invalid(shop.post(f"{S}/customers", json={"id": "c9", "opt_in_status": True}),
                   "email_address")
    assert_invalid(shop.post(f"{S}/customers", json={"id": "c9", "opt_in_status": True,
                                                     "email_address": "not-an-address"}),
                   "email_address")
    spec_check.requests = False
    assert_invalid(shop.post(f"{S}/customers", json={"id": "x" * 51, "opt_in_status": True,
                                                     "email_address": "a@example.com"}), "id")
    assert_invalid(shop.post(f"{S}/customers", json={"id": "c9",
                                                     "email_address": "a@example.com"}),
                   "opt_in_status")
    assert_invalid(shop.put(f"{S}/customers/c1", json={"id": "c1", "opt_in_status": "yes"}),
                   "opt_in_status")
    assert shop.get(f"{S}/customers").json()["total_items"] == 1


# ----------------------------------------------------------------------- consent
def put_customer(api, email, opt_in, customer_id="c1"):
    response = api.put(f"{S}/customers/{customer_id}", json={
        "id": customer_id, "email_address": email, "opt_in_status": opt_in})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("opt_in", "status"), [(False, "transactional"), (True, "subscribed")])
def test_a_new_address_becomes_a_member_by_opt_in_status(shop, opt_in, status):
    put_customer(shop, "new@example.com", opt_in)
    assert member_status(shop, "new@example.com") == status


def test_opt_in_false_never_touches_an_existing_member(shop, sandbox):
    put_customer(shop, SEEDED, False)
    assert member_status(shop, SEEDED) == "subscribed"
    sandbox.subscribe(NEWSLETTER, "gone@example.com")
    sandbox.unsubscribe(NEWSLETTER, "gone@example.com")
    for opt_in in (False, True):
        put_customer(shop, "gone@example.com", opt_in, customer_id=f"gone-{opt_in}")
        assert member_status(shop, "gone@example.com") == "unsubscribed"


def test_opt_in_false_to_true_upgrades_and_true_to_false_does_nothing(shop):
    put_customer(shop, "buyer@example.com", False)
    before = shop.get(f"/lists/{NEWSLETTER}/members/buyer@example.com").json()
    assert before["status"] == "transactional"
    shop.patch(f"{S}/customers/c1", json={"opt_in_status": True})
    after = shop.get(f"/lists/{NEWSLETTER}/members/buyer@example.com").json()
    assert after["status"] == "subscribed"
    assert after["last_changed"] >= before["last_changed"]
    put_customer(shop, "buyer@example.com", False)
    assert member_status(shop, "buyer@example.com") == "subscribed"
    assert shop.get(f"{S}/customers/c1").json()["opt_in_status"] is False


def test_an_upgrade_never_resubscribes_a_person_who_unsubscribed(shop, sandbox):
    put_customer(shop, "buyer@example.com", False)
    sandbox.unsubscribe(NEWSLETTER, "buyer@example.com")
    put_customer(shop, "buyer@example.com", True)
    assert member_status(shop, "buyer@example.com") == "unsubscribed"


def test_an_order_or_cart_applies_the_same_rules_to_its_customer(shop):
    assert shop.post(f"{S}/orders", json=order_body()).status_code == 200
    assert member_status(shop, "buyer@example.com") == "transactional"
    customer = shop.get(f"{S}/customers/c1").json()
    assert (customer["orders_count"], customer["total_spent"]) == (1, 17.0)
    # The same customer opts in at the next checkout: false -> true upgrades.
    cart = {**order_body("cart1", opt_in=True), "checkout_url": "https://shop.test/c/1"}
    assert shop.post(f"{S}/carts", json=cart).status_code == 200
    assert member_status(shop, "buyer@example.com") == "subscribed"
    # A seeded subscriber who buys without opting in stays subscribed.
    shop.post(f"{S}/orders", json=order_body("o2", email=SEEDED, customer_id="c2"))
    assert member_status(shop, SEEDED) == "subscribed"
    # A new address in an order's customer needs its email.
    missing = order_body("o3", customer_id="c3")
    del missing["customer"]["email_address"]
    assert_invalid(shop.post(f"{S}/orders", json=missing), "customer.email_address")


# ----------------------------------------------------------------------- products
def test_products_and_variants(shop, spec_check):
    product = shop.get(f"{S}/products/mug").json()
    assert (product["title"], product["currency_code"]) == ("Mug", "GBP")
    assert [v["id"] for v in product["variants"]] == ["mug-blue"]
    # PUT upserts: a new product, then its variants replaced.
    new = {"id": "tee", "title": "Tee", "variants": [{"id": "tee-s", "title": "S"},
                                                      {"id": "tee-m", "title": "M"}]}
    assert shop.put(f"{S}/products/tee", json=new).status_code == 200
    replaced = shop.put(f"{S}/products/tee", json={"id": "tee", "title": "Tee", "variants": [
        {"id": "tee-m", "title": "M", "price": 12}]}).json()
    assert [(v["id"], v.get("price")) for v in replaced["variants"]] == [("tee-m", 12)]
    # PATCH merges variants by id.
    patched = shop.patch(f"{S}/products/tee", json={"description": "Cotton", "variants": [
        {"id": "tee-l", "title": "L"}]}).json()
    assert patched["description"] == "Cotton"
    assert [v["id"] for v in patched["variants"]] == ["tee-m", "tee-l"]
    assert shop.get(f"{S}/products", params={"count": 1}).json()["total_items"] == 2
    # Variants on their own.
    variant = shop.post(f"{S}/products/tee/variants", json={
        "id": "tee-xl", "title": "XL", "price": 14, "sku": "TEE-XL", "visibility": "visible",
        "url": "https://shop.test/tee", "image_url": "https://shop.test/tee.png",
        "inventory_quantity": 0}).json()
    assert (variant["sku"], variant["inventory_quantity"]) == ("TEE-XL", 0)
    assert shop.put(f"{S}/products/tee/variants/tee-2xl", json={
        "id": "tee-2xl", "title": "2XL"}).status_code == 200
    assert shop.patch(f"{S}/products/tee/variants/tee-2xl", json={
        "price": 15}).json()["price"] == 15
    assert shop.get(f"{S}/products/tee/variants").json()["total_items"] == 4
    assert shop.delete(f"{S}/products/tee/variants/tee-2xl").status_code == 204
    assert shop.get(f"{S}/products/tee/variants/tee-2xl").status_code == 404
    assert_invalid(shop.post(f"{S}/products/tee/variants", json={"id": "tee-xl",
                                                                 "title": "XL"}), "id")
    assert_invalid(shop.post(f"{S}/products", json={**new, "id": "mug"}), "id")
    assert_invalid(shop.post(f"{S}/products", json={**new, "id": "cap", "variants": []}),
                   "variants")
    assert_invalid(shop.put(f"{S}/products/cap", json={"id": "cap", "title": "Cap"}),
                   "variants")
    spec_check.requests = False
    assert_invalid(shop.post(f"{S}/products", json={"id": "cap", "title": "Cap"}), "variants")
    assert_invalid(shop.post(f"{S}/products", json={"id": "cap", "title": "Cap", "variants": [
        {"id": "cap-1"}]}), "variants.item:0.title")
    assert_invalid(shop.patch(f"{S}/products/tee", json={"variants": [{"title": "no id"}]}),
                   "variants.item:0.id")
    assert shop.delete(f"{S}/products/tee").status_code == 204
    assert shop.get(f"{S}/products/tee").status_code == 404


# ----------------------------------------------------------------------- orders
def test_an_order_keeps_what_it_was_sent(shop, sandbox):
    campaign = sandbox.create_campaign(NEWSLETTER)
    body = order_body(
        campaign_id=campaign, financial_status="paid", fulfillment_status="shipped",
        tracking_code="prec", landing_site="https://shop.test/?utm=x",
        outreach={"id": campaign}, processed_at_foreign="2026-12-01T10:00:00+00:00",
        discount_total=1.0, shipping_total=3.0, tax_total=2.0,
        promos=[{"code": "TEN", "amount_discounted": 1.0, "type": "fixed"}])
    created = shop.post(f"{S}/orders", json=body).json()
    read = shop.get(f"{S}/orders/o1").json()
    for key in ("campaign_id", "financial_status", "fulfillment_status", "tracking_code",
                "landing_site", "processed_at_foreign", "discount_total", "shipping_total",
                "tax_total", "promos", "order_total", "currency_code"):
        assert read[key] == created[key] == body[key], key
    assert read["outreach"]["id"] == campaign
    assert read["customer"]["email_address"] == "buyer@example.com"
    assert read["store_id"] == "shop"
    assert read["lines"][0]["product_title"] == "Mug"
    assert read["lines"][0]["product_variant_title"] == "Mug mug-blue"
    patched = shop.patch(f"{S}/orders/o1", json={"cancelled_at_foreign":
                                                 "2026-12-02T10:00:00Z"}).json()
    assert patched["cancelled_at_foreign"] == "2026-12-02T10:00:00+00:00"
    assert patched["financial_status"] == "paid"
    # Filters.
    shop.post(f"{S}/orders", json=order_body("o2"))
    assert [o["id"] for o in shop.get(f"{S}/orders", params={
        "campaign_id": campaign}).json()["orders"]] == ["o1"]
    assert [o["id"] for o in shop.get("/ecommerce/orders", params={
        "campaign_id": campaign}).json()["orders"]] == ["o1"]
    assert shop.get("/ecommerce/orders").json()["total_items"] == 2


def test_order_put_replaces_lines_and_patch_merges_them(shop, spec_check):
    make_product(shop, "bowl", ("bowl-1",))
    shop.put(f"{S}/orders/o1", json=order_body())  # PUT creates
    put = shop.put(f"{S}/orders/o1", json={**order_body(), "lines": [
        {"id": "l2", "product_id": "bowl", "product_variant_id": "bowl-1", "quantity": 1,
         "price": 9}], "order_total": 9})
    assert [line["id"] for line in put.json()["lines"]] == ["l2"]
    patched = shop.patch(f"{S}/orders/o1", json={"lines": [
        {"id": "l2", "quantity": 2}, {"id": "l3", "product_id": "mug",
                                      "product_variant_id": "mug-blue", "quantity": 1,
                                      "price": 8.5}]}).json()
    assert [(line["id"], line["quantity"]) for line in patched["lines"]] == [("l2", 2),
                                                                            ("l3", 1)]
    # A PATCH line is merged into the stored one, and checked whole.
    merged = shop.patch(f"{S}/orders/o1", json={"lines": [
        {"id": "l2", "product_variant_id": "bowl-1", "price": 9.5}]}).json()
    assert [(line["product_id"], line["price"], line["quantity"])
            for line in merged["lines"]][0] == ("bowl", 9.5, 2)
    assert_invalid(shop.patch(f"{S}/orders/o1", json={"lines": [
        {"id": "l2", "product_variant_id": "mug-blue"}]}), "lines.item:0.product_variant_id")
    # A PATCH line must name its id, and a new one needs what a new line needs.
    spec_check.requests = False
    assert_invalid(shop.patch(f"{S}/orders/o1", json={"lines": [{"quantity": 1}]}),
                   "lines.item:0.id")
    assert_invalid(shop.patch(f"{S}/orders/o1", json={"lines": [{"id": "l9", "quantity": 1}]}),
                   "lines.item:0.product_id")
    spec_check.requests = True
    # The lines endpoints.
    line = {"id": "l4", "product_id": "mug", "product_variant_id": "mug-blue", "quantity": 5,
            "price": 8.5}
    assert shop.post(f"{S}/orders/o1/lines", json=line).json()["quantity"] == 5
    assert_invalid(shop.post(f"{S}/orders/o1/lines", json=line), "id")
    assert shop.patch(f"{S}/orders/o1/lines/l4", json={"quantity": 6}).json()["quantity"] == 6
    assert shop.get(f"{S}/orders/o1/lines/l4").json()["price"] == 8.5
    assert shop.get(f"{S}/orders/o1/lines").json()["total_items"] == 3
    assert shop.delete(f"{S}/orders/o1/lines/l4").status_code == 204
    assert shop.get(f"{S}/orders/o1/lines/l4").status_code == 404
    assert_invalid(shop.patch(f"{S}/orders/o1/lines/l3", json={"product_id": "nope"}),
                   "product_id")
    assert shop.delete(f"{S}/orders/o1").status_code == 204
    assert shop.get(f"{S}/orders/o1").status_code == 404


def test_order_refusals(shop, sandbox, spec_check):
    unknown_product = order_body()
    unknown_product["lines"][0]["product_id"] = "nope"
    assert_invalid(shop.post(f"{S}/orders", json=unknown_product), "lines.item:0.product_id")
    unknown_variant = order_body()
    unknown_variant["lines"][0]["product_variant_id"] = "nope"
    assert_invalid(shop.post(f"{S}/orders", json=unknown_variant),
                   "lines.item:0.product_variant_id")
    # A refused order stores nothing: no customer, no member.
    assert shop.get(f"{S}/customers").json()["total_items"] == 0
    assert member_status(shop, "buyer@example.com") is None
    stale = shop.post(f"{S}/orders", json=order_body(campaign_id="0123abcdef"))
    assert_invalid(stale, "campaign_id")
    assert "campaign" in stale.json()["detail"] and "does not exist" in stale.json()["detail"]
    other_list = sandbox.create_campaign(OTHER_LIST)
    assert_invalid(shop.post(f"{S}/orders", json=order_body(campaign_id=other_list)),
                   "campaign_id")
    shop.post(f"{S}/orders", json=order_body())
    assert_invalid(shop.post(f"{S}/orders", json=order_body()), "id")
    assert_invalid(shop.patch(f"{S}/orders/o1", json={"campaign_id": "0123abcdef"}),
                   "campaign_id")
    assert shop.post("/ecommerce/stores/none/orders", json=order_body("o9")).status_code == 404
    spec_check.requests = False
    for missing in ("customer", "currency_code", "order_total", "lines"):
        body = order_body("o2")
        del body[missing]
        assert_invalid(shop.post(f"{S}/orders", json=body), missing)
    body = order_body("o2")
    del body["lines"][0]["price"]
    assert_invalid(shop.post(f"{S}/orders", json=body), "lines.item:0.price")
    assert_invalid(shop.post(f"{S}/orders", json=order_body("o2", tracking_code="x")),
                   "tracking_code")
    assert_invalid(shop.post(f"{S}/orders", json=order_body("o2", order_total="17")),
                   "order_total")
    # Nothing refused was stored, and a refused order made no member.
    assert [o["id"] for o in shop.get(f"{S}/orders").json()["orders"]] == ["o1"]


# ----------------------------------------------------------------------- carts
def test_carts_and_their_lines(shop, spec_check):
    cart = {**order_body("cart1"), "checkout_url": "https://shop.test/cart/1"}
    created = shop.post(f"{S}/carts", json=cart).json()
    assert created["checkout_url"] == "https://shop.test/cart/1"
    spec_check.requests = spec_check.responses = False  # the spec has no PUT for carts
    assert shop.put(f"{S}/carts/cart1", json=cart).status_code == 405
    spec_check.requests = spec_check.responses = True
    patched = shop.patch(f"{S}/carts/cart1", json={"order_total": 25.5, "lines": [
        {"id": "l2", "product_id": "mug", "product_variant_id": "mug-blue", "quantity": 1,
         "price": 8.5}]}).json()
    assert patched["order_total"] == 25.5
    assert [line["id"] for line in patched["lines"]] == ["l1", "l2"]
    assert shop.post(f"{S}/carts/cart1/lines", json={
        "id": "l3", "product_id": "mug", "product_variant_id": "mug-blue", "quantity": 1,
        "price": 8.5}).status_code == 200
    assert shop.patch(f"{S}/carts/cart1/lines/l3", json={"quantity": 4}).json()["quantity"] == 4
    assert shop.get(f"{S}/carts/cart1/lines").json()["total_items"] == 3
    assert shop.delete(f"{S}/carts/cart1/lines/l1").status_code == 204
    assert shop.get(f"{S}/carts").json()["total_items"] == 1
    assert_invalid(shop.post(f"{S}/carts", json=cart), "id")
    assert shop.delete(f"{S}/carts/cart1").status_code == 204
    assert shop.get(f"{S}/carts/cart1").status_code == 404


# ----------------------------------------------------------------------- promos
def test_promo_rules_and_codes(shop, spec_check):
    rule = {"id": "r1", "description": "Ten percent", "amount": 0.1, "type": "percentage",
            "target": "total"}
    created = shop.post(f"{S}/promo-rules", json=rule).json()
    assert (created["amount"], created["enabled"]) == (0.1, True)
    assert shop.patch(f"{S}/promo-rules/r1", json={"title": "Ten"}).json()["title"] == "Ten"
    code = {"id": "k1", "code": "TEN", "redemption_url": "https://shop.test/?promo=TEN"}
    made = shop.post(f"{S}/promo-rules/r1/promo-codes", json=code).json()
    assert (made["usage_count"], made["enabled"]) == (0, True)
    assert shop.patch(f"{S}/promo-rules/r1/promo-codes/k1", json={
        "usage_count": 3, "enabled": False}).json()["usage_count"] == 3
    assert shop.get(f"{S}/promo-rules/r1/promo-codes").json()["total_items"] == 1
    assert shop.get(f"{S}/promo-rules").json()["total_items"] == 1
    assert_invalid(shop.post(f"{S}/promo-rules", json=rule), "id")
    assert_invalid(shop.post(f"{S}/promo-rules/r1/promo-codes", json=code), "id")
    assert_invalid(shop.post(f"{S}/promo-rules", json={**rule, "id": "r2", "amount": 10}),
                   "amount")
    assert_invalid(shop.patch(f"{S}/promo-rules/r1", json={"amount": 1.5}), "amount")
    assert shop.post(f"{S}/promo-rules", json={**rule, "id": "r3", "amount": 10,
                                               "type": "fixed"}).status_code == 200
    assert_invalid(shop.post(f"{S}/promo-rules", json={**rule, "id": "x" * 51}), "id")
    assert_invalid(shop.post(f"{S}/promo-rules", json={**rule, "id": "r4",
                                                       "description": "d" * 256}),
                   "description")
    assert_invalid(shop.post(f"{S}/promo-rules/r1/promo-codes", json={
        **code, "id": "k2", "code": "C" * 51}), "code")
    assert_invalid(shop.post(f"{S}/promo-rules/r1/promo-codes", json={
        **code, "id": "k2", "redemption_url": "https://x.test/" + "a" * 2000}),
        "redemption_url")
    spec_check.requests = False
    assert_invalid(shop.post(f"{S}/promo-rules", json={**rule, "id": "r5", "type": "bogo"}),
                   "type")
    assert_invalid(shop.post(f"{S}/promo-rules", json={**rule, "id": "r5", "target": "all"}),
                   "target")
    assert shop.delete(f"{S}/promo-rules/r1/promo-codes/k1").status_code == 204
    assert shop.delete(f"{S}/promo-rules/r1").status_code == 204
    assert shop.get(f"{S}/promo-rules/r1/promo-codes").status_code == 404


# ----------------------------------------------------------------------- campaigns, revenue
def test_a_campaign_can_be_read_or_is_404(api, sandbox):
    campaign_id = sandbox.create_campaign(NEWSLETTER)
    campaign = api.get(f"/campaigns/{campaign_id}").json()
    assert (campaign["id"], campaign["type"], campaign["status"]) == (campaign_id, "regular",
                                                                      "sent")
    assert campaign["recipients"]["list_id"] == NEWSLETTER
    assert api.get(f"/campaigns/{campaign_id}", params={"fields": "id"}).json() == {
        "id": campaign_id}
    assert api.get("/campaigns/ffffffffff").status_code == 404


def test_campaign_revenue_leaves_out_cancelled_orders_and_counts_refunds_net(shop, sandbox):
    campaign = sandbox.create_campaign(NEWSLETTER)
    shop.post(f"{S}/orders", json=order_body("paid", campaign_id=campaign, order_total=20.0))
    shop.post(f"{S}/orders", json=order_body("cancelled", campaign_id=campaign,
                                             order_total=50.0, financial_status="cancelled"))
    shop.post(f"{S}/orders", json=order_body("refunded", campaign_id=campaign,
                                             order_total=30.0, financial_status="paid"))
    shop.post(f"{S}/orders", json=order_body("elsewhere", order_total=99.0))
    assert sandbox.campaign_revenue(campaign) == {
        "campaign_id": campaign, "revenue": 50.0, "orders": 2, "cancelled_orders": 1}
    # A partial refund lowers the order's total; a later cancellation removes it.
    shop.patch(f"{S}/orders/refunded", json={"financial_status": "refunded",
                                             "order_total": 12.5})
    assert sandbox.campaign_revenue(campaign)["revenue"] == 32.5
    shop.patch(f"{S}/orders/paid", json={"cancelled_at_foreign": "2026-12-03T09:00:00+00:00"})
    assert sandbox.campaign_revenue(campaign) == {
        "campaign_id": campaign, "revenue": 12.5, "orders": 1, "cancelled_orders": 2}


# ----------------------------------------------------------------------- batches, faults, calls
def test_ecommerce_operations_run_inside_a_batch(shop, spec_check):
    operations = [
        {"method": "PUT", "path": f"{S}/customers/c1", "operation_id": "customer",
         "body": json.dumps({"id": "c1", "email_address": "batch@example.com",
                             "opt_in_status": False})},
        {"method": "PUT", "path": f"{S}/orders/b1", "operation_id": "order",
         "body": json.dumps(order_body("b1", email="batch@example.com"))},
        {"method": "POST", "path": f"/3.0{S}/orders", "operation_id": "bad-product",
         "body": json.dumps({**order_body("b2"), "lines": [
             {"id": "l1", "product_id": "nope", "product_variant_id": "x", "quantity": 1,
              "price": 1}]})},
        {"method": "DELETE", "path": f"{S}/carts/none", "operation_id": "no-cart"},
        {"method": "GET", "path": f"{S}/orders", "operation_id": "list",
         "params": {"fields": "total_items"}},
    ]
    submitted = shop.post("/batches", json={"operations": operations}).json()
    batch = wait_finished(shop, submitted["id"])
    assert (batch["finished_operations"], batch["errored_operations"]) == (5, 2)
    results = batch_results(batch)
    for operation in operations:
        # Each result body is what the spec says that call answers.
        result = results[operation["operation_id"]]
        path = operation["path"].removeprefix("/3.0")
        request = MockRequest(SPEC_SERVER, operation["method"].lower(), "/3.0" + path,
                              args=operation.get("params"),
                              data=operation.get("body", "").encode())
        openapi().validate_response(request, MockResponse(
            result["response"].encode(), status_code=result["status_code"],
            content_type="application/json" if result["status_code"] < 400
            else "application/problem+json"))
    assert results["customer"]["status_code"] == 200
    order = json.loads(results["order"]["response"])
    assert order == shop.get(f"{S}/orders/b1").json()
    assert results["bad-product"]["status_code"] == 400
    assert json.loads(results["bad-product"]["response"])["errors"][0]["field"] == \
        "lines.item:0.product_id"
    assert results["no-cart"]["status_code"] == 404
    assert json.loads(results["list"]["response"]) == {"total_items": 1}
    assert member_status(shop, "batch@example.com") == "transactional"


def test_faults_apply_to_ecommerce_routes_outside_and_inside_batches(shop, sandbox, spec_check):
    sandbox.fail_status(500, times=1, route="/ecommerce/stores/*/orders/*", method="PUT")
    first = shop.put(f"{S}/orders/o1", json=order_body())
    assert first.status_code == 500
    assert shop.get(f"{S}/orders/o1").status_code == 404  # the call did not happen
    assert shop.put(f"{S}/orders/o1", json=order_body()).status_code == 200
    sandbox.fail_429(times=1, route="/ecommerce/**")
    assert shop.get(f"{S}/orders").status_code == 429
    sandbox.drop(times=1, route="/ecommerce/stores/*/carts")
    with pytest.raises(requests.ConnectionError):
        shop.post(f"{S}/carts", json=order_body("cart1"))
    assert shop.post(f"{S}/carts", json=order_body("cart1")).status_code == 200
    sandbox.fail_status(503, times=1, route="/ecommerce/stores/*/carts/*")
    submitted = shop.post("/batches", json={"operations": [
        {"method": "DELETE", "path": f"{S}/carts/c9", "operation_id": "cart"}]}).json()
    batch = wait_finished(shop, submitted["id"])
    result = batch_results(batch)["cart"]
    assert result["status_code"] == 503


def test_calls_are_counted_by_route(shop, sandbox):
    shop.post(f"{S}/carts", json={**order_body("cart1"), "checkout_url": "https://x.test/c"})
    sandbox.clear_requests()
    shop.put(f"{S}/orders/o1", json=order_body())
    shop.delete(f"{S}/carts/cart1")
    submitted = shop.post("/batches", json={"operations": [
        {"method": "PUT", "path": f"{S}/orders/o2", "body": json.dumps(order_body("o2"))}]})
    counts = sandbox.call_counts()
    # Finished before the next test's reset: a batch still running would land in its state.
    wait_finished(shop, submitted.json()["id"])
    assert counts["calls"] == {"PUT /ecommerce/stores/{}/orders/{}": 1,
                               "DELETE /ecommerce/stores/{}/carts/{}": 1, "POST /batches": 1}
    assert counts["batched"] == {"PUT /ecommerce/stores/{}/orders/{}": 1}


def test_the_official_client_drives_the_ecommerce_endpoints(official, api, sandbox):
    ecommerce = official.ecommerce
    ecommerce.add_store({"id": "shop", "list_id": NEWSLETTER, "name": "Hilltop",
                         "currency_code": "GBP"})
    ecommerce.add_store_product("shop", {"id": "mug", "title": "Mug", "variants": [
        {"id": "mug-blue", "title": "Blue", "price": 8.5}]})
    customer = ecommerce.set_store_customer("shop", "c1", {
        "id": "c1", "email_address": "official@example.com", "opt_in_status": True})
    assert customer["opt_in_status"] is True
    order = ecommerce.add_store_order("shop", order_body(email="official@example.com"))
    assert order["lines"][0]["product_title"] == "Mug"
    assert ecommerce.update_order("shop", "o1", {"financial_status": "refunded"})[
        "financial_status"] == "refunded"
    assert ecommerce.get_store_orders("shop")["total_items"] == 1
    with pytest.raises(ApiClientError) as refused:
        ecommerce.add_store_order("shop", order_body("o2", campaign_id="0123abcdef"))
    assert refused.value.status_code == 400
    assert "does not exist" in json.loads(refused.value.text)["detail"]
    ecommerce.delete_store("shop")
    assert member_status(api, "official@example.com") == "subscribed"
