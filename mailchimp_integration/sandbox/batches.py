"""Batch operations (POST /batches): run in the background, results as a gzipped tar of JSON."""
from __future__ import annotations

import io
import json
import logging
import random
import tarfile
import threading
import time
from typing import TYPE_CHECKING

from . import validation
from .api import ApiRequest, dispatch, problem
from .errors import ApiError, json_parse_error, not_found
from .faults import status_fault_response
from .records import now_iso, self_link

if TYPE_CHECKING:
    from .server import Sandbox

logger = logging.getLogger(__name__)

RESULTS_PATH = "/_sandbox/batch-results/{}.tar.gz"


class BatchRunner:
    """Holds the batches, runs each in a thread; each operation goes through the normal routes."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._batches: dict[str, dict] = {}
        self._results: dict[str, bytes] = {}
        self._random = random.Random()

    def submit(self, body) -> dict:
        operations = validation.batch_operations(body)
        batch_id = f"{self._random.getrandbits(40):010x}"
        batch = {
            "id": batch_id, "status": "pending", "total_operations": len(operations),
            "finished_operations": 0, "errored_operations": 0, "submitted_at": now_iso(),
            "response_body_url": "",
        }
        with self._lock:
            self._batches[batch_id] = batch
        threading.Thread(target=self._run, args=(batch_id, operations), daemon=True,
                         name=f"sandbox-batch-{batch_id}").start()
        return self._render(batch)

    def _run(self, batch_id: str, operations: list[dict]) -> None:
        # Mailchimp queues a batch before it starts; a short pause lets a client see "pending".
        time.sleep(0.05)
        self._update(batch_id, status="started")
        results = []
        for operation in operations:
            try:
                response = self._run_one(operation)
            except Exception:
                # Never leave a batch "started" for ever: the operation fails on its own.
                logger.exception("sandbox batch operation failed: %s", operation)
                response = problem(500, "Internal Server Error", "The sandbox failed on this "
                                   "operation; see its log.")
            results.append({
                "status_code": response.status,
                "operation_id": operation.get("operation_id"),
                "response": json.dumps(response.body) if response.body is not None else "",
            })
            with self._lock:
                batch = self._batches.get(batch_id)
                if batch is None:  # deleted meanwhile
                    return
                batch["finished_operations"] += 1
                if response.status >= 400:
                    batch["errored_operations"] += 1
        self._results[batch_id] = self._tarball(batch_id, results)
        self._update(batch_id, status="finished", completed_at=now_iso(),
                     response_body_url=self._sandbox.base_url + RESULTS_PATH.format(batch_id))

    def _run_one(self, operation: dict):
        path = operation["path"]
        if path.startswith("/3.0/"):
            path = path[len("/3.0"):]
        try:
            body = json.loads(operation["body"]) if operation["body"] else None
        except ValueError:
            error = json_parse_error()
            return problem(error.status, error.title, error.detail)
        # A status fault on the operation's route fails that operation alone, as Mailchimp's
        # own errors inside a batch do; latency, hangs and drops belong to HTTP, not here.
        _, fault = self._sandbox.faults.take(operation["method"].upper(), "/3.0" + path)
        if fault is not None and fault.kind == "status":
            return status_fault_response(fault)
        request = ApiRequest(method=operation["method"], path=path, query=operation["params"],
                             body=body)
        return dispatch(self._sandbox, request)

    @staticmethod
    def _tarball(batch_id: str, results: list[dict]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            payload = json.dumps(results).encode()
            info = tarfile.TarInfo(f"{batch_id}.json")
            info.size, info.mtime = len(payload), int(time.time())
            archive.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()

    def _update(self, batch_id: str, **changes) -> None:
        with self._lock:
            if batch_id in self._batches:
                self._batches[batch_id].update(changes)

    def _render(self, batch: dict) -> dict:
        rendered = {key: value for key, value in batch.items() if value != ""}
        rendered["_links"] = self_link(f"/batches/{batch['id']}")
        return rendered

    def get(self, batch_id: str) -> dict:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise not_found()
            return self._render(batch)

    def all(self) -> list[dict]:
        with self._lock:
            return [self._render(batch) for batch in self._batches.values()]

    def delete(self, batch_id: str) -> None:
        with self._lock:
            if self._batches.pop(batch_id, None) is None:
                raise not_found()
            self._results.pop(batch_id, None)

    def results(self, batch_id: str) -> bytes:
        try:
            return self._results[batch_id]
        except KeyError:
            raise ApiError(404, "Resource Not Found", "No results for that batch.") from None

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._results.clear()

    def wait(self, batch_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.get(batch_id)
            if batch["status"] == "finished":
                return batch
            time.sleep(0.02)
        return self.get(batch_id)
