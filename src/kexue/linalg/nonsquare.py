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
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import torch

from ..checks import float_tensor, positive_int
from ..experiments import experiment

__all__ = [
    "volume", "log_volume", "volume_svd", "gram_schmidt", "volume_qr", "minors", "cauchy_binet",
    "jacobian", "area_element", "manifold_volume", "log_density_on_image",
    "ellipse", "ellipse_perimeter", "sphere", "sphere_patch_area",
    "inverse_stereographic", "stereographic", "inverse_stereographic_area_element",
    "stereographic_band_probabilities", "stereographic_mass_without_jacobian",
    "run_injective_flow_density", "parallelogram_vectors", "plot_parallelogram",
    "draw_parallelogram", "plot_injective_flow",
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
def volume(B) -> torch.Tensor:
    """vol_k(B) = sqrt(det(B^T B)) for B of shape (..., n, k), n >= k: the definition (post 6096).

    Rounding can leave det(B^T B) a hair below 0 when the columns are dependent; it is clamped to 0.
    """
    B = _as_matrices(B)
    return torch.linalg.det(B.mT @ B).clamp(min=0).sqrt()


def log_volume(B) -> torch.Tensor:
    """log vol_k(B) = (1/2) log det(B^T B); -inf where the columns of B are dependent."""
    B = _as_matrices(B)
    sign, logabsdet = torch.linalg.slogdet(B.mT @ B)
    return torch.where(sign > 0, 0.5 * logabsdet, torch.full_like(logabsdet, -math.inf))


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


def _normal_log_prob(sigma: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def log_prob(z: torch.Tensor) -> torch.Tensor:
        k = z.shape[-1]
        return -0.5 * z.square().sum(-1) / sigma ** 2 - k * math.log(sigma * math.sqrt(2 * math.pi))

    return log_prob


@experiment(
    "injective-flow-density",
    quick=dict(n_samples=500_000, chunk=250_000, sigma=0.5, n_bands=10, seed=0),
    full=dict(n_samples=100_000_000, chunk=4_000_000, sigma=0.5, n_bands=10, seed=0),
    metric="mass",
    description="Push N(0, sigma^2 I_2) onto the unit sphere with the injective inverse stereographic "
                "map R^2 -> R^3; check that p(z) / sqrt(det(J^T J)) integrates to 1 over the sphere "
                "(Monte Carlo over uniform points of the sphere) and predicts the band probabilities "
                "of the pushed samples.",
    post=6096,
)
def run_injective_flow_density(config: dict):
    """Monte Carlo check of the change of variables for an injective map (the chapter's experiment).

    * Mass: for x uniform on the unit sphere (area 4 pi), 4 pi E[p_X(x)] should be 1, where
      p_X(x) = p_Z(z) / sqrt(det(J^T J)) at z = stereographic(x); without the area factor it is not.
    * Bands: the probability of each band h_i < x_3 <= h_{i+1} three ways: exactly, as the fraction
      of pushed samples g(z), z ~ p_Z, and as 4 pi E[p_X(x) 1_band(x)] over uniform x.
    """
    from .. import runtime

    n, chunk, sigma = int(config["n_samples"]), int(config["chunk"]), float(config["sigma"])
    n_bands = int(config["n_bands"])
    if n < 2 or chunk < 1 or n_bands < 1:
        raise ValueError(f"need n_samples >= 2, chunk >= 1 and n_bands >= 1, got {config}")
    dev = runtime.device(float64=True)  # float64 throughout: not on MPS
    gen = torch.Generator(device=dev).manual_seed(int(config["seed"]))
    log_pz = _normal_log_prob(sigma)
    edges = torch.linspace(-1, 1, n_bands + 1, dtype=torch.float64, device=dev)
    sums = dict(p=0.0, p2=0.0, naive=0.0)
    band_density = torch.zeros(n_bands, dtype=torch.float64, device=dev)
    band_pushed = torch.zeros(n_bands, dtype=torch.float64, device=dev)
    keep = min(n, 4000)
    shown = {}
    done = 0
    while done < n:
        m = min(chunk, n - done)
        # uniform points of the sphere (normalised Gaussians), away from the pole where z blows up
        x = torch.randn(m, 3, generator=gen, dtype=torch.float64, device=dev)
        x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        x = x[x[:, 2] < 1 - 1e-12]
        z = stereographic(x)
        p = log_density_on_image(log_pz, inverse_stereographic, z).exp()
        sums["p"] += float(p.sum())
        sums["p2"] += float(p.square().sum())
        sums["naive"] += float(log_pz(z).exp().sum())
        band = torch.bucketize(x[:, 2].contiguous(), edges[1:-1])
        band_density += torch.bincount(band, weights=p, minlength=n_bands)
        # samples pushed through g
        zs = sigma * torch.randn(m, 2, generator=gen, dtype=torch.float64, device=dev)
        xs = inverse_stereographic(zs)
        band_pushed += torch.bincount(torch.bucketize(xs[:, 2].contiguous(), edges[1:-1]), minlength=n_bands)
        if not shown:
            shown = dict(points=xs[:keep].cpu().numpy(),
                         log_density=log_density_on_image(log_pz, inverse_stereographic,
                                                          zs[:keep]).cpu().numpy())
        done += m
    area = 4 * math.pi
    mean_p = sums["p"] / n
    std_p = math.sqrt(max(sums["p2"] / n - mean_p ** 2, 0.0))
    exact = stereographic_band_probabilities(edges.cpu().numpy(), sigma)
    pushed = (band_pushed / n).cpu().numpy()
    density = (area * band_density / n).cpu().numpy()
    metrics = dict(
        mass=area * mean_p,
        mass_stderr=area * std_p / math.sqrt(n),
        mass_without_jacobian=area * sums["naive"] / n,
        mass_without_jacobian_exact=stereographic_mass_without_jacobian(sigma),
        band_max_abs_err_pushed=float(np.abs(pushed - exact).max()),
        band_max_abs_err_density=float(np.abs(density - exact).max()),
        n_samples=n,
    )
    artifacts = dict(edges=edges.cpu().numpy(), exact=exact, pushed=pushed, density=density, **shown)
    return metrics, artifacts


# -- figures -------------------------------------------------------------------------------------------
def parallelogram_vectors(angle_deg: float, len_x: float = 2.5, len_y: float = 2.0):
    """Two vectors of R^3 with lengths len_x, len_y at angle ``angle_deg`` in a tilted plane
(x lies on the floor x_3 = 0, y rises above it for angles in (0, 180))."""
    angle = math.radians(float(angle_deg))
    u = np.array([1.0, 0.25, 0.0]) / math.sqrt(1.0625)
    w = np.array([0.0, 0.6, 1.0]) - np.array([0.0, 0.6, 1.0]) @ u * u
    w /= np.linalg.norm(w)
    return len_x * u, len_y * (math.cos(angle) * u + math.sin(angle) * w)


def plot_parallelogram(ax, x, y) -> float:
    """Draw x, y and the parallelogram they span on a 3-D axes, with its shadow on the floor
    z = 0 (one of the Cauchy-Binet minors); return its area sqrt(det(B^T B)), B = (x, y)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != (3,) or y.shape != (3,):
        raise ValueError(f"x and y must be vectors of R^3, got shapes {x.shape} and {y.shape}")
    corners = np.stack([np.zeros(3), x, x + y, y])
    shadow = corners * np.array([1.0, 1.0, 0.0])
    ax.add_collection3d(Poly3DCollection([corners], facecolor="tab:blue", alpha=0.35,
                                         edgecolor="tab:blue"))
    ax.add_collection3d(Poly3DCollection([shadow], facecolor="0.5", alpha=0.3, edgecolor="0.4",
                                         linestyle="--"))
    for v, color, name in ((x, "tab:red", "x"), (y, "tab:green", "y")):
        ax.quiver(0, 0, 0, *v, color=color, arrow_length_ratio=0.08, linewidth=2)
        ax.text(*(1.08 * v), name, color=color)
    normal = np.cross(x, y)
    tip = 0.5 * (x + y) + normal / max(np.linalg.norm(normal), 1.0)
    ax.quiver(*(0.5 * (x + y)), *(tip - 0.5 * (x + y)), color="k", arrow_length_ratio=0.15,
              linewidth=1)
    ax.text(*tip, r"$x\times y$", fontsize=8)
    lo, hi = min(corners.min(), -0.5), max(corners.max(), 2.0) + 0.3
    ax.set(xlim=(lo, hi), ylim=(lo, hi), zlim=(0, hi), xlabel="$e_1$", ylabel="$e_2$",
           zlabel="$e_3$")
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=20, azim=-55)
    return float(volume(torch.from_numpy(np.stack([x, y], axis=1))))


def draw_parallelogram(fig, angle: float = 60.0) -> None:
    """Widget frame: the parallelogram of x, y at ``angle`` degrees, and its area against the angle."""
    x, y = parallelogram_vectors(angle)
    grid_spec = fig.add_gridspec(1, 2, width_ratios=(1.2, 1), left=0.02, right=0.97, bottom=0.16,
                                 top=0.88, wspace=0.25)
    ax = fig.add_subplot(grid_spec[0], projection="3d")
    area = plot_parallelogram(ax, x, y)
    ax.set(xlim=(-2, 3), ylim=(-1.5, 3), zlim=(0, 2.5))  # fixed, so frames line up
    ax.set_title(rf"$\sqrt{{\det B^\top B}}$ = {area:.3f},  $|x\times y|$ = "
                 f"{np.linalg.norm(np.cross(x, y)):.3f}", fontsize=9)
    ax2 = fig.add_subplot(grid_spec[1])
    grid = np.linspace(0, 180, 181)
    lx, ly = np.linalg.norm(x), np.linalg.norm(y)
    ax2.plot(grid, lx * ly * np.sin(np.radians(grid)), color="tab:blue",
             label=r"$|x||y|\sin\theta$")
    ax2.plot([angle], [area], "o", color="tab:red", label=r"$\sqrt{\det B^\top B}$")
    ax2.set(xlabel=r"angle $\theta$ between x and y (degrees)", ylabel="area", xlim=(0, 180),
            ylim=(0, 1.1 * lx * ly))
    ax2.legend(loc="lower center", fontsize=8)


def plot_injective_flow(fig, artifacts: dict) -> None:
    """Left: samples pushed onto the sphere, coloured by the predicted density p_X. Right: band
    probabilities exactly, from the pushed samples, and from integrating p_X over the sphere."""
    for key in ("points", "log_density", "edges", "exact", "pushed", "density"):
        if key not in artifacts:
            raise KeyError(f"artifacts lack {key!r}; pass the artifacts of injective-flow-density")
    grid_spec = fig.add_gridspec(1, 2, width_ratios=(1.1, 1), left=0.0, right=0.97, bottom=0.14,
                                 top=0.9, wspace=0.3)
    ax = fig.add_subplot(grid_spec[0], projection="3d")
    pts = artifacts["points"]
    sc = ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=artifacts["log_density"], s=2,
                    cmap="viridis")
    fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.12, label=r"$\log p_X(x)$")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="$x_3$", xlim=(-1, 1), ylim=(-1, 1),
           zlim=(-1, 1))
    ax.set_title("samples $g(z)$ on the sphere", fontsize=10)
    ax.set_box_aspect((1, 1, 1))
    ax2 = fig.add_subplot(grid_spec[1])
    edges = artifacts["edges"]
    mids, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    ax2.bar(mids, artifacts["exact"], width=0.9 * width, color="0.8", label="exact")
    ax2.plot(mids, artifacts["pushed"], "o", color="tab:red", label="fraction of pushed samples")
    ax2.plot(mids, artifacts["density"], "x", color="tab:blue", ms=8,
             label=r"$\int_{band} p(z)/\sqrt{\det J^\top J}\, dA$")
    ax2.set(xlabel="band of height $x_3$", ylabel="probability")
    ax2.legend(fontsize=8)
