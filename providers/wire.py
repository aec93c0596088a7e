"""HTTP calls to provider APIs, with every failure turned into the ProviderError the router needs.

Provider base URLs are operator configuration, so these calls do not go through the user-URL
guard (urlguard.py); anything a *user* supplied is fetched with `media.fetch_media` instead.

Classification (what the router should do):
- timeouts -> ProviderTimeout; refused/reset connections -> ProviderConnectionError;
  429 -> RateLimited (with Retry-After); 5xx and malformed JSON -> UpstreamError: all retryable.
- 401/403 -> BackendUnavailable: our key is wrong or lacks access. That is the operator's
  problem, so the router skips the backend (without failing the client's job) and moves on.
  So is a redirect (3xx), which is not followed: the base URL is wrong.
- any other 4xx (400, 404, 413, 422 ...) -> PermanentProviderError with the provider's message:
  the input is bad, and another backend would refuse it too.
"""
from __future__ import annotations

import http.client
import json as jsonlib
import os
import ssl
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Callable, Mapping
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3
from urllib3.exceptions import (HTTPError, NewConnectionError, ProtocolError, ProxyError,
                                SSLError, TimeoutError as Urllib3Timeout)

from .base import (BackendUnavailable, PermanentProviderError, ProviderConnectionError,
                   ProviderTimeout, RateLimited, UpstreamError)
from .transport import DirectTransport

MAX_MESSAGE = 500
POOL_SIZE = 10  # kept connections per provider host, for a process's threads
USER_AGENT = "gpubridge-providers/1"


@dataclass(frozen=True)
class Response:
    """A provider's answer, read whole: what the adapters and the error mapping look at."""

    status_code: int
    reason: str
    headers: Mapping[str, str]  # urllib3's: names in any case
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.content)


class Client:
    """One provider's base URL and key; `request` sends and classifies.

    Not requests: a short call cost 0.51 ms of CPU through requests and 0.25 through urllib3.
    Not urllib3's PoolManager either, unless a proxy is in the way: kept http.client
    connections (providers/transport.py) cost less again."""

    def __init__(self, name: str, base_url: str, api_key: str):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.proxied = proxy_for(self.base_url)
        self.direct = None if self.proxied else DirectTransport(tls_settings())

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(self, method: str, path: str, timeout: float, json=None, data: dict | None = None,
                files: dict | None = None, headers: dict | None = None) -> Response:
        """Send one request (a `json` body, or a `data` form with `files`); return the 2xx
        answer or raise the classified error. Redirects are not followed."""
        body, content_type = encode_body(json, data, files)
        sent = {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT,
                **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        seconds = max(timeout, 0.001)
        try:
            response = Response(*self._send(method, self.url(path), body, sent, seconds))
        except (NewConnectionError, ProtocolError, ProxyError, SSLError) as exc:
            raise ProviderConnectionError(f"{self.name}: connection failed") from exc
        except (Urllib3Timeout, TimeoutError) as exc:  # after NewConnectionError, one of them
            raise ProviderTimeout(f"{self.name}: no answer within {timeout:.0f}s") from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, TLS, malformed
            raise ProviderConnectionError(f"{self.name}: connection failed") from exc
        except (HTTPError, ValueError) as exc:  # e.g. a malformed base URL in the config
            raise UpstreamError(f"{self.name}: request failed ({type(exc).__name__})") from exc
        raise_for_status(self.name, response)
        return response

    def _send(self, method: str, url: str, body: bytes | None, headers: dict,
              seconds: float) -> tuple:
        if self.direct is not None:
            status, reason, received, content = self.direct.request(method, url, body, headers,
                                                                    seconds)
            return status, reason or "", received, content
        raw = self.proxied.request(method, url, body=body, headers=headers, retries=False,
                                timeout=urllib3.Timeout(connect=seconds, read=seconds))
        return raw.status, raw.reason or "", raw.headers, raw.data

    def json(self, method: str, path: str, timeout: float, **kwargs):
        """`request`, then the JSON body (UpstreamError if it is not JSON)."""
        return json_body(self.name, self.request(method, path, timeout, **kwargs))


def encode_body(json, data: dict | None, files: dict | None) -> tuple[bytes | None, str | None]:
    """The request body and its Content-Type: JSON, a form (`data`), or a multipart form of
    `data` and `files` (name -> (filename, bytes, media type))."""
    if files:
        return urllib3.encode_multipart_formdata({**(data or {}), **files})
    if data:
        return urlencode(data).encode(), "application/x-www-form-urlencoded"
    if json is not None:
        return jsonlib.dumps(json).encode(), "application/json"
    return None, None


def proxy_for(base_url: str) -> urllib3.ProxyManager | None:
    """The proxy's connections to one provider, or None when it is reached directly, with
    the environment's settings read once, here: HTTP(S)_PROXY and NO_PROXY for this base URL,
    and the CA bundle (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, as requests read them, else
    certifi's). ~/.netrc is not read: its credentials would override our Authorization
    header."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(base_url)
    bypass = urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)
    proxy = None if bypass else proxies.get(parts.scheme)
    if not proxy:
        return None
    bundle = _operators_bundle()
    tls = {"ca_certs": bundle} if bundle else {"ssl_context": certifi_context()}
    return urllib3.ProxyManager(proxy, maxsize=POOL_SIZE, **tls)


def tls_settings() -> Callable[[], ssl.SSLContext]:
    """What a new direct connection's TLS is set up from: the operator's CA bundle read for
    each connection, as requests did, or certifi's CAs loaded once per process (loading a
    bundle costs 20 ms of CPU)."""
    bundle = _operators_bundle()
    return (lambda: ssl.create_default_context(cafile=bundle)) if bundle else certifi_context


def _operators_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


@cache
def certifi_context() -> ssl.SSLContext:
    """The TLS settings of provider calls: certifi's CAs, certificate and host name checked."""
    return ssl.create_default_context(cafile=certifi.where())


def json_body(name: str, response: Response):
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes
        raise UpstreamError(f"{name}: the answer was not valid JSON") from exc


def raise_for_status(name: str, response: Response) -> None:
    """Raise the error class that `response`'s status calls for; nothing on 2xx."""
    status = response.status_code
    if status < 300:
        return
    if status < 400:  # not followed: our key would go wherever it points
        raise BackendUnavailable(f"{name} answered with a redirect (HTTP {status}) to "
                                 f"{response.headers.get('Location', 'nowhere')}: check its "
                                 "base URL")
    message = f"{name}: {provider_message(response)}"
    if status == 429:
        raise RateLimited(message, retry_after=retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        raise BackendUnavailable(f"{name} refused our API key (HTTP {status})")
    if status == 408 or status >= 500:
        raise UpstreamError(f"{message} (HTTP {status})")
    raise PermanentProviderError(message)


def provider_message(response: Response) -> str:
    """The human message in a provider's error body, whatever its shape."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "error").strip()[:MAX_MESSAGE]
    found = _find_message(body)
    return (found or jsonlib.dumps(body))[:MAX_MESSAGE]


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
