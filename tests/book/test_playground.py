"""The optimiser playground's static view in headless Chromium, with the network cut off: its
JavaScript update rules give torch.optim's float64 paths to 1e-9 on every surface, its canvas
redraws as the controls move (and comes back when they do), a redraw is fast, and nothing is
logged as an error; then the same in the built book."""
import statistics

import numpy as np
import pytest
import torch

from kexue.optim import surfaces
from kexue.optim.figures.playground import (
    DEFAULT_LR,
    OPTIMISERS,
    UPDATE_RULES_JS,
    is_far,
    optimiser_playground,
)

ROOT_JS = "document.querySelector('.kx-playground')"

#: The torch.optim call behind each path, written out here independently of the module.
REFERENCE = {
    "sgd": lambda p, h: torch.optim.SGD(p, lr=h["lr"]),
    "momentum": lambda p, h: torch.optim.SGD(p, lr=h["lr"], momentum=h["beta"]),
    "rmsprop": lambda p, h: torch.optim.RMSprop(p, lr=h["lr_adaptive"], alpha=h["rho"], eps=h["eps"]),
    "adam": lambda p, h: torch.optim.Adam(p, lr=h["lr_adaptive"], betas=(h["beta"], h["rho"]), eps=h["eps"]),
}

#: The playground's own defaults, set before each setting (the surface sets the learning rates).
BASE = dict(beta=0.9, rho=0.999, eps=1e-8, steps=150)

#: Settings per surface: the defaults; beta <= 0.5 (the other branch of torch's lerp); beta = 0;
#: rho = 0 and a large eps; beta and rho near 1; rates at which some paths diverge. Each step of the
#: page agrees with torch to about an ulp, not bitwise (torch's CPU kernels fuse some multiply-adds,
#: JavaScript cannot), so these settings avoid chaotic dynamics, where any two float64
#: implementations part: Adam with rho = 0 on Rosenbrock turns a 1e-16 difference into O(1) within
#: 300 steps. Measured over these settings: at most 2e-12.
SETTINGS = {
    "quadratic": [{}, dict(beta=0.3, rho=0.0, eps=1.0, steps=300), dict(beta=0.0, rho=0.9, eps=1e-10),
                  dict(lr=0.15, lr_adaptive=0.5, beta=0.99, rho=0.9999, steps=200)],
    "rosenbrock": [{}, dict(lr=0.003, lr_adaptive=0.1, beta=0.5, rho=0.9, eps=0.01, steps=300),
                   dict(beta=0.0, rho=0.99, steps=250),
                   dict(lr=0.0007, lr_adaptive=0.01, beta=0.95, rho=0.99, eps=1e-10, steps=300),
                   dict(lr=0.005, lr_adaptive=0.3, beta=0.99, rho=0.9999, steps=200)],
    "himmelblau": [{}, dict(beta=0.3, rho=0.0, eps=1.0, steps=300), dict(beta=0.0, rho=0.95, eps=1e-10),
                   dict(lr=0.03, lr_adaptive=0.7, beta=0.98, rho=0.9999, steps=200),
                   dict(lr=0.05, lr_adaptive=1.0, beta=0.8, rho=0.99, steps=100)],
}

#: JS: set the surface (when given; this resets the learning rates to its defaults) and then each
#: named slider to the grid value equal to the one given, firing the events a reader's hand fires.
SET_CONTROLS = """([surface, values]) => {
  const root = %s, data = JSON.parse(root.querySelector('.kx-data').textContent);
  if (surface !== null) {
    const select = root.querySelector('select.kx-surface');
    select.value = surface;
    select.dispatchEvent(new Event('change', {bubbles: true}));
  }
  const inputs = root.querySelectorAll('input.kx-slider');
  for (const [name, value] of Object.entries(values)) {
    const k = data.sliders.findIndex(s => s.name === name);
    const i = data.sliders[k].grid.indexOf(value);
    if (i < 0) throw new Error(name + ' = ' + value + ' is not on its grid');
    inputs[k].value = String(i);
    inputs[k].dispatchEvent(new Event('input', {bubbles: true}));
  }
  return {paths: root.kexuePaths, diverged: root.kexueDiverged, params: root.kexueParams};
}""" % ROOT_JS


def torch_paths(surface, h):
    """Each optimiser's float64 torch.optim path from the surface's start, cut where it diverges."""
    out = {}
    for name, make in REFERENCE.items():
        theta = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
        optimiser = make([theta], h)
        points, diverged = [list(surface.start)], False
        for _ in range(int(h["steps"])):
            optimiser.zero_grad()
            surface(theta).backward()
            optimiser.step()
            x, y = theta.tolist()
            if is_far(surface, x, y):
                diverged = True
                break
            points.append([x, y])
        out[name] = (np.array(points), diverged)
    return out


def wait_ready(page):
    page.wait_for_function(f"() => {ROOT_JS} && {ROOT_JS}.dataset.ready === '1'")


def canvas_png(page) -> str:
    return page.evaluate(f"() => {ROOT_JS}.querySelector('canvas.kx-canvas').toDataURL()")


@pytest.fixture(scope="module")
def playground_html():
    return optimiser_playground().static_html()


@pytest.fixture
def page(standalone_page, playground_html):
    """The playground alone in an offline local page (see ``standalone_page``)."""
    page = standalone_page(playground_html, "playground")
    wait_ready(page)
    return page


@pytest.mark.parametrize("surface_name", sorted(surfaces.SURFACES))
def test_javascript_paths_equal_torch_optim(page, surface_name):
    surface, diverged_somewhere = surfaces.get(surface_name), False
    for setting in SETTINGS[surface_name]:
        state = page.evaluate(SET_CONTROLS, [surface_name, {**BASE, **setting}])
        # (a JavaScript 0 comes back as a Python int)
        h = {k: v if k == "surface" else float(v) for k, v in state["params"].items()}
        assert h["surface"] == surface_name
        assert {k: h[k] for k in {**BASE, **setting}} == {**BASE, **setting}
        for key in ("lr", "lr_adaptive"):  # the surface's defaults unless set
            assert h[key] == setting.get(key, DEFAULT_LR[surface_name][key])
        for name, (expected, diverged) in torch_paths(surface, h).items():
            got = np.array(state["paths"][name])
            where = f"{surface_name} {setting} {name}"
            assert state["diverged"][name] == diverged, where
            assert got.shape == expected.shape, f"{where}: {got.shape} vs {expected.shape}"
            assert np.abs(got - expected).max() < 1e-9, f"{where}: {np.abs(got - expected).max():.3g}"
            diverged_somewhere |= diverged
    assert diverged_somewhere, "no setting exercised the divergence rule"
    assert page.kexue_problems == [] and page.kexue_blocked == [], page.kexue_problems + page.kexue_blocked


def test_divergence_is_marked_in_the_legend(page):
    state = page.evaluate(SET_CONTROLS, ["quadratic", dict(lr=0.15, steps=150)])
    assert state["diverged"]["sgd"] and not state["diverged"]["adam"]
    legend = {o: page.evaluate(f"() => {ROOT_JS}.querySelector('[data-opt=\"{o}\"]').textContent")
              for o in OPTIMISERS}
    assert f"diverged at step {len(state['paths']['sgd'])}" in legend["sgd"], legend
    assert "L = " in legend["adam"] and "after 150 steps" in legend["adam"], legend


def test_canvas_redraws_as_controls_move_and_comes_back(page):
    original = canvas_png(page)
    start = page.evaluate(f"() => {ROOT_JS}.kexueParams")
    for name, other in (("lr", 0.0005), ("beta", 0.5), ("rho", 0.9), ("eps", 0.1), ("steps", 20),
                        ("lr_adaptive", 0.01)):
        page.evaluate(SET_CONTROLS, [None, {name: other}])
        moved = canvas_png(page)
        assert moved != original, f"moving {name} left the picture as it was"
        page.evaluate(SET_CONTROLS, [None, {name: start[name]}])
        assert canvas_png(page) == original, f"moving {name} back did not restore the picture"
    pictures = set()
    for name in sorted(surfaces.SURFACES):
        page.evaluate(SET_CONTROLS, [name, {}])
        wait_ready(page)
        pictures.add(canvas_png(page))
    assert len(pictures) == 3
    assert page.kexue_problems == [] and page.kexue_blocked == [], page.kexue_problems + page.kexue_blocked


def test_a_redraw_of_200_steps_takes_well_under_50_ms(page):
    """Paths, canvas and legend for 4 optimisers x 200 steps, timed from the input event's handler
    to pixels read back from the canvas (which forces the deferred drawing to be done)."""
    page.evaluate(SET_CONTROLS, ["rosenbrock", {"steps": 200}])
    times = page.evaluate(f"""() => {{
      const root = {ROOT_JS}, ctx = root.querySelector('canvas.kx-canvas').getContext('2d'), times = [];
      for (let i = 0; i < 40; i++) {{
        const t0 = performance.now();
        root.kexueRedraw();
        ctx.getImageData(0, 0, 1, 1);
        times.push(performance.now() - t0);
      }}
      return times;
    }}""")
    median = statistics.median(times)
    print(f"redraw, 4 optimisers x 200 steps: median {median:.2f} ms, max {max(times):.2f} ms")
    assert median < 25, f"median redraw {median:.1f} ms"


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_update_rules_stop_where_the_gradient_is_not_finite(browser, bad):
    """The gradient is 1 (every optimiser steps towards -x) until x < -0.5, then ``bad``: each
    path ends at its last finite point, marked diverged."""
    page = browser.new_page()
    try:
        result = page.evaluate("(() => {" + UPDATE_RULES_JS + """
          return kexueOptimiserPaths((x, y) => [x < -0.5 ? %s : 1, 0], [0, 0],
            {lr: 0.2, lr_adaptive: 0.2, beta: 0.9, rho: 0.99, eps: 1e-8, steps: 50},
            {xlim: [-1, 1], ylim: [-1, 1], far: 10}); })()""" % bad)
    finally:
        page.close()
    assert all(result["diverged"].values()), result["diverged"]
    for name, path in result["paths"].items():
        path = np.array(path)
        assert np.isfinite(path).all() and path[-1, 0] < -0.5 and (path[:-1, 0] >= -0.5).all(), name


def test_the_playground_in_the_built_book(offline_page, html_dir):
    """The built book (the lead embeds the playground in a chapter): each page holding it loads
    offline without errors, and its canvas redraws when a slider moves."""
    docs = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if 'data-kind="optimiser-playground"' in p.read_text(encoding="utf-8", errors="replace"))
    assert docs, "no page of the built book holds the optimiser playground"
    for doc in docs:
        page = offline_page
        page.goto(f"{page.kexue_base}/{doc}", wait_until="load")
        wait_ready(page)
        before = canvas_png(page)
        page.evaluate(SET_CONTROLS, [None, {"steps": 20}])
        assert canvas_png(page) != before, doc
        assert page.kexue_blocked == [], f"{doc}: requests outside the book: {page.kexue_blocked}"
        assert page.kexue_problems == [], "\n".join(page.kexue_problems)
