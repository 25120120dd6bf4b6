"""The character sentiment classifier split at its embeddings: padding does not change a review's
logits, the embedding-space forward is the model, and integrated gradients through the embeddings
agree with captum's LayerIntegratedGradients on the embedding layer."""
import pytest
import torch

from kexue.classifiers import attribution as A
from kexue.classifiers.text_classifier import CharCNNClassifier, embedding_forward


def model_and_reviews():
    torch.manual_seed(0)
    model = CharCNNClassifier(30, dim=8, channels=6, widths=(1, 3)).double().eval()
    tokens = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 4, 4, 10, 11, 12], [13, 0, 0, 0, 0, 0]])
    return model, tokens


def test_padding_does_not_change_a_reviews_logits():
    model, tokens = model_and_reviews()
    longer = torch.cat([tokens, torch.zeros(3, 5, dtype=torch.long)], 1)
    torch.testing.assert_close(model(longer), model(tokens), rtol=0, atol=1e-14)
    assert model.embed(tokens)[tokens == 0].abs().max() == 0


def test_the_embedding_forward_is_the_model_also_on_stacked_copies():
    model, tokens = model_and_reviews()
    forward = embedding_forward(model, tokens != 0)
    embedded = model.embed(tokens)
    torch.testing.assert_close(forward(embedded), model(tokens), rtol=0, atol=0)
    torch.testing.assert_close(forward(embedded.repeat(3, 1, 1)), model(tokens).repeat(3, 1))
    with pytest.raises(ValueError, match="not copies"):
        forward(embedded[:2])


def test_integrated_gradients_over_embeddings_match_captums_layer_attribution():
    captum = pytest.importorskip("captum.attr")
    model, tokens = model_and_reviews()
    embedded = model.embed(tokens).detach()
    target = torch.tensor([1, 0, 1])
    ours = A.integrated_gradients(embedding_forward(model, tokens != 0), embedded,
                                  torch.zeros_like(embedded), target, steps=16)
    layer = captum.LayerIntegratedGradients(model, model.embedding)
    theirs = layer.attribute(tokens, baselines=torch.zeros_like(tokens), target=target,
                             n_steps=16, method="riemann_middle")
    torch.testing.assert_close(ours, theirs, rtol=1e-7, atol=1e-12)
    forward = embedding_forward(model, tokens != 0)
    gap = A.completeness_gap(forward, ours, embedded, torch.zeros_like(embedded), target).abs()
    g = A.path_integrand(forward, embedded, torch.zeros_like(embedded),
                         torch.linspace(0, 1, 20001), target)
    assert (gap <= g.diff(dim=1).abs().sum(1) / 16 + 1e-12).all()  # the chapter's V(g)/n


def test_bad_tokens_are_named():
    model, tokens = model_and_reviews()
    with pytest.raises(ValueError, match="integer ids"):
        model(tokens.double())
    with pytest.raises(ValueError, match="widths must be odd"):
        CharCNNClassifier(30, widths=(2, 3))
    with pytest.raises(ValueError, match="mask must be"):
        model.classify(model.embed(tokens), tokens[:, :3] != 0)
