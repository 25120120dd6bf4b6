"""The experiments ``vae-cluster-mnist`` and ``vae-cluster-fashion``: the clustering VAE of
:mod:`kexue.vae.clustering` trained on MNIST or Fashion-MNIST, its test-set clusters scored
(:mod:`kexue.vae.cluster_scores`) beside k-means and a Gaussian mixture; and the benchmark
``python -m kexue bench vae-cluster`` (:func:`benchmark`), our training loop against a plain
PyTorch one on the same model.

Serves chapters/part3-vae/vae-clustering.ipynb (post 5887).
"""
from __future__ import annotations

import torch

from ... import data, published, runtime, train
from ...bench import steps_per_second
from ...checks import positive_int
from ...experiments import Headline, Reference, experiment, results_dir
from ...train import Trainer, adam
from ..autoencoder import VAE, VAELoss
from ..cluster_scores import SCORES, scores
from ..clustering import ClusteringVAE, _codes, cluster_loss, train_clustering

__all__ = ["load_images", "baselines", "run_clustering", "full_run", "shown", "benchmark"]


DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def load_images(dataset: str, n_train: int, device) -> tuple:
    """``(x_train, y_train, x_test, y_test)``: the first ``n_train`` training images of
    ``dataset`` ("mnist" or "fashion-mnist") and the whole test set, flat, in [0, 1], on
    ``device``."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    load = data.mnist if dataset == "mnist" else data.fashion_mnist
    (images, labels), (test_images, test_labels) = load("train"), load("test")
    n_train = positive_int(n_train, "n_train")
    if n_train > len(images):
        raise ValueError(f"{DATASETS[dataset]} has {len(images)} training images, not {n_train}")
    return (data.as_float(images[:n_train], device=device), labels[:n_train].to(device),
            data.as_float(test_images, device=device), test_labels.to(device))


def baselines(x_train, x_test, y_test, config: dict, seed: int) -> dict:
    """The chapter's baselines, scored like the model: k-means on the pixels, and k-means and a
    Gaussian mixture (diagonal covariances) on the latent means of a plain VAE with the same
    encoder and decoder, trained as long, its KL weighted against the squared error as the
    clustering model weights its prior term. Each is fitted on the training images and scores
    the test images."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    k, y = config["clusters"], y_test.cpu().numpy()
    out = {}
    pixels = KMeans(k, n_init=config["kmeans_inits"], random_state=seed).fit(x_train.cpu().numpy())
    out["kmeans_pixels"] = scores(pixels.predict(x_test.cpu().numpy()), y)
    widths = list(config["widths"])
    vae = VAE(widths[1:-1], widths[-1], input_dim=widths[0], seed=seed).to(x_train.device)
    train.fit_adam(vae, VAELoss(2.0 / config["recon_weight"]), x_train, lr=config["lr"],
                   batch_size=config["batch_size"], epochs=config["epochs"], seed=seed,
                   description=f"plain VAE, seed {seed}")
    vae.eval()
    train_codes, test_codes = _codes(vae, x_train), _codes(vae, x_test)
    kmeans = KMeans(k, n_init=config["kmeans_inits"], random_state=seed).fit(train_codes)
    out["kmeans_vae"] = scores(kmeans.predict(test_codes), y)
    gmm = GaussianMixture(k, covariance_type="diag", n_init=config["kmeans_inits"],
                          random_state=seed).fit(train_codes)
    out["gmm_vae"] = scores(gmm.predict(test_codes), y)
    return out


def _spread(values: list[float]) -> dict:
    import statistics

    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "per_seed": values}


def run_clustering(config: dict):
    """Train the clustering VAE once per seed on ``config["dataset"]`` and score its test-set
    clusters (majority-label and Hungarian accuracy, NMI, ARI; with ``validation`` > 0 also the
    majority accuracy on that many training images held out after the first ``n_train``), with
    the baselines per seed when
    ``config["baselines"]``, and one run of the post's recipe as it is (centres from zero, no
    k-means) when ``config["post_recipe_run"]``. Metrics hold per-seed values and their median
    and range; the artifacts hold the model of the median seed, its test assignments and the
    test images."""
    dev = runtime.device()
    held_out = config.get("validation", 0)
    x_train, y_train, x_test, y_test = load_images(config["dataset"],
                                                   config["n_train"] + held_out, dev)
    x_val, y_val = x_train[config["n_train"]:], y_train[config["n_train"]:].cpu().numpy()
    x_train = x_train[:config["n_train"]]
    y = y_test.cpu().numpy()
    runs, models = [], []
    for seed in config["seeds"]:
        runtime.seed_everything(seed)
        model, rows = train_clustering(x_train, config, seed)
        clusters = model.assign(x_test).cpu().numpy()
        run = {"seed": seed, **scores(clusters, y), "final_loss": rows[-1]["loss"]}
        if held_out:
            run["val_majority_acc"] = scores(model.assign(x_val).cpu().numpy(),
                                             y_val)["majority_acc"]
        if config["baselines"]:
            run["baselines"] = baselines(x_train, x_test, y_test, config, seed)
        runs.append(run)
        models.append((model.cpu(), clusters))
    metrics = {"dataset": DATASETS[config["dataset"]], "runs": runs}
    if config["post_recipe_run"]:   # the post's recipe as it is: centres from zero, first seed
        seed = config["seeds"][0]
        runtime.seed_everything(seed)
        model, _ = train_clustering(x_train, {**config, "kmeans_epoch": 0}, seed)
        metrics["post_recipe"] = {"seed": seed, **scores(model.assign(x_test).cpu().numpy(), y)}
    for key in [k for k, _ in SCORES] + (["val_majority_acc"] if held_out else []):
        metrics[key] = _spread([r[key] for r in runs])
        if config["baselines"]:
            for name in runs[0]["baselines"]:
                metrics.setdefault(name, {})[key] = _spread([r["baselines"][name][key] for r in runs])
    metrics["test_acc"] = metrics["majority_acc"]["median"]
    order = sorted(range(len(runs)), key=lambda i: runs[i]["majority_acc"])
    median = order[len(order) // 2]
    artifacts = {"model": models[median][0], "clusters": models[median][1],
                 "seed": runs[median]["seed"], "x_test": x_test.cpu(), "y_test": y_test.cpu()}
    return metrics, artifacts


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the median seed's model and its test clusters."""
    return {**published.module_tensors(artifacts["model"], "model"),
            "clusters": torch.as_tensor(artifacts["clusters"], dtype=torch.int64),
            "seed": torch.tensor(artifacts["seed"])}


def full_run(name: str) -> dict | None:
    """The committed full run of ``name`` ("vae-cluster-mnist" or "vae-cluster-fashion") as the
    page uses it: ``{"record", "model", "clusters", "seed", "x_test", "y_test"}`` (the median
    seed's model, float16 weights as float32), or None where no full record publishes one."""
    found = published.load(name, results_dir())
    if found is None:
        return None
    record, tensors = found
    c = record["config"]
    model = ClusteringVAE(c["widths"], clusters=c["clusters"], classifier_hidden=c["classifier_hidden"])
    model.load_state_dict(published.state_dict(tensors, "model"))
    _, _, x_test, y_test = load_images(c["dataset"], 1, torch.device("cpu"))
    return {"record": record, "model": model.eval(), "clusters": tensors["clusters"].numpy(),
            "seed": int(tensors["seed"]), "x_test": x_test, "y_test": y_test}


def shown(record) -> dict:
    """What a page shows of ``record``'s experiment: its committed full run where one is published
    (``profile`` "full"), else ``record``'s own model (the page's quick run), with a ``label``
    saying which for figure titles."""
    full = full_run(record.experiment)
    if full is not None:
        device = full["record"]["provenance"]["device_name"].split(" (")[0]
        return {**full, "profile": "full",
                "label": f"full run ({device}), seed {full['seed']}"}
    art = record.artifacts
    return {"record": record.to_json(), "model": art["model"], "clusters": art["clusters"],
            "seed": art["seed"], "x_test": art["x_test"], "y_test": art["y_test"],
            "profile": record.profile, "label": f"{record.profile} run on this page"}


def _registration(dataset: str, reference: float, where: str) -> dict:
    """The keywords of :func:`kexue.experiments.experiment` for the clustering of ``dataset``."""
    model = dict(dataset=dataset, widths=[784, 512, 256, 10], clusters=10, classifier_hidden=256,
                 lr=1e-3, batch_size=100, recon_weight=2.5, balance="sample", kmeans_epoch=4,
                 baselines=True)
    return dict(
        post=5887, metric="test_acc", publish=_publish,
        headline=Headline("test accuracy, clusters by majority (median of seeds)", 0.005, "higher"),
        quick=dict(model, n_train=10000, epochs=6, seeds=[0], kmeans_inits=1, post_recipe_run=False,
                   kmeans_epoch=2),
        full=dict(model, n_train=60000, epochs=30, seeds=[0, 1, 2], kmeans_inits=4,
                  post_recipe_run=True),
        description=f"One-step clustering of {DATASETS[dataset]} with a VAE (encoder, classifier "
                    "p(y|z), class-conditional prior N(mu_y, I), decoder): test accuracy with each "
                    "cluster labelled by its majority class (the post's measure; the headline is "
                    "its median over seeds), Hungarian accuracy, NMI and ARI, beside k-means on "
                    "pixels and k-means and a GMM on a plain VAE's codes.",
        reference=Reference(value=reference, metric="test accuracy, clusters labelled by majority",
                            where=where),
    )


experiment("vae-cluster-mnist", **_registration(
    "mnist", 0.83, "post 5887, section 'mnist' (about 83%; DEC about 84%)"))(run_clustering)
experiment("vae-cluster-fashion", **_registration(
    "fashion-mnist", 0.585, "post 5887, section 'fashion-mnist' (about 58.5%)"))(run_clustering)


def _vade_start(dataset: str, reference: float, where: str) -> dict:
    """The registration of the same clustering started as VaDE starts it (autoencoder
    pre-training, k-means means, the classifier fitted to the prior's posterior), on 50,000
    training images with the last 10,000 held out for validation; the recipe (50 pre-training
    epochs, 10 joint ones, the batch balance term) was picked by one seed's validation accuracy
    on MNIST, never by test accuracy."""
    reg = _registration(dataset, reference, where)
    start = dict(kmeans_epoch=0, balance="batch", baselines=False, post_recipe_run=False,
                 classifier_init_epochs=2)
    reg.update(
        publish=None,
        headline=Headline("test accuracy, clusters by majority (median of seeds), VaDE's start",
                          0.005, "higher"),
        quick=dict(reg["quick"], **start, n_train=8000, validation=2000, pretrain_epochs=3,
                   epochs=2),
        full=dict(reg["full"], **start, n_train=50000, validation=10000, pretrain_epochs=50,
                  epochs=10),
        description=f"One-step clustering of {DATASETS[dataset]} with a VAE started as VaDE "
                    "starts (the encoder and decoder pre-trained as a plain autoencoder, the "
                    "class means at the k-means centroids of its codes, the classifier fitted "
                    "to the prior's posterior), then trained with the post's loss and the batch "
                    "balance term: test accuracy with each cluster labelled by its majority "
                    "class (median over seeds), and the same on 10,000 held-out training images.")
    return reg


experiment("vae-cluster-vade-start-mnist", **_vade_start(
    "mnist", 0.83, "post 5887, section 'mnist' (about 83%; DEC about 84%)"))(run_clustering)
experiment("vae-cluster-vade-start-fashion", **_vade_start(
    "fashion-mnist", 0.585, "post 5887, section 'fashion-mnist' (about 58.5%)"))(run_clustering)


# -- the speed benchmark -------------------------------------------------------------------------
#: the benchmark's model: the experiments' MLP at the post's batch size
BENCH_WIDTHS = (784, 512, 256, 10)


def benchmark(*, steps: int = 300, batch_size: int = 100, device: str | None = None,
              seed: int = 0, repeats: int = 3) -> dict:
    """Training steps per second of :class:`ClusteringVAE` on MNIST, two ways on one device:
    ours (``kexue.train.Trainer`` with ``kexue.train.adam``, the fused Adam kernel: the images
    sit on the device, batches are drawn by indexing there, losses are summed on the device and
    read once per logged row) and a plain reference (``torch.optim.Adam`` with its defaults fed
    by ``DataLoader(TensorDataset(images), batch_size, shuffle=True)`` over CPU tensors, each
    batch copied to the device, ``loss.item()`` read every step as a progress print would). Both models
    start from the same weights and take the same number of Adam steps. The two are timed in
    turn, ``repeats`` times each, and the medians compared, so a change in the machine's load
    hits both."""
    import statistics

    from torch.utils.data import DataLoader, TensorDataset

    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    dev = runtime.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    images = data.as_float(data.mnist("train")[0], device="cpu")

    def fresh():
        return ClusteringVAE(BENCH_WIDTHS, seed=seed).to(dev)

    model = fresh()
    trainer = Trainer(model, adam(model.parameters(), 1e-3), cluster_loss, images.to(dev), batch_size=batch_size,
                      seed=seed, progress=False)
    ours_run = lambda n: trainer.fit(steps=trainer.step + n)  # noqa: E731

    model = fresh()       # the reference's own copy, from the same initial weights
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)
    losses = []

    def reference_step():
        nonlocal batches
        try:
            (x,) = next(batches)
        except StopIteration:
            batches = iter(loader)
            (x,) = next(batches)
        x = x.to(dev)
        optimiser.zero_grad()
        loss, _ = cluster_loss(model, x)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())

    def reference_run(n):
        for _ in range(n):
            reference_step()

    timings = {"ours": [], "reference": []}
    for _ in range(positive_int(repeats, "repeats")):
        timings["ours"].append(steps_per_second(ours_run, steps, sync=sync))
        timings["reference"].append(steps_per_second(reference_run, steps, sync=sync))
    ours, reference = (statistics.median(timings[k]) for k in ("ours", "reference"))
    return {"device": runtime.provenance(dev)["device_name"], "batch_size": batch_size,
            "steps": steps, "repeats": repeats, "ours_steps_per_s": ours,
            "reference_steps_per_s": reference, "ratio": ours / reference}
