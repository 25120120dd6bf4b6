"""The networks the static pages run (kexue.widgets.page_networks) without a browser: for every
layer the page knows, the NumPy reference (:func:`decode_exported`, in float64) is the torch module
in eval mode on the float16-rounded weights to 1e-9; batch norms fold into the layer before them
exactly (on statistics float16 holds after folding) and within float16 rounding otherwise; the
payload records the shapes; every network the page cannot run is refused with the layer named.
(The page's JavaScript is held to this reference in tests/book/test_page_networks.py.)"""
import base64
import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from kexue.gans.networks import image_generator
from kexue.widgets.latent_explorer import DECODER_JS, export_decoder
from kexue.widgets.latent_explorer import FORMAT as DECODER_FORMAT
from kexue.widgets.latent_explorer import decode_exported as decode_decoder
from kexue.widgets.page_networks import (
    FORMAT,
    NETWORK_JS,
    check_network,
    conv_output_size,
    conv_taps,
    decode_exported,
    export_network,
)

#: The NumPy reference against torch on the same float16 weights, both in float64.
EXACT = 1e-9


@pytest.fixture(autouse=True)
def _seeded():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def float16_weights(net: nn.Module, scale: float = 1.0) -> nn.Module:
    """``net`` in float64, eval mode, its parameters times ``scale`` rounded to float16 values."""
    net = net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_((p * scale).half().double())
    return net


def torch_out(net, z) -> np.ndarray:
    with torch.no_grad():
        return net(torch.as_tensor(z, dtype=torch.float64)).numpy()


def codes(n, d, seed=1, scale=1.5):
    return (torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
            * scale).numpy()


def set_statistics(bn, seed):
    """Running statistics and affine parameters far from the identity."""
    g = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
        bn.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
        if bn.affine:
            bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=g) * 0.3)
    return bn


def every_layer() -> nn.Sequential:
    """Every layer type the page runs: Linear (with and without bias), both batch norms (folded),
    Unflatten, Conv2d, ConvTranspose2d, Flatten, every activation, a nested Sequential."""
    net = nn.Sequential(
        nn.Linear(5, 3 * 6 * 5), nn.BatchNorm1d(90), nn.LeakyReLU(0.1),
        nn.Unflatten(1, (3, 6, 5)),
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ELU(0.5),
        nn.Sequential(nn.ConvTranspose2d(4, 2, (3, 4), stride=(2, 3), padding=(1, 2),
                                         output_padding=(1, 2)), nn.BatchNorm2d(2), nn.SiLU(),
                      nn.Identity()),
        nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=(0, 1), bias=False), nn.Tanh(),
        nn.Flatten(), nn.Linear(3 * 5 * 4, 20, bias=False), nn.ReLU(), nn.Linear(20, 12),
        nn.Sigmoid())
    for k, m in enumerate(net.modules()):
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            set_statistics(m, k)
    return net


# -- shapes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("transposed", [False, True])
def test_taps_pair_exactly_the_indices_inside_both_arrays(transposed):
    """Brute force: for each kernel offset, the (input, output) index pairs a (transposed)
    convolution touches inside both arrays are those conv_taps lists, in order."""
    for size_in, kernel, stride, padding, extra in itertools.product(
            range(1, 7), range(1, 5), range(1, 4), range(0, 4), range(0, 3)):
        if transposed and extra >= stride:
            continue  # torch: output padding below the stride
        size_out = conv_output_size(size_in, kernel, stride, padding, extra, transposed)
        if size_out < 1 or (not transposed and extra):
            continue
        taps = conv_taps(size_in, size_out, kernel, stride, padding, transposed)
        for i, (out_at, in_at, count, out_step, in_step) in enumerate(taps):
            pairs = [(out_at + t * out_step, in_at + t * in_step) for t in range(count)]
            if transposed:
                expected = [(stride * t - padding + i, t) for t in range(size_in)]
            else:
                expected = [(t, stride * t - padding + i) for t in range(size_out)]
            expected = [(o, n) for o, n in expected if 0 <= o < size_out and 0 <= n < size_in]
            assert pairs == expected, (size_in, kernel, stride, padding, extra, i)


def test_payload_records_layers_shapes_and_float16_weights():
    net = every_layer()
    payload = export_network(net)
    assert json.loads(json.dumps(payload)) == payload
    assert payload["format"] == FORMAT and payload["latent_dim"] == 5
    assert payload["output_shape"] == [12] and payload["output_dim"] == 12
    assert [layer["type"] for layer in payload["layers"]] == [
        "linear", "leaky_relu", "reshape", "conv2d", "elu", "conv_transpose2d", "silu", "identity",
        "conv2d", "tanh", "reshape", "linear", "relu", "linear", "sigmoid"]  # batch norms folded
    assert payload["layers"][2]["shape"] == [3, 6, 5] and payload["layers"][10]["shape"] == [60]
    conv, transposed = payload["layers"][3], payload["layers"][5]
    assert (conv["in"], conv["out"], conv["kernel"], conv["stride"], conv["padding"]) == (
        3, 4, [3, 3], [2, 2], [1, 1])
    assert "output_padding" not in conv
    assert (transposed["kernel"], transposed["stride"], transposed["padding"],
            transposed["output_padding"]) == ([3, 4], [2, 3], [1, 2], [1, 2])
    assert check_network(net) == (5, (12,))
    # a layer without batch norm travels as its own weights rounded to float16, in torch's order
    last_conv = net[8]
    w = np.frombuffer(base64.b64decode(payload["layers"][8]["weight"]), dtype="<f2")
    np.testing.assert_array_equal(w.reshape(3, 2, 2, 3), last_conv.weight.detach().half().numpy())
    bias = np.frombuffer(base64.b64decode(payload["layers"][8]["bias"]), dtype="<f2")
    np.testing.assert_array_equal(bias, np.zeros(3))


def test_the_generator_payload():
    """image_generator(64, 32): latent 64 to (1, 28, 28); its 243,489 weights less the two batch
    norms' 6,336 (folded) travel: 237,153 float16 values."""
    generator = image_generator(64, 32)
    payload = export_network(generator, "generator")
    assert payload["latent_dim"] == 64 and payload["output_shape"] == [1, 28, 28]
    assert payload["output_dim"] == 784
    assert [layer["type"] for layer in payload["layers"]] == [
        "linear", "relu", "reshape", "conv_transpose2d", "relu", "conv_transpose2d", "sigmoid"]
    travelled = sum(len(base64.b64decode(layer[k])) // 2 for layer in payload["layers"]
                    for k in ("weight", "bias") if k in layer)
    total = sum(p.numel() for p in generator.parameters())
    assert total == 243_489 and travelled == total - 2 * (3136 + 32) == 237_153


# -- the NumPy reference is torch ------------------------------------------------------------------
CONVOLUTIONS = [
    nn.Conv2d(3, 4, 3),
    nn.Conv2d(3, 4, 3, stride=2, padding=1),
    nn.Conv2d(3, 4, (2, 5), stride=(2, 1), padding=(1, 2), bias=False),
    nn.Conv2d(3, 4, 1, stride=3),
    nn.Conv2d(3, 4, 4, stride=2, padding=3),
    nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1),
    nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
    nn.ConvTranspose2d(3, 4, (3, 2), stride=(3, 2), padding=(2, 0), output_padding=(2, 1),
                       bias=False),
    nn.ConvTranspose2d(3, 4, 2, stride=1),
    nn.ConvTranspose2d(3, 4, 2, stride=3, output_padding=2),  # rows of the bias alone
    nn.ConvTranspose2d(3, 4, 5, stride=2, padding=3),
]


@pytest.mark.parametrize("conv", CONVOLUTIONS, ids=repr)
def test_convolutions_are_torchs(conv):
    """Each convolution on a (3, 5, 6) input: the NumPy reference is torch to 1e-9."""
    net = float16_weights(nn.Sequential(nn.Linear(4, 90), nn.Unflatten(1, (3, 5, 6)), conv,
                                        nn.Identity()), scale=2.0)
    z = codes(6, 4)
    expected = torch_out(net, z)
    payload = export_network(net)
    assert payload["output_shape"] == list(expected.shape[1:])
    got = decode_exported(payload, z, dtype=np.float64)
    assert got.shape == expected.shape and np.abs(got - expected).max() < EXACT
    assert np.abs(decode_exported(payload, z[2], dtype=np.float64) - got[2]).max() < EXACT
    assert decode_exported(payload, z).dtype == np.float32


def test_every_layer_is_torchs_with_batch_norm_folded_exactly():
    """With statistics that fold into float16 values exactly (scales 1, 2 and 4, eps 0, means,
    shifts and biases on a coarse grid) the folded network is torch's with its batch norms to
    1e-9."""
    net = float16_weights(every_layer(), scale=2.0)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d) and m.bias is not None:
                m.bias.copy_(torch.round(m.bias * 64) / 64)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.eps = 0.0
                m.running_var.copy_(4.0 ** -torch.randint(0, 2, (n,), generator=g).double())
                m.weight.copy_(2.0 ** torch.randint(0, 2, (n,), generator=g).double())
                m.running_mean.copy_(torch.randint(-8, 9, (n,), generator=g).double() / 16)
                m.bias.copy_(torch.randint(-8, 9, (n,), generator=g).double() / 16)
    z = codes(32, 5, scale=2.0)
    expected = torch_out(net, z)
    got = decode_exported(export_network(net), z, dtype=np.float64)
    assert np.abs(got - expected).max() < EXACT
    assert 0.05 < expected.min() and expected.max() < 0.95 and expected.std() > 0.05


def test_folded_batch_norm_stays_within_float16_rounding():
    """General statistics (eps 1e-5): the folded weights are rounded to float16 after folding
    (relative error at most 2^-11 ≈ 4.9e-4 each), so the network moves by that order: within
    2e-3 of the output's range (measured: 8e-6 for every_layer's 12 sigmoid outputs, 1.1e-4 for
    image_generator(16, 8)'s pixels)."""
    for net, d in ((every_layer(), 5), (image_generator(16, 8), 16)):
        for k, m in enumerate(net.modules()):
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                set_statistics(m, 10 + k)
        net = float16_weights(net).eval()
        z = codes(32, d)
        expected = torch_out(net, z)
        gap = np.abs(decode_exported(export_network(net), z, dtype=np.float64) - expected).max()
        print(f"{type(net[0]).__name__}..., latent {d}: folded batch norm {gap:.2g} from torch")
        assert 0 < gap < 2e-3 * np.ptp(expected)


def test_batch_norm_without_affine_parameters_folds():
    net = nn.Sequential(nn.Linear(3, 8), set_statistics(nn.BatchNorm1d(8, affine=False), 1))
    net = float16_weights(net)
    z = codes(10, 3)
    gap = np.abs(decode_exported(export_network(net), z, dtype=np.float64) - torch_out(net, z)).max()
    assert gap < 2e-3


def test_the_float16_generator_stays_close_to_the_float32_one():
    """image_generator(64, 32) in float32 with set batch-norm statistics: the float16 page network
    stays within 1e-3 of the torch generator (measured: about 1e-4)."""
    generator = image_generator(64, 32)
    for k, m in enumerate(generator.modules()):
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            set_statistics(m, k)
    generator.eval()
    z = torch.randn(16, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = generator(z).numpy()
    gap = np.abs(decode_exported(export_network(generator), z.numpy()) - expected).max()
    print(f"image_generator(64, 32): float16 page network {gap:.2g} from the float32 torch one")
    assert 0 < gap < 1e-3


def test_the_page_code_names_every_layer_and_the_latent_explorer_shares_it():
    for kind in ('"linear"', '"conv2d"', '"conv_transpose2d"', '"reshape"'):
        assert kind in NETWORK_JS
    assert DECODER_JS is NETWORK_JS and DECODER_FORMAT == FORMAT and decode_decoder is decode_exported
    net = every_layer()
    assert export_decoder(net) == export_network(net)


# -- what the page cannot run ----------------------------------------------------------------------
def head(*layers, channels=3, side=6):
    """A Linear from a 4-D latent unflattened to (channels, side, side), then ``layers``."""
    return nn.Sequential(nn.Linear(4, channels * side * side), nn.Unflatten(1, (channels, side, side)),
                         *layers)


def untracked():
    return nn.BatchNorm2d(4, track_running_stats=False)


@pytest.mark.parametrize("net, error, message", [
    (nn.Linear(4, 4), TypeError, r"network must be an nn.Sequential of the layers the page runs"),
    (head(nn.MaxPool2d(2)), TypeError,
     r"unsupported layer 2 of the network: MaxPool2d.*; the page runs nn.Conv2d, nn.ConvTranspose2d"),
    (head(nn.Conv1d(3, 4, 3)), TypeError, "unsupported layer 2 of the network: Conv1d"),
    (nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1)), TypeError, "unsupported layer 1 .*Dropout"),
    (head(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), ValueError,
     r"layer 2 of the network, Conv2d\(3, 4.*pads in mode 'reflect': the page runs zero padding"),
    (head(nn.Conv2d(3, 4, 3, padding="same")), ValueError, r"layer 2 .*pads by 'same'"),
    (head(nn.Conv2d(3, 4, 3, dilation=2)), ValueError,
     r"layer 2 .*has dilation \(2, 2\) and groups 1: the page runs dilation 1 and groups 1"),
    (head(nn.ConvTranspose2d(4, 4, 3, groups=2), channels=4), ValueError,
     r"layer 2 .*ConvTranspose2d.*has dilation \(1, 1\) and groups 2"),
    (head(nn.Conv2d(4, 4, 3)), ValueError, "layer 2 .*takes 4 channels but the layer before gives 3"),
    (nn.Sequential(nn.Linear(4, 36), nn.Conv2d(1, 2, 3)), ValueError,
     r"layer 1 .*needs \(channels, height, width\) but the layer before gives shape \(36,\)"),
    (head(nn.Linear(6, 3)), ValueError,
     r"layer 2 .*needs a flat input but the layer before gives shape \(3, 6, 6\): put an nn.Flatten"),
    (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(9, 2)), ValueError,
     "layer 2 .*takes 9 inputs but the layer before gives 8"),
    (head(nn.Conv2d(3, 4, 7)), ValueError, r"layer 2 .*gives an empty output from an input of shape"),
    (nn.Sequential(nn.ReLU(), nn.Unflatten(1, (1, 2, 2)), nn.Linear(4, 4)), ValueError,
     "layer 1 .*comes before the first nn.Linear, whose input width is the latent dimension"),
    (nn.Sequential(nn.Tanh()), ValueError, "the network has no nn.Linear layer"),
    (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8)), ValueError,
     r"layer 2 of the network, BatchNorm1d\(8.*must directly follow an nn.Linear, into which"),
    (head(nn.BatchNorm2d(3)), ValueError,
     "layer 2 .*must directly follow an nn.Conv2d or nn.ConvTranspose2d"),
    (nn.Sequential(nn.Linear(4, 8), nn.BatchNorm2d(8)), ValueError,
     "layer 1 .*BatchNorm2d.*must directly follow an nn.Conv2d or nn.ConvTranspose2d"),
    (head(nn.Conv2d(3, 4, 3), nn.BatchNorm1d(4)), ValueError,
     "layer 3 .*BatchNorm1d.*must directly follow an nn.Linear"),
    (head(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(5)), ValueError,
     "layer 3 .*normalises 5 channels but the layer before gives 4"),
    (head(nn.Conv2d(3, 4, 3), untracked()), ValueError,
     r"layer 3 .*keeps no running statistics \(track_running_stats=False\)"),
    (nn.Sequential(nn.Linear(4, 36), nn.Unflatten(1, (5, 6, 6))), ValueError,
     r"layer 1 .*Unflatten.*cannot take shape \(36,\)"),
    (nn.Sequential(nn.Linear(4, 36), nn.Flatten(0)), ValueError,
     "layer 1 .*merges the batch dimension"),
])
def test_networks_the_page_cannot_run_are_refused(net, error, message):
    with pytest.raises(error, match=message):
        export_network(net)
    with pytest.raises(error, match=message):
        check_network(net)


def test_values_that_cannot_travel_are_refused():
    net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    with torch.no_grad():
        net[1].running_var[2] = float("nan")
    with pytest.raises(ValueError, match="generator buffer 1.running_var must be finite"):
        export_network(net, "generator")
    with torch.no_grad():
        net[1].running_var[2] = 1e-12  # fine alone, but the fold scales row 2 by 1/sqrt(1e-5)
        net[0].weight[2] = 300.0
    with pytest.raises(ValueError, match=r"generator parameter 0.weight \(batch norm 1 folded in\) "
                                         r"holds values beyond 65504"):
        export_network(net, "generator")


def test_decode_exported_refuses_bad_payloads():
    payload = export_network(head(nn.Conv2d(3, 2, 3)))
    broken = {**payload, "layers": [*payload["layers"][:2], {**payload["layers"][2], "in": 5}]}
    with pytest.raises(ValueError, match="payload conv2d layer takes 5 channels of an image"):
        decode_exported(broken, np.zeros(4))
    unknown = {**payload, "layers": [{"type": "softplus"}]}
    with pytest.raises(ValueError, match="unknown layer type 'softplus' in the payload"):
        decode_exported(unknown, np.zeros(4))
    with pytest.raises(ValueError, match="made by export_network"):
        decode_exported({**payload, "format": "kexue-mlp/float16-le-base64"}, np.zeros(4))
