"""The connections the fetcher makes: only to addresses the destination policy allows, and
never past the deadline of the request they serve.

httpx hands connecting to httpcore, whose network backend is given the URL's host and port.
`GuardedBackend` resolves the host itself, drops the addresses the policy refuses and connects to
an allowed address by number, so what was checked is exactly what is connected to: a name that
resolves to a public address when checked and to an internal one a moment later (DNS rebinding)
is refused at the moment of connecting, before a byte is sent. Nothing is sent to a refused
address at all, so a refusal says nothing about whether anything listens there.

Each request runs in one thread; `Deadline` is that thread's point in time by which the request
must be done. Every connect, TLS handshake, write and read of the connection waits at most until
then, so a server that drips its headers or body a byte at a time cannot hold a request longer.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterable

import httpcore
import httpx

from pipeline.web.destinations import DestinationPolicy, Refusal, parse_address

Resolver = Callable[[str, int], list[str]]  # host, port -> the addresses it stands for


class BlockedDestination(Exception):
    def __init__(self, host: str, refusal: Refusal) -> None:
        super().__init__(refusal.describe(host))
        self.host = host
        self.refusal = refusal


class DeadlineExceeded(Exception):
    """The request's deadline passed while connecting, sending or receiving."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` stands for, in the resolver's order (numeric forms such as
    2130706434, 0x7f.1 or ::ffff:127.0.0.2 resolve to themselves, as the C library reads them)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def first_allowed(host: str, port: int, policy: DestinationPolicy, resolver: Resolver) -> tuple[list[str], Refusal | None]:
    """(the addresses of `host` the policy allows, the first refusal). Raises socket.gaierror."""
    allowed, refused = [], None
    for address in resolver(host.strip("[]"), port):
        refusal = policy.refusal(parse_address(address), port)
        if refusal is None:
            allowed.append(address)
        elif refused is None:
            refused = refusal
    return allowed, refused


class Deadline(threading.local):
    """When the request this thread is sending must be done (time.monotonic()), or None."""

    at: float | None = None

    def bound(self, timeout: float | None) -> tuple[float | None, bool]:
        """(the timeout to use, whether the deadline is what limits it)."""
        if self.at is None:
            return timeout, False
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        if timeout is None or left < timeout:
            return left, True
        return timeout, False


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout, by_deadline = self._deadline.bound(timeout)
        try:
            return self._inner.read(max_bytes, timeout)
        except httpcore.ReadTimeout:
            if by_deadline:
                raise DeadlineExceeded() from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timeout, by_deadline = self._deadline.bound(timeout)
        try:
            self._inner.write(buffer, timeout)
        except httpcore.WriteTimeout:
            if by_deadline:
                raise DeadlineExceeded() from None
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        timeout, by_deadline = self._deadline.bound(timeout)
        try:
            return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadline)
        except httpcore.ConnectTimeout:
            if by_deadline:
                raise DeadlineExceeded() from None
            raise

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, connecting only to allowed addresses, within the deadline."""

    def __init__(self, policy: DestinationPolicy, deadline: Deadline, resolver: Resolver = resolve) -> None:
        self._policy = policy
        self._deadline = deadline
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        try:
            allowed, refused = first_allowed(host, port, self._policy, self._resolver)
        except OSError as error:  # as httpcore reports a failed lookup, so the fetcher says dns_error
            raise httpcore.ConnectError(str(error)) from None
        if not allowed:
            if refused is None:
                raise httpcore.ConnectError(f"[Errno -2] Name or service not known: {host} has no address")
            raise BlockedDestination(host, refused)
        last_error: Exception | None = None
        for address in allowed:
            bounded, by_deadline = self._deadline.bound(timeout)
            try:
                stream = self._inner.connect_tcp(address, port, bounded, local_address, socket_options)
            except httpcore.ConnectTimeout as error:
                if by_deadline:
                    raise DeadlineExceeded() from None
                last_error = error
                continue
            except httpcore.ConnectError as error:
                last_error = error
                continue
            return _BoundedStream(stream, self._deadline)
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable | None = None):
        raise httpcore.ConnectError("newsflow fetches over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request mapping, error mapping), over a pool on `GuardedBackend`.
    No proxy: a proxy would connect on newsflow's behalf to addresses it cannot check."""

    def __init__(self, backend: GuardedBackend, *, limits: httpx.Limits) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
