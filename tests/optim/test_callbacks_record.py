"""The layers-and-callbacks chapter's statements about its full record (results/mnist-callbacks.json):
the learned Swish slopes and where early stopping lands on the recorded curves."""
from kexue.optim import experiments as ex
from kexue.optim.layers import replay_early_stopping

from ..conftest import full_record, quoted


def test_the_full_run_learned_steeper_swishes():
    m = full_record("mnist-callbacks")["metrics"]
    assert [quoted(b, q) for b, q in zip(m["beta"], ("3.4", "3.7"))] == [True, True]


def test_loss_and_accuracy_disagree_on_the_best_evaluation():
    rows = full_record("mnist-callbacks")["metrics"]["evaluations"]
    steps = [r["step"] for r in rows]
    by_loss = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    assert steps[by_loss] == 2150
    assert all(r["val_loss"] > rows[by_loss]["val_loss"] for r in rows[by_loss + 1:])
    assert steps[max(range(len(rows)), key=lambda i: rows[i]["val_acc"])] == 5160
    for patience in range(1, 11):  # the explorer's slider
        loss = replay_early_stopping([r["val_loss"] for r in rows], patience=patience)
        acc = replay_early_stopping([r["val_acc"] for r in rows], patience=patience, mode="max")
        assert quoted(rows[loss["best"]]["test_acc"], "0.9794")
        assert quoted(rows[acc["best"]]["test_acc"], "0.9858") == (patience >= 3)


def test_the_average_leads_less_as_the_rate_falls_and_is_still_ahead_at_the_stop():
    record = full_record("mnist-callbacks")
    m = record["metrics"]
    assert m["stopped_step"] < record["config"]["steps"]   # stopped before the rate reached 0
    assert m["evaluations"][-1]["ema_val_loss"] < m["evaluations"][-1]["val_loss"]
    start, high, low = ex.ema_advantage(ex.callbacks_full_run())
    assert start["acc"] < 0 < low["acc"] < high["acc"]     # behind, then ahead by less and less
    assert high["loss"] < low["loss"] < 0
