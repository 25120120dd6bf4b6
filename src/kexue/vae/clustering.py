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
gives a squared error, weighted by ``recon_weight``). :class:`KMeansMeans` and
:func:`train_clustering` train it through ``kexue.train``; :func:`pretrain_autoencoder` and
:func:`init_clusters` are VaDE's start (train the encoder and decoder as a plain autoencoder
first, then put the class means at the k-means centroids of its codes and teach the classifier
the prior's posterior), not the post's.

Serves chapters/part3-vae/vae-clustering.ipynb (post 5887); its experiments ``vae-cluster-mnist``
and ``vae-cluster-fashion`` (and the benchmark ``python -m kexue bench vae-cluster``) are in
:mod:`kexue.vae.experiments.clustering`, its tables and figures in
:mod:`kexue.vae.figures.clustering`.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .. import train
from ..checks import float_tensor, non_negative, positive_int
from ..classifier import mlp
from .gaussian import sample
from .networks import GaussianEncoder, check_batch, mlp_decoder

__all__ = ["ClusteringVAE", "prior_posterior", "loss_terms", "cluster_loss", "KMeansMeans",
           "pretrain_autoencoder", "init_clusters", "train_clustering"]


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


# -- training ----------------------------------------------------------------------------------
class KMeansMeans(train.Callback):
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


def pretrain_autoencoder(model: ClusteringVAE, x: torch.Tensor, *, epochs: int, lr: float,
                         batch_size: int, seed: int) -> list:
    """Train ``model``'s encoder mean and decoder as a plain autoencoder, loss
    1/2 |x - G(mu(x))|^2 (no noise, no prior), for ``epochs`` epochs; the history's rows."""
    def loss(m, xb):
        recon = 0.5 * (xb - m.decoder(m.encoder(xb)[0])).square().sum(1).mean()
        return recon, {"recon": recon.detach()}

    return train.fit_adam(model, loss, x, lr=lr, batch_size=batch_size, epochs=epochs, seed=seed,
                          description=f"autoencoder pre-training, seed {seed}").rows


def init_clusters(model: ClusteringVAE, x: torch.Tensor, *, epochs: int, lr: float,
                  batch_size: int, seed: int, n_init: int = 4) -> list:
    """VaDE's start from a pre-trained encoder: the class means mu_y go to the k-means centroids
    of the codes mu(x) of the first 20,000 rows of ``x``, then the classifier p(y|z) is fitted for
    ``epochs`` epochs to the prior's posterior q(y|z) (:func:`prior_posterior`, the classifier the
    loss would want) at z = mu(x), everything else fixed; the history's rows."""
    from sklearn.cluster import KMeans

    model.eval()
    centroids = KMeans(model.clusters, n_init=positive_int(n_init, "n_init"),
                       random_state=seed).fit(_codes(model, x[:20000])).cluster_centers_
    with torch.no_grad():
        model.means.copy_(torch.as_tensor(centroids, dtype=model.means.dtype))
    model.train()

    def loss(classifier, xb):
        with torch.no_grad():
            z = model.encoder(xb)[0]
            target = prior_posterior(z, model.means)
        cross_entropy = -(target * F.log_softmax(classifier(z), dim=1)).sum(1).mean()
        return cross_entropy, {"cross_entropy": cross_entropy.detach()}

    return train.fit_adam(model.classifier, loss, x, lr=lr, batch_size=batch_size, epochs=epochs,
                          seed=seed, description=f"classifier start, seed {seed}").rows


def train_clustering(x: torch.Tensor, config: dict, seed: int) -> tuple[ClusteringVAE, list]:
    """Train a :class:`ClusteringVAE` on the rows of ``x`` with Adam through
    :func:`kexue.train.fit_adam`; ``config`` gives ``widths``, ``clusters``,
    ``classifier_hidden``, ``lr``, ``batch_size``, ``epochs``, ``recon_weight``, ``balance`` and
    ``kmeans_epoch`` (0: the means start at zero and stay with training, as in the post; n: they
    move to the k-means centroids of the codes after epoch n, :class:`KMeansMeans`). With
    ``pretrain_epochs`` > 0 the model starts as VaDE does instead: :func:`pretrain_autoencoder`
    for that many epochs, then :func:`init_clusters` (``classifier_init_epochs`` epochs)."""
    from functools import partial

    model = ClusteringVAE(config["widths"], clusters=config["clusters"],
                          classifier_hidden=config["classifier_hidden"], seed=seed).to(x.device)
    loss = partial(cluster_loss, recon_weight=config["recon_weight"], balance=config["balance"])
    if config.get("pretrain_epochs", 0):
        common = dict(lr=config["lr"], batch_size=config["batch_size"], seed=seed)
        pretrain_autoencoder(model, x, epochs=config["pretrain_epochs"], **common)
        init_clusters(model, x, epochs=config["classifier_init_epochs"], **common)
    callbacks = [KMeansMeans(x[:20000], config["kmeans_epoch"], seed=seed)] \
        if config["kmeans_epoch"] else []
    history = train.fit_adam(model, loss, x, lr=config["lr"], batch_size=config["batch_size"],
                             epochs=config["epochs"], seed=seed, callbacks=callbacks,
                             description=f"clustering VAE, seed {seed}")
    return model.eval(), history.rows


@torch.no_grad()
def _codes(model, x: torch.Tensor, batch_size: int = 4096):
    return torch.cat([model.encoder(x[i:i + batch_size])[0] for i in range(0, len(x), batch_size)]
                     ).cpu().numpy()
