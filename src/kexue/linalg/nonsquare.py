"""The determinant of a non-square matrix: the k-volume of k vectors in R^n, and what it is for.

Follows Su Jianlin, "再谈非方阵的行列式" (2018), https://spaces.ac.cn/archives/6096.

For ``B = (b_1, ..., b_k)`` of shape ``(n, k)`` with ``n >= k`` the k-dimensional volume of the
parallelotope the columns span is

    vol_k(B) = sqrt(det(B^T B)),

which is also the product of the singular values of ``B``, ``|det R|`` for ``B = QR``, and (by
Cauchy-Binet) the root of the sum of the squared ``k x k`` minors of ``B``. For an injective map
``g: R^k -> R^n`` with Jacobian ``J``, ``vol_k(J)`` is the local stretch of k-volume: it gives lengths
of curves, areas of surfaces, and the density ``p(x) = p(z) / vol_k(J(z))`` of a distribution pushed
onto the image of ``g``.

Serves chapters/part1-linear-algebra/nonsquare-determinants.ipynb (post 6096); its figures are in
:mod:`kexue.linalg.figures`, its experiment ``injective-flow-density`` in
:mod:`kexue.linalg.experiments`.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import torch

from ..checks import float_tensor, positive_int

__all__ = [
    "volume", "log_volume", "volume_svd", "gram_schmidt", "volume_qr", "minors", "cauchy_binet",
    "jacobian", "area_element", "manifold_volume", "log_density_on_image",
    "ellipse", "ellipse_perimeter", "sphere", "sphere_patch_area",
    "inverse_stereographic", "stereographic", "inverse_stereographic_area_element",
    "stereographic_band_probabilities", "stereographic_mass_without_jacobian",
]


# -- input checks --------------------------------------------------------------------------------
def _as_matrices(B, name: str = "B") -> torch.Tensor:
    """``B`` as a float tensor of shape ``(..., n, k)`` with ``1 <= k <= n`` and finite entries."""
    B = float_tensor(B, name, numpy_ok=True)
    if B.ndim < 2:
        raise ValueError(f"{name} must be a matrix of shape (n, k) or a batch (..., n, k), got a "
                         f"{B.ndim}-D tensor of shape {tuple(B.shape)}")
    n, k = B.shape[-2:]
    if n < 1 or k < 1:
        raise ValueError(f"{name} must have at least one row and one column, got shape "
                         f"{tuple(B.shape)}")
    if k > n:
        raise ValueError(
            f"{name} has k={k} columns in R^{n}: k > n vectors are linearly dependent, so their "
            f"k-volume is 0 and det({name}^T {name}) = 0; to measure the n={n} rows of {name} "
            f"instead, pass {name}.mT (that is sqrt(det({name} {name}^T)))")
    return B


def _as_points(z, name: str = "z") -> torch.Tensor:
    """``z`` as a float tensor of shape ``(m, k)`` (a batch of m points of R^k), finite."""
    z = float_tensor(z, name, numpy_ok=True)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty batch of points of shape (m, k), got shape "
                         f"{tuple(z.shape)}")
    return z


def _positive(value, name: str) -> float:
    """``float(value)`` if it is finite and > 0; unlike :func:`kexue.checks.positive` it takes
    anything ``float()`` takes (a 0-d tensor, a numeric string)."""
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


# -- the k-volume, four ways -----------------------------------------------------------------------
def _scaled_gram(B) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C^T C, e)`` for ``B = 2^e C`` with C's largest entry in [1/2, 1), per matrix: then
    ``vol_k(B) = 2^(e k) vol_k(C)``, exactly (a power of two), and C^T C neither overflows nor
    underflows at scales (1e150, 1e-150) where B^T B would."""
    B = _as_matrices(B)
    e = torch.frexp(B.abs().amax(dim=(-2, -1), keepdim=True)).exponent
    C = torch.ldexp(B, -e)
    return C.mT @ C, e[..., 0, 0]


def volume(B) -> torch.Tensor:
    """vol_k(B) = sqrt(det(B^T B)) for B of shape (..., n, k), n >= k: the definition (post 6096),
    with B scaled by a power of two first (inf or 0 only where the volume is out of range).

    Rounding can leave det(B^T B) a hair below 0 when the columns are dependent; it is clamped to 0.
    """
    gram, e = _scaled_gram(B)
    return torch.ldexp(torch.linalg.det(gram).clamp(min=0).sqrt(), e * gram.shape[-1])


def log_volume(B) -> torch.Tensor:
    """log vol_k(B) = (1/2) log det(B^T B), B scaled as in :func:`volume`; -inf where the columns
    of B are dependent."""
    gram, e = _scaled_gram(B)
    sign, logabsdet = torch.linalg.slogdet(gram)
    log = 0.5 * logabsdet + e.to(logabsdet.dtype) * (gram.shape[-1] * math.log(2))
    return torch.where(sign > 0, log, torch.full_like(logabsdet, -math.inf))


def volume_svd(B) -> torch.Tensor:
    """vol_k(B) = sigma_1 ... sigma_k: with B = U S V^T, B^T B = V S^2 V^T has determinant prod sigma_i^2."""
    return torch.linalg.svdvals(_as_matrices(B)).prod(-1)


def gram_schmidt(B) -> tuple[torch.Tensor, torch.Tensor]:
    """(Modified) Gram-Schmidt: B = Q R, Q of shape (..., n, k) with orthonormal columns, R upper
    triangular (..., k, k) with R_jj >= 0 the distance from b_j to span(b_1, ..., b_{j-1}).

    A column that lies exactly in the span of the earlier ones gets R_jj = 0 and a zero column in Q.
    """
    B = _as_matrices(B)
    k = B.shape[-1]
    R = B.new_zeros(*B.shape[:-2], k, k)
    qs: list[torch.Tensor] = []
    for j in range(k):
        v = B[..., :, j]
        for i, q in enumerate(qs):
            r = (q * v).sum(-1)
            R[..., i, j] = r
            v = v - r.unsqueeze(-1) * q
        height = torch.linalg.vector_norm(v, dim=-1)
        R[..., j, j] = height
        safe = torch.where(height > 0, height, torch.ones_like(height)).unsqueeze(-1)
        qs.append(torch.where(height.unsqueeze(-1) > 0, v / safe, torch.zeros_like(v)))
    return torch.stack(qs, dim=-1), R


def volume_qr(B) -> torch.Tensor:
    """vol_k(B) = |det R| = R_11 R_22 ... R_kk: Q only rotates, so the volume is base times heights."""
    _, R = gram_schmidt(B)
    return torch.diagonal(R, dim1=-2, dim2=-1).prod(-1)


def minors(B, max_subsets: int = 100_000) -> tuple[list[tuple[int, ...]], torch.Tensor]:
    """All k x k minors det(B_S) of B (..., n, k), S running over the k-subsets of the rows in the
    order of ``itertools.combinations(range(n), k)``; returns (subsets, dets of shape (..., C(n, k)))."""
    B = _as_matrices(B)
    n, k = B.shape[-2:]
    count = math.comb(n, k)
    if count > max_subsets:
        raise ValueError(f"B of shape (n={n}, k={k}) has C(n, k) = {count} row subsets, more than "
                         f"max_subsets={max_subsets}")
    subsets = list(itertools.combinations(range(n), k))
    index = torch.tensor(subsets, device=B.device)
    return subsets, torch.linalg.det(B[..., index, :])


def cauchy_binet(B, max_subsets: int = 100_000) -> torch.Tensor:
    """sum_S det(B_S)^2 over all k-subsets S of rows, which Cauchy-Binet says equals det(B^T B):
    the squared volume is the sum of the squared volumes of its shadows on the coordinate k-planes."""
    return minors(B, max_subsets)[1].square().sum(-1)


# -- maps R^k -> R^n: Jacobians, lengths, areas, densities ----------------------------------------
def jacobian(g: Callable[[torch.Tensor], torch.Tensor], z) -> torch.Tensor:
    """The Jacobians J_i = dg/dz at every row z_i of z (m, k), shape (m, n, k), by
    ``torch.autograd.functional.jacobian``.

    ``g`` maps a batch (m, k) to (m, n) row by row (output row i depends on input row i only), so the
    Jacobian of sum_i g(z)_i with respect to z holds every J_i.
    """
    if not callable(g):
        raise TypeError(f"g must be a callable mapping (m, k) points to (m, n), got {type(g).__name__}")
    z = _as_points(z)
    m, k = z.shape
    with torch.no_grad():
        x = g(z)
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] != m:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"g must map z of shape ({m}, {k}) to a tensor of shape ({m}, n), got {shape}")
    if x.shape[1] < k:
        raise ValueError(f"g maps R^{k} to R^{x.shape[1]}: an injective map needs n >= k")
    J = torch.autograd.functional.jacobian(lambda w: g(w).sum(0), z, vectorize=True)  # (n, m, k)
    return J.permute(1, 0, 2)


def area_element(g: Callable[[torch.Tensor], torch.Tensor], z) -> torch.Tensor:
    """sqrt(det(J^T J)) at each row of z: how much g stretches k-volume near z, shape (m,)."""
    return volume(jacobian(g, z))


def manifold_volume(g: Callable[[torch.Tensor], torch.Tensor], lower: Sequence[float],
                    upper: Sequence[float], num_nodes: int = 64) -> float:
    """The k-volume (length, area, ...) of g(box) for an injective g, box = prod [lower_i, upper_i]:

        vol_k(g(box)) = integral over the box of sqrt(det(J^T J)) dz,

    by tensor-product Gauss-Legendre quadrature with ``num_nodes`` nodes per axis, in float64.
    """
    lower = np.asarray(lower, dtype=float).reshape(-1)
    upper = np.asarray(upper, dtype=float).reshape(-1)
    if lower.shape != upper.shape or lower.size < 1:
        raise ValueError(f"lower and upper must be equally long non-empty sequences, got "
                         f"{lower.size} and {upper.size} numbers")
    if not (np.isfinite(lower).all() and np.isfinite(upper).all()) or not (lower < upper).all():
        raise ValueError(f"need finite lower < upper on every axis, got lower={lower.tolist()}, "
                         f"upper={upper.tolist()}")
    num_nodes = positive_int(num_nodes, "num_nodes")
    if num_nodes ** lower.size > 4_000_000:
        raise ValueError(f"{num_nodes}^{lower.size} quadrature points is too many; use fewer nodes")
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    half = (upper - lower) / 2
    axes = [lower[i] + half[i] * (nodes + 1) for i in range(lower.size)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, lower.size)
    w = np.prod(np.stack(np.meshgrid(*[weights] * lower.size, indexing="ij"), -1).reshape(
        -1, lower.size), axis=1) * np.prod(half)
    dens = area_element(g, torch.from_numpy(points))
    return float((torch.from_numpy(w) * dens.detach().to(torch.float64).cpu()).sum())


def log_density_on_image(log_prob_z: Callable[[torch.Tensor], torch.Tensor],
                         g: Callable[[torch.Tensor], torch.Tensor], z) -> torch.Tensor:
    """log p_X(g(z)) = log p_Z(z) - (1/2) log det(J^T J): the change of variables for an injective
    g: R^k -> R^n; p_X is a density on the image manifold with respect to its k-dimensional area."""
    z = _as_points(z)
    log_pz = log_prob_z(z)
    if not isinstance(log_pz, torch.Tensor) or log_pz.shape != z.shape[:1]:
        raise ValueError(f"log_prob_z must return one value per point, shape ({z.shape[0]},)")
    return log_pz - log_volume(jacobian(g, z))


# -- worked maps with closed forms -------------------------------------------------------------------
def ellipse(a: float, b: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """t (m, 1) -> (a cos t, b sin t) (m, 2): R^1 -> R^2, injective on [0, 2 pi)."""
    a, b = _positive(a, "a"), _positive(b, "b")

    def g(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([a * torch.cos(t), b * torch.sin(t)], dim=-1)

    return g


def ellipse_perimeter(a: float, b: float) -> float:
    """The perimeter 4 A E(1 - B^2/A^2) of the ellipse with semi-axes A = max(a, b) >= B = min(a, b),
    E the complete elliptic integral of the second kind (``scipy.special.ellipe``)."""
    from scipy.special import ellipe

    a, b = _positive(a, "a"), _positive(b, "b")
    big, small = max(a, b), min(a, b)
    return float(4 * big * ellipe(1 - (small / big) ** 2))


def sphere(radius: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """(theta, phi) (m, 2) -> r (sin theta cos phi, sin theta sin phi, cos theta) (m, 3): polar angle
    theta, azimuth phi; injective on (0, pi) x [0, 2 pi)."""
    r = _positive(radius, "radius")

    def g(angles: torch.Tensor) -> torch.Tensor:
        theta, phi = angles[..., 0], angles[..., 1]
        return r * torch.stack([torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi),
                                torch.cos(theta)], dim=-1)

    return g


def sphere_patch_area(radius: float, theta: tuple[float, float], phi: tuple[float, float]) -> float:
    """Area r^2 (phi_1 - phi_0)(cos theta_0 - cos theta_1) of {theta_0 <= theta <= theta_1,
    phi_0 <= phi <= phi_1} on the sphere of radius r (0 <= theta_0 < theta_1 <= pi, phi_1 - phi_0 <= 2 pi)."""
    r = _positive(radius, "radius")
    (t0, t1), (p0, p1) = (float(v) for v in theta), (float(v) for v in phi)
    if not (0 <= t0 < t1 <= math.pi) or not (0 < p1 - p0 <= 2 * math.pi):
        raise ValueError(f"need 0 <= theta_0 < theta_1 <= pi and 0 < phi_1 - phi_0 <= 2 pi, got "
                         f"theta={theta}, phi={phi}")
    return r * r * (p1 - p0) * (math.cos(t0) - math.cos(t1))


def inverse_stereographic(z: torch.Tensor) -> torch.Tensor:
    """z (m, 2) -> (2 z_1, 2 z_2, |z|^2 - 1) / (|z|^2 + 1) (m, 3): a bijection of R^2 onto the unit
    sphere without its north pole (0, 0, 1), so an injective map R^2 -> R^3."""
    s = z.square().sum(-1, keepdim=True)
    return torch.cat([2 * z, s - 1], dim=-1) / (s + 1)


def stereographic(x: torch.Tensor) -> torch.Tensor:
    """x (m, 3) on the unit sphere -> (x_1, x_2) / (1 - x_3) (m, 2): the inverse of
    :func:`inverse_stereographic` (undefined at the north pole)."""
    return x[..., :2] / (1 - x[..., 2:3])


def inverse_stereographic_area_element(z: torch.Tensor) -> torch.Tensor:
    """The closed form sqrt(det(J^T J)) = 4 / (1 + |z|^2)^2 of :func:`inverse_stereographic`
    (the map is conformal with scale 2 / (1 + |z|^2))."""
    return 4 / (1 + z.square().sum(-1)) ** 2


def stereographic_band_probabilities(edges, sigma: float = 1.0) -> np.ndarray:
    """P(h_i < x_3 <= h_{i+1}) for x = inverse_stereographic(z), z ~ N(0, sigma^2 I_2), exactly:
    x_3 = (s - 1)/(s + 1) with s = |z|^2, and P(s <= t) = 1 - exp(-t / (2 sigma^2)), so
    P(x_3 <= h) = 1 - exp(-(1 + h) / (2 sigma^2 (1 - h)))."""
    sigma = _positive(sigma, "sigma")
    h = np.asarray(edges, dtype=float)
    if h.ndim != 1 or h.size < 2 or not (np.diff(h) > 0).all() or h[0] < -1 or h[-1] > 1:
        raise ValueError(f"edges must increase within [-1, 1], got {h.tolist()}")
    with np.errstate(divide="ignore"):
        t = np.where(h < 1, (1 + h) / np.where(h < 1, 1 - h, 1.0), np.inf)
    cdf = -np.expm1(-t / (2 * sigma ** 2))
    return np.diff(cdf)


def stereographic_mass_without_jacobian(sigma: float = 1.0) -> float:
    """What the sphere integral of p_Z(z(x)) comes to when the area factor is forgotten:
    E[4 / (1 + s)^2] with s = |z|^2 ~ sigma^2 chi^2_2, which is 4 c e^c E_2(c) with c = 1/(2 sigma^2)
    (E_2 the exponential integral, ``scipy.special.expn(2, c)``); the right answer is 1."""
    from scipy.special import expn

    c = 1 / (2 * _positive(sigma, "sigma") ** 2)
    return float(4 * c * math.exp(c) * expn(2, c))
