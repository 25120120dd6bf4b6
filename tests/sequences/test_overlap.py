"""Character accuracy, BLEU, character ROUGE-L and repetition agreement."""
import itertools
import math
import random

import pytest

from kexue.sequences import overlap


def brute_lcs(a: str, b: str) -> int:
    """The longest subsequence of ``a`` that is also a subsequence of ``b``, by enumeration."""
    def is_subsequence(s, t):
        it = iter(t)
        return all(c in it for c in s)
    for size in range(len(a), 0, -1):
        if any(is_subsequence(s, b) for s in itertools.combinations(a, size)):
            return size
    return 0


def test_lcs_matches_enumeration_on_random_strings():
    rng = random.Random(0)
    for _ in range(200):
        a = "".join(rng.choice("春风花月") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("春风花月") for _ in range(rng.randint(0, 7)))
        assert overlap.longest_common_subsequence(a, b) == brute_lcs(a, b)


def test_rouge_l_by_hand():
    # LCS("春风又绿江南岸", "春风吹绿岸") = 春风绿岸 = 4: precision 4/7, recall 4/5
    p, r = 4 / 7, 4 / 5
    assert overlap.rouge_l(["春风又绿江南岸"], ["春风吹绿岸"]) == pytest.approx(2 * p * r / (p + r))
    assert overlap.rouge_l(["明月", "白云"], ["明月", "黄河"]) == pytest.approx(0.5)
    assert overlap.rouge_l([""], ["明月"]) == 0.0


def test_bleu_is_100_for_exact_answers_and_lower_otherwise():
    refs = ["两个黄鹂鸣翠柳", "一行白鹭上青天"]
    assert overlap.bleu(refs, refs) == pytest.approx(100.0)
    assert 0 < overlap.bleu(["两个黄鹂鸣翠竹", "一行白鹭上青云"], refs) < 100


def test_bleu_counts_characters_as_tokens():
    """sacrebleu's zh tokeniser splits CJK characters: one changed character of seven leaves
    6/7 unigrams, 5/6 bigrams, 4/5 trigrams, 3/4 four-grams, no brevity penalty."""
    expected = 100 * math.exp(sum(math.log(x) for x in (6 / 7, 5 / 6, 4 / 5, 3 / 4)) / 4)
    assert overlap.bleu(["两个黄鹂鸣翠竹"], ["两个黄鹂鸣翠柳"]) == pytest.approx(expected, rel=1e-6)


def test_character_accuracy():
    assert overlap.character_accuracy(["风吹", "花落"], ["风来", "花落"]) == 0.75


def test_repetition_agreement_counts_repeated_positions():
    # 树树 repeats at (2, 3); 花花 answers it; 人人 at (0, 1) answered by 天地 does not
    share, pairs = overlap.repetition_agreement(["晚风摇树树", "人人"], ["夜雨敲花花", "天地"])
    assert (share, pairs) == (0.5, 2)
    share, pairs = overlap.repetition_agreement(["明月"], ["清风"])
    assert pairs == 0 and math.isnan(share)


@pytest.mark.parametrize("call, match", [
    (lambda: overlap.bleu(["a"], []), "1 predictions but 0 references"),
    (lambda: overlap.rouge_l([], []), "no predictions"),
    (lambda: overlap.rouge_l(["明"], [""]), "reference 0 is an empty string"),
    (lambda: overlap.character_accuracy(["明月"], ["明"]), "pair 0"),
    (lambda: overlap.repetition_agreement(["明月"], ["明"]), "pair 0"),
    (lambda: overlap.rouge_l([None], ["明"]), "must be strings"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
