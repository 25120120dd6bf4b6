"""The flow explorer (kexue.widgets.flow_explorer) without a browser: its program runs NICE's
inverse (NumPy reference against torch), its static view is self-contained, its live view redraws
from torch, and bad input is refused. The page's JavaScript is held to the reference in
tests/book/test_flow_explorer.py."""
import json

import numpy as np
import pytest
import torch

from kexue.flows import figures, nice
from kexue.generative.flow import Flow
from kexue.widgets.flow_explorer import FORMAT, FlowExplorer, flow_explorer, run_program


def small_flow(seed=0, halve=True):
    """A NICE with every kind of step: both partitions, both sides moved, both signs."""
    from torch import nn

    torch.manual_seed(seed)
    dim = 16

    def net():
        return nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 8), nn.Tanh())

    flow = nice.FlowSequence([
        nice.Reverse(dim),
        nice.AdditiveCoupling(dim, net(), partition="interleaved", sign=-1),
        nice.AdditiveCoupling(dim, net(), partition="halves", moved="first"),
        nice.AdditiveCoupling(dim, net(), partition="interleaved", moved="first", sign=-1),
        nice.DiagonalScale(dim, seed=seed)]).eval()
    if halve:   # weights that float16 holds exactly: the program is then the torch flow
        with torch.no_grad():
            for p in flow.parameters():
                p.copy_(p.half().float())
    return flow


def test_program_is_the_torch_inverse():
    flow = small_flow().double()
    z = torch.randn(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = flow.inverse(z).float().numpy()
    got = run_program(figures.inverse_program(flow), z.numpy())
    assert np.abs(got - expected).max() < 1e-6
    assert run_program(figures.inverse_program(flow), z[0].numpy()).shape == (16,)


def test_program_of_a_float32_flow_stays_close():
    flow = small_flow(halve=False)
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = flow.inverse(z).numpy()
    assert np.abs(run_program(figures.inverse_program(flow), z.numpy()) - expected).max() < 0.02


def test_static_view_is_self_contained():
    flow = small_flow()
    codes = torch.randn(4, 16)
    explorer = flow_explorer(lambda z: flow.inverse(z), figures.inverse_program(flow),
                             pairs=[(codes[0], codes[1]), (codes[2], codes[3])],
                             names=["a", "b"], title="t")
    page = explorer.static_html()
    for needle in ("kexueFlowInverse", "kexueNet", "kexueNormal", 'class="kx-temperature"',
                   'class="kx-path"', '<option value="1">b</option>'):
        assert needle in page
    assert "http" not in page and "src=" not in page    # nothing to fetch
    data = json.loads(page.split('class="kx-data">')[1].split("</script>")[0])
    assert data["program"]["format"] == FORMAT and len(data["pairs"]) == 2
    assert repr(explorer) == "<FlowExplorer: 4x4 images, 2 pairs, 5 steps>"
    assert "text/html" in explorer._repr_mimebundle_()


def test_live_view_redraws_from_torch():
    flow = small_flow()
    calls = []

    def inverse(z):
        calls.append(z.clone())
        return flow.inverse(z)

    codes = torch.randn(2, 16)
    box = FlowExplorer(inverse, figures.inverse_program(flow), pairs=[(codes[0], codes[1])]).widget()
    kx = box.kx
    before = [c.value for c in kx.cells]
    calls.clear()
    kx.temperature.value = 0.3
    assert len(calls) == 1 and torch.allclose(calls[0], torch.as_tensor(
        0.3 * kx.state["eps"], dtype=torch.float32))
    assert [c.value for c in kx.cells] != before
    kx.t.value = 0.0
    ends = calls[-1]
    assert torch.allclose(ends[0], codes[0]) and torch.allclose(ends[1], codes[0])
    kx.redraw.click()
    assert len(calls) == 3


def test_bad_input_is_refused():
    flow = small_flow()
    program = figures.inverse_program(flow)
    codes = torch.randn(2, 16)
    pairs = [(codes[0], codes[1])]
    with pytest.raises(TypeError, match="inverse must be callable"):
        FlowExplorer(None, program, pairs=pairs)
    with pytest.raises(ValueError, match="program must be a dict"):
        FlowExplorer(flow.inverse, {"format": "x"}, pairs=pairs)
    with pytest.raises(ValueError, match="unknown type"):
        FlowExplorer(flow.inverse, {**program, "steps": [{"type": "rotate"}]}, pairs=pairs)
    with pytest.raises(ValueError, match="at least one"):
        FlowExplorer(flow.inverse, program, pairs=[])
    with pytest.raises(ValueError, match="16 entries"):
        FlowExplorer(flow.inverse, program, pairs=[(codes[0], codes[1][:4])])
    with pytest.raises(ValueError, match="float16 range"):
        FlowExplorer(flow.inverse, program, pairs=[(codes[0] * 1e6, codes[1])])
    with pytest.raises(ValueError, match="non-finite"):
        FlowExplorer(flow.inverse, program, pairs=[(codes[0] * np.nan, codes[1])])
    with pytest.raises(ValueError, match="temperature must be"):
        FlowExplorer(flow.inverse, program, pairs=pairs, temperature=2.0)
    with pytest.raises(ValueError, match="names must be 1 strings"):
        FlowExplorer(flow.inverse, program, pairs=pairs, names=["a", "b"])
    with pytest.raises(ValueError, match="z must be finite"):
        run_program(program, np.full(16, np.nan))
    with pytest.raises(TypeError, match="NICE's layers only"):
        figures.inverse_program(nice.FlowSequence([nice.Reverse(4), _Other(4)]))


class _Other(Flow):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
