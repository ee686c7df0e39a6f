"""Fixtures for the web tests: a news site on 127.0.0.1, and a guard that fails any test whose
code tries to reach an address outside 127.0.0.0/8 (name lookups of other hosts fail as DNS
failures do, so nothing ever leaves the machine)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from pipeline.web.fetch import FetchSettings
from tests.pipeline.web.webserver import NewsSite

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(str(host)) in LOOPBACK
    except ValueError:
        return str(host) == "localhost"


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
        if host is not None and not _is_loopback(host if not isinstance(host, bytes) else host.decode()):
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
    return shared_site


@pytest.fixture
def fast_settings():
    """Polite, but with no delay worth waiting for in a test (delays are tested on their own)."""
    return FetchSettings(contact_url="https://example.org/newsflow-tests", per_host_delay_s=0.0, max_concurrency=4,
                         timeout_s=5.0, retries=2, backoff_s=0.05, max_body_bytes=1024 * 1024, max_redirects=3)
