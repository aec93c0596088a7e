"""The GPU-Bridge API client: run jobs, follow them, read the balance; typed errors."""
from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

import requests

from .errors import ConnectionFailed, JobFailed, JobTimeout, error_for

FINAL = ("completed", "failed", "cancelled")
RETRY_STATUSES = (429, 502, 503, 504)


class Client:
    """A client of one GPU-Bridge server. Money comes back as Decimal, never float.

    Every request is retried on connection errors and 429/502/503/504 (honouring Retry-After);
    a retried POST /run carries the same Idempotency-Key, so it never makes a second job.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0,
                 max_retries: int = 3, backoff: float = 0.5,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.session = session or requests.Session()
        self._sleep = sleep

    # -- transport ---------------------------------------------------------------------------

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Accept": "application/json", "User-Agent": "gpubridge-python/0.1"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {**headers, **(extra or {})}

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), 60.0)
        return self.backoff * (2 ** attempt)

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None,
                headers: dict | None = None) -> Any:
        """One API call with retries; the JSON answer, or the typed error it maps to."""
        headers = self._headers(headers)
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = self.session.request(method, self.base_url + path, json=body,
                                                params=params, headers=headers,
                                                timeout=self.timeout)
            except requests.ConnectionError as exc:
                if attempt == self.max_retries:
                    raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}",
                                           code="connection_failed") from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                    return self._answer(response)
            self._sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(response: requests.Response) -> Any:
        try:
            body = json.loads(response.content or b"null", parse_float=Decimal)
        except ValueError:
            body = {"error": response.text[:200] or f"HTTP {response.status_code}"}
        if response.status_code >= 400:
            error = error_for(response.status_code, body if isinstance(body, dict) else {})
            if response.headers.get("Retry-After", "").isdigit():
                error.retry_after = float(response.headers["Retry-After"])
            raise error
        return body

    # -- the API -----------------------------------------------------------------------------

    def submit(self, service: str, input: dict, webhook_url: str | None = None,
               priority: str | None = None, idempotency_key: str | None = None) -> dict:
        """POST /run: queue a job and return the 202 answer (job_id, status_url, estimate)."""
        body = {"service": service, "input": input}
        if webhook_url:
            body["webhook_url"] = webhook_url
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if priority:
            headers["X-Priority"] = priority
        return self.request("POST", "/run", body, headers=headers)

    def run(self, service: str, input: dict, wait: bool = True, timeout: float = 300.0,
            poll_interval: float = 0.5, on_progress: Callable[[dict], None] | None = None,
            **options) -> dict:
        """Submit a job; with wait=True poll until it ends and return its final status
        (raising JobFailed if it failed), else return the submission."""
        accepted = self.submit(service, input, **options)
        if not wait:
            return accepted
        job = self.wait(accepted["job_id"], timeout, poll_interval, on_progress)
        if job["status"] != "completed":
            raise JobFailed(job)
        return job

    def status(self, job_id: str) -> dict:
        """GET /status/{job_id}."""
        return self.request("GET", f"/status/{job_id}")

    def wait(self, job_id: str, timeout: float = 300.0, poll_interval: float = 0.5,
             on_progress: Callable[[dict], None] | None = None) -> dict:
        """Poll a job until it is final (and settled, so its cost is known)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if on_progress:
                on_progress(job)
            if job["status"] in FINAL and job.get("settled", True):
                return job
            if time.monotonic() >= deadline:
                raise JobTimeout(f"job {job_id} is still {job['status']} after {timeout}s",
                                 code="job_timeout", body=job)
            self._sleep(poll_interval)

    def cancel(self, job_id: str) -> dict:
        """POST /cancel/{job_id}: a queued job is cancelled and refunded; a running one is
        stopped (at the provider where it can be) and charged only what it used."""
        return self.request("POST", f"/cancel/{job_id}")

    def estimate(self, service: str, seconds: float | None = None) -> dict:
        """GET /catalog/estimate."""
        params = {"service": service}
        if seconds is not None:
            params["seconds"] = str(seconds)
        return self.request("GET", "/catalog/estimate", params=params)

    def balance(self) -> dict:
        """GET /account/balance."""
        return self.request("GET", "/account/balance")

    def jobs(self, limit: int = 20, cursor: str | None = None) -> dict:
        """GET /account/jobs: one page of job history, newest first."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return self.request("GET", "/account/jobs", params=params)

    def catalog(self) -> dict:
        """GET /catalog."""
        return self.request("GET", "/catalog")

    def register(self, email: str) -> dict:
        """POST /account/register; the answer's api_key is shown only once."""
        return self.request("POST", "/account/register", {"email": email})
