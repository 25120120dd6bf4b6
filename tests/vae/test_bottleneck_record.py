"""The information-bottleneck chapter's statements about its full record (results/vib-fashion.json)."""
import json
from pathlib import Path

import pytest

RECORD = Path(__file__).resolve().parents[2] / "results" / "vib-fashion.json"


def test_the_bottleneck_neither_helps_accuracy_nor_robustness_in_the_full_run():
    if not RECORD.exists():
        pytest.skip("no full-profile record")
    data = json.loads(RECORD.read_text())
    m = data["metrics"]
    assert data["profile"] == "full" and len(m["seeds"]) == 3 and m["betas"] == [0.0, 1e-3, 1e-2, 1e-1]
    clean = [row[0] for row in m["acc"]]
    assert max(clean) - min(clean) < 0.7
    assert [round(x, 1) for x in clean] == [89.3, 89.4, 89.1, 88.7]
    noisiest = [row[-1] for row in m["acc"]]
    assert m["sigmas"][-1] == 0.8 and noisiest == sorted(noisiest, reverse=True)
    assert round(noisiest[0], 1) == 51.1 and round(noisiest[-1], 1) == 44.6
    assert [round(k) for k in m["kl_nats"][1:]] == [25, 9, 4]
