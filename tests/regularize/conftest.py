import pytest
import torch

from kexue.regularize import semi_supervised as ss


@pytest.fixture
def tiny_artifacts():
    """What ``vat-mnist-100`` hands the figures, in miniature: two untrained models with some
    running statistics, three logged rows per model and five evaluation images."""
    torch.manual_seed(0)
    models = {name: ss.mlp((784, 16, 10)) for name in ("vat_model", "baseline_model")}
    for m in models.values():
        with torch.no_grad():
            m(torch.rand(64, 784))  # some running statistics
    rows = [{"step": s, "ce": 1.0 / s, "acc": 1.0, "vat": 0.1 / s, "entropy": 2.0 / s}
            for s in (1, 2, 3)]
    return {**models, "vat_rows": rows, "baseline_rows": [{k: r[k] for k in ("step", "ce", "acc")}
                                                          for r in rows],
            "x_eval": torch.rand(5, 784), "y_eval": torch.tensor([0, 1, 2, 3, 4])}
