"""The private-address guard for user-supplied URLs (DESIGN invariant 7).

A URL passes when it is http(s) and every address its host resolves to is public space (or,
in development, private). The caller connects to one of the addresses checked here, never to
the name again, so DNS rebinding cannot swap the address afterwards (providers/media.py).
"""
from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from providers.base import PermanentProviderError, RetryableProviderError

NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv6 addresses a NAT64 gateway maps to IPv4
# What inet_aton reads as an IPv4 address: 1 to 4 parts, each decimal, octal (0...) or hex (0x...)
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)

#: (host, port) -> addresses; tests pass their own to point names anywhere.
Resolver = Callable[[str, int], list[str]]


class UnsafeUrlError(PermanentProviderError):
    """Raised when a URL has a refused scheme or resolves to an address we must not reach."""


@dataclass(frozen=True)
class UrlPolicy:
    """What a media fetch may reach and how much it may read."""

    allow_private: bool = False  # development only: loopback and private networks
    max_bytes: int = 25 * 1024 * 1024
    timeout: float = 20.0


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise RetryableProviderError(f"could not resolve {host}: try again") from exc
        raise PermanentProviderError(f"could not resolve host {host}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


@functools.lru_cache(maxsize=4096)  # a webhook's receiver is judged again on every delivery
def address_refusal(address: str, policy: UrlPolicy) -> str | None:
    """Why `address` may not be reached under `policy`, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        # An IPv6 address can carry an IPv4 one; judge the address packets really reach.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo and ip.teredo[1])
        if ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded:
            ip = embedded
    # Link-local (cloud metadata at 169.254.169.254) stays refused even in development.
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "a link-local, multicast, reserved or unspecified address"
    if ip.is_loopback or ip.is_private or not ip.is_global:
        return None if policy.allow_private else "a loopback or private address"
    return None


def _target(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of an http(s) URL; UnsafeUrlError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme or "missing"
        raise UnsafeUrlError(f"URL scheme {shown!r} is not allowed; use https, http or data:")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"invalid URL {url}: {exc}") from exc
    if not host:
        raise UnsafeUrlError(f"URL {url} has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


@functools.lru_cache(maxsize=4096)
def literal_address(host: str) -> str | None:
    """The address a numeric host names, in canonical form; None for a name to resolve.

    Resolvers and browsers read 2130706433, 0x7f.1 and 017700000001 as 127.0.0.1 (inet_aton's
    forms), so they are decoded here, never handed to a resolver that might read them otherwise.
    """
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if not NUMERIC_HOST.match(host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host.rstrip(".")))
    except OSError:
        raise UnsafeUrlError(f"host {host} is not a valid address") from None


def checked_target(url: str, policy: UrlPolicy, resolve: Resolver) -> tuple:
    """The scheme, host, port and checked addresses of `url`; raises if any address is refused."""
    scheme, host, port = _target(url)
    literal = literal_address(host)
    addresses = [literal] if literal else resolve(host, port)
    for address in addresses:
        reason = address_refusal(address, policy)
        if reason:
            where = host if address == host else f"{host} resolves to {address}, which"
            raise UnsafeUrlError(f"URL {url} is refused: {where} is {reason}")
    if not addresses:
        raise PermanentProviderError(f"could not resolve host {host}")
    return scheme, host, port, addresses


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = system_resolver) -> None:
    """Refuse `url` (UnsafeUrlError) unless it is a data: URI or an http(s) URL to public space."""
    if not url.lower().startswith("data:"):
        checked_target(url, policy, resolve)
