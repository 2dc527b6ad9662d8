"""The e-commerce routes of /3.0 (and GET /campaigns/{id}): path and query to `Ecommerce`
calls, bodies checked and responses shaped by the spec (`ecommerce_schema`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .api import ApiResponse, page
from .ecommerce import Ecommerce, field_problem
from .ecommerce_schema import checked_body, respond
from .records import self_link

if TYPE_CHECKING:
    from .server import Sandbox

STORE = "/ecommerce/stores/{storeId}"


def _shop(sandbox: Sandbox) -> Ecommerce:
    return Ecommerce(sandbox.account)


def _listing(request, spec_path: str, key: str, records: list, render, **extra) -> ApiResponse:
    """One page of `records`, each rendered (only the page: a list of 100,000 orders renders
    `count` of them)."""
    chosen, total = page(records, request.query)
    chosen = [render(record) for record in chosen]
    path = spec_path
    for name, value in extra.items():
        path = path.replace("{" + {"store_id": "storeId", "product_id": "productId",
                                   "order_id": "orderId", "cart_id": "cartId",
                                   "promo_rule_id": "promoRuleId"}.get(name, name) + "}", value)
    return respond(request, spec_path, {**extra, key: chosen, "total_items": total,
                                        "_links": self_link(path)})


def stores_read(sandbox, request):
    shop = _shop(sandbox)
    with shop.lock:
        return _listing(request, "/ecommerce/stores", "stores",
                        [shop.store(store_id) for store_id in shop.stores], shop.render_store)


def store_create(sandbox, request):
    return respond(request, "/ecommerce/stores", _shop(sandbox).store_create(
        checked_body(request, "/ecommerce/stores")))


def store_item(sandbox, request, store_id):
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.store_delete(store_id)
        return ApiResponse(204)
    if request.method == "PATCH":
        fields = checked_body(request, STORE)
        return respond(request, STORE, shop.store_update(store_id, fields, request.body))
    with shop.lock:
        return respond(request, STORE, shop.render_store(shop.store(store_id)))


def customers_read(sandbox, request, store_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        email = request.query.get("email_address")
        customers = [c for c in store["customers"].values()
                     if email is None or c["email_address"].lower() == email.lower()]
        return _listing(request, STORE + "/customers", "customers", customers,
                        lambda c: shop.render_customer(store, c), store_id=store_id)


def customer_create(sandbox, request, store_id):
    spec_path = STORE + "/customers"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).customer_write(
        store_id, fields["id"], fields, create=True))


def customer_item(sandbox, request, store_id, customer_id):
    spec_path = STORE + "/customers/{customerId}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.customer_delete(store_id, customer_id)
        return ApiResponse(204)
    if request.method in {"PUT", "PATCH"}:
        fields = checked_body(request, spec_path)
        if request.method == "PUT" and fields["id"] != customer_id:
            raise field_problem("id", "The id in the body does not match the customer id in "
                                "the URL.")
        return respond(request, spec_path, shop.customer_write(
            store_id, customer_id, fields, update=request.method == "PATCH"))
    with shop.lock:
        store = shop.store(store_id)
        return respond(request, spec_path, shop.render_customer(
            store, shop.child(store, "customers", customer_id)))


def products_read(sandbox, request, store_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        return _listing(request, STORE + "/products", "products",
                        list(store["products"].values()),
                        lambda p: shop.render_product(store, p), store_id=store_id)


def product_create(sandbox, request, store_id):
    spec_path = STORE + "/products"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).product_write(
        store_id, fields["id"], fields, request.body, mode="create"))


def product_item(sandbox, request, store_id, product_id):
    spec_path = STORE + "/products/{productId}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.product_delete(store_id, product_id)
        return ApiResponse(204)
    if request.method in {"PUT", "PATCH"}:
        fields = checked_body(request, spec_path)
        if request.method == "PUT" and fields["id"] != product_id:
            raise field_problem("id", "The id in the body does not match the product id in "
                                "the URL.")
        fields.pop("id", None)
        return respond(request, spec_path, shop.product_write(
            store_id, product_id, fields, request.body, mode=request.method.lower()))
    with shop.lock:
        store = shop.store(store_id)
        return respond(request, spec_path, shop.render_product(
            store, shop.child(store, "products", product_id)))


def variants_read(sandbox, request, store_id, product_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        product = shop.child(store, "products", product_id)
        return _listing(request, STORE + "/products/{productId}/variants", "variants",
                        list(product["variants"].values()),
                        lambda v: shop.render_variant(store, product, v),
                        store_id=store_id, product_id=product_id)


def variant_create(sandbox, request, store_id, product_id):
    spec_path = STORE + "/products/{productId}/variants"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).variant_write(
        store_id, product_id, fields["id"], fields, mode="create"))


def variant_item(sandbox, request, store_id, product_id, variant_id):
    spec_path = STORE + "/products/{productId}/variants/{variantId}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.variant_delete(store_id, product_id, variant_id)
        return ApiResponse(204)
    if request.method in {"PUT", "PATCH"}:
        fields = checked_body(request, spec_path)
        if request.method == "PUT" and fields["id"] != variant_id:
            raise field_problem("id", "The id in the body does not match the variant id in "
                                "the URL.")
        return respond(request, spec_path, shop.variant_write(
            store_id, product_id, variant_id, fields, mode=request.method.lower()))
    with shop.lock:
        store = shop.store(store_id)
        product = shop.child(store, "products", product_id)
        return respond(request, spec_path, shop.render_variant(
            store, product, shop.child(product, "variants", variant_id)))


def _order_filter(request, order: dict) -> bool:
    query = request.query
    outreach = (order.get("outreach") or {}).get("id")
    return (query.get("campaign_id") in (None, order.get("campaign_id"))
            and query.get("customer_id") in (None, order["customer_id"])
            and query.get("outreach_id") in (None, outreach)
            and (query.get("has_outreach") is None
                 or (query["has_outreach"].lower() == "true") == bool(outreach)))


def all_orders_read(sandbox, request):
    shop = _shop(sandbox)
    with shop.lock:
        orders = [(store, order) for store in map(shop.store, list(shop.stores))
                  for order in store["orders"].values() if _order_filter(request, order)]
        return _listing(request, "/ecommerce/orders", "orders", orders,
                        lambda pair: shop.render_purchase(pair[0], "orders", pair[1]))


def purchases_read(sandbox, request, store_id, kind):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        records = [record for record in store[kind].values()
                   if kind == "carts" or _order_filter(request, record)]
        return _listing(request, f"{STORE}/{kind}", kind, records,
                        lambda record: shop.render_purchase(store, kind, record),
                        store_id=store_id)


def purchase_create(sandbox, request, store_id, kind):
    spec_path = f"{STORE}/{kind}"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).purchase_write(
        store_id, kind, fields.pop("id"), fields, request.body, mode="create"))


def purchase_item(sandbox, request, store_id, kind, item_id):
    spec_path = f"{STORE}/{kind}/{{{kind[:-1]}Id}}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.delete(store_id, kind, item_id)
        return ApiResponse(204)
    if request.method in {"PUT", "PATCH"}:
        fields = checked_body(request, spec_path)
        if fields.pop("id", item_id) != item_id:
            raise field_problem("id", "The id in the body does not match the id in the URL.")
        return respond(request, spec_path, shop.purchase_write(
            store_id, kind, item_id, fields, request.body, mode=request.method.lower()))
    with shop.lock:
        store = shop.store(store_id)
        return respond(request, spec_path, shop.render_purchase(
            store, kind, shop.child(store, kind, item_id)))


def lines_read(sandbox, request, store_id, kind, item_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        record = shop.child(store, kind, item_id)
        owner = {"order_id": item_id} if kind == "orders" else {"cart_id": item_id}
        return _listing(request, f"{STORE}/{kind}/{{{kind[:-1]}Id}}/lines", "lines",
                        list(record["lines"].values()),
                        lambda line: shop.render_line(store, kind, record, line),
                        store_id=store_id, **owner)


def line_create(sandbox, request, store_id, kind, item_id):
    spec_path = f"{STORE}/{kind}/{{{kind[:-1]}Id}}/lines"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).line_write(
        store_id, kind, item_id, fields["id"], fields, create=True))


def line_item(sandbox, request, store_id, kind, item_id, line_id):
    spec_path = f"{STORE}/{kind}/{{{kind[:-1]}Id}}/lines/{{lineId}}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.delete(store_id, kind, item_id, line_id)
        return ApiResponse(204)
    if request.method == "PATCH":
        fields = checked_body(request, spec_path)
        return respond(request, spec_path, shop.line_write(
            store_id, kind, item_id, line_id, fields, create=False))
    with shop.lock:
        store = shop.store(store_id)
        record = shop.child(store, kind, item_id)
        return respond(request, spec_path, shop.render_line(
            store, kind, record, shop.child(record, "lines", line_id)))


def rules_read(sandbox, request, store_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        return _listing(request, STORE + "/promo-rules", "promo_rules",
                        list(store["promo_rules"].values()),
                        lambda rule: shop.render_rule(store, rule), store_id=store_id)


def rule_create(sandbox, request, store_id):
    spec_path = STORE + "/promo-rules"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).promo_write(
        store_id, fields["id"], fields, mode="create"))


def rule_item(sandbox, request, store_id, rule_id):
    spec_path = STORE + "/promo-rules/{promoRuleId}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.promo_delete(store_id, rule_id)
        return ApiResponse(204)
    if request.method == "PATCH":
        return respond(request, spec_path, shop.promo_write(
            store_id, rule_id, checked_body(request, spec_path), mode="patch"))
    with shop.lock:
        store = shop.store(store_id)
        return respond(request, spec_path, shop.render_rule(
            store, shop.child(store, "promo_rules", rule_id)))


def codes_read(sandbox, request, store_id, rule_id):
    shop = _shop(sandbox)
    with shop.lock:
        store = shop.store(store_id)
        rule = shop.child(store, "promo_rules", rule_id)
        return _listing(request, STORE + "/promo-rules/{promoRuleId}/promo-codes",
                        "promo_codes", list(rule.get("codes", {}).values()),
                        lambda code: shop.render_code(store, rule, code),
                        store_id=store_id, promo_rule_id=rule_id)


def code_create(sandbox, request, store_id, rule_id):
    spec_path = STORE + "/promo-rules/{promoRuleId}/promo-codes"
    fields = checked_body(request, spec_path)
    return respond(request, spec_path, _shop(sandbox).promo_write(
        store_id, rule_id, fields, mode="create", code_id=fields["id"]))


def code_item(sandbox, request, store_id, rule_id, code_id):
    spec_path = STORE + "/promo-rules/{promoRuleId}/promo-codes/{promoCodeId}"
    shop = _shop(sandbox)
    if request.method == "DELETE":
        shop.promo_delete(store_id, rule_id, code_id)
        return ApiResponse(204)
    if request.method == "PATCH":
        return respond(request, spec_path, shop.promo_write(
            store_id, rule_id, checked_body(request, spec_path), mode="patch",
            code_id=code_id))
    with shop.lock:
        store = shop.store(store_id)
        rule = shop.child(store, "promo_rules", rule_id)
        return respond(request, spec_path, shop.render_code(
            store, rule, shop.child(rule, "codes", code_id)))


def campaign_read(sandbox, request, campaign_id):
    return respond(request, "/campaigns/{campaignId}", _shop(sandbox).campaign_get(campaign_id))


def _kind(handler, kind: str):
    return lambda sandbox, request, *ids: handler(sandbox, request, ids[0], kind, *ids[1:])


_ITEM = ("GET", "PATCH", "DELETE")
_UPSERT_ITEM = ("GET", "PUT", "PATCH", "DELETE")
S = "/ecommerce/stores/{}"
# (path pattern with {} for an id, {method: handler}), as api.ROUTES takes them.
ROUTES = [
    ("/ecommerce/stores", {"GET": stores_read, "POST": store_create}),
    (S, dict.fromkeys(_ITEM, store_item)),
    (S + "/customers", {"GET": customers_read, "POST": customer_create}),
    (S + "/customers/{}", dict.fromkeys(_UPSERT_ITEM, customer_item)),
    (S + "/products", {"GET": products_read, "POST": product_create}),
    (S + "/products/{}", dict.fromkeys(_UPSERT_ITEM, product_item)),
    (S + "/products/{}/variants", {"GET": variants_read, "POST": variant_create}),
    (S + "/products/{}/variants/{}", dict.fromkeys(_UPSERT_ITEM, variant_item)),
    ("/ecommerce/orders", {"GET": all_orders_read}),
    (S + "/orders", {"GET": _kind(purchases_read, "orders"),
                     "POST": _kind(purchase_create, "orders")}),
    (S + "/orders/{}", dict.fromkeys(_UPSERT_ITEM, _kind(purchase_item, "orders"))),
    (S + "/orders/{}/lines", {"GET": _kind(lines_read, "orders"),
                              "POST": _kind(line_create, "orders")}),
    (S + "/orders/{}/lines/{}", dict.fromkeys(_ITEM, _kind(line_item, "orders"))),
    # Carts have no PUT in Mailchimp: a PUT is its 405.
    (S + "/carts", {"GET": _kind(purchases_read, "carts"),
                    "POST": _kind(purchase_create, "carts")}),
    (S + "/carts/{}", dict.fromkeys(_ITEM, _kind(purchase_item, "carts"))),
    (S + "/carts/{}/lines", {"GET": _kind(lines_read, "carts"),
                             "POST": _kind(line_create, "carts")}),
    (S + "/carts/{}/lines/{}", dict.fromkeys(_ITEM, _kind(line_item, "carts"))),
    (S + "/promo-rules", {"GET": rules_read, "POST": rule_create}),
    (S + "/promo-rules/{}", dict.fromkeys(_ITEM, rule_item)),
    (S + "/promo-rules/{}/promo-codes", {"GET": codes_read, "POST": code_create}),
    (S + "/promo-rules/{}/promo-codes/{}", dict.fromkeys(_ITEM, code_item)),
    ("/campaigns/{}", {"GET": campaign_read}),
]
