"""The poetry language model with softmax or linear attention."""
import math

import pytest
import torch

from kexue.sequences.language_model import CharLanguageModel, next_token_loss, perplexity, step_function

KINDS = ["softmax", "linear"]


def small(kind, **kw):
    return CharLanguageModel(20, dim=16, heads=2, layers=2, kind=kind, dropout=0.0, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_is_causal_and_right_padding_changes_nothing(kind):
    torch.manual_seed(0)
    model = small(kind).eval()
    tokens = torch.tensor([[2, 5, 6, 7, 8, 3]])
    logits = model(tokens)
    changed = tokens.clone()
    changed[0, 3:] = 9
    torch.testing.assert_close(model(changed)[:, :3], logits[:, :3])
    padded = torch.tensor([[2, 5, 6, 7, 8, 3, 0, 0]])
    torch.testing.assert_close(model(padded)[:, :6], logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_an_untrained_model_is_near_uniform_and_training_lowers_perplexity(kind):
    """At initialisation the perplexity is close to the vocabulary size; on a corpus of one
    repeated line it falls towards 1."""
    torch.manual_seed(0)
    model = small(kind)
    tokens = torch.tensor([[2, 5, 6, 7, 8, 9, 3]]).repeat(32, 1)
    start = perplexity(model, tokens)
    assert 10 < start < 40
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss, _ = next_token_loss(model, tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert perplexity(model, tokens) < 1.1
    assert math.isclose(perplexity(model, tokens, batch_size=5), perplexity(model, tokens),
                        rel_tol=1e-5)


def test_perplexity_ignores_padding():
    torch.manual_seed(0)
    model = small("linear").eval()
    a = torch.tensor([[2, 5, 6, 3, 0, 0], [2, 7, 8, 9, 10, 3]])
    nll = []
    for row, n in ((a[0, :4], 3), (a[1], 5)):
        nll.append(math.log(perplexity(model, row[None])) * n)
    assert perplexity(model, a) == pytest.approx(math.exp(sum(nll) / 8), rel=1e-5)


def test_step_function_gives_the_last_position():
    torch.manual_seed(0)
    model = small("softmax").eval()
    prefix = torch.tensor([[2, 5, 6], [2, 7, 8]])
    torch.testing.assert_close(step_function(model)(prefix, torch.tensor([0, 0])),
                               model(prefix)[:, -1])


@pytest.mark.parametrize("call, match", [
    (lambda: small("softmax", max_length=4)(torch.tensor([[2, 5, 6, 7, 8]])), "limit of 4"),
    (lambda: small("linear")(torch.tensor([[2, 25]])), "token ids must lie"),
    (lambda: small("cosine"), "unknown kind"),
    (lambda: perplexity(small("softmax"), torch.tensor([[2, 0]])), "nothing to predict"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
