"""What the couplet chapter says of its full-profile record (results/couplet-cnn.json): each
quoted number is read back."""
from ..conftest import full_record, quoted


def test_the_full_run_quotes():
    record = full_record("couplet-cnn")
    m = record["metrics"]
    ours, lookup = m["ours"], m["lookup"]
    assert round(record["wall_time_s"] / 60) == 36
    assert record["config"]["steps"] == 5000
    assert m["sizes"]["train"] == 205896 and m["sizes"]["test"] == 23706
    assert m["sizes"]["vocabulary"] == 7130
    assert quoted(100 * ours["character_accuracy"], "9.2")
    assert quoted(100 * lookup["character_accuracy"], "7.9")
    assert quoted(ours["bleu"], "0.5") and quoted(lookup["bleu"], "0.3")
    assert quoted(100 * ours["repetition_agreement"], "27")
    assert quoted(100 * lookup["repetition_agreement"], "100")
    assert quoted(100 * ours["reference_repetition_agreement"], "86")
    assert ours["repetition_pairs"] == 922
    assert quoted(100 * m["unknown_share_test"], "0.1")
    assert quoted(100 * m["curves"]["validation_accuracy"][-1], "9.2")


def test_the_labeller_beats_the_lookup_table_and_repeats_selectively():
    """The chapter's reading of the record: better than the table in accuracy and BLEU; the
    table repeats wherever the first line does (by construction), the labeller less often."""
    m = full_record("couplet-cnn")["metrics"]
    ours, lookup = m["ours"], m["lookup"]
    assert ours["character_accuracy"] > lookup["character_accuracy"]
    assert ours["bleu"] > lookup["bleu"]
    assert lookup["repetition_agreement"] == 1.0
    assert ours["repetition_agreement"] < lookup["repetition_agreement"]


def test_the_answers_the_chapter_reads_are_in_the_record():
    samples = {s["first"]: s for s in full_record("couplet-cnn")["metrics"]["samples"]}
    assert samples["人来千嶂外"]["ours"] == "鸟在一云中"
    assert samples["无心游魏阙"]["ours"] == "有目到江山"
    assert samples["西畴阅多稼"]["ours"].startswith("东国")
    assert samples["听漏寒无梦"]["ours"] == "看风冷有情"


def test_the_quick_profile_the_page_describes():
    """"the quick profile trains a model half as wide for 150 steps on 20,000 couplets"."""
    from kexue import experiments

    exp = experiments.get("couplet-cnn")
    assert 2 * exp.quick["dim"] == exp.full["dim"]
    assert (exp.quick["steps"], exp.quick["n_train"]) == (150, 20000)
