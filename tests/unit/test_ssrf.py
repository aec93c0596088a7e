"""No request to a private address: each URL below is refused with no connection made.

The guard runs with private addresses refused (GPUBRIDGE_ALLOW_PRIVATE_URLS off), for webhook
deliveries (post_once) and media fetches alike. Every dial goes through providers.media._dialer,
which the tests wrap to see each connection; a real receiver on 127.0.0.1 counts what reaches it.
"""
import socket

import pytest

from providers import media, urlguard
from providers.media import fetch_media, post_once
from providers.urlguard import UnsafeUrlError, UrlPolicy
from tests.receiver import Receiver

STRICT = UrlPolicy(allow_private=False, timeout=5)
PUBLIC = "93.184.216.34"  # stands in for a public host; the fake dialer sends it to a receiver


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def network(monkeypatch):
    """Record every dial; PUBLIC is routed to the port in `network.public_port`."""
    real = socket.create_connection
    dialed = []

    def dialer(address):
        def dial(host_port, *args):
            dialed.append((address, host_port[1]))
            if address == PUBLIC:
                return real(("127.0.0.1", dialed_to.public_port), *args)
            return real((address, host_port[1]), *args)
        return dial

    class dialed_to:  # noqa: N801 (a namespace)
        public_port = None
        calls = dialed
    monkeypatch.setattr(media, "_dialer", dialer)
    return dialed_to


def resolver(table):
    def resolve(host, port):
        resolve.calls.append(host)
        if host not in table:
            pytest.fail(f"{host} should never have been resolved")
        return table[host]
    resolve.calls = []
    return resolve


def _refusals(port):
    return [
        f"http://127.0.0.1:{port}/hook", f"http://[::1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/", f"http://2130706433:{port}/",
        f"http://0x7f.1:{port}/", f"http://017700000001:{port}/",
        f"http://internal.test:{port}/hook",  # the injected resolver says 10.0.0.1
        "file:///etc/passwd", "gopher://127.0.0.1:70/_x",
    ]


@pytest.mark.parametrize("index", range(9))
def test_webhook_post_is_refused_without_connecting(index, receiver, network):
    url = _refusals(receiver.port)[index]
    resolve = resolver({"internal.test": ["10.0.0.1"]})
    with pytest.raises(UnsafeUrlError):
        post_once(url, b"{}", {"Content-Type": "application/json"}, STRICT, resolve)
    assert network.calls == [] and receiver.connections == 0
    assert resolve.calls in ([], ["internal.test"])  # numeric forms never reach a resolver


@pytest.mark.parametrize("index", range(9))
def test_media_fetch_is_refused_without_connecting(index, receiver, network):
    url = _refusals(receiver.port)[index]
    with pytest.raises(UnsafeUrlError):
        fetch_media(url, STRICT, resolver({"internal.test": ["10.0.0.1"]}))
    assert network.calls == [] and receiver.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "017700000001", "0x7f000001",
                                  "127.1", "0177.0.0.1"])
def test_numeric_host_forms_are_read_as_the_loopback_address(host):
    assert urlguard.literal_address(host) == "127.0.0.1"


def test_names_that_only_look_numeric_are_resolved():
    assert urlguard.literal_address("cafe.be") is None
    assert urlguard.literal_address("example.com") is None
    with pytest.raises(UnsafeUrlError):
        urlguard.literal_address("08.1.1.1")  # not a valid octal part: neither name nor address


def test_a_redirect_to_loopback_is_not_followed(receiver, network):
    with Receiver(answers=[(302, {"Location": receiver.url})] * 2) as public:
        network.public_port = public.port
        resolve = resolver({"hooks.example": [PUBLIC]})
        # Webhooks never follow redirects: the 302 is the answer (a failed attempt).
        status, headers = post_once("http://hooks.example/in", b"{}", {}, STRICT, resolve)
        assert status == 302 and headers["location"] == receiver.url
        # Media fetches follow redirects, checking each hop: this one is refused.
        with pytest.raises(UnsafeUrlError):
            fetch_media("http://hooks.example/img.png", STRICT, resolve)
    assert [address for address, _port in network.calls] == [PUBLIC, PUBLIC]
    assert receiver.connections == 0


def test_a_public_address_is_reached_through_the_pin(network):
    with Receiver() as public:
        network.public_port = public.port
        status, _ = post_once("http://hooks.example/in", b'{"a":1}', {"X-T": "1"}, STRICT,
                              resolver({"hooks.example": [PUBLIC]}))
        assert status == 200 and public.requests[0]["body"] == b'{"a":1}'
        assert public.requests[0]["headers"]["Host"] == "hooks.example"
