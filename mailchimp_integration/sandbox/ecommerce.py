"""The account's e-commerce data: stores and their customers, products, orders, carts and
promos, the campaigns orders may name, and Mailchimp's rules on them.

Bodies arrive checked against the spec (`ecommerce_schema`); on top of the schema come
Mailchimp's rules: ids unique per store, one store per domain, `list_id` an audience and
immutable, order and cart lines naming a product and variant of the store, `campaign_id` a
campaign of the account on the store's audience, promo lengths and percentage fractions, and
opt_in_status's consent rules on the audience's members (`Ecommerce._consent`). A refused
write changes nothing: each write checks everything before it stores anything.

Everything lives in `account.data["ecommerce"]` under the account's lock, so reset, the state
file and /batches treat it as they treat members. Chosen behaviours (Mailchimp does not say):
- PUT of an order or product replaces the lines / variants when the body has them (those not
  sent are removed); PATCH merges them by `id` (each line/variant of a PATCH must carry its id).
  Top-level fields not sent are kept by both.
- An order counts as cancelled when `financial_status` is "cancelled" or `cancelled_at_foreign`
  is set: it is left out of campaign revenue and of the customer's orders_count / total_spent;
  a refunded order counts with its (already reduced) order_total.
"""
from __future__ import annotations

import json
import re

from . import compliance, validation
from .ecommerce_schema import join
from .errors import ApiError, invalid_resource, not_found, schema_error
from .records import is_valid_email, now_iso, self_link, subscriber_hash

CURRENCY = re.compile(r"^[A-Za-z]{3}$")
PROMO_LIMITS = {"promo_rule": {"id": 50, "description": 255},
                "promo_code": {"id": 50, "code": 50, "redemption_url": 2000}}
STORE_CHILDREN = ("customers", "products", "orders", "carts", "promo_rules")
LINE_FIELDS = ("product_id", "product_variant_id", "quantity", "price")


def field_problem(field: str, message: str) -> ApiError:
    """Mailchimp's 400 for one field: the schema detail, the field named in `errors`."""
    return schema_error(field, message)


def _exists(kind: str, item_id: str) -> ApiError:
    return invalid_resource(f"A {kind} with the provided ID already exists.", [
        {"field": "id", "message": f"A {kind} with the ID '{item_id}' already exists."}])


def _is_cancelled(order: dict) -> bool:
    return order.get("financial_status") == "cancelled" or bool(order.get("cancelled_at_foreign"))


def _domain_key(domain: str) -> str:
    domain = domain.strip().lower()
    domain = re.sub(r"^https?://", "", domain)
    return domain.rstrip("/")


# ----------------------------------------------------------------------- the state
class Ecommerce:
    """The account's e-commerce data; every method runs under the account's lock."""

    def __init__(self, account):
        self.account = account
        self.lock = account.lock
        with self.lock:
            self.stores = account.data.setdefault("ecommerce", {"stores": {}})["stores"]
            self.campaigns = account.data.setdefault("campaigns", {})

    def changed(self) -> None:
        self.account.on_change()

    # ------------------------------------------------------------- lookups
    def store(self, store_id: str) -> dict:
        store = self.stores.get(store_id)
        if store is None:
            raise not_found()
        for key in STORE_CHILDREN:
            store.setdefault(key, {})
        return store

    @staticmethod
    def child(store_or_parent: dict, key: str, item_id: str) -> dict:
        item = store_or_parent[key].get(item_id)
        if item is None:
            raise not_found()
        return item

    # ------------------------------------------------------------- stores
    def store_check(self, fields: dict, *, store_id: str | None) -> None:
        if "list_id" in fields and fields["list_id"] not in self.account.data["lists"]:
            raise field_problem("list_id", f"The list_id '{fields['list_id']}' does not match "
                                "an audience in this account.")
        if "currency_code" in fields and not CURRENCY.match(fields["currency_code"]):
            raise field_problem("currency_code", "This value should be a valid ISO 4217 "
                                "currency code.")
        if fields.get("domain"):
            key = _domain_key(fields["domain"])
            for other in self.stores.values():
                if other["id"] != store_id and other.get("domain") and \
                        _domain_key(other["domain"]) == key:
                    raise invalid_resource(
                        f"A store with the domain '{fields['domain']}' already exists in this "
                        "account.", [{"field": "domain", "message": "Another store already "
                                      "uses this domain."}])

    def store_create(self, fields: dict) -> dict:
        with self.lock:
            if fields["id"] in self.stores:
                raise _exists("store", fields["id"])
            self.store_check(fields, store_id=fields["id"])
            now = now_iso()
            store = {"is_syncing": False, **fields, "created_at": now, "updated_at": now,
                     **{key: {} for key in STORE_CHILDREN}, "orders_by_customer": {}}
            self.stores[fields["id"]] = store
            self.changed()
            return self.render_store(store)

    def store_update(self, store_id: str, fields: dict, raw: dict) -> dict:
        with self.lock:
            store = self.store(store_id)
            if "list_id" in raw and raw["list_id"] != store["list_id"]:
                raise field_problem("list_id", "The list_id of a store cannot be changed; "
                                    "delete the store and create a new one.")
            self.store_check(fields, store_id=store_id)
            store.update(fields)
            store["updated_at"] = now_iso()
            self.changed()
            return self.render_store(store)

    def store_delete(self, store_id: str) -> None:
        with self.lock:
            self.store(store_id)
            # Its customers, products, orders, carts and promo rules go with it; the
            # audience's members stay.
            del self.stores[store_id]
            self.changed()

    def render_store(self, store: dict) -> dict:
        body = {key: value for key, value in store.items()
                if key not in STORE_CHILDREN and key != "orders_by_customer"}
        body["list_is_active"] = store["list_id"] in self.account.data["lists"]
        body["_links"] = self_link(f"/ecommerce/stores/{store['id']}")
        return body

    # ------------------------------------------------------------- customers and consent
    def customer_check(self, store: dict, customer_id: str, fields: dict, *,
                       prefix: str = "") -> None:
        existing = store["customers"].get(customer_id)
        email = fields.get("email_address")
        if existing is None and email is None:
            raise field_problem(join(prefix, "email_address"), "This value should not be "
                                "blank.")
        if email is not None and not is_valid_email(email):
            raise field_problem(join(prefix, "email_address"), "Please provide a valid email "
                                "address.")

    def customer_save(self, store: dict, customer_id: str, fields: dict) -> dict:
        """Create or update the customer, then apply opt_in_status to the audience."""
        now = now_iso()
        record = store["customers"].get(customer_id)
        previous = record["opt_in_status"] if record else None
        if record is None:
            record = store["customers"][customer_id] = {
                "id": customer_id, "opt_in_status": False, "created_at": now}
        elif "email_address" in fields and \
                fields["email_address"].lower() != record["email_address"].lower():
            previous = None  # another address: a customer new to that member
        record.update({key: value for key, value in fields.items() if key != "id"})
        record["email_address"] = record["email_address"].strip()
        record["updated_at"] = now
        self._consent(store, record, previous)
        return record

    def _consent(self, store: dict, customer: dict, previous: bool | None) -> None:
        """Mailchimp's opt_in_status rules: a new address becomes `subscribed` (true) or
        `transactional` (false); an existing customer's false -> true upgrades the member to
        subscribed; nothing else touches an existing member's status. An upgrade the
        compliance rules refuse (the person unsubscribed or bounced) leaves the member as it
        is: only the person can come back."""
        audience = self.account.data["lists"].get(store["list_id"])
        if audience is None:
            return
        email, opt_in = customer["email_address"], customer["opt_in_status"]
        member = audience["members"].get(subscriber_hash(email))
        if member is None or member["archived"]:
            names = {key: customer[name] for key, name in (("FNAME", "first_name"),
                                                           ("LNAME", "last_name"))
                     if customer.get(name)}
            for status in (["subscribed", "transactional"] if opt_in else ["transactional"]):
                body = {"status_if_new": status, **({"merge_fields": names} if names else {})}
                try:
                    self.account._upsert(audience, email, body, source="api")
                    return
                except ApiError:
                    continue  # e.g. a forgotten address: not subscribed, but still a buyer
            return
        if previous is False and opt_in and member["status"] != "subscribed":
            refusal = compliance.api_refusal(member, email, "subscribed",
                                             self.account.data.get("compliance_mode",
                                                                   compliance.STRICT))
            if refusal is None:
                self.account._upsert(audience, email, {"status": "subscribed"}, source="api")

    def customer_write(self, store_id: str, customer_id: str, fields: dict, *,
                       create: bool = False, update: bool = False) -> dict:
        with self.lock:
            store = self.store(store_id)
            exists = customer_id in store["customers"]
            if create and exists:
                raise _exists("customer", customer_id)
            if update and not exists:
                raise not_found()
            self.customer_check(store, customer_id, fields)
            record = self.customer_save(store, customer_id, fields)
            self.changed()
            return self.render_customer(store, record)

    def customer_delete(self, store_id: str, customer_id: str) -> None:
        with self.lock:
            store = self.store(store_id)
            self.child(store, "customers", customer_id)
            del store["customers"][customer_id]
            self.changed()

    @staticmethod
    def _orders_of(store: dict) -> dict[str, dict[str, bool]]:
        """customer id -> {order id: True}, kept with the store so that a customer's
        orders_count costs their orders, not the store's."""
        if "orders_by_customer" not in store:
            store["orders_by_customer"] = {}
            for order in store["orders"].values():
                store["orders_by_customer"].setdefault(order.get("customer_id"), {})[
                    order["id"]] = True
        return store["orders_by_customer"]

    def render_customer(self, store: dict, customer: dict) -> dict:
        orders = [store["orders"][order_id]
                  for order_id in self._orders_of(store).get(customer["id"], {})]
        orders = [order for order in orders if not _is_cancelled(order)]
        return {**customer, "orders_count": len(orders),
                "total_spent": round(sum(o["order_total"] for o in orders), 2),
                "_links": self_link(f"/ecommerce/stores/{store['id']}/customers/"
                                    f"{customer['id']}")}

    # ------------------------------------------------------------- products and variants
    def product_write(self, store_id: str, product_id: str, fields: dict, raw: dict, *,
                      mode: str) -> dict:
        """mode: "create" (POST), "put" (upsert; variants replaced) or "patch" (variants
        merged by id)."""
        with self.lock:
            store = self.store(store_id)
            product = store["products"].get(product_id)
            if mode == "create" and product is not None:
                raise _exists("product", product_id)
            if mode == "patch" and product is None:
                raise not_found()
            if product is None:
                # A product is created with a title and at least one variant, by PUT too.
                for name in ("title", "variants"):
                    if name not in fields:
                        raise field_problem(name, f"Required property '{name}' was not "
                                            "present.")
            if "variants" in fields and (mode != "patch" or product is None) \
                    and not fields["variants"]:
                raise field_problem("variants", "A product needs at least one variant.")
            variants = fields.pop("variants", None)
            if variants is not None and mode == "patch":
                variants = _with_ids(variants, raw.get("variants"), "variants",
                                     known=product["variants"], required=("title",))
            now = now_iso()
            if product is None:
                product = store["products"][product_id] = {"id": product_id, "variants": {}}
            product.update(fields)
            if variants is not None:
                if mode != "patch":
                    product["variants"] = {}
                for variant in variants:
                    self._variant_save(product, variant["id"], variant, now)
            self.changed()
            return self.render_product(store, product)

    @staticmethod
    def _variant_save(product: dict, variant_id: str, fields: dict, now: str) -> dict:
        variant = product["variants"].get(variant_id)
        if variant is None:
            variant = product["variants"][variant_id] = {"id": variant_id, "created_at": now}
        variant.update({key: value for key, value in fields.items() if key != "id"})
        variant["updated_at"] = now
        return variant

    def variant_write(self, store_id: str, product_id: str, variant_id: str, fields: dict, *,
                      mode: str) -> dict:
        with self.lock:
            store = self.store(store_id)
            product = self.child(store, "products", product_id)
            exists = variant_id in product["variants"]
            if mode == "create" and exists:
                raise _exists("product variant", variant_id)
            if mode == "patch" and not exists:
                raise not_found()
            if not exists and "title" not in fields:
                raise field_problem("title", "Required property 'title' was not present.")
            variant = self._variant_save(product, variant_id, fields, now_iso())
            self.changed()
            return self.render_variant(store, product, variant)

    def product_delete(self, store_id: str, product_id: str) -> None:
        with self.lock:
            store = self.store(store_id)
            self.child(store, "products", product_id)
            del store["products"][product_id]
            self.changed()

    def variant_delete(self, store_id: str, product_id: str, variant_id: str) -> None:
        with self.lock:
            product = self.child(self.store(store_id), "products", product_id)
            self.child(product, "variants", variant_id)
            del product["variants"][variant_id]
            self.changed()

    def render_product(self, store: dict, product: dict) -> dict:
        return {**product, "currency_code": store["currency_code"],
                "variants": [self.render_variant(store, product, v)
                             for v in product["variants"].values()],
                "_links": self_link(f"/ecommerce/stores/{store['id']}/products/"
                                    f"{product['id']}")}

    @staticmethod
    def render_variant(store: dict, product: dict, variant: dict) -> dict:
        return {**variant, "_links": self_link(
            f"/ecommerce/stores/{store['id']}/products/{product['id']}/variants/"
            f"{variant['id']}")}

    # ------------------------------------------------------------- orders and carts
    def _lines_check(self, store: dict, lines: list[dict], prefix: str = "lines") -> None:
        seen = set()
        for n, line in enumerate(lines):
            field = f"{prefix}.item:{n}" if prefix else ""
            if line.get("id") is not None:
                if line["id"] in seen:
                    raise field_problem(join(field, "id"), "Each line needs its own id.")
                seen.add(line["id"])
            product = store["products"].get(line.get("product_id"))
            if "product_id" in line and product is None:
                raise field_problem(join(field, "product_id"), "A product with the provided "
                                    "ID does not exist in the account for this list.")
            if "product_variant_id" in line and (
                    product is None or line["product_variant_id"] not in product["variants"]):
                raise field_problem(join(field, "product_variant_id"), "A product variant "
                                    "with the provided ID does not exist in the account for "
                                    "this list.")

    def _campaign_check(self, store: dict, fields: dict) -> None:
        campaign_id = fields.get("campaign_id")
        if not campaign_id:
            return
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign["list_id"] != store["list_id"]:
            message = "Campaign with the provided ID does not exist in the account for this list."
            raise invalid_resource(
                f"The campaign with the provided ID '{campaign_id}' does not exist in the "
                "account for this list.", [{"field": "campaign_id", "message": message}])

    def purchase_write(self, store_id: str, kind: str, item_id: str, fields: dict, raw: dict,
                       *, mode: str) -> dict:
        """An order or cart (kind "orders" / "carts"): mode "create", "put" or "patch"."""
        with self.lock:
            store = self.store(store_id)
            record = store[kind].get(item_id)
            label = "order" if kind == "orders" else "cart"
            if mode == "create" and record is not None:
                raise _exists(label, item_id)
            if mode == "patch" and record is None:
                raise not_found()
            if record is None:
                for name in ("customer", "currency_code", "order_total", "lines"):
                    if name not in fields:
                        raise field_problem(name, f"Required property '{name}' was not "
                                            "present.")
            if "currency_code" in fields and not CURRENCY.match(fields["currency_code"]):
                raise field_problem("currency_code", "This value should be a valid ISO 4217 "
                                    "currency code.")
            self._campaign_check(store, fields)
            lines = fields.pop("lines", None)
            if lines is not None and mode == "patch":
                lines = [{**record["lines"].get(line["id"], {}), **line} for line in _with_ids(
                    lines, raw.get("lines"), "lines", known=record["lines"],
                    required=LINE_FIELDS)]
            if lines is not None:
                self._lines_check(store, lines)
            customer = fields.pop("customer", None)
            customer_id = record["customer_id"] if record else None
            if customer is not None:
                customer_id = customer.get("id", customer_id)
                if customer_id is None:
                    raise field_problem("customer.id", "Required property 'id' was not "
                                        "present.")
                self.customer_check(store, customer_id, customer, prefix="customer")
            # Everything is checked: now the writes.
            if customer is not None:
                self.customer_save(store, customer_id, customer)
            now = now_iso()
            if record is None:
                record = store[kind][item_id] = {"id": item_id, "created_at": now,
                                                 "lines": {}}
            record.update(fields)
            if kind == "orders":
                index = self._orders_of(store)
                index.get(record.get("customer_id"), {}).pop(item_id, None)
                index.setdefault(customer_id, {})[item_id] = True
            record["customer_id"] = customer_id
            record["updated_at"] = now
            if lines is not None:
                if mode != "patch":
                    record["lines"] = {}
                for line in lines:
                    record["lines"][line["id"]] = line
            self.changed()
            return self.render_purchase(store, kind, record)

    def line_write(self, store_id: str, kind: str, item_id: str, line_id: str, fields: dict,
                   *, create: bool) -> dict:
        with self.lock:
            store = self.store(store_id)
            record = self.child(store, kind, item_id)
            if create and line_id in record["lines"]:
                raise _exists("line", line_id)
            if not create:
                self.child(record, "lines", line_id)
            merged = {**record["lines"].get(line_id, {}), **fields, "id": line_id}
            self._lines_check(store, [merged], prefix="")
            record["lines"][line_id] = merged
            record["updated_at"] = now_iso()
            self.changed()
            return self.render_line(store, kind, record, merged)

    def delete(self, store_id: str, kind: str, item_id: str, line_id: str | None = None):
        with self.lock:
            store = self.store(store_id)
            record = self.child(store, kind, item_id)
            if line_id is None:
                del store[kind][item_id]
                if kind == "orders":
                    self._orders_of(store).get(record["customer_id"], {}).pop(item_id, None)
            else:
                self.child(record, "lines", line_id)
                del record["lines"][line_id]
            self.changed()

    def render_line(self, store: dict, kind: str, record: dict, line: dict) -> dict:
        product = store["products"].get(line["product_id"]) or {"variants": {}}
        variant = product["variants"].get(line["product_variant_id"]) or {}
        return {**line, "product_title": product.get("title", ""),
                "product_variant_title": variant.get("title", ""),
                "image_url": variant.get("image_url") or product.get("image_url", ""),
                "_links": self_link(f"/ecommerce/stores/{store['id']}/{kind}/{record['id']}/"
                                    f"lines/{line['id']}")}

    def render_purchase(self, store: dict, kind: str, record: dict) -> dict:
        body = {key: value for key, value in record.items() if key != "customer_id"}
        customer = store["customers"].get(record["customer_id"])
        if customer is not None:
            body["customer"] = self.render_customer(store, customer)
        body["store_id"] = store["id"]
        body["lines"] = [self.render_line(store, kind, record, line)
                         for line in record["lines"].values()]
        body["_links"] = self_link(f"/ecommerce/stores/{store['id']}/{kind}/{record['id']}")
        return body

    # ------------------------------------------------------------- promo rules and codes
    def promo_write(self, store_id: str, rule_id: str, fields: dict, *, mode: str,
                    code_id: str | None = None) -> dict:
        with self.lock:
            store = self.store(store_id)
            kind = "promo_rule" if code_id is None else "promo_code"
            if code_id is None:
                parent, key, item_id = store, "promo_rules", rule_id
            else:
                parent, key, item_id = self.child(store, "promo_rules", rule_id), "codes", code_id
                parent.setdefault("codes", {})
            record = parent[key].get(item_id)
            if mode == "create" and record is not None:
                raise _exists(kind.replace("_", " "), item_id)
            if mode == "patch" and record is None:
                raise not_found()
            for name, limit in PROMO_LIMITS[kind].items():
                if len(fields.get(name, "")) > limit:
                    raise field_problem(name, f"This value is too long. It should have "
                                        f"{limit} characters or less.")
            merged = {**(record or {}), **fields}
            if kind == "promo_rule" and merged["type"] == "percentage" \
                    and not 0 <= merged["amount"] <= 1:
                raise field_problem("amount", "A percentage amount is a fraction from 0 to 1 "
                                    "(0.1 is 10%).")
            now = now_iso()
            if record is None:
                defaults = {"enabled": True} if kind == "promo_rule" else \
                    {"enabled": True, "usage_count": 0}
                record = parent[key][item_id] = {**defaults, "id": item_id,
                                                 "created_at_foreign": now}
                if kind == "promo_rule":
                    record["codes"] = {}
            record.update(fields)
            record.setdefault("updated_at_foreign", now)
            self.changed()
            if code_id is None:
                return self.render_rule(store, record)
            return self.render_code(store, parent, record)

    def promo_delete(self, store_id: str, rule_id: str, code_id: str | None = None) -> None:
        with self.lock:
            store = self.store(store_id)
            rule = self.child(store, "promo_rules", rule_id)
            if code_id is None:
                del store["promo_rules"][rule_id]  # its codes go with it
            else:
                self.child(rule, "codes", code_id)
                del rule["codes"][code_id]
            self.changed()

    @staticmethod
    def render_rule(store: dict, rule: dict) -> dict:
        return {**{k: v for k, v in rule.items() if k != "codes"},
                "_links": self_link(f"/ecommerce/stores/{store['id']}/promo-rules/{rule['id']}")}

    @staticmethod
    def render_code(store: dict, rule: dict, code: dict) -> dict:
        return {**code, "_links": self_link(
            f"/ecommerce/stores/{store['id']}/promo-rules/{rule['id']}/promo-codes/"
            f"{code['id']}")}

    # ------------------------------------------------------------- campaigns (control)
    def campaign_create(self, list_id: str, *, campaign_id: str | None = None,
                        title: str = "") -> str:
        with self.lock:
            audience = self.account._list(list_id)
            campaign_id = campaign_id or self.account._new_id()
            self.campaigns[campaign_id] = {"id": campaign_id, "list_id": audience["id"],
                                           "title": title or f"Campaign {campaign_id}",
                                           "create_time": now_iso()}
            self.changed()
            return campaign_id

    def campaign_get(self, campaign_id: str) -> dict:
        with self.lock:
            campaign = self.campaigns.get(campaign_id)
            if campaign is None:
                raise not_found()
            audience = self.account.data["lists"].get(campaign["list_id"])
            return {
                "id": campaign_id, "web_id": int(campaign_id[:6], 16)
                if re.fullmatch(r"[0-9a-f]{6,}", campaign_id) else 1,
                "type": "regular", "status": "sent", "create_time": campaign["create_time"],
                "send_time": campaign["create_time"], "emails_sent": 0,
                "content_type": "template", "needs_block_refresh": False, "resendable": False,
                "archive_url": f"http://eepurl.com/{campaign_id[:6]}",
                "long_archive_url": f"https://us6.campaign-archive.com/?id={campaign_id}",
                "recipients": {"list_id": campaign["list_id"],
                               "list_is_active": audience is not None,
                               "list_name": audience["name"] if audience else "",
                               "segment_text": "", "recipient_count": 0},
                "settings": {"title": campaign["title"], "subject_line": campaign["title"]},
                "_links": self_link(f"/campaigns/{campaign_id}"),
            }

    def campaign_revenue(self, campaign_id: str) -> dict:
        """Revenue Mailchimp credits the campaign: Σ order_total of its orders in every store,
        cancelled orders left out, refunded ones at their (reduced) total."""
        with self.lock:
            orders = [order for store in self.stores.values()
                      for order in store.get("orders", {}).values()
                      if order.get("campaign_id") == campaign_id]
            counted = [order for order in orders if not _is_cancelled(order)]
            return {"campaign_id": campaign_id,
                    "revenue": round(sum(order["order_total"] for order in counted), 2),
                    "orders": len(counted), "cancelled_orders": len(orders) - len(counted)}

    def store_state(self, store_id: str) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.store(store_id)))


def _with_ids(checked: list[dict], raw, field: str, *, known: dict,
              required: tuple[str, ...]) -> list[dict]:
    """PATCH lines / variants (whose spec schema lacks `id`): each must still name its id,
    and one not `known` yet needs what a new one needs (`required`)."""
    merged = []
    for n, item in enumerate(checked):
        item_id = raw[n].get("id") if isinstance(raw, list) and isinstance(raw[n], dict) else None
        if item_id is None:
            raise field_problem(f"{field}.item:{n}.id", "Required property 'id' was not present.")
        validation.expect(item_id, "string", f"{field}.item:{n}.id")
        if item_id not in known:
            for name in required:
                if name not in item:
                    raise field_problem(f"{field}.item:{n}.{name}", f"Required property "
                                        f"'{name}' was not present.")
        merged.append({**item, "id": item_id})
    return merged
