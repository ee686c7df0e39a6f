"""The address decision itself, without connecting: which addresses newsflow may fetch from."""

from __future__ import annotations

import ipaddress

import pytest

from pipeline.web.destinations import DestinationPolicy, address_class, parse_allow_list

DEFAULT = DestinationPolicy()


@pytest.mark.parametrize(
    "address, klass",
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fd12:3456::1", "private"),  # unique local
        ("fec0::1", "private"),  # site-local
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("2001:db8::1", "reserved"),  # documentation
        # IPv6 addresses that carry an IPv4 address are judged by it
        ("::ffff:127.0.0.2", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.2", "loopback"),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:2::1", "loopback"),  # 6to4 of 127.0.0.2
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_internal_addresses_are_refused_by_default_and_named(address, klass):
    assert address_class(ipaddress.ip_address(address)) == klass
    refusal = DEFAULT.refusal(address, 80)
    assert refusal is not None and refusal.address_class == klass
    assert "NEWSFLOW_FETCH_ALLOW=" in refusal.setting


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1"])
def test_public_addresses_are_allowed(address):
    assert address_class(ipaddress.ip_address(address)) is None
    assert DEFAULT.refusal(address, 443) is None


def test_allow_private_allows_loopback_and_private_but_not_link_local_multicast_or_unspecified():
    policy = DestinationPolicy(allow_private=True)
    for address in ("127.0.0.2", "10.0.0.1", "fd00::1", "::ffff:192.168.0.1"):
        assert policy.refusal(address, 80) is None
    for address in ("169.254.169.254", "224.0.0.1", "0.0.0.0", "::ffff:169.254.169.254"):
        refusal = policy.refusal(address, 80)
        assert refusal is not None and "NEWSFLOW_FETCH_ALLOW_PRIVATE" not in refusal.setting


def test_the_allow_list_allows_exactly_the_addresses_networks_and_ports_it_names():
    policy = DestinationPolicy(allowed=parse_allow_list("127.0.0.1:8080, 10.0.0.0/8,[::1]:9000, 169.254.169.254"))
    assert policy.refusal("127.0.0.1", 8080) is None
    assert policy.refusal("::ffff:127.0.0.1", 8080) is None  # the same address, written as IPv6
    assert policy.refusal("127.0.0.1", 8081).address_class == "loopback"  # another port
    assert policy.refusal("127.0.0.2", 8080).address_class == "loopback"  # another address
    assert policy.refusal("10.200.0.1", 443) is None
    assert policy.refusal("::1", 9000) is None and policy.refusal("::1", 9001) is not None
    assert policy.refusal("169.254.169.254", 80) is None


@pytest.mark.parametrize("entry", ["localhost:80", "127.0.0.1:http", "10.0.0.0/33", "[::1]x", "127.0.0.1:70000"])
def test_a_bad_allow_list_entry_is_named(entry):
    with pytest.raises(ValueError, match="NEWSFLOW_FETCH_ALLOW"):
        parse_allow_list(f"127.0.0.1:8080,{entry}")


def test_the_refusal_says_what_the_address_is_and_which_setting_allows_it():
    refusal = DEFAULT.refusal("::ffff:127.0.0.2", 8080)
    assert refusal.describe("::ffff:127.0.0.2") == "::ffff:127.0.0.2 is a loopback address (127.0.0.2 written as IPv6)"
    assert refusal.setting == (
        "NEWSFLOW_FETCH_ALLOW=127.0.0.2:8080 allows this address and port, "
        "NEWSFLOW_FETCH_ALLOW_PRIVATE=1 every loopback and private address"
    )
    metadata = DEFAULT.refusal("169.254.169.254", 80)
    assert metadata.describe("metadata.internal") == "metadata.internal resolves to 169.254.169.254, a link-local address"
    assert metadata.setting == "NEWSFLOW_FETCH_ALLOW=169.254.169.254:80 allows this address and port"


def test_the_environment_sets_the_policy(monkeypatch):
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW", "127.0.0.1:8080")
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW_PRIVATE", "")
    policy = DestinationPolicy.from_env()
    assert policy.refusal("127.0.0.1", 8080) is None and policy.refusal("10.0.0.1", 80) is not None
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW_PRIVATE", "1")
    assert DestinationPolicy.from_env().refusal("10.0.0.1", 80) is None
