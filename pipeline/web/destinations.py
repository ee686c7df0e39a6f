"""Which addresses newsflow may connect to when it fetches: public ones, and those the user allows.

Pure decisions over `ipaddress`: no name lookups, no connections (the fetcher resolves names and
asks `DestinationPolicy.refusal` about each address, before connecting and for the very address
it connects to). An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4
address it carries, so `[::ffff:127.0.0.2]` is loopback.

`NEWSFLOW_FETCH_ALLOW_PRIVATE=1` allows loopback and private addresses (an intranet news site);
link-local addresses (169.254.169.254 is the cloud metadata service), multicast, unspecified
(0.0.0.0) and reserved ones are allowed only when `NEWSFLOW_FETCH_ALLOW` names them.
`NEWSFLOW_FETCH_ALLOW` is a comma-separated list of addresses or networks, each with an optional
port: `127.0.0.1:8080,10.0.0.0/8,[::1]:8080,fd00::/8`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_ENV = "NEWSFLOW_FETCH_ALLOW"
ALLOW_PRIVATE_ENV = "NEWSFLOW_FETCH_ALLOW_PRIVATE"
# What NEWSFLOW_FETCH_ALLOW_PRIVATE=1 allows; the other classes need NEWSFLOW_FETCH_ALLOW.
PRIVATE_CLASSES = frozenset({"loopback", "private"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not reachable from the internet
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


@dataclass(frozen=True)
class AllowedNetwork:
    network: IPNetwork
    port: int | None = None  # None: every port

    def admits(self, address: IPAddress, port: int) -> bool:
        return address.version == self.network.version and address in self.network and self.port in (None, port)

    def __str__(self) -> str:
        net = str(self.network.network_address) if self.network.num_addresses == 1 else str(self.network)
        if self.port is None:
            return net
        return f"[{net}]:{self.port}" if self.network.version == 6 else f"{net}:{self.port}"


@dataclass(frozen=True)
class Refusal:
    """Why an address is not connected to: its class, and the setting that would allow it."""

    address: IPAddress  # as resolved
    port: int
    address_class: str  # loopback, private, link-local, multicast, unspecified, reserved
    carried: IPAddress | None = None  # the IPv4 address an IPv6 address carries, when it is what was judged

    @property
    def setting(self) -> str:
        """The settings that would allow it, as a sentence."""
        exact = AllowedNetwork(ipaddress.ip_network(self.carried or self.address), self.port)
        this = f"{ALLOW_ENV}={exact} allows this address and port"
        if self.address_class in PRIVATE_CLASSES:
            return f"{this}, {ALLOW_PRIVATE_ENV}=1 every loopback and private address"
        return this

    def describe(self, host: str | None = None) -> str:
        """'127.0.0.2 is a loopback address', 'news.test resolves to 10.0.0.5, a private address',
        '::ffff:127.0.0.2 is a loopback address (127.0.0.2 written as IPv6)'."""
        article = "an" if self.address_class[0] in "aeiou" else "a"
        kind = f"{article} {self.address_class} address"
        if self.carried is not None:
            kind += f" ({self.carried} written as IPv6)"
        host = (host or str(self.address)).strip("[]")
        try:
            numeric = parse_address(host) == self.address
        except ValueError:
            numeric = False
        if numeric:
            return f"{host} is {kind}"
        return f"{host} resolves to {self.address}, {kind}"


def carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible (deprecated): ::a.b.c.d, not :: or ::1
        return ipaddress.IPv4Address(int(address))
    return None


def address_class(address: IPAddress) -> str | None:
    """None for a public (globally routable unicast) address, else the class it belongs to."""
    carried = carried_ipv4(address)
    if carried is not None:
        return address_class(carried)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _RFC1918) or address in _UNIQUE_LOCAL or address in _SHARED:
        return "private"
    if address.version == 6 and address.is_site_local:  # fec0::/10, deprecated site-local
        return "private"
    if address.is_reserved or address.is_private or not address.is_global:
        return "reserved"
    return None


def parse_address(text: str) -> IPAddress:
    """An address as getaddrinfo gives it: IPv4, IPv6 (brackets and a %zone allowed)."""
    text = text.strip().strip("[]").split("%", 1)[0]
    return ipaddress.ip_address(text)


def parse_allow_list(text: str) -> tuple[AllowedNetwork, ...]:
    """'127.0.0.1:8080, 10.0.0.0/8, [::1]:8080, fd00::/8' -> AllowedNetwork entries.
    Raises ValueError naming the entry that is not an address or network."""
    entries = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            entries.append(_parse_allowed(item))
        except ValueError:
            raise ValueError(
                f"{ALLOW_ENV}: {item!r} is not an address or network with an optional port "
                "(write e.g. 127.0.0.1:8080, 10.0.0.0/8 or [::1]:8080)"
            ) from None
    return tuple(entries)


def _parse_allowed(item: str) -> AllowedNetwork:
    port = None
    if item.startswith("["):  # [v6]:port or [v6/len]:port
        inside, _, rest = item[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(item)
            port = _port(rest[1:])
        network = inside
    elif item.count(":") == 1:  # v4:port
        network, port_text = item.split(":")
        port = _port(port_text)
    else:
        network = item
    return AllowedNetwork(ipaddress.ip_network(network, strict=False), port)


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return port


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class DestinationPolicy:
    """Public addresses, plus what the user allows."""

    allow_private: bool = False
    allowed: tuple[AllowedNetwork, ...] = ()

    @classmethod
    def from_env(cls) -> "DestinationPolicy":
        return cls(allow_private=_truthy(os.environ.get(ALLOW_PRIVATE_ENV)), allowed=parse_allow_list(os.environ.get(ALLOW_ENV, "")))

    def allowing(self, *entries: str) -> "DestinationPolicy":
        """This policy with more allow-list entries (as NEWSFLOW_FETCH_ALLOW writes them)."""
        return DestinationPolicy(self.allow_private, self.allowed + parse_allow_list(",".join(entries)))

    def refusal(self, address: IPAddress | str, port: int) -> Refusal | None:
        """None when newsflow may connect to `address`:`port`, else why not."""
        if isinstance(address, str):
            address = parse_address(address)
        carried = carried_ipv4(address)
        judged = carried if carried is not None else address
        klass = address_class(judged)
        if klass is None:
            return None
        if any(entry.admits(candidate, port) for entry in self.allowed for candidate in {address, judged}):
            return None
        if self.allow_private and klass in PRIVATE_CLASSES:
            return None
        return Refusal(address, port, klass, carried)
