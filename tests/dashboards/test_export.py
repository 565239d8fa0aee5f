"""One figure description, drawn for the page (Bokeh) and exported (matplotlib PNG/SVG/PDF, HTML): the same."""
import io
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dashboards.export import FORMATS, FigureView, export_buttons, render
from dashboards.figures import Axis, ColorScale, Contour, Figure, Image, Line, Plot
from dashboards.render_bokeh import BokehView, palette, to_html
from dashboards.render_mpl import drawn, to_matplotlib


@pytest.fixture(scope="module")
def figure():
    x = np.linspace(-5, 5, 21)
    X, Y = np.meshgrid(x, x)
    f = np.exp(-(X ** 2 + Y ** 2))
    f[0, 0] = np.nan                                            # blank cell
    img = Plot("f", Axis("vx", "u"), Axis("vy", "u"), [Image(f, (-5.25, -5.25, 5.25, 5.25),
                                                              ColorScale(log=True, label="f", unit="1/u²"))],
               equal_aspect=True, width=200, height=200)
    diff = Plot("diff", Axis("vx", "u"), Axis("vy", "u"),
                [Image(f - 0.5, (-5.25, -5.25, 5.25, 5.25), ColorScale.diverging(0.5, "(f̂ − f)/max f"))],
                equal_aspect=True, width=200, height=200)
    y = np.exp(-np.arange(50) / 10.0)
    y[20:23] = np.nan                                           # a gap
    loss = Plot("loss", Axis("epoch"), Axis("loss", "dimensionless", log=True),
                [Line(np.arange(50), y, "a"), Line(np.arange(50), 2 * y, "b", dash="dashed", yerr=0.1 * y)],
                width=300, height=200)
    pareto = Plot("pareto", Axis("k"), Axis("MAE"), [Line([1, 2, 3], [0.3, 0.2, 0.1], "PS", line=False, marker=True,
                                                          yerr=[0.01, 0.02, 0.03]),
                                                     Line([1, 2, 3], [0.3, 0.2, 0.1], "band",
                                                          band=([.2, .1, 0], [.4, .3, .2]))],
                  legend_at="below")
    contour = Plot("g_r²", Axis("u"), Axis("r"), [Contour(x, x, f, np.linspace(0, 1, 6), ColorScale(label="g"),
                                                          filled=True)])
    return Figure([img, diff, loss, pareto, contour], ncols=3, title="all kinds", name="kinds")


def test_colour_tables_are_matplotlibs():
    import matplotlib
    from matplotlib.colors import to_hex

    for name in ("viridis", "magma", "RdBu_r"):
        cm = matplotlib.colormaps[name]
        want = [to_hex(cm(i / 255)) for i in range(256)]
        got = list(palette(name))
        # bokeh's 256-colour tables round matplotlib's floats to 8 bits the other way now and then: one unit
        assert max(max(abs(int(a[i:i + 2], 16) - int(b[i:i + 2], 16)) for i in (1, 3, 5))
                   for a, b in zip(got, want)) <= 1


def test_page_and_export_draw_the_same_description(figure):
    desc = figure.describe()
    mfig = to_matplotlib(figure)
    got = drawn(mfig)["plots"]
    assert [p["title"] for p in got] == [p["title"] for p in desc["plots"]]
    for g, d in zip(got, desc["plots"]):
        assert (g["x"], g["y"], g["xlog"], g["ylog"]) == (d["x"], d["y"], d["xlog"], d["ylog"])
        assert [c["label"] for c in g["colorbars"]] == [c["label"] for c in d["colorbars"]]   # every image: a bar
        for gc, dc in zip(g["colorbars"], d["colorbars"]):
            assert (gc["cmap"], gc["log"]) == (dc["cmap"], dc["log"])
            assert (gc["low"], gc["high"]) == pytest.approx((dc["low"], dc["high"]))
    assert got[1]["colorbars"][0]["low"] == -got[1]["colorbars"][0]["high"] == -0.5       # centred at zero
    view = BokehView(figure)
    for bfig, d in zip(view.figures, desc["plots"]):
        assert json.loads(bfig.tags[0]) == d
        assert bfig.xaxis[0].axis_label == d["x"] and bfig.yaxis[0].axis_label == d["y"]
        assert (type(bfig.y_scale).__name__ == "LogScale") == d["ylog"]
        bars = [r for r in bfig.right if type(r).__name__ in ("ColorBar",)]
        assert len(bars) == len(d["colorbars"]) or d["title"] == "g_r²"      # contour bars: bokeh's own kind
        for bar, dc in zip(bars, d["colorbars"]):
            assert list(bar.color_mapper.palette) == list(palette(dc["cmap"]))
            assert (bar.color_mapper.low, bar.color_mapper.high) == pytest.approx((dc["low"], dc["high"]))
            assert (type(bar.color_mapper).__name__ == "LogColorMapper") == dc["log"]


def test_nan_is_blank_and_legends_sit_outside(figure):
    view = BokehView(figure)
    img = view.figures[0].renderers[0].data_source.data["image"][0]
    assert np.isnan(img[0, 0])
    loss = view.figures[2]
    y = loss.renderers[0].data_source.data["y"]
    assert np.isnan(y[20:23]).all()
    assert any(type(r).__name__ == "Legend" for r in loss.right) and not any(
        type(r).__name__ == "Legend" for r in loss.center)
    assert any(type(r).__name__ == "Legend" for r in view.figures[3].below)
    ax = to_matplotlib(figure).axes[0]
    assert np.ma.is_masked(ax.images[0].get_array()[0, 0])


def test_update_in_place_or_rebuild(figure):
    view = BokehView(figure)
    before = view.figures
    new = Figure([Plot("f2", Axis("vx", "u"), Axis("vy", "u"),
                       [Image(np.ones((21, 21)), (-5.25, -5.25, 5.25, 5.25), ColorScale(log=True, label="f"))],
                       equal_aspect=True, width=200, height=200)]
                 + figure.plots[1:], ncols=3, name="kinds")
    assert view.update(new) and view.figures == before                  # same structure: same models
    assert before[0].title.text == "f2"
    assert np.all(before[0].renderers[0].data_source.data["image"][0] == 1.0)
    linear = new.with_plots([Plot("f3", Axis("vx"), Axis("vy"), [Image(np.ones((21, 21)), (0, 0, 1, 1))],
                                  equal_aspect=True)] + new.plots[1:])
    assert not view.update(linear) and view.figures[0] is not before[0]  # log -> linear colour: new models


def test_formats_render(figure):
    png = render(figure, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    from PIL import Image as PILImage

    meta = json.loads(PILImage.open(io.BytesIO(png)).text["Description"])
    assert [p["title"] for p in meta["plots"]] == [p.title for p in figure.plots]
    svg = render(figure, "svg")
    assert ET.fromstring(svg).tag.endswith("svg") and b"all kinds" in svg
    pdf = render(figure, "pdf")
    assert pdf[:5] == b"%PDF-"
    assert FORMATS == ("png", "svg", "pdf", "html")
    with pytest.raises(ValueError, match="format"):
        render(figure, "gif")


def test_html_is_standalone_and_offline(figure):
    html = render(figure, "html").decode()
    assert "<html" in html.lower() and "Bokeh" in html
    assert not re.search(r"<script[^>]*\ssrc=", html), "external script in the exported HTML"
    assert not re.search(r"<link[^>]*href=", html), "external stylesheet in the exported HTML"
    assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html
    assert to_html(figure) != ""


def test_export_buttons_render_what_the_page_shows(figure):
    import panel as pn

    view = FigureView(figure)
    row = export_buttons(lambda: view.fig, "my fig")
    assert [b.filename for b in row] == ["my-fig.png", "my-fig.svg", "my-fig.pdf", "my-fig.html"]
    assert "collop-export-png" in row[0].css_classes and "collop-export-my-fig-png" in row[0].css_classes
    assert row[0].callback().read(4) == b"\x89PNG"
    assert isinstance(view.pane, pn.GridBox) and len(view.pane) == 5
