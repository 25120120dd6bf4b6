"""The title models of post 5861: the LSTM encoder-decoder with attention and the Transformer,
with and without the prior over the input's characters."""
import pytest
import torch

from kexue.sequences.seq2seq import (
    InputPrior,
    TitleSeq2Seq,
    TitleTransformer,
    step_function,
    teacher_forcing_loss,
)

MODELS = {"lstm": lambda dim=16, **kw: TitleSeq2Seq(30, dim=dim, hidden=dim, **kw),
          "transformer": lambda dim=16, **kw: TitleTransformer(30, dim=dim, heads=2, feedforward=32,
                                                               dropout=0.0, **kw)}


def batch():
    source = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    target = torch.tensor([[2, 5, 7, 3], [2, 12, 3, 0]])
    return source, target


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("prior", [True, False])
def test_logits_are_causal_and_ignore_source_padding(kind, prior):
    torch.manual_seed(0)
    model = MODELS[kind](input_prior=prior).eval()
    source, target = batch()
    logits = model(source, target)
    assert logits.shape == (2, 4, 30)
    changed = target.clone()
    changed[:, 2:] = 20  # the future does not reach back
    torch.testing.assert_close(model(source, changed)[:, :2], logits[:, :2])
    trimmed = model(source[1:, :3], target[1:])  # the same source without its padding
    torch.testing.assert_close(trimmed, logits[1:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", MODELS)
def test_step_function_gives_the_last_logits_of_each_rows_source(kind):
    torch.manual_seed(0)
    model = MODELS[kind]().eval()
    source, target = batch()
    step = step_function(model, source)
    rows = torch.tensor([1, 0, 1])
    prefix = target[[1, 0, 1], :2]
    expected = model(source[rows], prefix)[:, -1]
    torch.testing.assert_close(step(prefix, rows), expected, atol=1e-5, rtol=1e-5)


def test_prior_is_the_post_average_with_a_bonus_for_present_characters():
    prior = InputPrior(8)
    with torch.no_grad():
        prior.scale.fill_(4.0)
        prior.shift.fill_(1.0)
    source = torch.tensor([[5, 6, 0, 2]])
    chi = prior.presence(source)
    assert chi.tolist() == [[0, 0, 0, 0, 0, 1, 1, 0]]  # reserved ids never count
    logits = torch.zeros(1, 8)
    torch.testing.assert_close(prior(logits, chi), (4.0 * chi + 1.0) / 2)


@pytest.mark.parametrize("kind", MODELS)
def test_models_learn_to_copy_a_title_from_the_input(kind):
    """A toy title: the source's first two characters; each model fits it."""
    torch.manual_seed(0)
    source = torch.randint(4, 30, (128, 6))
    target = torch.cat([torch.full((128, 1), 2), source[:, :2], torch.full((128, 1), 3)], 1)
    model = MODELS[kind](dim=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss, logs = teacher_forcing_loss(model, source, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["accuracy"] > 0.95


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("call, match", [
    (lambda m: m(torch.zeros(1, 3), torch.tensor([[2]])), "source must be an int64"),
    (lambda m: m(torch.tensor([[5, 40]]), torch.tensor([[2]])), r"source: token ids must lie"),
    (lambda m: m(torch.zeros(1, 0, dtype=torch.long), torch.tensor([[2]])), "source is empty"),
    (lambda m: m(torch.tensor([[0, 0]]), torch.tensor([[2]])), "only padding"),
    (lambda m: m(torch.ones(1, 200, dtype=torch.long) * 5, torch.tensor([[2]])),
     "more than the model's limit of 128"),
    (lambda m: m(torch.tensor([[5]]), torch.full((1, 65), 5)), "target_in has 65 positions"),
])
def test_bad_input_is_named(kind, call, match):
    with pytest.raises(ValueError, match=match):
        call(MODELS[kind]())


def test_the_self_terminating_head_gives_distributions_whose_stop_probability_cannot_fall():
    torch.manual_seed(0)
    model = TitleSeq2Seq(30, dim=16, hidden=16, head="self-terminating", epsilon=0.1).eval()
    source, _ = batch()
    target = torch.randint(4, 30, (2, 12))
    log_p = model(source, target)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(2, 12))
    stop = log_p[..., 3].exp()
    assert bool((stop[:, 1:] >= stop[:, :-1] - 1e-6).all())
    assert bool((stop >= 1 - 0.9 ** torch.arange(1, 13)).all())


@pytest.mark.parametrize("kw, match", [(dict(head="sparsemax"), "head must be one of"),
                                       (dict(head="self-terminating"), "needs epsilon")])
def test_bad_heads_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        TitleSeq2Seq(30, **kw)


def test_attention_weights_sum_to_one_over_the_real_source_characters():
    torch.manual_seed(0)
    model = TitleSeq2Seq(30, dim=16, hidden=16).eval()
    source, target = batch()
    weights = model.attention(source, target)
    assert weights.shape == (2, 4, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))
    assert bool((weights[1, :, 3:] == 0).all())  # the padding of the second poem gets none
