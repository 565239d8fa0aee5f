"""Sessions from other machines are refused unless the server opted in; the guard reads the address Bokeh keeps."""
from types import SimpleNamespace

import pytest
from bokeh.document import Document
from bokeh.server.contexts import BokehSessionContext, _RequestProxy

from dashboards.access import REFUSED_TEXT, client_address, is_loopback, refusal


def _doc(remote_ip):
    """A document whose session was created by an HTTP request from ``remote_ip`` (as Tornado records it)."""
    doc = Document()
    ctx = BokehSessionContext("id", None, doc)
    request = SimpleNamespace(remote_ip=remote_ip, arguments={}, cookies={}, headers={})
    ctx._request = _RequestProxy(request)
    doc._session_context = lambda: ctx
    return doc


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"])
def test_loopback(addr):
    assert is_loopback(addr)


@pytest.mark.parametrize("addr", ["192.0.2.7", "10.0.0.1", "::ffff:192.0.2.7", "2001:db8::1", "", None, "nonsense",
                                  "0.0.0.0"])
def test_not_loopback(addr):
    assert not is_loopback(addr)


def test_refusal_reads_the_request_address():
    assert client_address(_doc("192.0.2.7")) == "192.0.2.7"
    assert refusal(_doc("192.0.2.7"), allow_remote=False) == REFUSED_TEXT
    assert refusal(_doc("127.0.0.1"), allow_remote=False) is None
    assert refusal(_doc("192.0.2.7"), allow_remote=True) is None      # the explicit opt-in
    assert refusal(_doc(None), allow_remote=False) == REFUSED_TEXT     # unknown address: refused
    assert refusal(None, allow_remote=False) is None                   # no server (a notebook)
    assert refusal(Document(), allow_remote=False) is None


def test_warm_up_session_without_a_request_is_not_refused():
    """``panel serve --warm`` builds a session with no HTTP request behind it (no client)."""
    doc = Document()
    ctx = BokehSessionContext("id", None, doc)
    ctx._request = _RequestProxy(None)
    doc._session_context = lambda: ctx
    assert refusal(doc, allow_remote=False) is None


def test_refused_app_builds_nothing(config):
    import panel as pn
    from panel.io.state import set_curdoc

    from dashboards import App

    doc = _doc("198.51.100.4")
    with set_curdoc(doc):
        app = App(config=config, warm=False)
        page = app.page()
    assert app.refused and app.state is None
    texts = [getattr(o, "object", "") for o in page.select(pn.pane.Markdown)]
    assert any("only from the machine it runs on" in str(t) for t in texts)
    assert not page.select(pn.widgets.Widget)                           # nothing to click, type or upload
