"""Deep InfoMax: features by maximising mutual information, without a decoder (Su Jianlin,
https://spaces.ac.cn/archives/6024, after Hjelm et al., 2018).

A convolutional encoder maps an image ``x`` to a feature map ``C(x)`` (``h x w`` vectors) and then
to a Gaussian code ``p(z|x) = N(mu(x), diag sigma^2(x))``. It is trained on

    - alpha * JS_global - beta * JS_local + gamma * E_x KL(p(z|x) || N(0, I)),

where each JS term is the f-GAN Jensen-Shannon bound (:func:`..mutual_information.js_bound`)
of a critic telling true pairs from mismatched ones: globally ``T1(C(x), z)``, the whole feature
map against a code; locally ``T2(C_ij(x), z)``, each position's feature vector against a code,
averaged over the ``h w`` positions. The critics are separable, ``<phi(.), psi(z)>`` (the
paper's "encoder-and-dot" critics), so a batch of ``n`` images scores all ``n x n`` pairings at
once: each image's own code is its positive, the ``n - 1`` other codes its negatives.
The KL term is the post's
prior: ``-I + lambda KL(p(z) || q(z))`` equals ``-(1 + lambda) I + lambda E_x KL(p(z|x) || q(z))``,
so a weighted per-image KL, as in a VAE, stands in for the adversarial prior of the paper.

The features (the means ``mu(x)``) are judged by k-nearest-neighbour classification
(:func:`knn_accuracy`, cosine similarity as the post's retrieval uses) and a linear probe
(:func:`linear_probe`), beside raw pixels and an untrained encoder. The experiment
``infomax-mnist`` is in :mod:`kexue.vae.experiments.mutual_information`, its table and figure in
:mod:`kexue.vae.figures.mutual_information`.

Serves chapters/part3-vae/mutual-information.ipynb (post 6024).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .. import classifier, runtime, train
from ..checks import float_tensor, label_tensor, non_negative, non_negative_int, positive_int, real_number
from .gaussian import kl_to_standard, sample
from .mutual_information import js_bound
from .networks import check_batch

__all__ = ["InfoMaxEncoder", "DeepInfoMax", "pair_bound", "infomax_terms", "InfoMaxLoss", "PriorWarmup", "train_infomax",
           "features", "nearest_neighbours", "retrieve", "knn_accuracy", "linear_probe"]

IMAGE_SIDE = 28
METRICS = ("cosine", "euclidean")


class InfoMaxEncoder(nn.Module):
    """``x`` (flat 28 x 28 images) -> ``(C(x), mu(x), log sigma^2(x))``: two stride-2 3x3
    convolutions (ReLU) give the ``channels[1] x 7 x 7`` feature map ``C``; a hidden layer on the
    flattened map, then two linear heads, give the code's mean and log-variance. The
    log-variance head starts at ``init_log_var`` (small blobs): started at the usual 0, the noise
    ``sigma ~ 1`` drowns the means (about 0.1 at initialisation) and the critics take hundreds
    of steps to find any signal, while the KL term pulls the means to zero."""

    def __init__(self, channels=(32, 64), hidden: int = 256, latent_dim: int = 64, *,
                 init_log_var: float = -4.0, seed: int | None = None):
        super().__init__()
        c1, c2 = (positive_int(c, "every channel count") for c in channels)
        self.channels, self.latent_dim = c2, positive_int(latent_dim, "latent_dim")
        self.side = IMAGE_SIDE // 4
        hidden = positive_int(hidden, "hidden")
        with runtime.seeded_init(seed):
            self.conv = nn.Sequential(nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU())
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * self.side ** 2, hidden),
                                      nn.ReLU())
            self.mean = nn.Linear(hidden, self.latent_dim)
            self.log_var = nn.Linear(hidden, self.latent_dim)
            nn.init.constant_(self.log_var.bias, real_number(init_log_var, "init_log_var"))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = check_batch(x, IMAGE_SIDE ** 2)
        c = self.conv(x.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE))
        h = self.head(c)
        return c, self.mean(h), self.log_var(h)


def _embedding(width: int, k: int) -> nn.Module:
    """A two-layer MLP ``width -> k -> k`` (ReLU between): one side of a dot-product critic."""
    return nn.Sequential(nn.Linear(width, k), nn.ReLU(), nn.Linear(k, k))


class DeepInfoMax(nn.Module):
    """The encoder and its two separable ("encoder-and-dot") critics, as in the paper's best
    variant: ``T(a, z) = <phi(a), psi(z)>`` with small embeddings of each side, so one batch of
    ``n`` images gives the whole ``n x n`` matrix of scores at once. Globally ``phi`` is an MLP on
    the flattened map ``C(x)``; locally two 1x1 convolutions embed each position's vector
    ``C_ij(x)``; each critic has its own MLP ``psi`` on the code."""

    def __init__(self, channels=(32, 64), hidden: int = 256, latent_dim: int = 64,
                 critic_hidden: int = 256, *, seed: int | None = None):
        super().__init__()
        self.encoder = InfoMaxEncoder(channels, hidden, latent_dim, seed=seed)
        c, d, s = self.encoder.channels, self.encoder.latent_dim, self.encoder.side
        k = positive_int(critic_hidden, "critic_hidden")
        with runtime.seeded_init(None if seed is None else seed + 1):
            self.global_map = nn.Sequential(nn.Flatten(), _embedding(c * s * s, k))
            self.global_code = _embedding(d, k)
            self.local_map = nn.Sequential(nn.Conv2d(c, k, 1), nn.ReLU(), nn.Conv2d(k, k, 1))
            self.local_code = _embedding(d, k)

    def scores(self, c: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The critics' values for every pairing of feature maps ``c`` (n x C x h x w) with codes
        ``z`` (m x d): global ``[i, j] = T1(C(x_i), z_j)`` (n x m) and local
        ``[i, j, a, b] = T2(C_ab(x_i), z_j)`` (n x m x h x w). True pairs are ``i = j``."""
        t_global = self.global_map(c) @ self.global_code(z).T
        t_local = torch.einsum("ikab,jk->ijab", self.local_map(c), self.local_code(z))
        return t_global, t_local


def pair_bound(scores: torch.Tensor, bound=js_bound) -> torch.Tensor:
    """A critic bound (``js_bound`` or ``dv_bound``) on a score array whose first two axes pair
    images with codes (n x n x ...): the diagonal ``i = j`` gives the true pairs, every
    off-diagonal entry a pair from the product of the marginals, ``n - 1`` negatives per image."""
    n = len(scores)
    if scores.ndim < 2 or scores.shape[1] != n or n < 2:
        raise ValueError(f"scores must pair n >= 2 images with their n codes (n x n x ...), got "
                         f"shape {tuple(scores.shape)}")
    true = torch.eye(n, dtype=torch.bool, device=scores.device)
    return bound(scores[true].flatten(), scores[~true].flatten())


def infomax_terms(model: DeepInfoMax, x: torch.Tensor, noise: torch.Tensor) -> dict:
    """The three terms on a batch, with ``z = mu + sigma * noise``: ``global_js`` and
    ``local_js`` (the JS bounds :func:`pair_bound` of all ``n x n`` pairings in the batch, the
    other images' codes as negatives) and ``prior_kl`` (the mean of ``KL(p(z|x) || N(0, I))``)."""
    c, mean, log_var = model.encoder(x)
    t_global, t_local = model.scores(c, sample(mean, log_var, noise))
    return {"global_js": pair_bound(t_global), "local_js": pair_bound(t_local),
            "prior_kl": kl_to_standard(mean, log_var).mean()}


class InfoMaxLoss:
    """``-alpha global_js - beta local_js + gamma_t prior_kl`` for ``kexue.train``; logs the terms.
    ``gamma_t = gamma * prior_scale``, the scale set by :class:`PriorWarmup` (1 without it)."""

    def __init__(self, alpha: float = 0.5, beta: float = 1.5, gamma: float = 0.01):
        self.alpha = non_negative(alpha, "alpha")
        self.beta = non_negative(beta, "beta")
        self.gamma = non_negative(gamma, "gamma")
        self.prior_scale = 1.0

    def __call__(self, model: DeepInfoMax, x: torch.Tensor):
        noise = torch.randn(len(x), model.encoder.latent_dim, device=x.device, dtype=x.dtype)
        terms = infomax_terms(model, x, noise)
        loss = (-self.alpha * terms["global_js"] - self.beta * terms["local_js"]
                + self.gamma * self.prior_scale * terms["prior_kl"])
        return loss, {k: v.detach() for k, v in terms.items()}


class PriorWarmup(train.Callback):
    """Switch the prior term on late: ``prior_scale`` is 0 for the first ``delay`` steps, then
    rises linearly to 1 over ``delay`` more. Early on the critics cannot yet tell true pairs from
    shuffled ones, so the JS terms give the encoder no gradient, and any KL gradient at all
    (Adam rescales it, however small ``gamma``) pulls every code onto the prior, where the
    critics never find a signal (measured: JS stays at ``-log 4``)."""

    def __init__(self, loss: InfoMaxLoss, delay: int):
        if not isinstance(loss, InfoMaxLoss):
            raise TypeError(f"loss must be an InfoMaxLoss, got {type(loss).__name__}")
        self.loss, self.delay = loss, non_negative_int(delay, "delay")

    def _update(self, step: int) -> None:
        self.loss.prior_scale = (1.0 if self.delay == 0
                                 else min(1.0, max(0.0, (step - self.delay) / self.delay)))

    def on_train_begin(self, trainer):
        self._update(trainer.step)

    def on_step_end(self, trainer, logs):
        self._update(trainer.step)


def train_infomax(config: dict, data: torch.Tensor) -> tuple[DeepInfoMax, list[dict]]:
    """Train a :class:`DeepInfoMax` (``channels``, ``hidden``, ``latent_dim``, ``critic_hidden``)
    with :class:`InfoMaxLoss` (``alpha``, ``beta``, ``gamma``; the prior switched on after
    ``prior_delay`` steps by :class:`PriorWarmup`) by Adam (``lr``, :func:`kexue.train.fit_adam`,
    on the caller's CPU threads) for ``epochs`` epochs of ``batch_size`` on the rows of ``data``,
    seeded with ``seed``. Returns the model (eval mode) and the history's rows."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    keys = ("channels", "hidden", "latent_dim", "critic_hidden", "alpha", "beta", "gamma",
            "prior_delay", "lr", "epochs", "batch_size", "seed")
    missing = [k for k in keys if k not in config]
    if missing:
        raise KeyError(f"config lacks {missing}; it needs {list(keys)}")
    data = check_batch(data, IMAGE_SIDE ** 2, "data")
    model = DeepInfoMax(config["channels"], config["hidden"], config["latent_dim"],
                        config["critic_hidden"], seed=config["seed"]).to(data.device)
    loss = InfoMaxLoss(config["alpha"], config["beta"], config["gamma"])
    runtime.seed_everything(config["seed"])
    batch_size = positive_int(config["batch_size"], "batch_size")
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2: negatives come from other images")
    history = train.fit_adam(model, loss, data, lr=config["lr"], threads=None,
                             batch_size=min(batch_size, len(data)),
                             epochs=positive_int(config["epochs"], "epochs"), seed=config["seed"],
                             callbacks=[PriorWarmup(loss, config["prior_delay"])],
                             description="Deep InfoMax")
    return model.eval(), history.rows


@torch.no_grad()
def features(encoder: InfoMaxEncoder, x: torch.Tensor, *, batch_size: int = 2048) -> torch.Tensor:
    """The means ``mu(x)``, ``batch_size`` images at a time."""
    if not isinstance(encoder, InfoMaxEncoder):
        raise TypeError(f"encoder must be an InfoMaxEncoder, got {type(encoder).__name__}")
    x = check_batch(x, IMAGE_SIDE ** 2)
    return torch.cat([encoder(part)[1] for part in x.split(positive_int(batch_size, "batch_size"))])


def _features_pair(queries, bank) -> tuple[torch.Tensor, torch.Tensor]:
    queries = float_tensor(queries, "queries", ndim=2, nonempty=True)
    bank = float_tensor(bank, "bank", ndim=2, nonempty=True)
    if queries.shape[1] != bank.shape[1]:
        raise ValueError(f"queries and bank must have the same width, got {queries.shape[1]} and "
                         f"{bank.shape[1]}")
    return queries, bank


def nearest_neighbours(queries: torch.Tensor, bank: torch.Tensor, k: int, *,
                       metric: str = "cosine", chunk: int = 1024) -> torch.Tensor:
    """The indices (``len(queries) x k``) of each query's ``k`` nearest rows of ``bank``, nearest
    first: by cosine similarity (``metric="cosine"``) or Euclidean distance."""
    queries, bank = _features_pair(queries, bank)
    k = positive_int(k, "k")
    if k > len(bank):
        raise ValueError(f"k = {k} exceeds the bank's {len(bank)} rows")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "cosine":
        queries, bank = F.normalize(queries, dim=1), F.normalize(bank, dim=1)
        score = lambda q: q @ bank.T
    else:
        score = lambda q: -torch.cdist(q, bank)
    return torch.cat([score(q).topk(k, dim=1).indices
                      for q in queries.split(positive_int(chunk, "chunk"))])


def retrieve(query_features: torch.Tensor, bank_features: torch.Tensor, bank_images: torch.Tensor,
             k: int) -> torch.Tensor:
    """The post's retrieval: for each query, the images of its ``k`` nearest bank rows by cosine
    similarity of the features, nearest first (``[query, k, pixels]``)."""
    if len(bank_images) != len(bank_features):
        raise ValueError(f"bank_images has {len(bank_images)} rows but bank_features "
                         f"{len(bank_features)}")
    index = nearest_neighbours(query_features, bank_features, k)
    return bank_images[index.to(bank_images.device)]


def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor,
                 test_features: torch.Tensor, test_labels: torch.Tensor, *, k: int = 10,
                 metric: str = "cosine") -> float:
    """The fraction of test rows whose label is the majority label of their ``k`` nearest training
    rows (ties to the smallest label, as scikit-learn's ``KNeighborsClassifier`` breaks them)."""
    train_labels = label_tensor(train_labels, "train_labels", n=len(train_features))
    test_labels = label_tensor(test_labels, "test_labels", n=len(test_features))
    index = nearest_neighbours(test_features, train_features, k, metric=metric)
    votes = F.one_hot(train_labels[index], int(train_labels.max()) + 1).sum(1)
    return float((votes.argmax(1) == test_labels).float().mean())


def linear_probe(train_features: torch.Tensor, train_labels: torch.Tensor,
                 test_features: torch.Tensor, test_labels: torch.Tensor, *, epochs: int = 10,
                 batch_size: int = 256, lr: float = 1e-2, seed: int = 0) -> float:
    """Test accuracy of a linear softmax classifier trained (Adam, ``kexue.train``) on the
    training features, each standardised by the training set's mean and standard deviation."""
    train_features, test_features = _features_pair(train_features, test_features)
    train_labels = label_tensor(train_labels, "train_labels", n=len(train_features))
    test_labels = label_tensor(test_labels, "test_labels", n=len(test_features))
    centre, scale = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    standard = lambda f: (f - centre) / scale
    model = classifier.train_mlp(standard(train_features), train_labels, epochs=epochs,
                                 batch_size=batch_size, lr=lr, seed=seed,
                                 description="linear probe")
    return classifier.evaluate(model, standard(test_features), test_labels)["acc"]
