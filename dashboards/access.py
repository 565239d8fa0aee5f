"""Who may open a session: by default only clients on this machine.

``panel serve app.py`` listens on every interface unless given
``--address``; the app itself therefore refuses sessions whose client
address is not a loopback address, unless the server was started with
``--args --allow-remote`` or ``COLLOP_ALLOW_REMOTE=1``. Sharing the app
should then go through Panel's authentication (``--basic-auth``, or
``--oauth-provider``), see the README.

The address is the one Tornado records for the HTTP request that creates
the session (``session_context.request.remote_ip``; behind a proxy started
with ``--use-xheaders`` it is the proxy's ``X-Real-Ip`` / ``X-Forwarded-For``).
A refused session gets a page with one sentence and no widgets: nothing to
start, stop, delete or upload. Sessions the server makes for itself, with no
HTTP request behind them (``panel serve --warm`` builds one at start-up),
have no client and are not refused.
"""
from __future__ import annotations

import ipaddress

__all__ = ["client_address", "is_loopback", "refusal", "REFUSED_TEXT"]

REFUSED_TEXT = ("This collop server accepts sessions only from the machine it runs on. To share it, restart it "
                "with authentication and `--args --allow-remote` (or `COLLOP_ALLOW_REMOTE=1`); see the README.")


def _request(doc):
    ctx = getattr(doc, "session_context", None) if doc is not None else None
    return getattr(ctx, "request", None) if ctx is not None else None


def client_address(doc) -> str | None:
    """The client address of the session that builds ``doc`` (None outside a server session or without one)."""
    request = _request(doc)
    if request is None:
        return None
    try:
        return getattr(request, "remote_ip", None) or None
    except AttributeError:
        return None


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is a loopback address (``127.0.0.0/8``, ``::1``, or IPv4 loopback mapped in IPv6)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def refusal(doc, allow_remote: bool) -> str | None:
    """Why the session of ``doc`` is refused (None when it may go on).

    Outside a server session (a notebook, a test) nothing is refused. Under a
    server, a session whose client address is unknown or not loopback is
    refused unless ``allow_remote``.
    """
    ctx = getattr(doc, "session_context", None) if doc is not None else None
    if ctx is None or allow_remote:
        return None
    request = _request(doc)
    if request is not None and getattr(request, "_request", True) is None:     # made by the server itself
        return None
    addr = client_address(doc)
    if is_loopback(addr):
        return None
    return REFUSED_TEXT
