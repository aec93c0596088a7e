"""HTTP calls to provider APIs, with every failure turned into the ProviderError the router needs.

Provider base URLs are operator configuration, so these calls do not go through the user-URL
guard in media.py; anything a *user* supplied is fetched with `media.fetch_media` instead.

Classification (what the router should do):
- timeouts -> ProviderTimeout; refused/reset connections -> ProviderConnectionError;
  429 -> RateLimited (with Retry-After); 5xx and malformed JSON -> UpstreamError: all retryable.
- 401/403 -> BackendUnavailable: our key is wrong or lacks access. That is the operator's
  problem, so the router skips the backend (without failing the client's job) and moves on.
- any other 4xx (400, 404, 413, 422 ...) -> PermanentProviderError with the provider's message:
  the input is bad, and another backend would refuse it too.
"""
from __future__ import annotations

import json
import os
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

import requests

from .base import (BackendUnavailable, PermanentProviderError, ProviderConnectionError,
                   ProviderTimeout, RateLimited, UpstreamError)

MAX_MESSAGE = 500


class Client:
    """One provider's base URL and key; `request` sends and classifies."""

    def __init__(self, name: str, base_url: str, api_key: str, session=None):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.session = session or session_for(self.base_url)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(self, method: str, path: str, timeout: float, **kwargs) -> requests.Response:
        """Send one request; return the 2xx response or raise the classified error."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, self.url(path), headers=headers,
                                            timeout=max(timeout, 0.001), **kwargs)
        except requests.Timeout as exc:
            raise ProviderTimeout(f"{self.name}: no answer within {timeout:.0f}s") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise ProviderConnectionError(f"{self.name}: connection failed") from exc
        except requests.RequestException as exc:  # e.g. a malformed base URL in the config
            raise UpstreamError(f"{self.name}: request failed ({type(exc).__name__})") from exc
        raise_for_status(self.name, response)
        return response

    def json(self, method: str, path: str, timeout: float, **kwargs):
        """`request`, then the JSON body (UpstreamError if it is not JSON)."""
        return json_body(self.name, self.request(method, path, timeout, **kwargs))


def session_for(base_url: str) -> requests.Session:
    """A requests session for one provider, with the environment settings requests honours
    (HTTP(S)_PROXY and NO_PROXY for this base URL, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) read
    once, here. Left to itself, requests reads them again on every call, and that scan of the
    environment was half of the CPU of a short provider call. (It also ignores ~/.netrc, whose
    credentials would override our Authorization header.)"""
    session = requests.Session()
    session.proxies = requests.utils.get_environ_proxies(base_url)
    session.verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                      or True)
    session.trust_env = False
    return session


def json_body(name: str, response: requests.Response):
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise UpstreamError(f"{name}: the answer was not valid JSON") from exc


def raise_for_status(name: str, response: requests.Response) -> None:
    """Raise the error class that `response`'s status calls for; nothing on 2xx/3xx."""
    status = response.status_code
    if status < 400:
        return
    message = f"{name}: {provider_message(response)}"
    if status == 429:
        raise RateLimited(message, retry_after=retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        raise BackendUnavailable(f"{name} refused our API key (HTTP {status})")
    if status == 408 or status >= 500:
        raise UpstreamError(f"{message} (HTTP {status})")
    raise PermanentProviderError(message)


def provider_message(response: requests.Response) -> str:
    """The human message in a provider's error body, whatever its shape."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "error").strip()[:MAX_MESSAGE]
    found = _find_message(body)
    return (found or json.dumps(body))[:MAX_MESSAGE]


def _find_message(body) -> str | None:
    # OpenAI {"error": {"message"}}, Replicate {"detail"}, Jina {"detail"}, RunPod {"error"}
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "title"):
            value = body.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, (dict, list)):
                found = _find_message(value)
                if found:
                    return found
    if isinstance(body, list) and body:
        return _find_message(body[0]) or (body[0].get("msg") if isinstance(body[0], dict)
                                          else None)
    return None


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
