"""Proxies and the httpx face of the one upstream pool: every call (the pool's own `open()` and
httpx through `PoolTransport`) goes through the proxy the environment names, by a real CONNECT
tunnel or absolute-form forwarding, and NO_PROXY bypasses it the same way for both."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trustme
from upstream_kit import OK, answer, proxying, serving

from aiclient_trio.upstream import Pool, Proxies, ProxyURL, Timeouts, http_client

LIMITS = Timeouts(connect=5.0, read=5.0, write=5.0, pool=5.0)


def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context for 127.0.0.1, client context trusting it)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_https_goes_through_a_connect_tunnel_for_the_pool_and_for_httpx() -> None:
    server_tls, trusting = tls_pair()
    async with serving(answer(OK), tls=server_tls) as server, proxying() as proxy:
        environ = {"HTTPS_PROXY": proxy.url("bob:s%40cret")}
        pool = Pool(LIMITS, ssl_context=trusting, proxies=Proxies.from_environ(environ))
        url = f"https://127.0.0.1:{server.port}/v1/x"
        response = await pool.open("POST", url, headers={}, content=b"{}")
        assert (response.status_code, await response.aread()) == (200, b"{}")
        async with http_client(pool) as client:
            answered = await client.get(url)
            assert (answered.status_code, answered.json()) == (200, {})
            # Same pool, same tunnel: the connection the first call left idle is reused.
            assert proxy.seen == [f"CONNECT 127.0.0.1:{server.port}"]
            assert proxy.credentials == ["bob:s@cret"]
    assert server.connections == 1
    assert server.requests[1].startswith(b"GET /v1/x HTTP/1.1\r\nhost: 127.0.0.1:")


async def test_http_is_forwarded_in_absolute_form_with_the_credentials() -> None:
    async with serving(answer(OK, keep=False)) as server, proxying() as proxy:
        environ = {"all_proxy": proxy.url("ann:pw"), "HTTP_PROXY": "http://ignored.invalid:1"}
        pool = Pool(LIMITS, proxies=Proxies.from_environ(environ))
        url = f"http://127.0.0.1:{server.port}/v1/models?x=1"
        # http_proxy is unset in lower case; upper-case HTTP_PROXY then wins over all_proxy.
        assert pool.proxies.http == ProxyURL("http", "ignored.invalid", 1, None)
        pool = Pool(LIMITS, proxies=Proxies.from_environ({"ALL_PROXY": proxy.url("ann:pw")}))
        async with http_client(pool) as client:
            answered = await client.get(url)
        assert (answered.status_code, answered.json()) == (200, {})
    assert proxy.seen == [f"GET {url}"]
    assert proxy.credentials == ["ann:pw"]
    assert server.requests[0].startswith(b"GET /v1/models?x=1 HTTP/1.1\r\n")
    assert b"proxy-authorization" not in server.requests[0].lower()


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "*", "localhost, 127.0.0.0/8", "example.com,127.0.0.1:9"]
)
async def test_no_proxy_bypasses_the_proxy_for_every_call(no_proxy: str) -> None:
    async with serving(answer(OK)) as server, proxying() as proxy:
        proxies = Proxies.from_environ({"HTTP_PROXY": proxy.url(), "NO_PROXY": no_proxy})
        pool = Pool(LIMITS, proxies=proxies)
        url = f"http://127.0.0.1:{server.port}/"
        assert await (await pool.open("GET", url, headers={})).aread() == b"{}"
        async with http_client(pool) as client:
            assert (await client.get(url)).status_code == 200
    assert proxy.seen == []
    assert server.connections == 1


def test_no_proxy_matches_domains_and_their_subdomains_only() -> None:
    proxies = Proxies.from_environ({"https_proxy": "proxy:3128", "no_proxy": ".corp, github.com"})
    assert proxies.https == ProxyURL("http", "proxy", 3128, None)
    assert proxies.for_url("https", "api.github.com") is None
    assert proxies.for_url("https", "github.com") is None
    assert proxies.for_url("https", "x.corp") is None
    assert proxies.for_url("https", "notgithub.com") == proxies.https
    assert proxies.for_url("http", "github.com") is None  # no http proxy named at all


def test_an_unsupported_proxy_says_which_variable_and_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"ALL_PROXY='socks5://h:1'.*HTTP proxy or unset"):
        Proxies.from_environ({"ALL_PROXY": "socks5://h:1"})
    assert "secret" not in repr(ProxyURL.parse("http://u:secret@h:1", "HTTPS_PROXY"))


async def test_a_proxy_refusing_the_tunnel_is_a_proxy_error_for_both_faces() -> None:
    async with proxying() as proxy:
        proxy.refuse = 407
        pool = Pool(LIMITS, proxies=Proxies.from_environ({"HTTPS_PROXY": proxy.url()}))
        url = "https://api.example.test/v1/x"
        with pytest.raises(httpx.ProxyError, match=r"refused to connect.*HTTP 407"):
            await pool.open("GET", url, headers={})
        async with http_client(pool) as client:
            with pytest.raises(httpx.ProxyError, match="HTTP 407") as caught:
                await client.get(url)
        assert caught.value.request.url == url  # httpx attached its request, as it does
    assert proxy.seen == ["CONNECT api.example.test:443"] * 2


async def test_an_unreachable_proxy_is_a_connect_error_naming_the_proxy() -> None:
    pool = Pool(LIMITS, proxies=Proxies.from_environ({"HTTP_PROXY": "http://127.0.0.1:9"}))
    with pytest.raises(httpx.ConnectError, match=r"the proxy at 127\.0\.0\.1:9"):
        await pool.open("GET", "http://example.test/", headers={})


async def test_httpx_through_the_pool_keeps_its_timeouts_and_reads_bodies_whole() -> None:
    head_only = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
    async with serving(answer(head_only), answer(OK)) as server:
        pool = Pool(LIMITS, proxies=Proxies())
        async with http_client(pool, timeout=httpx.Timeout(5.0, read=0.2)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"http://127.0.0.1:{server.port}/slow")
            answered = await client.post(f"http://127.0.0.1:{server.port}/", data={"a": "b"})
            assert answered.json() == {}
    assert server.requests[1].endswith(b"\r\n\r\na=b")
    assert b"content-type: application/x-www-form-urlencoded" in server.requests[1]
