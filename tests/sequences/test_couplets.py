"""The gated convolutional labeller of post 6270."""
import pytest
import torch

from kexue.sequences.couplets import CoupletLabeller, GatedResidualConv, answer, label_loss


def test_gated_block_is_the_post_mix_of_input_and_candidate():
    torch.manual_seed(0)
    block = GatedResidualConv(4)
    x = torch.randn(2, 4, 9)
    gate, candidate = torch.nn.functional.conv1d(x, block.conv.weight, block.conv.bias,
                                                 padding=1).chunk(2, dim=1)
    expected = x * torch.sigmoid(gate) + candidate * torch.sigmoid(-gate)
    torch.testing.assert_close(block(x), expected)
    with torch.no_grad():  # a gate wide open passes the input through unchanged
        block.conv.weight.zero_()
        block.conv.bias[:4] = 50.0
    torch.testing.assert_close(block(x), x)


def test_output_has_one_distribution_per_input_character_and_ignores_padding():
    torch.manual_seed(0)
    model = CoupletLabeller(20, dim=16, blocks=2).eval()
    line = torch.tensor([[5, 6, 7, 8, 9]])
    padded = torch.tensor([[5, 6, 7, 8, 9, 0, 0], [4, 4, 4, 0, 0, 0, 0]])
    assert model(line).shape == (1, 5, 20)
    torch.testing.assert_close(model(padded)[0, :5], model(line)[0])


def test_labeller_learns_a_positionwise_answer():
    """A toy 'couplet': each character answered by its partner (id + 10), except that the answer
    of a repeated character depends on the neighbours; the labeller fits it."""
    torch.manual_seed(0)
    first = torch.randint(4, 14, (256, 5))
    second = first + 10
    model = CoupletLabeller(24, dim=32, blocks=2, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss, logs = label_loss(model, first, second)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["accuracy"] == 1.0
    assert torch.equal(answer(model, first[:4], banned=(0, 1, 2, 3)), second[:4])


def test_answer_keeps_padding_and_never_gives_a_banned_id():
    torch.manual_seed(1)
    model = CoupletLabeller(12, dim=8, blocks=1)
    first = torch.tensor([[4, 5, 6, 0], [7, 8, 9, 10]])
    out = answer(model, first, banned=(0, 1, 2, 3))
    assert out[0, 3] == 0 and bool((out[first != 0] >= 4).all())
    assert model.training  # answer restores the mode it found


@pytest.mark.parametrize("make, match", [
    (lambda: GatedResidualConv(4, width=2), "odd"),
    (lambda: CoupletLabeller(10, pad_id=10), "pad_id"),
    (lambda: CoupletLabeller(0), "vocab_size"),
    (lambda: CoupletLabeller(10, dropout=1.5), "dropout"),
    (lambda: CoupletLabeller(10)(torch.zeros(2, 3)), "int64"),
    (lambda: CoupletLabeller(10)(torch.full((1, 3), 10)), r"\[0, 10\)"),
])
def test_bad_input_is_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_six_blocks_of_width_three_see_six_characters_on_each_side():
    """The chapter's receptive field: an output position depends on the embeddings of the
    positions within six of it, and on no others."""
    torch.manual_seed(0)
    model = CoupletLabeller(50, dim=16, dropout=0.0)
    embedded = model.embed(torch.randint(4, 50, (1, 21))).detach().requires_grad_(True)
    h = embedded.transpose(1, 2)
    for block in model.blocks:
        h = block(h)
    model.out(h.transpose(1, 2))[0, 10].sum().backward()
    reach = (embedded.grad[0].abs().sum(1) > 0).nonzero().flatten().tolist()
    assert reach == list(range(4, 17))
