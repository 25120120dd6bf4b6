"""One-step clustering with a VAE (post 5887).

The latent is a pair (z, y): a continuous code z and a discrete class y. With the factorisations
p(z, y|x) = p(y|z) p(z|x), q(x|z, y) = q(x|z) and q(z, y) = q(z|y) q(y), where p(z|x) is the
encoder's Gaussian N(mu(x), diag sigma^2(x)), q(z|y) = N(mu_y, I) a Gaussian per class, q(y)
uniform and p(y|z) a softmax classifier on the code, the KL between the joint distributions is,
per sample x and with z ~ p(z|x) reparametrised,

    -log q(x|z) + sum_y p(y|z) log p(z|x) / q(z|y) + KL(p(y|z) || q(y)),

and log p(z|x) / q(z|y) = -1/2 sum_i log sigma_i^2 - 1/2 |eps|^2 + 1/2 |z - mu_y|^2, whose middle
term does not depend on the parameters. :class:`ClusteringVAE` is the model, :func:`loss_terms`
the three terms, :func:`cluster_loss` the weighted sum the post trains with (a Gaussian q(x|z)
gives a squared error, weighted by ``recon_weight``).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import float_tensor, non_negative, positive_int
from ..experiments import Reference, experiment
from ..train import Callback
from ..classifier import mlp
from .gaussian import sample
from .networks import GaussianEncoder, check_batch, mlp_decoder

__all__ = ["ClusteringVAE", "prior_posterior", "loss_terms", "cluster_loss", "KMeansMeans",
           "train_clustering", "baselines", "run_clustering", "plot_cluster_members",
           "plot_conditional_samples", "plot_contingency", "results_table", "benchmark"]


class ClusteringVAE(nn.Module):
    """Encoder p(z|x), classifier p(y|z), class means mu_y of q(z|y) = N(mu_y, I), decoder q(x|z).

    ``encoder_widths`` run from the input width to the latent width d (``decoder`` mirrors them);
    ``classifier_hidden`` is the width of the classifier's hidden layer; there are ``clusters``
    class means, initialised at zero as the post's code does (the classifier breaks the symmetry).
    """

    def __init__(self, encoder_widths, *, clusters: int = 10, classifier_hidden: int = 256,
                 seed: int | None = None):
        super().__init__()
        widths = list(encoder_widths)
        self.clusters = positive_int(clusters, "clusters")
        if self.clusters < 2:
            raise ValueError(f"clusters must be at least 2, got {clusters}")
        self.encoder = GaussianEncoder(widths, seed=seed)
        self.latent_dim, self.input_dim = self.encoder.latent_dim, widths[0]
        self.decoder = mlp_decoder(widths[::-1], seed=None if seed is None else seed + 1)
        self.classifier = mlp([self.latent_dim, positive_int(classifier_hidden, "classifier_hidden"),
                               self.clusters], seed=None if seed is None else seed + 2)
        self.means = nn.Parameter(torch.zeros(self.clusters, self.latent_dim))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict:
        """The encoder's mean and log-variance, a reparametrised code z, the cluster
        probabilities p(y|z) and the reconstruction G(z)."""
        x = check_batch(x, self.input_dim)
        mean, log_var = self.encoder(x)
        z = sample(mean, log_var, torch.randn_like(mean) if noise is None else noise)
        return {"mean": mean, "log_var": log_var, "z": z,
                "probs": F.softmax(self.classifier(z), dim=1), "recon": self.decoder(z)}

    @torch.no_grad()
    def assign(self, x: torch.Tensor, *, batch_size: int = 4096) -> torch.Tensor:
        """The cluster of each row of ``x``: argmax_y p(y|z) at z = mu(x), in eval mode."""
        x = check_batch(x, self.input_dim)
        out = []
        for start in range(0, len(x), positive_int(batch_size, "batch_size")):
            mean, _ = self.encoder(x[start:start + batch_size])
            out.append(self.classifier(mean).argmax(1))
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, cluster: int, n: int, *, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` images decoded from z ~ q(z|y = cluster) = N(mu_cluster, I)."""
        if not 0 <= cluster < self.clusters:
            raise ValueError(f"cluster must be in [0, {self.clusters}), got {cluster}")
        z = torch.randn(positive_int(n, "n"), self.latent_dim, generator=generator,
                        device=self.means.device)
        return self.decoder(z + self.means[cluster])


def prior_posterior(z: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """q(y|z) = softmax_y(-1/2 |z - mu_y|^2): the posterior of the prior's uniform mixture of
    N(mu_y, I). For fixed z it is the distribution p over classes that minimises
    sum_y p_y 1/2 |z - mu_y|^2 + KL(p || uniform), the part of the post's loss that involves
    the classifier, so the best classifier p(y|z) is this Bayes rule."""
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    means = float_tensor(means, "means", ndim=2, nonempty=True)
    if z.shape[1] != means.shape[1]:
        raise ValueError(f"z and means must have the same latent width, got {z.shape[1]} and "
                         f"{means.shape[1]}")
    return F.softmax(-0.5 * torch.cdist(z, means).square(), dim=1)


def loss_terms(model: ClusteringVAE, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict:
    """Per-sample terms of the loss: ``recon`` = 1/2 |x - G(z)|^2 (the Gaussian -log q(x|z) up
    to a constant), ``prior`` = sum_y p(y|z) (1/2 |z - mu_y|^2 - 1/2 sum_i log sigma_i^2), and
    ``categorical`` = KL(p(y|z) || uniform) = sum_y p log p + log K."""
    out = model(x, noise)
    recon = 0.5 * (x - out["recon"]).square().sum(1)
    distances = 0.5 * (out["z"].unsqueeze(1) - model.means).square().sum(2)   # (n, K)
    prior = (out["probs"] * distances).sum(1) - 0.5 * out["log_var"].sum(1)
    probs = out["probs"]
    categorical = (probs * torch.log(probs.clamp_min(1e-12))).sum(1) + math.log(model.clusters)
    return {"recon": recon, "prior": prior, "categorical": categorical, "probs": probs}


def cluster_loss(model: ClusteringVAE, x: torch.Tensor, *, recon_weight: float = 2.5,
                 categorical_weight: float = 1.0, balance: str = "sample"):
    """The post's objective, batch mean of recon_weight * recon + prior + categorical_weight *
    categorical, and the terms' means as metrics: a loss function for ``kexue.train``.

    ``balance="sample"`` is the post's third term, KL(p(y|z) || q(y)) for each sample, which pulls
    every sample's cluster probabilities towards uniform; ``balance="batch"`` applies it to the
    batch's average p(y) = mean_x p(y|z(x)) instead, which asks only that the clusters be used
    equally often and leaves each sample free to be sure of its cluster.
    """
    recon_weight = non_negative(recon_weight, "recon_weight")
    categorical_weight = non_negative(categorical_weight, "categorical_weight")
    if balance not in ("sample", "batch"):
        raise ValueError(f"balance must be 'sample' or 'batch', got {balance!r}")
    terms = loss_terms(model, x)
    parts = {k: terms[k].mean() for k in ("recon", "prior", "categorical")}
    if balance == "batch":
        average = terms["probs"].mean(0)
        parts["categorical"] = (average * torch.log(average.clamp_min(1e-12))).sum() \
            + math.log(model.clusters)
    loss = recon_weight * parts["recon"] + parts["prior"] + categorical_weight * parts["categorical"]
    return loss, {k: v.detach() for k, v in parts.items()}


# -- the experiments ------------------------------------------------------------------------------
DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def load_images(dataset: str, n_train: int, device) -> tuple:
    """``(x_train, y_train, x_test, y_test)``: the first ``n_train`` training images of
    ``dataset`` ("mnist" or "fashion-mnist") and the whole test set, flat, in [0, 1], on
    ``device``."""
    from .. import data

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    load = data.mnist if dataset == "mnist" else data.fashion_mnist
    (images, labels), (test_images, test_labels) = load("train"), load("test")
    n_train = positive_int(n_train, "n_train")
    if n_train > len(images):
        raise ValueError(f"{DATASETS[dataset]} has {len(images)} training images, not {n_train}")
    return (data.as_float(images[:n_train], device=device), labels[:n_train].to(device),
            data.as_float(test_images, device=device), test_labels.to(device))


class KMeansMeans(Callback):
    """A ``kexue.train`` callback: after ``epoch`` epochs, move the class means mu_y to the
    k-means centroids of the encoder's means mu(x) on ``x`` (VaDE's initialisation, made part of
    the one training run: the post starts the means at zero and lets training find them)."""

    def __init__(self, x: torch.Tensor, epoch: int, *, seed: int = 0, n_init: int = 4):
        self.x, self.epoch = x, positive_int(epoch, "epoch")
        self.seed, self.n_init = seed, positive_int(n_init, "n_init")
        self.done = False

    def on_epoch_end(self, trainer, logs):
        if self.done or trainer.epoch != self.epoch:
            return
        from sklearn.cluster import KMeans

        model = trainer.model
        model.eval()
        centroids = KMeans(model.clusters, n_init=self.n_init, random_state=self.seed).fit(
            _codes(model, self.x)).cluster_centers_
        model.train()
        with torch.no_grad():
            model.means.copy_(torch.as_tensor(centroids, dtype=model.means.dtype))
        self.done = True

    def state_dict(self):
        return {"done": self.done}

    def load_state_dict(self, state):
        self.done = state["done"]


def train_clustering(x: torch.Tensor, config: dict, seed: int) -> tuple[ClusteringVAE, list]:
    """Train a :class:`ClusteringVAE` on the rows of ``x`` with Adam through ``kexue.train``;
    ``config`` gives ``widths``, ``clusters``, ``classifier_hidden``, ``lr``, ``batch_size``,
    ``epochs``, ``recon_weight``, ``balance`` and ``kmeans_epoch`` (0: the means start at zero
    and stay with training, as in the post; n: they move to the k-means centroids of the codes
    after epoch n, :class:`KMeansMeans`)."""
    from functools import partial

    from .. import runtime, train

    model = ClusteringVAE(config["widths"], clusters=config["clusters"],
                          classifier_hidden=config["classifier_hidden"], seed=seed).to(x.device)
    loss = partial(cluster_loss, recon_weight=config["recon_weight"], balance=config["balance"])
    callbacks = [KMeansMeans(x[:20000], config["kmeans_epoch"], seed=seed)] \
        if config["kmeans_epoch"] else []
    with runtime.cpu_threads(1, x.device):
        history = train.fit(model, train.adam(model.parameters(), config["lr"]), loss, x,
                            batch_size=config["batch_size"], epochs=config["epochs"], seed=seed,
                            callbacks=callbacks, description=f"clustering VAE, seed {seed}")
    return model.eval(), history.rows


@torch.no_grad()
def _codes(model, x: torch.Tensor, batch_size: int = 4096):
    return torch.cat([model.encoder(x[i:i + batch_size])[0] for i in range(0, len(x), batch_size)]
                     ).cpu().numpy()


def baselines(x_train, x_test, y_test, config: dict, seed: int) -> dict:
    """The chapter's baselines, scored like the model: k-means on the pixels, and k-means and a
    Gaussian mixture (diagonal covariances) on the latent means of a plain VAE with the same
    encoder and decoder, trained as long, its KL weighted against the squared error as the
    clustering model weights its prior term. Each is fitted on the training images and scores
    the test images."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    from .autoencoder import VAE, VAELoss
    from .. import runtime, train
    from .cluster_scores import scores

    k, y = config["clusters"], y_test.cpu().numpy()
    out = {}
    pixels = KMeans(k, n_init=config["kmeans_inits"], random_state=seed).fit(x_train.cpu().numpy())
    out["kmeans_pixels"] = scores(pixels.predict(x_test.cpu().numpy()), y)
    widths = list(config["widths"])
    vae = VAE(widths[1:-1], widths[-1], input_dim=widths[0], seed=seed).to(x_train.device)
    with runtime.cpu_threads(1, x_train.device):
        train.fit(vae, train.adam(vae.parameters(), config["lr"]),
                  VAELoss(2.0 / config["recon_weight"]), x_train, batch_size=config["batch_size"],
                  epochs=config["epochs"], seed=seed, description=f"plain VAE, seed {seed}")
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
    clusters (majority-label and Hungarian accuracy, NMI, ARI), with the baselines per seed when
    ``config["baselines"]``, and one run of the post's recipe as it is (centres from zero, no
    k-means) when ``config["post_recipe_run"]``. Metrics hold per-seed values and their median
    and range; the artifacts hold the model of the median seed, its test assignments and the
    test images."""
    from .. import runtime
    from .cluster_scores import scores

    dev = runtime.device()
    x_train, _, x_test, y_test = load_images(config["dataset"], config["n_train"], dev)
    y = y_test.cpu().numpy()
    runs, models = [], []
    for seed in config["seeds"]:
        runtime.seed_everything(seed)
        model, rows = train_clustering(x_train, config, seed)
        clusters = model.assign(x_test).cpu().numpy()
        run = {"seed": seed, **scores(clusters, y), "final_loss": rows[-1]["loss"]}
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
    for key, _ in SCORES:
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


def _register(name: str, dataset: str, reference: float, where: str) -> None:
    model = dict(dataset=dataset, widths=[784, 512, 256, 10], clusters=10, classifier_hidden=256,
                 lr=1e-3, batch_size=100, recon_weight=2.5, balance="sample", kmeans_epoch=4,
                 baselines=True)
    experiment(
        name, post=5887, metric="test_acc",
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
    )(run_clustering)


_register("vae-cluster-mnist", "mnist", 0.83, "post 5887, section 'mnist' (about 83%; DEC about 84%)")
_register("vae-cluster-fashion", "fashion-mnist", 0.585, "post 5887, section 'fashion-mnist' (about 58.5%)")


SCORES = (("majority_acc", "majority acc."), ("hungarian_acc", "Hungarian acc."), ("nmi", "NMI"),
          ("ari", "ARI"))
METHODS = (("model", "clustering VAE (this chapter)"), ("post_recipe", "the post's recipe: centres from zero"),
           ("gmm_vae", "plain VAE + Gaussian mixture"), ("kmeans_vae", "plain VAE + k-means"),
           ("kmeans_pixels", "k-means on pixels"))


def results_table(metrics: dict, *, post: float | None = None):
    """The experiment's scores as a table: one row per method (median over seeds, with the range
    in brackets when there are several), and the post's reported accuracy."""
    from ..notebook import table

    def cell(entry):
        if isinstance(entry, (int, float)):
            return f"{entry:.3f}"
        if len(entry["per_seed"]) == 1:
            return f"{entry['median']:.3f}"
        return f"{entry['median']:.3f} [{entry['min']:.3f}, {entry['max']:.3f}]"

    rows = []
    for key, name in METHODS:
        source = metrics if key == "model" else metrics.get(key)
        if source is None:
            continue
        if key == "post_recipe":
            name += f" (seed {source['seed']})"
        rows.append([name] + [cell(source[k]) for k, _ in SCORES])
    if post is not None:
        rows.append(["the post (its convolutional model)", f"about {post:.3f}", "", "", ""])
    seeds = len(metrics["runs"])
    header = [f"{metrics['dataset']} test set, {seeds} seed{'s' if seeds > 1 else ''}"]
    return table(header + [label for _, label in SCORES], rows)


# -- figures -------------------------------------------------------------------------------------
def plot_cluster_members(fig, x: torch.Tensor, clusters, *, per_cluster: int = 12,
                         title: str | None = None):
    """One row per cluster: the first ``per_cluster`` test images the model put in it."""
    import numpy as np

    from ..viz import image_grid

    clusters = np.asarray(clusters)
    k = int(clusters.max()) + 1
    rows = []
    for c in range(k):
        members = x[torch.as_tensor(np.flatnonzero(clusters == c)[:per_cluster])]
        blank = torch.zeros(per_cluster - len(members), x.shape[1])
        rows.append(torch.cat([members.cpu().float(), blank]))
    ax = fig.add_subplot(1, 1, 1)
    image_grid(torch.cat(rows), ncols=per_cluster, ax=ax, title=title)
    for c in range(k):
        ax.text(-2, c * 29 + 14, str(c), ha="right", va="center", fontsize=8)
    return ax


def plot_conditional_samples(fig, model: ClusteringVAE, *, per_cluster: int = 12, seed: int = 0,
                             title: str | None = None):
    """One row per cluster y: images decoded from z ~ N(mu_y, I)."""
    from ..viz import image_grid

    generator = torch.Generator(device=model.means.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        images = torch.cat([model.sample(c, per_cluster, generator=generator)
                            for c in range(model.clusters)])
    finally:
        model.train(was_training)
    ax = fig.add_subplot(1, 1, 1)
    image_grid(images, ncols=per_cluster, ax=ax, title=title)
    for c in range(model.clusters):
        ax.text(-2, c * 29 + 14, str(c), ha="right", va="center", fontsize=8)
    return ax


def plot_contingency(ax, clusters, classes, *, class_names=None, title: str | None = None):
    """The contingency table (clusters down, true classes across) as a heat map, each cluster's
    row normalised, with the Hungarian matching outlined."""
    import numpy as np
    from matplotlib.patches import Rectangle
    from scipy.optimize import linear_sum_assignment

    from .cluster_scores import contingency

    table = contingency(clusters, classes)
    shares = table / np.maximum(table.sum(1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    for r, c in zip(rows, cols):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="tab:red", lw=1.5))
    for r in range(table.shape[0]):
        for c in range(table.shape[1]):
            if table[r, c]:
                ax.text(c, r, str(table[r, c]), ha="center", va="center", fontsize=6,
                        color="white" if shares[r, c] > 0.6 else "black")
    names = class_names or [str(c) for c in range(table.shape[1])]
    ax.set_xticks(range(table.shape[1]), names, rotation=45 if class_names else 0, ha="right"
                  if class_names else "center", fontsize=7)
    ax.set_yticks(range(table.shape[0]))
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    if title:
        ax.set_title(title)
    return ax


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

    from .. import data, runtime
    from ..bench import steps_per_second
    from ..train import Trainer, adam

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
