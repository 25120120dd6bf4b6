"""What the writing-an-optimiser chapter says of its two full records (heun-vs-sgd-mnist and
accumulation-mnist in results/), read back from them."""
from kexue.optim import experiments as ex

from ..conftest import full_record, quoted


def test_sgd_ends_lower_at_equal_cost_and_heun_only_survives_larger_steps():
    m = full_record("heun-vs-sgd-mnist")["metrics"]
    loss = ex.train_losses(m)
    lrs = sorted({lr for _, lr in loss})
    trains = [lr for lr in lrs if loss["sgd", lr] < 1]           # where SGD trains well
    assert all(loss["sgd", lr] < loss["heun", lr] for lr in trains)
    assert all(loss["sgd", lr] < loss["heun", 2 * lr] for lr in lrs if 2 * lr in lrs)
    beyond = [lr for lr in lrs if lr not in trains]               # SGD's loss jumps, Heun's not
    assert beyond and all(loss["heun", lr] < 1 for lr in beyond)
    assert m["best_heun"]["train_loss"] > m["best_sgd"]["train_loss"]


def test_accumulation_full_run_is_one_recipe_and_batch_one_is_too_noisy():
    m = full_record("accumulation-mnist")["metrics"]
    runs = m["runs"]
    acc, large, small = runs["accumulated"], runs["large batch"], runs["small batch"]
    assert quoted(m["max_param_diff_accumulated_vs_large"], "0.24")
    assert quoted(acc["train_loss"], "0.037") and quoted(large["train_loss"], "0.034")
    assert acc["optimizer_steps"] == large["optimizer_steps"] == 1800
    assert quoted(100 * small["test_acc"], "95.9") and quoted(100 * large["test_acc"], "97.6")


def test_accumulation_full_run_curves():
    """The figure's curves: accumulated and large batch on top of each other, the small batch's
    last window-mean loss 0.16 against 0.06."""
    runs = full_record("accumulation-mnist")["metrics"]["runs"]
    acc, large, small = (runs[k]["history"] for k in ("accumulated", "large batch", "small batch"))
    assert len(acc) == len(large) == len(small) == 12                 # four windows an epoch
    assert max(abs(a["loss"] - b["loss"]) / b["loss"] for a, b in zip(acc, large)) < 0.05
    assert quoted(small[-1]["loss"], "0.16") and quoted(large[-1]["loss"], "0.06")
    assert quoted(acc[-1]["loss"], "0.06")
