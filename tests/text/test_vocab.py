"""The character vocabulary: reserved ids, round trips, the unknown-character fallback, padding."""
import pytest
import torch

from kexue.text.vocab import RESERVED, CharVocab, pad_batch

LINES = ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"]


@pytest.fixture
def vocab():
    return CharVocab.build(LINES)


def test_reserved_ids_come_first_then_characters_by_frequency(vocab):
    assert vocab.tokens[:4] == list(RESERVED)
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.tokens[4:7] == ["头", "明", "月"]  # twice each, then code-point order
    assert len(vocab) == 4 + len(set("".join(LINES)))


def test_encode_decode_round_trip(vocab):
    for line in LINES:
        ids = vocab.encode(line, bos=True, eos=True)
        assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id and len(ids) == len(line) + 2
        assert vocab.decode(ids) == line


def test_unknown_characters_fall_back_to_the_unknown_id(vocab):
    ids = vocab.encode("明日天涯")
    assert ids[0] == vocab.encode("明")[0] and ids[1:] == [vocab.unk_id] * 3
    assert vocab.decode(ids) == "明□□□"
    assert vocab.unknown_share(["明日"]) == 0.5
    assert "日" not in vocab and "明" in vocab and "<pad>" not in vocab


def test_decode_stops_at_end_of_sequence(vocab):
    ids = vocab.encode("明月", eos=True) + vocab.encode("光")
    assert vocab.decode(ids) == "明月"
    assert vocab.decode(ids, stop_at_eos=False) == "明月光"


def test_min_count_and_max_size_prune_rare_characters():
    assert CharVocab.build(LINES, min_count=2).tokens[4:] == ["头", "明", "月"]
    assert CharVocab.build(LINES, max_size=2).tokens[4:] == ["头", "明"]


def test_pad_batch_pads_and_masks():
    tokens, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert tokens.dtype == torch.long and mask.dtype == torch.bool


@pytest.mark.parametrize("call, match", [
    (lambda v: v.encode(""), "empty string"),
    (lambda v: v.encode(["明"]), "must be a str"),
    (lambda v: v.decode([len(v)]), "outside the vocabulary"),
    (lambda v: CharVocab.build([]), "texts is empty"),
    (lambda v: CharVocab.build(["明", ""]), r"texts\[1\] is an empty string"),
    (lambda v: CharVocab(["明", "明"]), "duplicate"),
    (lambda v: CharVocab(["明月"]), "one character"),
    (lambda v: CharVocab.build(LINES, min_count=0), "min_count"),
    (lambda v: pad_batch([], pad_id=0), "sequences is empty"),
    (lambda v: pad_batch([[1], []], pad_id=0), "sequence 1 is empty"),
    (lambda v: pad_batch([[1], [1, 2, 3]], pad_id=0, max_length=2), "more than max_length=2"),
    (lambda v: v.unknown_share([""]), "no characters"),
])
def test_bad_input_is_named(vocab, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(vocab)
