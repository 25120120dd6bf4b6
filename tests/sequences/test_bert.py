"""The book's BERT: the UniLM mask's visibility, no future target reaching a target's output
(gradients), MLM masking rates, a save/load round trip, Hugging Face's BertForMaskedLM as an
independent peer (its weights loaded, the same logits), and bad input."""
import pytest
import torch

from kexue.sequences import bert as B


def small(seed=0, **kw):
    torch.manual_seed(seed)
    return B.CharBert(40, dim=16, heads=2, layers=2, max_length=12, dropout=0.0, **kw).eval()


def test_unilm_visibility_on_constructed_segments():
    segments = torch.tensor([[0, 0, 0, 1, 1, 1]])
    seen = B.unilm_mask(segments)[0].int().tolist()
    assert seen == [[1, 1, 1, 0, 0, 0]] * 3 + [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]
    assert B.unilm_mask(torch.zeros(1, 4, dtype=torch.long)).all()  # no target: bidirectional


def test_no_future_target_reaches_a_targets_output():
    model = small()
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 0]])
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 0]])
    grabbed = {}

    def keep(_, __, out):
        out.retain_grad()
        grabbed["e"] = out

    hook = model.tokens.register_forward_hook(keep)
    hidden = model(tokens, segments, kind="unilm")
    hook.remove()
    w = torch.randn(16, generator=torch.Generator().manual_seed(0))  # (a sum of a layer norm is constant)
    for i in range(3, 7):  # each target position
        grabbed["e"].grad = None
        (hidden[0, i] * w).sum().backward(retain_graph=True)
        moved = grabbed["e"].grad[0].abs().sum(1)
        assert (moved[:i + 1] > 0).all()  # the source and the targets so far
        assert (moved[i + 1:] == 0).all()  # later targets and padding: exactly nothing
    grabbed["e"].grad = None
    (hidden[0, 1] * w).sum().backward()
    assert (grabbed["e"].grad[0].abs().sum(1)[3:] == 0).all()  # a source sees no target


def test_masking_rates():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, 39, (400, 500), generator=g)
    maskable = torch.rand(400, 500, generator=g) < 0.9
    inputs, targets = B.mask_tokens(tokens, maskable, mask_id=39, vocab_size=40, rate=0.15,
                                    generator=g, random_from=4)
    picked = targets != -100
    n = int(maskable.sum())
    assert abs(int(picked.sum()) / n - 0.15) < 4 * (0.15 * 0.85 / n) ** 0.5
    assert not (picked & ~maskable).any()
    assert torch.equal(targets[picked], tokens[picked])
    k = int(picked.sum())
    masked = (inputs[picked] == 39).sum() / k
    kept = (inputs[picked] == tokens[picked]).sum() / k
    assert abs(float(masked) - 0.8) < 0.01 and abs(float(kept) - 0.1 - 0.1 / 35) < 0.01
    assert torch.equal(inputs[~picked], tokens[~picked])
    assert ((inputs >= 4) | (inputs == tokens)).all()  # random ids from random_from on


def test_save_and_load_give_identical_logits(tmp_path):
    model = small()
    tokens = torch.tensor([[5, 6, 7, 39, 0], [8, 9, 10, 11, 12]])
    path = B.save(model, list("abc"), tmp_path / "bert.pt")
    again, chars = B.load(path, config=model.config, chars=list("abc"))
    assert chars == list("abc")
    assert torch.equal(again.mlm_logits(again(tokens)), model.mlm_logits(model(tokens)))
    other = dict(model.config, layers=3)
    with pytest.raises(B.CheckpointMismatch, match="layers=2"):
        B.load(path, config=other)
    with pytest.raises(B.CheckpointMismatch, match="another vocabulary"):
        B.load(path, chars=list("abd"))


def test_a_hugging_face_bert_loads_and_gives_the_same_logits():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64,
                                     max_position_embeddings=12, hidden_act="gelu",
                                     attn_implementation="eager")
    torch.manual_seed(1)
    theirs = transformers.BertForMaskedLM(config).eval()
    ours = B.load_hf_state_dict(small(), theirs.state_dict())
    tokens = torch.tensor([[5, 6, 7, 39, 0, 0], [8, 9, 10, 11, 12, 13]])
    segments = torch.tensor([[0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        expected = theirs(input_ids=tokens, token_type_ids=segments,
                          attention_mask=(tokens != 0).long()).logits
        got = ours.mlm_logits(ours(tokens, segments))
    real = tokens != 0
    torch.testing.assert_close(got[real], expected[real], rtol=1e-4, atol=1e-5)
    with pytest.raises(B.CheckpointMismatch, match="configuration"):
        B.load_hf_state_dict(B.CharBert(40, dim=32, heads=2, layers=2, max_length=12),
                             theirs.state_dict())


def test_bad_input_is_named():
    model = small()
    with pytest.raises(ValueError, match="longer than the model's limit of 12"):
        model(torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 40\)"):
        model(torch.tensor([[1, 40]]))
    with pytest.raises(ValueError, match="integer ids"):
        model(torch.ones(1, 3))
    with pytest.raises(ValueError, match="0 \\(source\\) and 1 \\(target\\)"):
        model(torch.ones(1, 3, dtype=torch.long), torch.full((1, 3), 2), kind="unilm")
    with pytest.raises(ValueError, match="not a multiple of heads"):
        B.CharBert(40, dim=10, heads=3)
    with pytest.raises(ValueError, match="maskable must be a bool"):
        B.mask_tokens(torch.ones(2, 2, dtype=torch.long), torch.ones(2, 2), mask_id=3, vocab_size=4)


def test_a_conditioned_copy_computes_exactly_the_pretrained_model_at_first():
    """Post 7124's point: CLN's matrices start at zero, so the pretrained model is unchanged."""
    model = small()
    copy = B.conditioned_copy(model, conditions=2, condition_dim=8).eval()
    tokens = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 11, 12, 13]])
    with torch.no_grad():
        plain = model(tokens)
        for label in (0, 1):
            conditioned = copy(tokens, condition=torch.tensor([label, label]))
            assert torch.equal(conditioned, plain)
        assert torch.equal(copy(tokens), plain)  # no condition: the plain model
        for norm in [copy.embedding_norm] + [b.output_norm for b in copy.blocks]:
            norm.to_gain.weight.normal_()
            norm.to_shift.weight.normal_()
        a, b = (copy(tokens, condition=torch.tensor([k, k])) for k in (0, 1))
    assert not torch.allclose(a, b)  # trained away from zero, the label matters
    assert set(copy.state_dict()) - set(model.state_dict()) == {
        k for k in copy.state_dict() if k.startswith("condition_embedding") or ".to_" in k}


def test_conditions_are_checked():
    copy = B.conditioned_copy(small(), conditions=2)
    tokens = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="condition label 2 is not one of the model's 2 conditions"):
        copy(tokens, condition=torch.tensor([2]))
    with pytest.raises(ValueError, match="one per sequence"):
        copy(tokens, condition=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="built without conditions"):
        small()(tokens, condition=torch.tensor([0]))
