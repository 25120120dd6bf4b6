"""The information-bottleneck chapter's statements about its full record (results/vib-fashion.json)
and the first-seed curves the run published; each quoted number is read back."""
from kexue.vae.experiments import bottleneck as vib_exp

from ..conftest import full_record, quoted


def test_the_bottleneck_neither_helps_accuracy_nor_robustness_in_the_full_run():
    m = full_record("vib-fashion")["metrics"]
    assert len(m["seeds"]) == 3 and m["betas"] == [0.0, 1e-3, 1e-2, 1e-1]
    clean = [row[0] for row in m["acc"]]
    assert quoted(max(clean) - min(clean), "0.7")
    assert all(quoted(a, q) for a, q in zip(clean, ("89.1", "89.1", "88.9", "88.4")))
    noisiest = [row[-1] for row in m["acc"]]
    assert m["sigmas"][-1] == 0.8
    assert all(quoted(a, q) for a, q in zip(noisiest, ("50.1", "50.2", "47.1", "44.1")))
    assert noisiest[0] > noisiest[2] > noisiest[3]           # the larger weights hurt


def test_the_kl_falls_sixfold_and_the_largest_weight_switches_dimensions_off():
    m = full_record("vib-fashion")["metrics"]
    kl = m["kl_nats"][1:]
    assert [round(k) for k in kl] == [26, 9, 4] and quoted(kl[0] / kl[2], "6")
    assert kl[2] < 2 * 2.303                                 # under twice log 10 nats
    assert [round(a) for a in m["active_dims"][1:]] == [124, 70, 13]


def test_the_first_seed_s_training_curves():
    full_record("vib-fashion")
    shown = vib_exp.full_run()
    rows = dict(zip(shown["betas"], shown["rows"]))
    assert rows[0.1][-1]["epoch"] == 20
    assert quoted(rows[0.1][-1]["ce"] / rows[0.0][-1]["ce"], "2.5")
    for beta in (1e-3, 1e-2):  # the KL is largest in the first epoch, then drifts down
        kl = [r["kl"] for r in rows[beta]]
        assert kl[0] == max(kl) and kl[-1] < 0.7 * kl[0]
    kl = [r["kl"] for r in rows[0.1]]
    assert max(kl) / min(kl) < 1.1                           # nearly flat
