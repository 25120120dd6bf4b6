"""What the noise-and-adversarial-training chapter says of its full record
(results/vat-mnist-100.json); each quoted number is read back."""
from ..conftest import full_record, quoted


def test_vat_lifts_every_seed_by_13_to_20_points_but_stays_below_the_paper():
    record = full_record("vat-mnist-100")
    m = record["metrics"]
    gains = [v - b for v, b in zip(m["vat_acc_per_seed"], m["baseline_acc_per_seed"])]
    assert quoted(min(gains), "13") and quoted(max(gains), "20")
    assert max(m["vat_acc_per_seed"]) < record["reference"]["value"] and quoted(
        record["reference"]["value"], "98.6")
    # the summary: from under 80% (labels only) to about 98% on a good split
    assert max(m["baseline_acc_per_seed"]) < 80 and quoted(max(m["vat_acc_per_seed"]), "98")


def test_where_a_seed_falls_short_most_mistakes_are_fours_and_nines():
    m = full_record("vat-mnist-100")["metrics"]
    best = max(m["vat_acc_per_seed"])
    for acc, confusions in zip(m["vat_acc_per_seed"], m["vat_top_confusions_per_seed"]):
        wrong = round((100 - acc) / 100 * 10000)          # test images the seed gets wrong
        pair = sum(n for t, p, n in confusions if {t, p} == {4, 9})
        assert (pair > wrong / 2) == (acc < best)          # the short seeds, and only those
