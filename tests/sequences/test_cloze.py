"""Cloze reading comprehension: entities (nr merging, offsets), questions, items, the builder on
hand-built sentences and on the corpus's first 3,000 sentences, the frequency baseline, the
SogouQA scores, and bad input."""
import pytest

from kexue.sequences import cloze as C
from kexue.sequences.pretraining import split_to_fit

B = C.BLANK


def tagged(*pairs):
    """A sentence from ``"word/tag"`` strings."""
    return [tuple(p.split("/")) for p in pairs]


LEADER = tagged("中共中央/nt", "总书记/n", "、/w", "国家/n", "主席/n", "江/nr", "泽民/nr", "访问/v",
                "上海/ns", "。/w")
DATELINE = tagged("新华社/nt", "北京/ns", "１月/t", "１日/t", "电/n", "，/w", "江/nr", "泽民/nr",
                  "会见/v", "克林顿/nr", "。/w")


def test_entities_merge_consecutive_person_words_and_give_offsets():
    found = C.entities(LEADER)
    assert found == [C.Entity("中共中央", "nt", 0, 4), C.Entity("江泽民", "nr", 12, 15),
                     C.Entity("上海", "ns", 17, 19)]
    text = "".join(w for w, _ in LEADER)
    assert all(text[e.start:e.end] == e.text for e in found)
    assert C.entities(LEADER, ("ns",)) == [C.Entity("上海", "ns", 17, 19)]
    assert C.entities(LEADER, "nr") == [C.Entity("江泽民", "nr", 12, 15)]
    # Persons separated by another word stay apart; persons run together (as the corpus's lists of
    # names are) become one entity: the rule is about consecutive words.
    assert [e.text for e in C.entities(tagged("江/nr", "泽民/nr", "和/c", "李/nr", "鹏/nr"))] == ["江泽民", "李鹏"]
    assert [e.text for e in C.entities(tagged("江/nr", "泽民/nr", "李/nr", "鹏/nr"))] == ["江泽民李鹏"]
    # Place and organisation words are one entity each, even when adjacent.
    assert [e.text for e in C.entities(tagged("中国/ns", "北京/ns"))] == ["中国", "北京"]
    assert C.entities([]) == []


def test_a_question_has_one_blank_and_the_answer_restores_the_piece():
    text = "".join(w for w, _ in DATELINE)
    pieces = split_to_fit(text, 12)
    assert pieces == ["新华社北京１月１日电，", "江泽民会见克林顿。"]
    clinton, = C.entities(DATELINE, ("nr",))[1:]
    question = C.cloze_question(DATELINE, clinton, 12)
    assert question == f"江泽民会见{B}。"
    assert question.count(B) == 1 and question.replace(B, clinton.text) == pieces[1]
    beijing = C.entities(DATELINE, ("ns",))[0]
    whole = C.cloze_question(DATELINE, beijing, 30)
    assert whole == f"新华社{B}１月１日电，江泽民会见克林顿。" and whole.replace(B, "北京") == text


def test_bad_questions_are_refused():
    beijing = C.entities(DATELINE, ("ns",))[0]
    with pytest.raises(ValueError, match="does not fit inside one piece of at most 4 characters"):
        C.cloze_question(DATELINE, beijing, 4)
    twice = tagged("北京/ns", "市民/n", "在/p", "北京/ns", "过年/v", "。/w")
    with pytest.raises(ValueError, match="'北京' occurs elsewhere in its piece.*give its answer away"):
        C.cloze_question(twice, C.entities(twice)[0], 26)
    alone = tagged("江/nr", "泽民/nr", "。/w")
    with pytest.raises(ValueError, match="an empty question"):
        C.cloze_question(alone, C.entities(alone)[0], 26)
    with pytest.raises(ValueError, match=r"'上海' is not at \[0, 2\)"):
        C.cloze_question(DATELINE, C.Entity("上海", "ns", 0, 2), 26)
    with pytest.raises(ValueError, match="entity must be an Entity"):
        C.cloze_question(DATELINE, ("北京", "ns", 3, 5), 26)
    with pytest.raises(ValueError, match="limit must be a positive int"):
        C.cloze_question(DATELINE, beijing, 0)


def test_bad_sentences_and_tags_are_refused():
    with pytest.raises(ValueError, match=r"unknown entity tag 'nz'; the known ones are nr \(person\)"):
        C.entities(LEADER, ("nr", "nz"))
    with pytest.raises(ValueError, match="tags must name at least one entity tag"):
        C.entities(LEADER, ())
    with pytest.raises(ValueError, match=r"sentence\[1\] must be a \(word, tag\) pair"):
        C.entities([("北京", "ns"), ("上海",)])
    with pytest.raises(ValueError, match="sentence must be a list of"):
        C.entities("北京/ns")


def item(**changes):
    fields = dict(question=f"江泽民访问{B}。", passages=("上海和北京", "北京"), answer="上海", tag="ns",
                  candidates=(("上海", "北京"), ("北京",)))
    return C.ClozeItem(**(fields | changes))


def test_an_item_checks_its_fields():
    good = item(passages=["上海和北京", "北京"], candidates=[["上海", "北京"], ["北京"]])
    assert good.passages == ("上海和北京", "北京") and good.candidates == (("上海", "北京"), ("北京",))
    with pytest.raises(ValueError, match="exactly one blank.*got 2"):
        item(question=f"{B}访问{B}。")
    with pytest.raises(ValueError, match="exactly one blank.*got 0"):
        item(question="江泽民访问上海。")
    for empty in (B, f" {B} "):
        with pytest.raises(ValueError, match="an empty question"):
            item(question=empty)
    with pytest.raises(ValueError, match="unknown entity tag 'nz'"):
        item(tag="nz")
    with pytest.raises(ValueError, match="at least one passage"):
        item(passages=(), candidates=())
    with pytest.raises(ValueError, match="answer must be a non-empty str"):
        item(answer="")
    with pytest.raises(ValueError, match="one entry per passage: 2 passages, 1 candidate lists"):
        item(candidates=(("上海",),))


def test_the_builder_on_hand_built_sentences():
    visit = tagged("克林顿/nr", "访问/v", "北京/ns", "。/w")
    cities = tagged("北京/ns", "和/c", "上海/ns", "是/v", "大/a", "城市/n", "。/w")
    items = C.build_cloze([visit, cities], tags=("ns",), passage_chars=4)
    # Each sentence asks about 北京, the only place the other sentence mentions (上海 is not askable:
    # no passage holds it).
    assert [(i.question, i.answer, i.tag) for i in items] == [
        (f"克林顿访问{B}。", "北京", "ns"), (f"{B}和上海是大城市。", "北京", "ns")]
    first = items[0]
    # "北京和上海是大城市。" cut at 4 characters: one answer-bearing piece and two distractors; 上海 is
    # cut by a piece boundary, so it is no candidate.
    assert dict(zip(first.passages, first.candidates)) == {"北京和上": ("北京",), "海是大城": (), "市。": ()}
    assert sorted(C.build_cloze([visit, cities], tags=("ns",), passage_chars=4, max_passages=1)[0].passages) \
        == ["北京和上"]
    # A neighbour of the same text is no passage (the newspaper repeats sentences), so no question.
    assert C.build_cloze([visit, visit, tagged("天气/n", "晴朗/a", "。/w")]) == []
    # Sentences further than the window are no passages.
    filler = [tagged("天气/n", f"晴朗{k}/a", "。/w") for k in range(3)]
    assert len(C.build_cloze([visit, *filler, cities], tags=("ns",), window=4)) == 2
    assert C.build_cloze([visit, *filler, cities], tags=("ns",), window=3) == []
    # Entities outside [min_chars, max_chars] are not asked.
    assert C.build_cloze([visit, cities], tags=("ns",), passage_chars=4, min_chars=3) == []


def test_bad_builder_arguments_are_refused():
    s = [LEADER, DATELINE]
    with pytest.raises(ValueError, match="window must be a positive int, got 0"):
        C.build_cloze(s, window=0)
    with pytest.raises(ValueError, match="max_passages must be a positive int"):
        C.build_cloze(s, max_passages=1.5)
    with pytest.raises(ValueError, match="min_chars must be <= max_chars, got 4 > 3"):
        C.build_cloze(s, min_chars=4, max_chars=3)
    with pytest.raises(ValueError, match="unknown entity tag 'n'"):
        C.build_cloze(s, tags=("n",))
    with pytest.raises(ValueError, match="seed must be an int"):
        C.build_cloze(s, seed="0")
    with pytest.raises(ValueError, match=r"sentences\[1\]\[0\] must be a \(word, tag\) pair"):
        C.build_cloze([LEADER, [("北京", "")]])
    with pytest.raises(ValueError, match="sentences must be a list of sentences"):
        C.build_cloze(iter(s))


@pytest.fixture(scope="module")
def corpus():
    from kexue.text import corpora
    return corpora.peoples_daily()[:3000]


def test_the_builder_on_the_corpus(corpus):
    items = C.build_cloze(corpus)
    assert len(items) > 300 and {i.tag for i in items} == {"nr", "ns", "nt"}
    texts = ["".join(w for w, _ in s) for s in corpus]
    at = -1
    for i in items:
        assert i.question.count(B) == 1 and 2 <= len(i.answer) <= 6
        assert any(i.answer in p for p in i.passages)
        assert 1 <= len(i.passages) <= 3 and len(set(i.passages)) == len(i.passages)
        # The question's piece comes from a later sentence than the previous item's (corpus order,
        # one question per sentence) and is a piece of it; neither it nor its sentence is a passage.
        piece = i.question.replace(B, i.answer)
        at = next(j for j in range(at + 1, len(texts)) if piece in split_to_fit(texts[j], 26))
        assert piece not in i.passages and texts[at] not in i.passages
        assert all(c for cs in i.candidates for c in cs)
    assert C.build_cloze(corpus) == items
    assert C.build_cloze(corpus, seed=1) != items
    for m in (1, 5):
        for i in C.build_cloze(corpus, max_passages=m):
            assert len(i.passages) <= m and 1 <= sum(i.answer in p for p in i.passages) <= max(1, m - 1)
    assert all(len(i.passages) == 1 for i in C.build_cloze(corpus, max_passages=1))


def test_the_frequency_baseline():
    assert C.frequent_entity(item()) == "北京"  # twice against once
    # A tie goes to the entity met first: passage order, then position.
    assert C.frequent_entity(item(candidates=(("上海", "北京"), ("北京", "上海")), passages=("a", "b"))) \
        == "上海"
    assert C.frequent_entity(item(candidates=((), ("天津", "南京")), passages=("a", "b"))) == "天津"
    with pytest.raises(ValueError, match=r"no passage holds a place \(ns\) entity"):
        C.frequent_entity(item(candidates=((), ())))
    with pytest.raises(ValueError, match=r"no passage holds a person \(nr\) entity"):
        C.frequent_entity(item(tag="nr", candidates=((), ())))
    with pytest.raises(ValueError, match="item must be a ClozeItem"):
        C.frequent_entity("上海")


def test_character_f1_exact_match_and_the_score():
    assert C.char_f1("北京市", "北京") == pytest.approx(0.8)
    assert C.char_f1("北京", "北京市") == pytest.approx(0.8)
    assert C.char_f1("上海", "北京") == 0.0
    assert C.char_f1("", "") == 1.0 and C.char_f1("", "北京") == 0.0 and C.char_f1("北京", "") == 0.0
    assert C.char_f1("京北", "北京") == 1.0  # a bag of characters: order does not count
    assert C.char_f1("北北", "北京") == pytest.approx(0.5)  # repeats count once per match
    assert C.exact("北京", "北京") == 1.0 and C.exact("北京市", "北京") == 0.0
    s = C.score(["北京市", "上海", "天津"], ["北京", "上海", "重庆"])
    assert s["accuracy"] == pytest.approx(1 / 3) and s["f1"] == pytest.approx((0.8 + 1 + 0) / 3)
    assert s["final"] == pytest.approx((s["accuracy"] + s["f1"]) / 2) and s["questions"] == 3


def test_bad_scoring_input_is_refused():
    with pytest.raises(ValueError, match="differ in length: 1 against 2"):
        C.score(["北京"], ["北京", "上海"])
    with pytest.raises(ValueError, match="nothing to score"):
        C.score([], [])
    with pytest.raises(ValueError, match="predictions must be a sequence of str, got str"):
        C.score("北京", "北京")
    with pytest.raises(ValueError, match="prediction must be a str, got NoneType"):
        C.char_f1(None, "北京")
    with pytest.raises(ValueError, match="gold must be a str, got int"):
        C.exact("北京", 1)
