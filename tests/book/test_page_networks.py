"""The page's network code (``kexueNet``, :data:`kexue.widgets.page_networks.NETWORK_JS`) in
headless Chromium, offline: on a network holding every layer type the page knows, on convolutions
of every stride, padding and output padding, and on Part V's image generator (batch norms with set
statistics, folded), its outputs are the NumPy reference's (:func:`decode_exported`, the same
float16 weights) to 1e-4 and the float32 torch module's (eval mode) to 0.02; a generator image
takes a few milliseconds; nothing is logged as an error."""
import json
import statistics

import numpy as np
import torch
from torch import nn

from kexue.gans.networks import image_generator
from kexue.widgets.page_networks import NETWORK_JS, decode_exported, export_network

#: The page's float64 arithmetic against NumPy's on the same float16 weights (only the order of
#: the sums differs, then both round to float32).
REFERENCE_TOL = 1e-4
#: The page's float16 weights against the float32 torch module (measured: about 1e-4).
TORCH_TOL = 0.02


def with_statistics(net: nn.Sequential, seed: int) -> nn.Sequential:
    """``net`` in eval mode, its batch norms given running statistics and affine parameters far
    from the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)
    return net.eval()


def networks() -> dict[str, nn.Sequential]:
    torch.manual_seed(0)
    every_layer = nn.Sequential(
        nn.Linear(5, 3 * 6 * 5), nn.BatchNorm1d(90), nn.LeakyReLU(0.1), nn.Unflatten(1, (3, 6, 5)),
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ELU(0.5),
        nn.Sequential(nn.ConvTranspose2d(4, 2, (3, 4), stride=(2, 3), padding=(1, 2),
                                         output_padding=(1, 2)), nn.BatchNorm2d(2), nn.SiLU(),
                      nn.Identity()),
        nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=(0, 1), bias=False), nn.Tanh(),
        nn.Flatten(), nn.Linear(60, 20, bias=False), nn.ReLU(), nn.Linear(20, 12), nn.Sigmoid())
    nets = {"every layer": every_layer, "generator": image_generator(64, 32)}
    for k, conv in enumerate([
            nn.Conv2d(3, 4, 4, stride=2, padding=3),
            nn.Conv2d(3, 4, (2, 5), stride=(2, 1), padding=(1, 2), bias=False),
            nn.ConvTranspose2d(3, 4, (3, 2), stride=(3, 2), padding=(2, 0), output_padding=(2, 1)),
            nn.ConvTranspose2d(3, 4, 2, stride=3, output_padding=2, bias=False),
            nn.ConvTranspose2d(3, 4, 5, stride=2, padding=3)]):
        nets[f"conv {k}"] = nn.Sequential(nn.Linear(4, 90), nn.Unflatten(1, (3, 5, 6)), conv)
    return {name: with_statistics(net, k) for k, (name, net) in enumerate(nets.items())}


#: JS: each network decodes its codes; the outputs, and the generator's decode times.
RUN = """(zs) => {
  const out = {}, times = [];
  for (const name in window.payloads) {
    const decode = kexueNet(window.payloads[name]);
    out[name] = zs[name].map(z => Array.from(decode(z)));
    if (name === 'generator') {
      for (let i = 0; i < 50; i++) {
        const z = zs[name][i % zs[name].length], t0 = performance.now();
        decode(z);
        times.push(performance.now() - t0);
      }
    }
  }
  return {out, times};
}"""


def test_page_runs_every_layer_and_the_generator(standalone_page):
    nets = networks()
    payloads = {name: export_network(net) for name, net in nets.items()}
    g = torch.Generator().manual_seed(1)
    zs = {name: (torch.randn(6, p["latent_dim"], generator=g) * 1.5).double().numpy()
          for name, p in payloads.items()}
    data = json.dumps(payloads).replace("</", "<\\/")  # nothing in it may close the <script>
    body = f"<script>{NETWORK_JS}</script><script>window.payloads = {data};</script>"
    page = standalone_page(body, "networks")
    result = page.evaluate(RUN, {name: z.tolist() for name, z in zs.items()})
    for name, net in nets.items():
        got = np.array(result["out"][name]).reshape(len(zs[name]), *payloads[name]["output_shape"])
        reference = decode_exported(payloads[name], zs[name])
        with torch.no_grad():
            by_torch = net(torch.as_tensor(zs[name], dtype=torch.float32)).numpy()
        vs_reference, vs_torch = np.abs(got - reference).max(), np.abs(got - by_torch).max()
        print(f"{name}: page {vs_reference:.2g} from the NumPy reference, {vs_torch:.2g} from torch")
        assert vs_reference < REFERENCE_TOL, name
        assert vs_torch < TORCH_TOL, name
        assert np.ptp(got) > 0.05, name  # a network's outputs, not constants
    decode = statistics.median(result["times"])
    print(f"image_generator(64, 32) in the page: one image in {decode:.2f} ms (median of 50, "
          f"min {min(result['times']):.2f} ms)")
    assert decode < 20
    assert not page.kexue_problems and not page.kexue_blocked
