"""Export renders PNG / SVG without a browser and standalone offline HTML."""
import re
import xml.etree.ElementTree as ET

import holoviews as hv
import numpy as np
import pytest

from dashboards import plots
from dashboards.export import export_buttons, render


@pytest.fixture(scope="module")
def figure():
    return plots.rollout_triptych(*(_pair()), 1) + hv.Curve(([0, 1, 2], [1.0, 0.5, 0.2]))


def _pair():
    import xarray as xr
    coords = {"time": [0.0, 1.0], "vx": [0.0, 1.0, 2.0], "vy": [0.0, 1.0, 2.0]}
    f = xr.DataArray(np.random.default_rng(0).random((2, 3, 3)), dims=("time", "vx", "vy"), coords=coords)
    return f, f * 1.1


def test_png_and_svg_by_matplotlib(figure):
    png = render(figure, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    svg = render(figure, "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert hv.Store.current_backend == "bokeh"          # the page keeps rendering with Bokeh


def test_html_is_standalone(figure):
    html = render(figure, "html").decode()
    assert "<html" in html.lower() and "Bokeh" in html
    assert not re.search(r"<script[^>]*\ssrc=", html), "external script in the exported HTML"
    assert not re.search(r"<link[^>]*stylesheet[^>]*href=\"http", html)


def test_dynamic_map_exports_its_current_frame():
    dm = hv.DynamicMap(lambda: hv.Curve([1, 2, 3]))
    assert render(dm, "png")[:4] == b"\x89PNG"


def test_buttons_and_bad_format():
    row = export_buttons(lambda: hv.Curve([1, 2]), "my fig")
    assert [b.filename for b in row] == ["my-fig.png", "my-fig.svg", "my-fig.html"]
    assert "collop-export-png" in row[0].css_classes and "collop-export-my-fig-png" in row[0].css_classes
    data = row[0].callback()
    assert data.read(4) == b"\x89PNG"
    with pytest.raises(ValueError, match="format"):
        render(hv.Curve([1]), "gif")
