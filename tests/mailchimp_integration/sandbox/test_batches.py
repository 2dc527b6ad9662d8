"""POST /batches: background runs through the same rules, results as a gzipped tar of JSON."""
import io
import json
import tarfile
import time

import requests

NEWSLETTER = "a1b2c3d4e5"


def wait_finished(api, batch_id, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = api.get(f"/batches/{batch_id}").json()
        if batch["status"] == "finished":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {batch}")


def test_a_batch_runs_each_operation_and_serves_the_results(api, sandbox):
    operations = [
        {"method": "PUT", "path": f"/lists/{NEWSLETTER}/members/b1@example.com",
         "operation_id": "op-1",
         "body": json.dumps({"email_address": "b1@example.com", "status_if_new": "subscribed"})},
        {"method": "PUT", "path": f"/lists/{NEWSLETTER}/members/bad",
         "operation_id": "op-2",
         "body": json.dumps({"email_address": "bad", "status_if_new": "subscribed"})},
        {"method": "GET", "path": "/lists", "operation_id": "op-3",
         "params": {"fields": "total_items"}},
    ]
    submitted = api.post("/batches", json={"operations": operations}).json()
    assert submitted["status"] in {"pending", "started"}
    assert submitted["total_operations"] == 3
    batch = wait_finished(api, submitted["id"])
    assert (batch["finished_operations"], batch["errored_operations"]) == (3, 1)
    assert batch["completed_at"]

    archive = requests.get(batch["response_body_url"], timeout=5)
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        results = [item for member in tar.getmembers() if member.isfile()
                   for item in json.load(tar.extractfile(member))]
    by_id = {r["operation_id"]: r for r in results}
    assert by_id["op-1"]["status_code"] == 200
    assert json.loads(by_id["op-1"]["response"])["status"] == "subscribed"
    assert by_id["op-2"]["status_code"] == 400
    assert json.loads(by_id["op-2"]["response"])["title"] == "Invalid Resource"
    assert json.loads(by_id["op-3"]["response"]) == {"total_items": 3}
    assert api.get(f"/lists/{NEWSLETTER}/members/b1@example.com").status_code == 200


def test_batches_are_listed_and_unknown_ones_are_404(api):
    batch_id = api.post("/batches", json={"operations": [
        {"method": "GET", "path": "/ping"}]}).json()["id"]
    wait_finished(api, batch_id)
    assert [b["id"] for b in api.get("/batches").json()["batches"]] == [batch_id]
    assert api.get("/batches/ffffffffff").status_code == 404
    assert api.delete(f"/batches/{batch_id}").status_code == 204


def test_a_status_fault_fails_only_the_operations_on_its_route(api, sandbox):
    sandbox.fail_status(503, times=None, route="/lists/*/members/*/tags", method="POST")
    operations = [
        {"method": "PUT", "path": f"/lists/{NEWSLETTER}/members/t1@example.com",
         "operation_id": "member",
         "body": json.dumps({"email_address": "t1@example.com", "status_if_new": "subscribed"})},
        {"method": "POST", "path": f"/lists/{NEWSLETTER}/members/t1@example.com/tags",
         "operation_id": "tag",
         "body": json.dumps({"tags": [{"name": "footer", "status": "active"}]})},
    ]
    submitted = api.post("/batches", json={"operations": operations}).json()
    batch = wait_finished(api, submitted["id"])
    assert (batch["finished_operations"], batch["errored_operations"]) == (2, 1)
    archive = requests.get(batch["response_body_url"], timeout=5)
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        results = {item["operation_id"]: item for member in tar.getmembers() if member.isfile()
                   for item in json.load(tar.extractfile(member))}
    assert results["member"]["status_code"] == 200
    assert results["tag"]["status_code"] == 503
    assert json.loads(results["tag"]["response"])["title"] == "Service Unavailable"
