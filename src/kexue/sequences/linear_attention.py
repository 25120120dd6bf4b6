"""Linear attention: attention without the softmax over q·k (post 7546).

Scaled dot-product attention is a weighted mean of the values,

    out_i = Σ_j sim(q_i, k_j) v_j / Σ_j sim(q_i, k_j),      sim(q, k) = exp(q·k / √d),

and the n × n matrix of weights makes it cost O(n²) in time and memory. Any non-negative
``sim`` keeps it a weighted mean. With a kernel, sim(q, k) = φ(q)·φ(k), the products reassociate,

    out = φ(Q) (φ(K)ᵀ V) / φ(Q) (φ(K)ᵀ 1),

and the d × d summary φ(K)ᵀV replaces the n × n matrix: O(n) in the length. Made causal, the sums
run over j ≤ i only, S_i = Σ_{j≤i} φ(k_j) v_jᵀ and z_i = Σ_{j≤i} φ(k_j), out_i = φ(q_i)ᵀS_i / φ(q_i)ᵀz_i:
an RNN whose state is (S, z).

:data:`FEATURE_MAPS` names the kernels: "elu+1" (Katharopoulos et al.), "relu", "softmax" (a
softmax over the features of each query and key), "efficient" (Shen et al.: queries softmaxed
over their features, keys over the sequence; the weights then sum to one by themselves, but a key
sees the whole sequence, so it cannot be causal) and "taylor" (the post's own: e^{q·k} ≈ 1 + q·k
with q, k scaled to unit length, so the weight is ≥ 0). :func:`linear_attention` is the non-causal
form; :func:`causal_linear_attention` is the causal one computed in chunks (quadratic inside a
chunk, the state (S, z) carried across chunks), :func:`naive_causal_linear_attention` the literal
prefix sums (memory O(n d²)); :func:`softmax_attention` is the O(n²) reference and
:class:`MultiHeadAttention` the layer a Transformer block uses, with either kind.

Tensors are shaped [batch, heads, length, features]; a ``key_padding_mask`` is a bool
[batch, keys] tensor, True at the padding to ignore (as in :class:`torch.nn.MultiheadAttention`).

Serves chapters/part6-sequences/linear-attention.ipynb (post 7546); the benchmark
``python -m kexue bench linear-attention`` is in :mod:`kexue.sequences.attention_bench`.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import float_tensor, positive, positive_int

__all__ = ["FeatureMap", "FEATURE_MAPS", "elu_plus_one", "relu_features", "softmax_features",
           "sequence_softmax", "taylor_features", "get_feature_map", "softmax_attention",
           "linear_attention", "causal_linear_attention", "naive_causal_linear_attention",
           "MultiHeadAttention"]

KINDS = ("softmax", "linear")


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1: x + 1 for x > 0, e^x otherwise; positive and smooth."""
    return F.elu(x) + 1


def relu_features(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = max(x, 0); a weight is zero wherever a query and a key share no positive feature."""
    return F.relu(x)


def softmax_features(x: torch.Tensor) -> torch.Tensor:
    """φ(x)_f = e^{x_f} / Σ_g e^{x_g}: a softmax over the last (feature) dimension."""
    return x.softmax(dim=-1)


def sequence_softmax(x: torch.Tensor) -> torch.Tensor:
    """φ(x)_{jf} = e^{x_{jf}} / Σ_l e^{x_{lf}}: a softmax over the sequence (dimension -2), so that
    each feature's column sums to one; positions filled with -inf get weight zero."""
    return x.softmax(dim=-2)


def taylor_features(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = [1, x / ‖x‖]: then φ(q)·φ(k) = 1 + cos(q, k) ≥ 0, the first-order Taylor form
    e^{q̂·k̂} ≈ 1 + q̂·k̂ with unit q̂, k̂ (one more feature than x)."""
    return torch.cat([torch.ones_like(x[..., :1]), F.normalize(x, dim=-1)], dim=-1)


class FeatureMap(NamedTuple):
    """The features of the queries and of the keys; ``along_sequence`` when the key map mixes
    positions (it then cannot serve causal attention)."""
    query: Callable[[torch.Tensor], torch.Tensor]
    key: Callable[[torch.Tensor], torch.Tensor]
    along_sequence: bool = False


#: the kernels by name
FEATURE_MAPS = {
    "elu+1": FeatureMap(elu_plus_one, elu_plus_one),
    "relu": FeatureMap(relu_features, relu_features),
    "softmax": FeatureMap(softmax_features, softmax_features),
    "efficient": FeatureMap(softmax_features, sequence_softmax, along_sequence=True),
    "taylor": FeatureMap(taylor_features, taylor_features),
}


def get_feature_map(name: str, *, causal: bool = False) -> FeatureMap:
    """The :class:`FeatureMap` called ``name`` (one that can be causal where ``causal``)."""
    if name not in FEATURE_MAPS:
        raise ValueError(f"unknown feature map {name!r}; known: {', '.join(FEATURE_MAPS)}")
    fmap = FEATURE_MAPS[name]
    if causal and fmap.along_sequence:
        usable = ", ".join(n for n, m in FEATURE_MAPS.items() if not m.along_sequence)
        raise ValueError(f"feature map {name!r} normalises the keys over the whole sequence and "
                         f"cannot be causal; causal ones: {usable}")
    return fmap


def _check_qkv(q, k, v, key_padding_mask, *, same_length: bool):
    """Check q [b, h, n, d], k [b, h, m, d], v [b, h, m, e] of one floating dtype (n = m where
    ``same_length``); return the positions to keep, a bool [b, m] tensor, or None."""
    q = float_tensor(q, "q", ndim=4, nonempty=True, finite=False)
    k = float_tensor(k, "k", ndim=4, nonempty=True, finite=False)
    v = float_tensor(v, "v", ndim=4, nonempty=True, finite=False)
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[:2] != k.shape[:2] or k.shape[:2] != v.shape[:2]:
        raise ValueError(f"q, k and v must share batch and heads [b, h, ., .], got {shapes}")
    if q.shape[3] != k.shape[3] or k.shape[2] != v.shape[2]:
        raise ValueError("q and k must share their feature size, k and v their length "
                         f"(q [b, h, n, d], k [b, h, m, d], v [b, h, m, e]), got {shapes}")
    if same_length and q.shape[2] != k.shape[2]:
        raise ValueError(f"causal attention needs as many queries as keys, got {shapes}")
    return _keep(key_padding_mask, k.shape[0], k.shape[2])


def _keep(key_padding_mask, batch: int, keys: int):
    """The positions to keep (``~key_padding_mask``) after checking the mask, or None."""
    if key_padding_mask is None:
        return None
    if not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.dtype != torch.bool:
        raise TypeError("key_padding_mask must be a bool tensor, got "
                        f"{getattr(key_padding_mask, 'dtype', type(key_padding_mask).__name__)}")
    if key_padding_mask.shape != (batch, keys):
        raise ValueError(f"key_padding_mask must have shape [batch, keys] = {(batch, keys)}, "
                         f"got {tuple(key_padding_mask.shape)}")
    if bool(key_padding_mask.all(dim=1).any()):
        raise ValueError("key_padding_mask hides every key of some sequence: its queries would "
                         "attend to nothing")
    return ~key_padding_mask


def _features(fmap: FeatureMap, q, k, keep):
    """φ(q), φ(k), with the keys at padding (``keep`` False) given zero features."""
    if keep is None:
        return fmap.query(q), fmap.key(k)
    keep = keep[:, None, :, None]
    if fmap.along_sequence:
        return fmap.query(q), fmap.key(k.masked_fill(~keep, -math.inf))
    return fmap.query(q), fmap.key(k) * keep


def _with_ones(v: torch.Tensor) -> torch.Tensor:
    """[v, 1]: one product with it gives both the numerator Σ w v and the normaliser Σ w."""
    return torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)


def softmax_attention(q, k, v, *, causal: bool = False, key_padding_mask=None) -> torch.Tensor:
    """softmax(Q Kᵀ / √d + mask) V, the n × m weights made explicit: the O(n²) reference
    (``causal``: query i sees keys j ≤ i)."""
    keep = _check_qkv(q, k, v, key_padding_mask, same_length=False)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool,
                                                device=q.device).tril(), -math.inf)
    if keep is not None:
        scores = scores.masked_fill(~keep[:, None, None, :], -math.inf)
    return scores.softmax(dim=-1) @ v


def linear_attention(q, k, v, *, feature_map: str = "elu+1", key_padding_mask=None,
                     eps: float = 1e-6) -> torch.Tensor:
    """out = φ(Q) (φ(K)ᵀ V) / (φ(Q) (φ(K)ᵀ 1) + eps), non-causal: O(n d e) time, a d × e summary
    of the keys and values in place of the n × m weights."""
    keep = _check_qkv(q, k, v, key_padding_mask, same_length=False)
    eps = positive(eps, "eps")
    fq, fk = _features(get_feature_map(feature_map), q, k, keep)
    out = fq @ (fk.transpose(-1, -2) @ _with_ones(v))
    return out[..., :-1] / (out[..., -1:] + eps)


def causal_linear_attention(q, k, v, *, feature_map: str = "elu+1", key_padding_mask=None,
                            chunk_size: int = 64, eps: float = 1e-6) -> torch.Tensor:
    """out_i = φ(q_i)ᵀ S_i / (φ(q_i)ᵀ z_i + eps), S_i = Σ_{j≤i} φ(k_j) v_jᵀ, z_i = Σ_{j≤i} φ(k_j),
    computed in chunks of ``chunk_size`` positions: inside a chunk the masked weights
    tril(φ(Q_c) φ(K_c)ᵀ) times V_c, plus φ(Q_c) times the state (S, z) summed over the earlier
    chunks (a cumulative sum of the chunks' φ(K_c)ᵀ [V_c, 1]). Memory O(n (c + d e / c))."""
    keep = _check_qkv(q, k, v, key_padding_mask, same_length=True)
    chunk = min(positive_int(chunk_size, "chunk_size"), q.shape[2])
    eps = positive(eps, "eps")
    fq, fk = _features(get_feature_map(feature_map, causal=True), q, k, keep)
    v1 = _with_ones(v)
    (b, h, n, _), e1 = q.shape, v1.shape[-1]
    pad = -n % chunk
    if pad:  # zero keys and values past the end add nothing to any sum
        fq, fk, v1 = (F.pad(t, (0, 0, 0, pad)) for t in (fq, fk, v1))
    m = (n + pad) // chunk
    fq, fk, v1 = (t.reshape(b, h, m, chunk, -1) for t in (fq, fk, v1))
    inside = (fq @ fk.transpose(-1, -2)).tril() @ v1
    states = fk.transpose(-1, -2) @ v1  # [b, h, m, f, e + 1]: each chunk's Σ φ(k) [v, 1]ᵀ
    before = F.pad(states[:, :, :-1].cumsum(dim=2), (0, 0, 0, 0, 1, 0))  # sums over earlier chunks
    out = (inside + fq @ before).reshape(b, h, m * chunk, e1)[:, :, :n]
    return out[..., :-1] / (out[..., -1:] + eps)


def naive_causal_linear_attention(q, k, v, *, feature_map: str = "elu+1", key_padding_mask=None,
                                  eps: float = 1e-6) -> torch.Tensor:
    """The same as :func:`causal_linear_attention`, literally: S_i = cumsum_i φ(k_i) v_iᵀ and
    z_i = cumsum_i φ(k_i) held for every i at once, memory O(n d e)."""
    keep = _check_qkv(q, k, v, key_padding_mask, same_length=True)
    eps = positive(eps, "eps")
    fq, fk = _features(get_feature_map(feature_map, causal=True), q, k, keep)
    states = (fk.unsqueeze(-1) * v.unsqueeze(-2)).cumsum(dim=2)  # [b, h, n, f, e]
    sums = fk.cumsum(dim=2)
    numerator = (fq.unsqueeze(-2) @ states).squeeze(-2)
    return numerator / ((fq * sums).sum(dim=-1, keepdim=True) + eps)


class MultiHeadAttention(nn.Module):
    """Self-attention of x [batch, n, dim] over ``heads`` heads of dim / heads features:
    Q, K, V = x W_q, x W_k, x W_v split into heads, attention per head, heads joined, times W_o.
    ``kind`` "softmax" uses :func:`torch.nn.functional.scaled_dot_product_attention`; "linear"
    uses :func:`causal_linear_attention` (``causal``) or :func:`linear_attention` with
    ``feature_map``."""

    def __init__(self, dim: int, heads: int, *, kind: str = "softmax", causal: bool = True,
                 feature_map: str = "elu+1", chunk_size: int = 64, bias: bool = True):
        super().__init__()
        dim, heads = positive_int(dim, "dim"), positive_int(heads, "heads")
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim {dim} and heads {heads}")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        if kind == "linear":
            get_feature_map(feature_map, causal=causal)
        self.dim, self.heads, self.kind, self.causal = dim, heads, kind, bool(causal)
        self.feature_map, self.chunk_size = feature_map, positive_int(chunk_size, "chunk_size")
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, key_padding_mask=None) -> torch.Tensor:
        x = float_tensor(x, "x", ndim=3, nonempty=True, finite=False)
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must be [batch, n, {self.dim}], got shape {tuple(x.shape)}")
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if self.kind == "linear" and self.causal:
            y = causal_linear_attention(q, k, v, feature_map=self.feature_map,
                                        key_padding_mask=key_padding_mask, chunk_size=self.chunk_size)
        elif self.kind == "linear":
            y = linear_attention(q, k, v, feature_map=self.feature_map,
                                 key_padding_mask=key_padding_mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self._sdpa_mask(b, n, key_padding_mask),
                                               is_causal=self.causal and key_padding_mask is None)
        return self.out(y.transpose(1, 2).reshape(b, n, self.dim))

    def _sdpa_mask(self, b: int, n: int, key_padding_mask):
        """The bool mask (True: attend) for SDPA when keys are padded: [batch, 1, 1 or n, n]."""
        keep = _keep(key_padding_mask, b, n)
        if keep is None:
            return None
        keep = keep[:, None, None, :]
        if self.causal:
            keep = keep & torch.ones(n, n, dtype=torch.bool, device=keep.device).tril()
        return keep

    def extra_repr(self) -> str:
        linear = f", feature_map={self.feature_map!r}" if self.kind == "linear" else ""
        return f"dim={self.dim}, heads={self.heads}, kind={self.kind!r}, causal={self.causal}{linear}"
