"""Linear attention (post 7546) against the O(n²) weights written out in float64: values and
gradients, causal and not, for every feature map and for lengths that do and do not fill the
chunks; softmax attention against PyTorch's; the layer against nn.MultiheadAttention."""
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from kexue.sequences import linear_attention as la

CAUSAL_MAPS = [name for name, fmap in la.FEATURE_MAPS.items() if not fmap.along_sequence]
CHUNK = 64


def qkv(n, m=None, *, batch=2, heads=3, d=8, e=5, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    return tuple(torch.randn(batch, heads, length, size, generator=gen, dtype=dtype, requires_grad=True)
                 for length, size in ((n, d), (m, d), (m, e)))


def reference(q, k, v, name, *, causal, key_padding_mask=None, eps=1e-6):
    """Σ_j w_ij v_j / (Σ_j w_ij + eps) with the n × m weights w = φ(Q) φ(K)ᵀ written out in float64,
    zero above the diagonal (causal) and at padded keys."""
    q, k, v = (t.double() for t in (q, k, v))
    fmap = la.FEATURE_MAPS[name]
    if fmap.along_sequence and key_padding_mask is not None:
        k = k.masked_fill(key_padding_mask[:, None, :, None], -math.inf)
    w = fmap.query(q) @ fmap.key(k).transpose(-1, -2)
    if causal:
        w = w * torch.ones(w.shape[-2:], dtype=w.dtype).tril()
    if key_padding_mask is not None:
        w = w.masked_fill(key_padding_mask[:, None, None, :], 0)
    return (w @ v) / (w.sum(-1, keepdim=True) + eps)


def values_and_grads(fn, q, k, v, seed=1):
    out = fn(q, k, v)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return (out, *torch.autograd.grad((out * g).sum(), (q, k, v)))


def assert_close_all(ours, theirs, **tol):
    for a, b, what in zip(ours, theirs, ("output", "dq", "dk", "dv")):
        torch.testing.assert_close(a.double(), b.double(), msg=lambda m, w=what: f"{w}: {m}", **tol)


# -- the feature maps ----------------------------------------------------------------------------
def test_the_feature_maps_are_the_formulas():
    x = torch.randn(4, 7, dtype=torch.float64)
    torch.testing.assert_close(la.elu_plus_one(x), torch.where(x > 0, x + 1, x.exp()))
    torch.testing.assert_close(la.relu_features(x), x.clamp(min=0))
    torch.testing.assert_close(la.softmax_features(x), x.exp() / x.exp().sum(-1, keepdim=True))
    torch.testing.assert_close(la.sequence_softmax(x), x.exp() / x.exp().sum(0, keepdim=True))
    y = torch.randn(4, 7, dtype=torch.float64)
    taylor = (la.taylor_features(x) * la.taylor_features(y)).sum(-1)
    torch.testing.assert_close(taylor, 1 + F.cosine_similarity(x, y, dim=-1))
    assert la.taylor_features(x).shape == (4, 8) and bool((taylor >= 0).all())


def test_efficient_attention_weights_sum_to_one_by_themselves():
    q, k, _ = qkv(9, 11)
    fmap = la.FEATURE_MAPS["efficient"]
    w = fmap.query(q) @ fmap.key(k).transpose(-1, -2)
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=w.dtype))


# -- causal: chunked and naive against the written-out weights -----------------------------------
@pytest.mark.parametrize("name", CAUSAL_MAPS)
@pytest.mark.parametrize("n", [1, 7, 64, 65, 200])
def test_causal_linear_attention_matches_the_masked_weights(name, n):
    q, k, v = qkv(n)
    ours = values_and_grads(lambda *t: la.causal_linear_attention(*t, feature_map=name,
                                                                  chunk_size=CHUNK), q, k, v)
    theirs = values_and_grads(lambda *t: reference(*t, name, causal=True), q, k, v)
    assert_close_all(ours, theirs, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", CAUSAL_MAPS)
def test_naive_prefix_sums_equal_the_chunks(name):
    q, k, v = qkv(70)
    naive = values_and_grads(lambda *t: la.naive_causal_linear_attention(*t, feature_map=name), q, k, v)
    chunked = values_and_grads(lambda *t: la.causal_linear_attention(*t, feature_map=name,
                                                                     chunk_size=16), q, k, v)
    assert_close_all(naive, chunked, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("chunk_size", [1, 3, 50, 64, 500])
def test_the_chunk_size_changes_nothing_but_the_work(chunk_size):
    q, k, v = qkv(50)
    ours = la.causal_linear_attention(q, k, v, chunk_size=chunk_size)
    torch.testing.assert_close(ours, reference(q, k, v, "elu+1", causal=True), rtol=1e-9, atol=1e-10)


def test_causal_with_padded_keys_ignores_them():
    q, k, v = qkv(30)
    pad = torch.zeros(2, 30, dtype=torch.bool)
    pad[0, 20:] = True
    pad[1, :4] = True  # left padding: the first queries see no key and give zero
    for fn in (partial(la.causal_linear_attention, chunk_size=8), la.naive_causal_linear_attention):
        ours = values_and_grads(lambda *t: fn(*t, key_padding_mask=pad), q, k, v)
        theirs = values_and_grads(lambda *t: reference(*t, "elu+1", causal=True, key_padding_mask=pad),
                                  q, k, v)
        assert_close_all(ours, theirs, rtol=1e-9, atol=1e-10)


def test_float32_over_a_long_sequence_stays_close_to_float64():
    q, k, v = qkv(3000, batch=1, heads=2, d=16, e=16, dtype=torch.float32)
    ours = la.causal_linear_attention(q, k, v)
    torch.testing.assert_close(ours.double(), reference(q, k, v, "elu+1", causal=True),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [la.causal_linear_attention, la.naive_causal_linear_attention])
def test_causal_output_does_not_see_the_future(fn):
    q, k, v = qkv(100, dtype=torch.float32)
    t = 37
    before = fn(q, k, v)
    later = [x.detach().clone() for x in (q, k, v)]
    for x in later:
        x[:, :, t + 1:] = torch.randn_like(x[:, :, t + 1:]) * 5
    after = fn(*later)
    torch.testing.assert_close(after[:, :, :t + 1], before[:, :, :t + 1], rtol=0, atol=0)
    assert not torch.allclose(after[:, :, t + 1:], before[:, :, t + 1:])


# -- non-causal ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(la.FEATURE_MAPS))
@pytest.mark.parametrize("padded", [False, True])
def test_linear_attention_matches_the_weights(name, padded):
    q, k, v = qkv(13, 21)
    pad = None
    if padded:
        pad = torch.zeros(2, 21, dtype=torch.bool)
        pad[0, 15:] = pad[1, :2] = True
    ours = values_and_grads(lambda *t: la.linear_attention(*t, feature_map=name, key_padding_mask=pad),
                            q, k, v)
    theirs = values_and_grads(lambda *t: reference(*t, name, causal=False, key_padding_mask=pad), q, k, v)
    assert_close_all(ours, theirs, rtol=1e-9, atol=1e-10)


# -- gradcheck ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["elu+1", "taylor"])
def test_gradcheck(name):
    q, k, v = qkv(5, batch=1, heads=2, d=3, e=2)
    assert torch.autograd.gradcheck(
        lambda *t: la.causal_linear_attention(*t, feature_map=name, chunk_size=2), (q, k, v))
    assert torch.autograd.gradcheck(
        lambda *t: la.naive_causal_linear_attention(*t, feature_map=name), (q, k, v))
    assert torch.autograd.gradcheck(lambda *t: la.linear_attention(*t, feature_map=name), (q, k, v))


# -- softmax attention and the layer ---------------------------------------------------------------
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_softmax_attention_is_pytorchs(causal, padded):
    q, k, v = qkv(12)
    pad = None
    if padded:
        pad = torch.zeros(2, 12, dtype=torch.bool)
        pad[0, 9:] = True
    ours = values_and_grads(lambda *t: la.softmax_attention(*t, causal=causal, key_padding_mask=pad),
                            q, k, v)
    mask = None
    if padded:
        mask = ~pad[:, None, None, :]
        if causal:
            mask = mask & torch.ones(12, 12, dtype=torch.bool).tril()
    theirs = values_and_grads(lambda *t: F.scaled_dot_product_attention(
        *t, attn_mask=mask, is_causal=causal and not padded), q, k, v)
    assert_close_all(ours, theirs, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_the_softmax_layer_is_nn_multihead_attention(causal, padded):
    torch.manual_seed(0)
    ours = la.MultiHeadAttention(12, 3, kind="softmax", causal=causal).double()
    theirs = torch.nn.MultiheadAttention(12, 3, batch_first=True).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.in_proj_bias.copy_(ours.qkv.bias)
        theirs.out_proj.weight.copy_(ours.out.weight)
        theirs.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    pad = None
    if padded:
        pad = torch.zeros(2, 9, dtype=torch.bool)
        pad[1, 6:] = True
    causal_mask = ~torch.ones(9, 9, dtype=torch.bool).tril() if causal else None
    expected, _ = theirs(x, x, x, key_padding_mask=pad, attn_mask=causal_mask, need_weights=False)
    torch.testing.assert_close(ours(x, key_padding_mask=pad), expected)


@pytest.mark.parametrize("causal", [False, True])
def test_the_linear_layer_is_the_function_on_its_projections(causal):
    torch.manual_seed(0)
    layer = la.MultiHeadAttention(12, 3, kind="linear", causal=causal, feature_map="taylor",
                                  chunk_size=4).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    q, k, v = (t.view(2, 9, 3, 4).transpose(1, 2) for t in layer.qkv(x).split(12, dim=-1))
    y = reference(q, k, v, "taylor", causal=causal).transpose(1, 2).reshape(2, 9, 12)
    torch.testing.assert_close(layer(x), layer.out(y))


@pytest.mark.parametrize("kind", la.KINDS)
def test_the_causal_layer_does_not_see_the_future(kind):
    torch.manual_seed(0)
    layer = la.MultiHeadAttention(16, 4, kind=kind, chunk_size=8)
    x = torch.randn(2, 30, 16)
    later = x.clone()
    later[:, 20:] = torch.randn(2, 10, 16)
    torch.testing.assert_close(layer(later)[:, :20], layer(x)[:, :20], rtol=0, atol=0)


# -- bad input ----------------------------------------------------------------------------------
FUNCTIONS = [la.softmax_attention, la.linear_attention, la.causal_linear_attention,
             la.naive_causal_linear_attention]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_tensors_are_named(fn):
    q, k, v = qkv(6, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"q must be 4-D, got a 3-D tensor"):
        fn(q[0], k, v)
    with pytest.raises(TypeError, match="k must have a real floating dtype"):
        fn(q, k.long(), v)
    with pytest.raises(TypeError, match="v must be a torch.Tensor, got list"):
        fn(q, k, [[1.0]])
    with pytest.raises(TypeError, match="share one dtype"):
        fn(q, k, v.double())
    with pytest.raises(ValueError, match="share batch and heads"):
        fn(q, k[:, :2], v[:, :2])
    with pytest.raises(ValueError, match="share their feature size"):
        fn(q, k[..., :4], v)
    with pytest.raises(ValueError, match="share their feature size"):
        fn(q, k, v[:, :, :5])
    with pytest.raises(ValueError, match="must be non-empty"):
        fn(q[:, :, :0], k, v)
    with pytest.raises(TypeError, match="key_padding_mask must be a bool tensor, got torch.int64"):
        fn(q, k, v, key_padding_mask=torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \[batch, keys\] = \(2, 6\)"):
        fn(q, k, v, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="hides every key of some sequence"):
        fn(q, k, v, key_padding_mask=torch.tensor([[False] * 6, [True] * 6]))


@pytest.mark.parametrize("fn", FUNCTIONS[1:])
def test_unknown_feature_maps_are_named_with_the_known_ones(fn):
    q, k, v = qkv(6, dtype=torch.float32)
    with pytest.raises(ValueError, match="unknown feature map 'exp'; known: elu\\+1, relu, softmax, "
                                         "efficient, taylor"):
        fn(q, k, v, feature_map="exp")


@pytest.mark.parametrize("fn", [la.causal_linear_attention, la.naive_causal_linear_attention])
def test_causal_forms_refuse_what_they_cannot_do(fn):
    q, k, v = qkv(6, dtype=torch.float32)
    with pytest.raises(ValueError, match="'efficient' normalises the keys over the whole sequence and "
                                         "cannot be causal; causal ones: elu\\+1, relu, softmax, taylor"):
        fn(q, k, v, feature_map="efficient")
    with pytest.raises(ValueError, match="causal attention needs as many queries as keys"):
        fn(q[:, :, :5], k, v)
    with pytest.raises(ValueError, match="eps must be positive, got 0.0"):
        fn(q, k, v, eps=0)


def test_bad_chunk_sizes_are_named():
    q, k, v = qkv(6, dtype=torch.float32)
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="chunk_size must be a positive int"):
            la.causal_linear_attention(q, k, v, chunk_size=bad)


def test_the_layer_refuses_bad_settings_and_input():
    with pytest.raises(ValueError, match="dim must be a multiple of heads, got dim 10 and heads 3"):
        la.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="unknown kind 'sparse'; known: softmax, linear"):
        la.MultiHeadAttention(12, 3, kind="sparse")
    with pytest.raises(ValueError, match="unknown feature map 'exp'"):
        la.MultiHeadAttention(12, 3, kind="linear", feature_map="exp")
    with pytest.raises(ValueError, match="cannot be causal"):
        la.MultiHeadAttention(12, 3, kind="linear", feature_map="efficient")
    la.MultiHeadAttention(12, 3, kind="linear", feature_map="efficient", causal=False)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        la.MultiHeadAttention(12, 3, kind="linear", chunk_size=0)
    layer = la.MultiHeadAttention(12, 3)
    with pytest.raises(ValueError, match=r"x must be \[batch, n, 12\], got shape \(2, 5, 8\)"):
        layer(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="x must be 3-D"):
        layer(torch.randn(5, 12))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \[batch, keys\] = \(2, 5\)"):
        layer(torch.randn(2, 5, 12), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
