"""The optimiser playground without a browser: its paths are torch.optim's, step for step, and obey
the update equations of the module's docstring; its defaults show four different paths; its static
view is self-contained, bounded in size and holds a picture of every surface; bad arguments are
refused. (The page's JavaScript is checked against torch.optim in tests/book/test_playground.py.)"""
import base64
import io
import itertools
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import kexue as kx
from kexue.optim import surfaces
from kexue.optim.figures.playground import (
    DEFAULT_LR,
    GRIDS,
    OPTIMISERS,
    UPDATE_RULES_JS,
    is_far,
    optimiser_playground,
    trajectories,
    trajectory,
)

NAMES = sorted(surfaces.SURFACES)
#: The static view's size bound: three palette PNGs and the page code (measured: about 120 kB).
MAX_HTML_BYTES = 160_000


def hyper(name, **changes):
    return {**DEFAULT_LR[name], "beta": 0.9, "rho": 0.999, "eps": 1e-8, "steps": 150, **changes}


@pytest.fixture(scope="module")
def static_html():
    return optimiser_playground().static_html()


@pytest.fixture(scope="module")
def payload(static_html):
    return json.loads(re.search(r'<script type="application/json" class="kx-data">(.*?)</script>',
                                static_html, re.S).group(1))


# -- the paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_paths_are_torch_optim_step_for_step(name):
    """An independent loop over torch.optim (the calls written out here) gives the same floats;
    a rate past the stability limit makes a path stop where torch's next point is far away."""
    surface = surfaces.get(name)
    unstable = {"quadratic": 0.15, "rosenbrock": 0.005, "himmelblau": 0.05}[name]
    diverged_somewhere = False
    for h in (hyper(name), hyper(name, lr=unstable, beta=0.5, rho=0.9, eps=0.1, steps=60)):
        got = trajectories(name, **h)
        makers = {
            "sgd": lambda p: torch.optim.SGD(p, lr=h["lr"]),
            "momentum": lambda p: torch.optim.SGD(p, lr=h["lr"], momentum=h["beta"]),
            "rmsprop": lambda p: torch.optim.RMSprop(p, lr=h["lr_adaptive"], alpha=h["rho"], eps=h["eps"]),
            "adam": lambda p: torch.optim.Adam(p, lr=h["lr_adaptive"], betas=(h["beta"], h["rho"]),
                                               eps=h["eps"]),
        }
        assert list(got) == list(makers)
        for key, make in makers.items():
            theta = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
            optimiser, points = make([theta]), [surface.start]
            for _ in range(h["steps"]):
                optimiser.zero_grad()
                surface(theta).backward()
                optimiser.step()
                points.append(tuple(theta.tolist()))
            points = np.array(points)
            finite_and_near = [not is_far(surface, *p) for p in points]
            n = finite_and_near.index(False) if False in finite_and_near else len(points)
            assert got[key].diverged == (n < len(points)), key
            np.testing.assert_array_equal(got[key].points, points[:n], err_msg=key)
            diverged_somewhere |= got[key].diverged
    assert diverged_somewhere


def test_paths_follow_the_update_equations():
    """The equations in the module's docstring, in NumPy float64, with eps large enough (0.3) that
    where it enters (after the square root of the bias-corrected second moment) shows."""
    for name in NAMES:
        surface, h = surfaces.get(name), hyper(name, beta=0.8, rho=0.95, eps=0.3, steps=40)
        got = trajectories(name, **h)
        grad = lambda p: np.array(surface.gradient(*p), dtype=float)  # noqa: E731
        rules = {key: [] for key in OPTIMISERS}
        p = np.array(surface.start)
        for _ in range(h["steps"]):
            p = p - h["lr"] * grad(p)
            rules["sgd"].append(p)
        p, v = np.array(surface.start), np.zeros(2)
        for _ in range(h["steps"]):
            v = h["beta"] * v + grad(p)
            p = p - h["lr"] * v
            rules["momentum"].append(p)
        p, s = np.array(surface.start), np.zeros(2)
        for _ in range(h["steps"]):
            g = grad(p)
            s = h["rho"] * s + (1 - h["rho"]) * g ** 2
            p = p - h["lr_adaptive"] * g / (np.sqrt(s) + h["eps"])
            rules["rmsprop"].append(p)
        p, m, s = np.array(surface.start), np.zeros(2), np.zeros(2)
        for t in range(1, h["steps"] + 1):
            g = grad(p)
            m = h["beta"] * m + (1 - h["beta"]) * g
            s = h["rho"] * s + (1 - h["rho"]) * g ** 2
            m_hat, s_hat = m / (1 - h["beta"] ** t), s / (1 - h["rho"] ** t)
            p = p - h["lr_adaptive"] * m_hat / (np.sqrt(s_hat) + h["eps"])
            rules["adam"].append(p)
        for key, path in rules.items():
            assert not got[key].diverged
            np.testing.assert_allclose(got[key].points[1:], np.array(path), rtol=0, atol=1e-10,
                                       err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", NAMES)
def test_defaults_show_four_different_paths(name):
    """At the defaults no path diverges, each moves, and any two are apart somewhere by 0.2 at
    least (the view boxes are 4 to 10 wide)."""
    paths = trajectories(name, **hyper(name))
    for key, (points, diverged) in paths.items():
        assert not diverged and len(points) == 151, key
        assert np.linalg.norm(points[-1] - points[0]) > 0.3, key
    for a, b in itertools.combinations(paths, 2):
        assert np.abs(paths[a].points - paths[b].points).max() > 0.2, (a, b)


# -- the static view ---------------------------------------------------------------------------
def test_static_view_is_self_contained_and_bounded(static_html):
    assert len(static_html.encode()) < MAX_HTML_BYTES, len(static_html.encode())
    assert not re.search(r"https?://", static_html)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<iframe\b|@import|url\(", static_html)
    assert re.search(r'class="kx-playground"[^>]*data-kind="optimiser-playground"', static_html)
    assert "kx-widget" not in static_html  # the slider-figure checks select that class
    assert static_html.count(UPDATE_RULES_JS) == 1
    assert static_html.count('type="range"') == len(GRIDS) and "<canvas" in static_html


def test_every_surface_has_its_picture_with_the_exact_axis_box(payload):
    assert sorted(payload["surfaces"]) == NAMES
    for name, entry in payload["surfaces"].items():
        surface = surfaces.get(name)
        assert entry["xlim"] == list(surface.xlim) and entry["ylim"] == list(surface.ylim)
        assert entry["gradient"] == surface.javascript["gradient"]
        image = Image.open(io.BytesIO(base64.b64decode(entry["png"])))
        assert image.mode == "P" and len(image.getcolors()) <= 64
        assert image.size == (entry["width"], entry["height"])
        left, top, right, bottom = entry["box"]
        assert 0 < left < right < image.width and 0 < top < bottom < image.height
        rgb = np.asarray(image.convert("RGB"), dtype=float)
        # the minima are drawn as gold stars: their centres land where the box maps them
        for x, y in surface.minima:
            col = left + (x - surface.xlim[0]) / (surface.xlim[1] - surface.xlim[0]) * (right - left)
            row = bottom - (y - surface.ylim[0]) / (surface.ylim[1] - surface.ylim[0]) * (bottom - top)
            r, g, b = rgb[int(round(row)), int(round(col))]
            assert r > 200 and g > 160 and b < 80, (name, (x, y), (r, g, b))
        # the axes frame (black spines) runs along the box's edges
        mid_row, mid_col = int((top + bottom) / 2), int((left + right) / 2)
        assert rgb[mid_row, int(round(left)) - 1: int(round(left)) + 1].min() < 60
        assert rgb[int(round(bottom)) - 1: int(round(bottom)) + 1, mid_col].min() < 60


def test_sliders_start_at_the_given_values_and_hold_them():
    pg = optimiser_playground("quadratic", lr=0.0123, beta=0.5, rho=0.9, eps=0.001, steps=77)
    assert pg.values == {"lr": 0.0123, "lr_adaptive": DEFAULT_LR["quadratic"]["lr_adaptive"],
                         "beta": 0.5, "rho": 0.9, "eps": 0.001, "steps": 77}
    html = pg.static_html()
    assert re.search(r'<option value="quadratic" selected>', html)
    data = json.loads(re.search(r'class="kx-data">(.*?)</script>', html, re.S).group(1))
    grids = {s["name"]: s["grid"] for s in data["sliders"]}
    assert 0.0123 in grids["lr"] and 77 in grids["steps"]
    values = dict(zip(grids, (int(v) for v in re.findall(r'class="kx-slider" data-k="\d" min="0" '
                                                         r'max="\d+" step="1" value="(\d+)"', html))))
    assert {k: grids[k][i] for k, i in values.items()} == pg.values


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(surface="bowl"), ValueError, "unknown surface 'bowl'"),
    (dict(surface=3), ValueError, "unknown surface 3"),
    (dict(lr=0.0), ValueError, "lr must be positive"),
    (dict(lr=-1e-3), ValueError, "lr must be positive"),
    (dict(lr="0.1"), TypeError, "lr must be a real number"),
    (dict(lr_adaptive=0), ValueError, "lr_adaptive must be positive"),
    (dict(lr=5.0), ValueError, r"lr must be in \[1e-05, 1\]"),
    (dict(steps=0), ValueError, "steps must be a positive int"),
    (dict(steps=2.5), ValueError, "steps must be a positive int"),
    (dict(steps=5000), ValueError, "steps must be at most 1000"),
    (dict(beta=1.0), ValueError, r"beta must be in \[0, 1\)"),
    (dict(beta=-0.1), ValueError, r"beta must be in \[0, 1\)"),
    (dict(rho=1.0), ValueError, r"rho must be in \[0, 1\)"),
    (dict(eps=0.0), ValueError, "eps must be positive"),
    (dict(eps=float("nan")), ValueError, "eps must be finite"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        optimiser_playground(**kwargs)


def test_trajectories_refuse_bad_arguments():
    with pytest.raises(ValueError, match="unknown surface"):
        trajectories("bowl", **hyper("quadratic"))
    with pytest.raises(ValueError, match="unknown optimiser 'lbfgs'"):
        trajectory("quadratic", "lbfgs", **hyper("quadratic"))
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\)"):
        trajectories("quadratic", **hyper("quadratic", rho=1.5))


# -- the live view -----------------------------------------------------------------------------
def test_bundle_offers_the_static_view_and_the_live_widget():
    assert kx.optim.figures.playground.optimiser_playground is optimiser_playground
    pg = optimiser_playground("himmelblau", steps=10)
    bundle = pg._repr_mimebundle_()
    assert 'data-kind="optimiser-playground"' in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("<OptimiserPlayground: himmelblau")


def test_figure_draws_and_labels_the_four_paths():
    fig = optimiser_playground("quadratic", lr=0.15, steps=30).figure()
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert [t.split(":")[0] for t in texts] == [label for label, _ in OPTIMISERS.values()]
    assert texts[0].startswith("SGD: diverged at step") and "after 30 steps" in texts[3]


def test_live_widget_redraws_and_a_new_surface_brings_its_rates(monkeypatch):
    pg = optimiser_playground("quadratic", steps=5)
    drawn = []
    original = pg.figure
    monkeypatch.setattr(pg, "figure", lambda surface, **values: drawn.append((surface, values))
                        or original(surface, **values))
    live = pg.widget()
    choose, controls = live.children[0], dict(zip(GRIDS, live.children[1:-1]))
    assert drawn == [("quadratic", pg.values)]  # the first picture is drawn at once
    controls["beta"].value = 0.5
    assert drawn[-1] == ("quadratic", {**pg.values, "beta": 0.5}) and len(drawn) == 2
    choose.value = "rosenbrock"
    assert len(drawn) == 3  # one redraw, with the new surface's learning rates
    assert drawn[-1] == ("rosenbrock", {**pg.values, "beta": 0.5, **DEFAULT_LR["rosenbrock"]})
