"""Networks the book's static pages run in their own JavaScript: the exporter, the page's code and
its NumPy reference.

A static page has no kernel, so a widget showing what a network makes of a latent code z the
reader picks (a decoder's image, a generator's sample) carries the network in the page and runs it
there. The page runs an ``nn.Sequential`` (nested ones flattened) that starts, after any
activations, with an ``nn.Linear`` taking z (its input width is the latent dimension), made of

* ``nn.Linear``, on a flat vector;
* ``nn.Conv2d`` and ``nn.ConvTranspose2d``, on (channels, height, width): any kernel and stride,
  zero padding (an int or a pair), a transposed convolution's output padding, with or without
  bias; dilation 1 and groups 1;
* ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` right after one of those, as in eval mode: folded at
  export into the layer before it (per output channel c, with s_c = γ_c / √(var_c + eps): the
  weights times s_c, the bias (b_c − mean_c) s_c + β_c), so the page never sees them;
* ``nn.Flatten`` and ``nn.Unflatten``: the values keep their channel-row-column order, only the
  shape changes;
* the element-wise activations of :data:`ACTIVATIONS`.

The payload (:func:`export_network`, format :data:`FORMAT`) is JSON: ``latent_dim``,
``output_shape`` (e.g. ``[1, 28, 28]``), ``output_dim`` (its product) and ``layers``, each a dict
with a ``type``:

* ``"linear"``: ``in``, ``out``, ``weight`` (out x in) and ``bias`` (out);
* ``"conv2d"``: ``in``, ``out``, ``kernel``, ``stride``, ``padding`` ([rows, columns] each),
  ``weight`` (out x in x kernel rows x kernel columns) and ``bias`` (out);
* ``"conv_transpose2d"``: the same and ``output_padding``, its ``weight`` in torch's order
  (in x out x kernel rows x kernel columns);
* ``"reshape"``: ``shape``, the activation's new shape;
* an activation's name, with its parameters (LeakyReLU's ``slope``, ELU's ``alpha``).

Weights and biases travel row-major as base64 of little-endian float16 (2 bytes a weight, 8/3
after base64); a multilayer perceptron's payload simply holds only linear layers and activations.
The page's code (:data:`NETWORK_JS`, ``kexueNet(payload)``) decodes the float16 values exactly and
computes in float64 over flat arrays in channel-row-column order, returning a ``Float32Array``;
:func:`decode_exported` is the same computation in NumPy, formula for formula, the reference the
browser tests hold the page to.
"""
from __future__ import annotations

import base64
import math

import numpy as np
import torch
from torch import nn

from ..checks import float_tensor

__all__ = ["export_network", "check_network", "decode_exported", "NETWORK_JS", "FORMAT",
           "ACTIVATIONS"]

#: The element-wise activations the page can run: module type -> (payload name, parameters).
ACTIVATIONS = {
    nn.ReLU: ("relu", lambda m: {}),
    nn.LeakyReLU: ("leaky_relu", lambda m: {"slope": float(m.negative_slope)}),
    nn.Tanh: ("tanh", lambda m: {}),
    nn.Sigmoid: ("sigmoid", lambda m: {}),
    nn.SiLU: ("silu", lambda m: {}),
    nn.ELU: ("elu", lambda m: {"alpha": float(m.alpha)}),
    nn.Identity: ("identity", lambda m: {}),
}
#: The payload's format tag: weights and biases as little-endian float16, base64-encoded.
FORMAT = "kexue-net/float16-le-base64"
#: The largest finite float16: a weight beyond it cannot travel in the page.
FLOAT16_MAX = float(np.finfo(np.float16).max)

_SUPPORTED = ("nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d and nn.BatchNorm2d (folded), "
              "nn.Flatten, nn.Unflatten, nn.Linear and the activations "
              + ", ".join(t.__name__ for t in ACTIVATIONS))


# -- shapes ----------------------------------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int,
                     transposed: bool) -> int:
    """The output length along one axis of a convolution (or a transposed one) of an input of
    ``size``: ``(size + 2 padding - kernel) // stride + 1``, transposed
    ``(size - 1) stride - 2 padding + kernel + output_padding``."""
    if transposed:
        return (size - 1) * stride - 2 * padding + kernel + output_padding
    return (size + 2 * padding - kernel) // stride + 1


def conv_taps(size_in: int, size_out: int, kernel: int, stride: int, padding: int,
              transposed: bool) -> list[tuple[int, int, int, int, int]]:
    """Where each kernel offset i acts along one axis, as ``(first output index, first input
    index, count, output step, input step)``: a convolution's output t reads input
    ``stride t - padding + i``, a transposed convolution's input t adds into output
    ``stride t - padding + i``; only the t whose both ends are inside the arrays count (the zero
    padding adds nothing)."""
    ranged, reached = (size_in, size_out) if transposed else (size_out, size_in)
    taps = []
    for i in range(kernel):
        first = max(0, -((i - padding) // stride))  # the least t with stride t - padding + i >= 0
        count = max(0, min(ranged, (reached - 1 + padding - i) // stride + 1) - first)
        at = stride * first - padding + i
        taps.append((at, first, count, stride, 1) if transposed else (first, at, count, 1, stride))
    return taps


# -- export ----------------------------------------------------------------------------------------
#: The weight layers a batch norm may fold into, by the batch norm's type (payload types).
_FOLDS_INTO = {nn.BatchNorm1d: ("linear",), nn.BatchNorm2d: ("conv2d", "conv_transpose2d")}
_TORCH_NAMES = {"linear": "nn.Linear", "conv2d": "nn.Conv2d", "conv_transpose2d": "nn.ConvTranspose2d"}


def _modules(network: nn.Sequential, prefix: str = ""):
    """The network's modules in order with their qualified names, nested Sequentials flattened."""
    for name, m in network.named_children():
        if isinstance(m, nn.Sequential):
            yield from _modules(m, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", m


def _pair(value) -> list[int]:
    return [int(v) for v in value] if isinstance(value, tuple) else [int(value)] * 2


def _weight_layer(m, where: str, shape: tuple) -> tuple[dict, tuple]:
    """A Linear, Conv2d or ConvTranspose2d taking ``shape`` as a payload dict (weight and bias as
    float64 tensors) and its output shape; else a ValueError naming the layer."""
    if type(m) is nn.Linear:
        if len(shape) != 1:
            raise ValueError(f"{where}, needs a flat input but the layer before gives shape {shape}: "
                             f"put an nn.Flatten() before it")
        if m.in_features != shape[0]:
            raise ValueError(f"{where}, takes {m.in_features} inputs but the layer before gives "
                             f"{shape[0]}")
        entry = {"type": "linear", "in": m.in_features, "out": m.out_features}
        out_shape = (m.out_features,)
    else:
        transposed = type(m) is nn.ConvTranspose2d
        if len(shape) != 3:
            raise ValueError(f"{where}, needs (channels, height, width) but the layer before gives "
                             f"shape {shape}: put an nn.Unflatten before it")
        if m.in_channels != shape[0]:
            raise ValueError(f"{where}, takes {m.in_channels} channels but the layer before gives "
                             f"{shape[0]}")
        if isinstance(m.padding, str):
            raise ValueError(f"{where}, pads by {m.padding!r}: the page runs numeric padding (an int "
                             f"or a pair)")
        if m.padding_mode != "zeros":
            raise ValueError(f"{where}, pads in mode {m.padding_mode!r}: the page runs zero padding "
                             f"only")
        if _pair(m.dilation) != [1, 1] or m.groups != 1:
            raise ValueError(f"{where}, has dilation {m.dilation} and groups {m.groups}: the page "
                             f"runs dilation 1 and groups 1")
        entry = {"type": "conv_transpose2d" if transposed else "conv2d", "in": m.in_channels,
                 "out": m.out_channels, "kernel": _pair(m.kernel_size), "stride": _pair(m.stride),
                 "padding": _pair(m.padding)}
        output_padding = [0, 0]
        if transposed:
            output_padding = entry["output_padding"] = _pair(m.output_padding)
        size = [conv_output_size(n, k, s, p, o, transposed) for n, k, s, p, o in zip(
            shape[1:], entry["kernel"], entry["stride"], entry["padding"], output_padding)]
        if min(size) < 1:
            raise ValueError(f"{where}, gives an empty output from an input of shape {shape}")
        out_shape = (m.out_channels, *size)
    bias = m.bias if m.bias is not None else torch.zeros(out_shape[0])
    entry.update(weight=m.weight.detach().double(), bias=bias.detach().double())
    return entry, out_shape


def _fold(entry: dict, bn, where: str) -> None:
    """Fold eval-mode batch norm ``bn`` into the weight layer ``entry`` before it: per output
    channel c, with s_c = γ_c / √(var_c + eps), the weights times s_c and the bias
    (b_c − mean_c) s_c + β_c."""
    channels = entry["out"]
    if bn.num_features != channels:
        raise ValueError(f"{where}, normalises {bn.num_features} channels but the layer before "
                         f"gives {channels}")
    if bn.running_mean is None:
        raise ValueError(f"{where}, keeps no running statistics (track_running_stats=False): it "
                         f"has no eval-mode form to fold into the layer before")
    gamma = bn.weight.detach().double() if bn.affine else torch.ones(channels, dtype=torch.float64)
    beta = bn.bias.detach().double() if bn.affine else torch.zeros(channels, dtype=torch.float64)
    scale = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    shape = [1] * entry["weight"].ndim
    shape[1 if entry["type"] == "conv_transpose2d" else 0] = channels  # the output-channel axis
    entry["weight"] = entry["weight"] * scale.view(shape)
    entry["bias"] = (entry["bias"] - bn.running_mean.detach().double()) * scale + beta


def _plan(network, name: str) -> tuple[list[dict], int, tuple]:
    """The network checked and planned for the page: its layers as payload dicts (weights and
    biases still float64 tensors, batch norms folded in; a weight layer's module name under
    ``"module"``, its batch norm's under ``"folded"``), the latent width and the output shape;
    else a TypeError/ValueError naming the layer."""
    if not isinstance(network, nn.Sequential):
        raise TypeError(f"{name} must be an nn.Sequential of the layers the page runs "
                        f"({_SUPPORTED}), got {type(network).__name__}")
    for pname, p in network.named_parameters():
        float_tensor(p.detach(), f"{name} parameter {pname}")
    for bname, b in network.named_buffers():
        if b.is_floating_point():
            float_tensor(b.detach(), f"{name} buffer {bname}")
    layers, shape = [], None
    for i, (module, m) in enumerate(_modules(network)):
        where = f"layer {i} of the {name}, {m}"
        if type(m) in ACTIVATIONS:
            kind, params = ACTIVATIONS[type(m)]
            layers.append({"type": kind, **params(m)})
        elif type(m) not in (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d,
                             nn.BatchNorm2d, nn.Flatten, nn.Unflatten):
            raise TypeError(f"unsupported layer {i} of the {name}: {m!r}; the page runs {_SUPPORTED}")
        elif shape is None and type(m) is not nn.Linear:
            raise ValueError(f"{where}, comes before the first nn.Linear, whose input width is the "
                             f"latent dimension: the {name} must start with an nn.Linear")
        elif type(m) in _FOLDS_INTO:
            before = layers[-1] if layers else {"type": None}
            if before["type"] not in _FOLDS_INTO[type(m)]:
                into = " or ".join(_TORCH_NAMES[t] for t in _FOLDS_INTO[type(m)])
                raise ValueError(f"{where}, must directly follow an {into}, into which the page "
                                 f"folds it")
            _fold(before, m, where)
            before["folded"] = module
        elif type(m) in (nn.Flatten, nn.Unflatten):
            try:
                batch, *out = m(torch.empty((2, *shape), device="meta")).shape
            except RuntimeError as e:
                raise ValueError(f"{where}, cannot take shape {shape}: {e}") from None
            if batch != 2:
                raise ValueError(f"{where}, merges the batch dimension: the page runs one z at a time")
            shape = tuple(out)
            layers.append({"type": "reshape", "shape": list(shape)})
        else:
            if shape is None:
                shape, latent_dim = (m.in_features,), m.in_features
            entry, shape = _weight_layer(m, where, shape)
            layers.append({**entry, "module": module, "folded": None})
    if shape is None:
        raise ValueError(f"the {name} has no nn.Linear layer")
    for layer in layers:
        for key in ("weight", "bias"):
            if key in layer and float(layer[key].abs().max()) > FLOAT16_MAX:
                folded = f" (batch norm {layer['folded']} folded in)" if layer["folded"] else ""
                raise ValueError(f"{name} parameter {layer['module']}.{key}{folded} holds values "
                                 f"beyond {FLOAT16_MAX:g}, the float16 range the static view "
                                 f"stores weights in")
    return layers, latent_dim, shape


def check_network(network, name: str = "network") -> tuple[int, tuple[int, ...]]:
    """The latent width and the output shape of a network the page can run (see the module's
    docstring); else the export's TypeError or ValueError, naming the layer and calling the
    network ``name``."""
    _, latent_dim, output_shape = _plan(network, name)
    return latent_dim, output_shape


def _f16(t: torch.Tensor) -> str:
    """A tensor's values, row-major, as base64 of little-endian float16."""
    return base64.b64encode(t.detach().cpu().double().numpy().astype("<f2").tobytes()).decode("ascii")


def export_network(network, name: str = "network") -> dict:
    """The network as the JSON-able payload the page runs (format :data:`FORMAT`, described in the
    module's docstring): eval-mode batch norms folded into the layers before them, weights and
    biases as base64 of little-endian float16. Errors call the network ``name``."""
    layers, latent_dim, output_shape = _plan(network, name)
    out = []
    for layer in layers:
        layer = {k: v for k, v in layer.items() if k not in ("module", "folded")}
        if "weight" in layer:
            layer.update(weight=_f16(layer["weight"]), bias=_f16(layer["bias"]))
        out.append(layer)
    return {"format": FORMAT, "latent_dim": latent_dim, "output_shape": list(output_shape),
            "output_dim": math.prod(output_shape), "layers": out}


# -- the NumPy reference ---------------------------------------------------------------------------
def _unf16(text: str, n: int, what: str) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(text), dtype="<f2")
    if values.size != n:
        raise ValueError(f"payload {what} holds {values.size} values, expected {n}")
    return values.astype(np.float64)


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)  # = 1 / (1 + exp(-x)), without overflow


#: The activations in NumPy, formula for formula those of :data:`NETWORK_JS`.
_NUMPY_ACTIVATIONS = {
    "relu": lambda x, p: np.maximum(x, 0.0),
    "leaky_relu": lambda x, p: np.where(x > 0, x, p["slope"] * x),
    "tanh": lambda x, p: np.tanh(x),
    "sigmoid": lambda x, p: _sigmoid(x),
    "silu": lambda x, p: x * _sigmoid(x),
    "elu": lambda x, p: np.where(x > 0, x, p["alpha"] * np.expm1(np.minimum(x, 0.0))),
    "identity": lambda x, p: x,
}


def _strided(start: int, count: int, step: int) -> slice:
    return slice(start, start + step * (count - 1) + 1, step)


def _convolve(layer: dict, x: np.ndarray) -> np.ndarray:
    """A (transposed) convolution layer of the payload on ``x`` (n, in, height, width): the bias,
    then for each kernel offset (i, j) the channels contracted with the weights at (i, j) over
    the rows and columns :func:`conv_taps` pairs up."""
    transposed = layer["type"] == "conv_transpose2d"
    (kh, kw), c_in, c_out = layer["kernel"], layer["in"], layer["out"]
    if x.ndim != 4 or x.shape[1] != c_in:
        raise ValueError(f"payload {layer['type']} layer takes {c_in} channels of an image, got "
                         f"shape {x.shape[1:]}")
    weight = _unf16(layer["weight"], c_in * c_out * kh * kw, "weight")
    if transposed:  # torch's order (in, out, i, j) -> (out, in, i, j)
        weight = weight.reshape(c_in, c_out, kh, kw).transpose(1, 0, 2, 3)
    weight = weight.reshape(c_out, c_in, kh, kw)
    output_padding = layer.get("output_padding", [0, 0])
    taps = []
    for axis in (0, 1):
        size_in = x.shape[2 + axis]
        args = (layer["kernel"][axis], layer["stride"][axis], layer["padding"][axis])
        size_out = conv_output_size(size_in, *args, output_padding[axis], transposed)
        taps.append((size_out, conv_taps(size_in, size_out, *args, transposed)))
    (height, rows), (width, cols) = taps
    y = np.empty((len(x), c_out, height, width))
    y[:] = _unf16(layer["bias"], c_out, "bias")[:, None, None]
    for i, (r_out, r_in, r_count, r_out_step, r_in_step) in enumerate(rows):
        for j, (c_out_at, c_in_at, c_count, c_out_step, c_in_step) in enumerate(cols):
            if r_count and c_count:
                y[:, :, _strided(r_out, r_count, r_out_step), _strided(c_out_at, c_count, c_out_step)] += \
                    np.einsum("oc,nchw->nohw", weight[:, :, i, j],
                              x[:, :, _strided(r_in, r_count, r_in_step),
                                _strided(c_in_at, c_count, c_in_step)])
    return y


def decode_exported(payload: dict, z, dtype=np.float32) -> np.ndarray:
    """What the page computes: the exported network (float16 weights, exactly as the page decodes
    them) at ``z`` (``(d,)`` or ``(n, d)``), in float64, returned as float32 like the page's
    ``Float32Array`` (``dtype=np.float64``: before that last rounding), of shape
    ``(*output_shape)`` or ``(n, *output_shape)``; the raw outputs, not clipped."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"payload must be a dict made by export_network (format {FORMAT!r})")
    x = np.asarray(z, dtype=np.float64)
    d = payload["latent_dim"]
    if x.ndim not in (1, 2) or x.shape[-1] != d:
        raise ValueError(f"z must have shape ({d},) or (n, {d}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("z must be finite")
    single, x = x.ndim == 1, np.atleast_2d(x)
    for layer in payload["layers"]:
        kind = layer["type"]
        if kind == "linear":
            w = _unf16(layer["weight"], layer["out"] * layer["in"], "weight")
            b = _unf16(layer["bias"], layer["out"], "bias")
            x = x @ w.reshape(layer["out"], layer["in"]).T + b
        elif kind in ("conv2d", "conv_transpose2d"):
            x = _convolve(layer, x)
        elif kind == "reshape":
            x = x.reshape(len(x), *layer["shape"])
        elif kind in _NUMPY_ACTIVATIONS:
            x = _NUMPY_ACTIVATIONS[kind](x, layer)
        else:
            raise ValueError(f"unknown layer type {kind!r} in the payload")
    x = x.reshape(len(x), *payload["output_shape"]).astype(dtype)
    return x[0] if single else x


# -- the page's code -------------------------------------------------------------------------------
#: ``kexueFloat16(b64, n)`` reads n little-endian float16 values (exactly, into a Float32Array);
#: ``kexueNet(payload)`` returns ``decode(z) -> Float32Array``: the network of an
#: :func:`export_network` payload at z, in float64 over flat channel-row-column arrays with the
#: float16 weights, the result rounded to float32 (flat, in the order of ``output_shape``); the
#: same formulas as :func:`decode_exported`.
NETWORK_JS = r"""
function kexueFloat16(b64, n) {  // base64 of little-endian float16 -> Float32Array of n values
  var half = kexueFloat16.table;
  if (!half) {  // every float16 bit pattern's value: sign, 5 exponent bits (bias 15), 10 mantissa
    half = kexueFloat16.table = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var e = (h >> 10) & 31, f = h & 1023;
      var v = e === 0 ? f * Math.pow(2, -24)                        // subnormal
            : e === 31 ? (f ? NaN : Infinity)
            : (1 + f / 1024) * Math.pow(2, e - 15);
      half[h] = h & 32768 ? -v : v;
    }
  }
  var s = atob(b64), out = new Float32Array(n);
  if (s.length !== 2 * n) throw new Error("kexueFloat16: expected " + n + " float16 values");
  for (var i = 0; i < n; i++) out[i] = half[s.charCodeAt(2 * i) | (s.charCodeAt(2 * i + 1) << 8)];
  return out;
}
function kexueNet(payload) {
  var floats = kexueFloat16;
  function sigmoid(x) { return 0.5 + 0.5 * Math.tanh(0.5 * x); }
  var activations = {
    relu: function (x) { return x > 0 ? x : 0; },
    leaky_relu: function (x, p) { return x > 0 ? x : p.slope * x; },
    tanh: Math.tanh,
    sigmoid: sigmoid,
    silu: function (x) { return x * sigmoid(x); },
    elu: function (x, p) { return x > 0 ? x : p.alpha * Math.expm1(x); },
    identity: function (x) { return x; }
  };
  function outputSize(size, k, s, p, op, transposed) {  // conv_output_size
    return transposed ? (size - 1) * s - 2 * p + k + op : Math.floor((size + 2 * p - k) / s) + 1;
  }
  // conv_taps: per kernel offset, (first output index, first input index, count, output step,
  // input step) along one axis
  function taps(sizeIn, sizeOut, k, s, p, transposed) {
    var ranged = transposed ? sizeIn : sizeOut, reached = transposed ? sizeOut : sizeIn;
    var t = new Int32Array(5 * k);
    for (var i = 0; i < k; i++) {
      var first = Math.max(0, Math.ceil((p - i) / s));
      var count = Math.max(0, Math.min(ranged, Math.floor((reached - 1 + p - i) / s) + 1) - first);
      var at = s * first - p + i;
      t.set(transposed ? [at, first, count, s, 1] : [first, at, count, 1, s], 5 * i);
    }
    return t;
  }
  function linear(L, x) {  // y = W x + b, W row-major (out x in)
    var y = new Float64Array(L.m), w = L.w, n = L.n;
    for (var i = 0; i < L.m; i++) {
      var s = L.b[i], row = i * n;
      for (var j = 0; j < n; j++) s += w[row + j] * x[j];
      y[i] = s;
    }
    return y;
  }
  // y[o] = b[o] + sum over input channels c and kernel offsets (i, j) of w[o, c, i, j] times
  // x[c] at the rows and columns the taps pair up (w in (out, in, i, j) order)
  function convolve(L, x) {
    var y = new Float64Array(L.cout * L.outH * L.outW), w = L.w, rows = L.rows, cols = L.cols;
    var kh = L.kh, kw = L.kw, cin = L.cin, outW = L.outW, inW = L.inW;
    var outPlane = L.outH * outW, inPlane = L.inH * inW;
    for (var o = 0; o < L.cout; o++) {
      var yo = o * outPlane;
      y.fill(L.b[o], yo, yo + outPlane);
      for (var c = 0; c < cin; c++) {
        var xc = c * inPlane, wk = (o * cin + c) * kh * kw;
        for (var i = 0; i < kh; i++) {
          var ri = 5 * i, rn = rows[ri + 2];
          if (rn === 0) continue;
          var yRowStep = rows[ri + 3] * outW, xRowStep = rows[ri + 4] * inW;
          for (var j = 0; j < kw; j++) {
            var ci = 5 * j, cn = cols[ci + 2];
            if (cn === 0) continue;
            var v = w[wk + i * kw + j], yStep = cols[ci + 3], xStep = cols[ci + 4];
            var yRow = yo + rows[ri] * outW + cols[ci], xRow = xc + rows[ri + 1] * inW + cols[ci + 1];
            for (var r = 0; r < rn; r++, yRow += yRowStep, xRow += xRowStep) {
              for (var t = 0, yi = yRow, xi = xRow; t < cn; t++, yi += yStep, xi += xStep) {
                y[yi] += v * x[xi];
              }
            }
          }
        }
      }
    }
    return y;
  }
  function activate(L, x) {
    for (var i = 0; i < x.length; i++) x[i] = L.f(x[i], L.p);
    return x;
  }
  var shape = [payload.latent_dim], layers = [];
  payload.layers.forEach(function (l) {
    if (l.type === "linear") {
      layers.push({run: linear, n: l["in"], m: l.out, w: floats(l.weight, l.out * l["in"]),
                   b: floats(l.bias, l.out)});
      shape = [l.out];
    } else if (l.type === "conv2d" || l.type === "conv_transpose2d") {
      var T = l.type === "conv_transpose2d", K = l.kernel[0] * l.kernel[1], cin = l["in"];
      var op = T ? l.output_padding : [0, 0], w = floats(l.weight, cin * l.out * K);
      if (T) {  // torch's order (in, out, i, j) -> (out, in, i, j)
        var wt = new Float32Array(w.length);
        for (var o = 0; o < l.out; o++) {
          for (var c = 0; c < cin; c++) {
            for (var k = 0; k < K; k++) wt[(o * cin + c) * K + k] = w[(c * l.out + o) * K + k];
          }
        }
        w = wt;
      }
      var H = shape[1], W = shape[2];
      var oh = outputSize(H, l.kernel[0], l.stride[0], l.padding[0], op[0], T);
      var ow = outputSize(W, l.kernel[1], l.stride[1], l.padding[1], op[1], T);
      layers.push({run: convolve, cin: cin, cout: l.out, kh: l.kernel[0], kw: l.kernel[1], w: w,
                   b: floats(l.bias, l.out), inH: H, inW: W, outH: oh, outW: ow,
                   rows: taps(H, oh, l.kernel[0], l.stride[0], l.padding[0], T),
                   cols: taps(W, ow, l.kernel[1], l.stride[1], l.padding[1], T)});
      shape = [l.out, oh, ow];
    } else if (l.type === "reshape") {
      shape = l.shape;  // the values stay where they are
    } else {
      if (!activations[l.type]) throw new Error("kexueNet: unknown layer " + l.type);
      layers.push({run: activate, f: activations[l.type], p: l});
    }
  });
  return function decode(z) {
    if (z.length !== payload.latent_dim) {
      throw new Error("kexueNet: z must have " + payload.latent_dim + " entries");
    }
    var x = Float64Array.from(z);
    for (var k = 0; k < layers.length; k++) x = layers[k].run(layers[k], x);
    return Float32Array.from(x);
  };
}
"""
