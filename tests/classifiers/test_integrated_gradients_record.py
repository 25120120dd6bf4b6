"""What the integrated-gradients chapter says of its full record (results/integrated-gradients-mnist
.json) and of the attributions the run published: each quoted number is read back."""
import pytest
import torch

from kexue import data, published
from kexue.generative import frechet

from ..conftest import ROOT, full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("integrated-gradients-mnist")


@pytest.fixture(scope="module")
def tensors(record):
    return published.load("integrated-gradients-mnist", ROOT / "results")[1]


def areas(deletion):
    return {m: c["accuracy_area"] for m, c in deletion["methods"].items()}


def test_quadrature(record):
    """ReLU: midpoint 0.0099 → 0.00076 and Gauss–Legendre 0.0049 → 0.00035 from 16 to 256 steps;
    GELU: midpoint 0.00074 → 0.0000028, a factor of 260; left and right a factor of 15 to 17;
    Gauss–Legendre 7.5e-7 at 16 and at single-precision rounding from 32 on."""
    m = record["metrics"]
    relu, smooth = m["images"]["mnist"]["quadrature"], m["smooth"]["quadrature"]
    at = {n: k for k, n in enumerate(relu["steps"])}
    assert quoted(relu["rules"]["midpoint"][at[16]], "0.0099")
    assert quoted(relu["rules"]["midpoint"][at[256]], "0.00076")
    assert quoted(relu["rules"]["gauss-legendre"][at[16]], "0.0049")
    assert quoted(relu["rules"]["gauss-legendre"][at[256]], "0.00035")
    mid = smooth["rules"]["midpoint"]
    assert quoted(mid[at[16]], "0.00074") and quoted(mid[at[256]], "0.0000028")
    assert quoted(mid[at[16]] / mid[at[256]], "260") or abs(mid[at[16]] / mid[at[256]] - 260) < 5
    for rule in ("left", "right"):
        ratio = smooth["rules"][rule][at[16]] / smooth["rules"][rule][at[256]]
        assert 14.5 <= ratio <= 17.5
    gl = smooth["rules"]["gauss-legendre"]
    assert quoted(gl[at[16]], "7.5e-7".replace("e-7", "")) is not None
    assert abs(gl[at[16]] - 7.5e-7) < 0.05e-7
    assert all(g <= 2e-7 for n, g in zip(smooth["steps"], gl) if n >= 32)


def test_completeness_and_saturation(record):
    m = record["metrics"]
    mnist, fashion, reviews = m["images"]["mnist"], m["images"]["fashion-mnist"], m["reviews"]
    assert record["config"]["steps"] == 64 and record["config"]["rule"] == "midpoint"
    assert record["config"]["n_test"] == 2000 == mnist["n"]
    c = mnist["completeness"]
    assert quoted(c["median_abs_gap"], "0.0022") and quoted(c["median_abs_change"], "0.909")
    assert quoted(c["max_abs_gap"], "0.025")
    assert 0.0020 < c["median_abs_gap"] / c["median_abs_change"] < 0.0030  # "a quarter of a per cent"
    assert quoted(fashion["completeness"]["median_abs_gap"], "0.0029")
    assert quoted(reviews["completeness"]["median_abs_gap"], "0.0013")
    assert quoted(100 * c["median_share_gradient_times_input"], "0.6")
    assert quoted(100 * fashion["completeness"]["median_share_gradient_times_input"], "5.1")
    assert quoted(100 * reviews["completeness"]["median_share_gradient_times_input"], "37.9")
    assert 160 < 1 / c["median_share_gradient_times_input"] < 180  # "a factor of about 170"
    assert quoted(reviews["completeness"]["median_abs_change"], "0.367")
    assert quoted(record["wall_time_s"] / 60, "3.5")


def test_deletion(record):
    m = record["metrics"]
    mnist = m["images"]["mnist"]
    curve = mnist["deletion"]
    at = {f: k for k, f in enumerate(curve["fractions"])}
    ig, grad, rand = (curve["methods"][k]["accuracy"] for k in ("integrated gradients", "gradient",
                                                                 "random"))
    assert round(0.01 * 784) == 8 and max(curve["fractions"]) == 0.2
    assert quoted(ig[0], "0.969") and quoted(ig[at[0.01]], "0.762") and quoted(ig[at[0.03]], "0.235")
    assert quoted(grad[at[0.2]], "0.739") and quoted(rand[at[0.2]], "0.963")
    columns = {"mnist ink": areas(mnist["deletion_ink"]),
               "fashion ink": areas(m["images"]["fashion-mnist"]["deletion_ink"]),
               "reviews": areas(m["reviews"]["deletion"])}
    quotes = {"mnist ink": ["0.275", "0.643", "0.264", "0.953"],
              "fashion ink": ["0.168", "0.573", "0.169", "0.850"],
              "reviews": ["0.388", "0.717", "0.388", "0.787"]}
    for name, texts in quotes.items():
        for value, text in zip(columns[name].values(), texts):
            assert quoted(value, text), (name, value, text)
    every = [areas(mnist["deletion"]), areas(m["images"]["fashion-mnist"]["deletion"]), *columns.values()]
    gaps = [abs(a["integrated gradients"] - a["gradient × input"]) for a in every]
    assert max(gaps) < 0.011 and gaps.index(max(gaps)) == 2
    assert columns["mnist ink"]["gradient × input"] < columns["mnist ink"]["integrated gradients"]
    for a in every:  # both far ahead of the gradient, which beats chance
        assert max(a["integrated gradients"], a["gradient × input"]) < a["gradient"] < a["random"]
    assert max(m["reviews"]["deletion"]["fractions"]) == 0.5


def test_reviews(record, tensors):
    r = record["metrics"]["reviews"]
    assert quoted(100 * r["test_accuracy"], "82.3") and quoted(100 * r["validation_accuracy"], "82.5")
    assert quoted(r["baseline_positive_probability"], "0.473")
    assert quoted(r["median_change_by_prediction"]["positive"], "0.432")
    assert quoted(r["median_change_by_prediction"]["negative"], "0.332")
    c = record["config"]
    assert (c["max_chars"], c["review_dim"], c["review_channels"]) == (160, 64, 128)

    def review(k):
        codes = [int(x) for x in tensors["reviews.codepoints"][k] if int(x)]
        return "".join(map(chr, codes)), tensors["reviews.ig"][k][:len(codes)]

    text, ig = review(4)  # "example 5"
    assert text == "总之对此宾馆印象极差。" and int(tensors["reviews.predicted"][4]) == 0
    assert [text[i] for i in ig.argsort(descending=True)[:3]] == ["差", "印", "象"]
    text, ig = review(6)  # "example 7"
    assert "地毯确实很脏" in text and text[int(ig.argmax())] == "脏"
    text, ig = review(2)  # "example 3"
    assert text.startswith("书的内容很好") and int(tensors["reviews.predicted"][2]) == 0
    assert ig[text.index("很好")] < 0 and ig[text.index("很好") + 1] < 0


def test_image_attributions_are_zero_on_black_pixels(tensors):
    for name in ("mnist", "fashion-mnist"):
        black = tensors[f"{name}.images"] == 0
        assert black.any()
        for key in ("ig", "gradient_times_input"):
            assert tensors[f"{name}.{key}"][black].abs().max() == 0


def test_the_mean_image_is_given_a_class():
    """"the mean image is no neutral input: the classifier gives it a class with some confidence"."""
    model = frechet.reference_network("mnist")
    with torch.no_grad():
        p = model(data.as_float(data.mnist("train")[0]).mean(0, keepdim=True)).softmax(1)
    assert float(p.max()) > 0.5
