"""Fixtures for the web tests: a news site on 127.0.0.1, and a guard that fails any test whose
code tries to reach an address outside 127.0.0.0/8 (name lookups of other hosts fail as DNS
failures do, so nothing ever leaves the machine)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import replace

import pytest

from pipeline.web.destinations import DestinationPolicy
from pipeline.web.fetch import FetchSettings
from workbench.news_site import NewsSite

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _numeric_address(host: str):
    """The address a numeric host stands for, as the C library reads it (2130706434, 0x7f.1,
    ::ffff:127.0.0.2), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(host))
    except OSError:
        return None


def _is_loopback(host) -> bool:
    address = _numeric_address(str(host))
    if address is None:
        return str(host) == "localhost"
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address) in LOOPBACK


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Every connection must go to 127.0.0.0/8; the test fails afterwards if one did not."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo
    attempts: list[object] = []

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(address)
            raise OSError(f"test guard: connection to {address} refused (tests stay on 127.0.0.1)")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        # A numeric host is read, not looked up: nothing leaves the machine, so any may be read.
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and _numeric_address(name) is None and not _is_loopback(name):
            attempts.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    unexpected = [a for a in attempts if a not in _EXPECTED_OUTSIDE]
    assert not unexpected, f"the code tried to reach {unexpected} outside 127.0.0.1"


# Names a test looks up on purpose to see a DNS failure (the guard answers them; nothing is sent).
_EXPECTED_OUTSIDE = {"news.invalid"}


@pytest.fixture(scope="module")
def shared_site():
    site = NewsSite().start()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def site(shared_site):
    """The module's news site, with an empty request log and its feeds at version 1."""
    shared_site.log.clear()
    shared_site.feed_version = 1
    shared_site.page_delay_s = 0.0
    shared_site.robots = None
    shared_site.credentials = None
    return shared_site


@pytest.fixture(scope="module")
def internal_site():
    """An "internal" host (127.0.0.2): nothing newsflow fetches may reach it."""
    site = NewsSite(host="127.0.0.2").start()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def internal(internal_site):
    internal_site.log.clear()
    return internal_site


@pytest.fixture(scope="module")
def other_port_site():
    """Another service on 127.0.0.1, on a port the allow-list does not name: "internal" too."""
    site = NewsSite().start()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def other_port(other_port_site):
    other_port_site.log.clear()
    other_port_site.credentials = None
    return other_port_site


@pytest.fixture
def fast_settings(shared_site):
    """Polite, but with no delay worth waiting for in a test (delays are tested on their own).
    Only the module's news site (its address and port) is allowed besides public addresses."""
    return FetchSettings(contact_url="https://example.org/newsflow-tests", per_host_delay_s=0.0, max_concurrency=4,
                         timeout_s=5.0, retries=2, backoff_s=0.05, max_body_bytes=1024 * 1024, max_redirects=3,
                         deadline_s=30.0, destinations=DestinationPolicy().allowing(shared_site.allow_entry))


def allowing(settings: FetchSettings, *sites) -> FetchSettings:
    """`settings`, with these sites (their address and port) allowed too."""
    return replace(settings, destinations=settings.destinations.allowing(*(site.allow_entry for site in sites)))
