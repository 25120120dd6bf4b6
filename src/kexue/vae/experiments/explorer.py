"""What a full run of a 2-D VAE experiment keeps for its page's latent explorer, and how the page
reads it back: the β = 1 VAE's decoder, the means of its test codes and the test labels.

Serves chapters/part3-vae/vae-geometry.ipynb and chapters/part3-vae/mutual-information.ipynb.
"""
from __future__ import annotations

import torch

from ... import published
from ...experiments import results_dir
from ..autoencoder import VAE, model_name

__all__ = ["publish_explorer", "explorer_run", "explorer_from"]


def publish_explorer(artifacts: dict) -> dict:
    """The β = 1 VAE's decoder, the means of its test codes and the test labels (as uint8)."""
    name = model_name(1.0)
    return {**published.module_tensors(artifacts["models"][name].decoder, "decoder"),
            "codes": artifacts["codes"][name]["mean"], "labels": artifacts["y_test"].to(torch.uint8)}


def explorer_run(experiment: str) -> dict | None:
    """The committed full run of ``experiment`` as its page's explorer uses it: ``{"record",
    "decoder", "codes", "labels"}`` (float16 weights as float32, labels as int64), or None."""
    found = published.load(experiment, results_dir())
    return None if found is None else explorer_from(*found)


def explorer_from(record: dict, tensors: dict) -> dict:
    """:func:`explorer_run`'s answer from a loaded full ``record`` and its published ``tensors``."""
    decoder = VAE(record["config"]["hidden"]).decoder
    decoder.load_state_dict(published.state_dict(tensors, "decoder"))
    return {"record": record, "decoder": decoder.eval(), "codes": tensors["codes"],
            "labels": tensors["labels"].long()}
