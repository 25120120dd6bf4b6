"""The flow explorer's static view in headless Chromium, offline: the page runs the flow's inverse
itself; for whatever temperature, draws, pair and t the reader picks, its pixels are the NumPy
reference's (:func:`run_program`, the same float16 weights) to 1e-4 and the float32 torch
flow's to 0.02; nothing is logged as an error. Then the same on the NICE page of the built book,
against the published page model."""
import numpy as np
import pytest
import torch

from kexue.flows import figures, nice
from kexue.widgets.flow_explorer import SAMPLES, run_program

#: The page's float64 arithmetic against NumPy's on the same float16 weights.
REFERENCE_TOL = 1e-4
#: The page's float16 weights against the float32 torch flow.
TORCH_TOL = 0.02

ROOT = "document.querySelector('.kx-widget[data-kind=\"flow-explorer\"]')"
STATE = """(root) => ({eps: root.kxFlow.eps.map(e => Array.from(e)), T: root.kxFlow.temperature,
  samples: root.kxFlow.samples.map(s => Array.from(s)), pair: root.kxFlow.pair, t: root.kxFlow.t,
  path: Array.from(root.kxFlow.path)})"""
SET = """([root, selector, value, event]) => {
  const input = root.querySelector(selector);
  input.value = String(value);
  input.dispatchEvent(new Event(event, {bubbles: true}));
}"""


def _check(page, program, inverse, codes):
    root = page.evaluate_handle(f"() => {ROOT}")
    state = page.evaluate(STATE, root)
    eps = np.array(state["eps"])
    assert eps.shape == (SAMPLES, program["dim"])
    expected = run_program(program, state["T"] * eps)
    assert np.abs(np.array(state["samples"]) - expected).max() < REFERENCE_TOL
    with torch.no_grad():
        torch_x = inverse(torch.as_tensor(state["T"] * eps, dtype=torch.float32)).numpy()
    assert np.abs(np.array(state["samples"]) - torch_x).max() < TORCH_TOL
    a, b = codes[state["pair"]]
    z = (1 - state["t"]) * a + state["t"] * b
    path = np.array(state["path"])
    assert np.abs(path - run_program(program, z)).max() < 20 * REFERENCE_TOL  # float16 codes
    with torch.no_grad():
        assert np.abs(path - inverse(torch.as_tensor(z, dtype=torch.float32)[None])[0].numpy()
                      ).max() < TORCH_TOL
    return root, state


def _exercise(page, program, inverse, codes):
    root, first = _check(page, program, inverse, codes)
    page.evaluate(SET, [root, "input.kx-temperature", 0.35, "input"])
    _, moved = _check(page, program, inverse, codes)
    assert moved["T"] == pytest.approx(0.35) and moved["eps"] == first["eps"]
    page.click(".kx-flow-explorer button.kx-redraw")
    _, fresh = _check(page, program, inverse, codes)
    assert fresh["eps"] != first["eps"]
    page.evaluate(SET, [root, "input.kx-path", 0.75, "input"])
    if len(codes) > 1:
        page.evaluate(SET, [root, "select.kx-pair", 1, "change"])
    _, walked = _check(page, program, inverse, codes)
    assert walked["t"] == pytest.approx(0.75) and walked["pair"] == min(1, len(codes) - 1)
    assert not page.kexue_problems


def test_standalone_explorer_runs_the_flow_inverse(standalone_page):
    flow = nice.nice(784, hidden=48, depth=2, seed=1).eval()
    with torch.no_grad():
        for p in flow.flows[-1].parameters():
            p.add_(1.0)       # a scale far from the identity
    x = torch.rand(4, 784, generator=torch.Generator().manual_seed(2))
    explorer = figures.explorer(flow, x, [(0, 1), (2, 3)])
    page = standalone_page(explorer.static_html(), "flow")
    page.wait_for_function(f"() => {ROOT} && {ROOT}.dataset.ready === '1'")
    codes = [(a.astype(np.float16).astype(np.float64), b.astype(np.float16).astype(np.float64))
             for a, b in explorer.pairs]
    _exercise(page, figures.inverse_program(flow), lambda z: flow.inverse(z), codes)
    assert not page.kexue_blocked


def test_nice_page_explorer_runs_the_published_page_model(offline_page, html_dir):
    from kexue.flows.experiments import full_run

    shown = full_run()
    if shown is None:
        pytest.skip("no committed nice-mnist full record: the page shows its quick model")
    path = html_dir / "chapters" / "part4-flows" / "nice.html"
    offline_page.goto(f"{offline_page.kexue_base}/chapters/part4-flows/nice.html")
    offline_page.wait_for_function(f"() => {ROOT} && {ROOT}.dataset.ready === '1'")
    flow = shown["page_model"]
    program = figures.inverse_program(flow)
    html = path.read_text()
    assert html.count('data-kind="flow-explorer"') == 1
    n = offline_page.evaluate(f"() => {ROOT}.querySelectorAll('select.kx-pair option').length")
    codes = offline_page.evaluate(
        f"() => JSON.parse({ROOT}.querySelector('.kx-data').textContent).pairs")
    from kexue.widgets.page_networks import _unf16

    codes = [(_unf16(c["a"], 784, "a"), _unf16(c["b"], 784, "b")) for c in codes]
    assert len(codes) == n
    _exercise(offline_page, program, lambda z: flow.inverse(z), codes)
