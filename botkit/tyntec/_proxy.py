"""Which proxy, if any, the environment names for tyntec's API: ``HTTPS_PROXY`` or
``HTTP_PROXY`` (by the API root's scheme), unless ``NO_PROXY`` names its host, read as
aiohttp's ``trust_env`` reads them (through urllib). The client's own connections speak to
no proxy, so with one named the client sends through an aiohttp session that does."""

from __future__ import annotations

import ipaddress
import urllib.request
from urllib.parse import urlsplit, urlunsplit

__all__ = ["environment_proxy", "shown"]


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None.

    A loopback host is never sent through a proxy (as Go's HTTP client does): botkit's
    sandbox and a local stand-in are reached directly, whatever the machine's proxy."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _loopback(host):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(host):
        return None
    return proxy


def shown(proxy: str) -> str:
    """``proxy`` fit for a log line: its password, if it has one, left out."""
    parts = urlsplit(proxy)
    if parts.password is None:
        return proxy
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name
        return False
