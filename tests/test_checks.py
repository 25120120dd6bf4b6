"""The shared input checks of kexue.checks: good input passes through, bad input is named."""
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from kexue import checks


# -- real_number -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [2, -1.5, 0, np.float32(0.25), np.int64(3), Fraction(1, 4)])
def test_real_number_returns_a_float(value):
    out = checks.real_number(value, "t")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, kind", [("1", "str"), (True, "bool"), (None, "NoneType"),
                                         (1 + 2j, "complex"), (torch.tensor(1.0), "Tensor")])
def test_real_number_rejects_non_numbers(value, kind):
    with pytest.raises(TypeError, match=f"t must be a real number, got {kind}"):
        checks.real_number(value, "t")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, np.float64("nan")])
def test_real_number_rejects_non_finite(value):
    with pytest.raises(ValueError, match=r"t must be finite, got (-?inf|nan)"):
        checks.real_number(value, "t")


# -- positive ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1, 0.5, 1e-300, np.float64(2.0), np.int32(7)])
def test_positive_returns_a_float(value):
    out = checks.positive(value, "mass")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, got", [(0, "0.0"), (-1.5, "-1.5"), (-0.0, "-0.0")])
def test_positive_rejects_non_positive(value, got):
    with pytest.raises(ValueError, match=f"mass must be positive, got {got}"):
        checks.positive(value, "mass")


def test_positive_rejects_non_finite_and_non_numbers():
    with pytest.raises(ValueError, match="mass must be finite, got inf"):
        checks.positive(math.inf, "mass")
    with pytest.raises(ValueError, match="mass must be finite, got nan"):
        checks.positive(math.nan, "mass")
    with pytest.raises(TypeError, match="mass must be a real number, got bool"):
        checks.positive(True, "mass")
    with pytest.raises(TypeError, match="mass must be a real number, got str"):
        checks.positive("2", "mass")


# -- non_negative and fraction -------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -0.0, 2.5, np.float32(0.25)])
def test_non_negative_returns_a_float(value):
    out = checks.non_negative(value, "eps")
    assert type(out) is float and out == float(value)


def test_non_negative_rejects_negative_non_finite_and_non_numbers():
    with pytest.raises(ValueError, match="eps must be >= 0, got -1e-08"):
        checks.non_negative(-1e-8, "eps")
    with pytest.raises(ValueError, match="eps must be finite, got inf"):
        checks.non_negative(math.inf, "eps")
    with pytest.raises(TypeError, match="eps must be a real number, got str"):
        checks.non_negative("0", "eps")


@pytest.mark.parametrize("value", [0, 0.5, 0.999, np.float64(0.9)])
def test_fraction_returns_a_float(value):
    out = checks.fraction(value, "beta")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, got", [(1, "1.0"), (1.5, "1.5"), (-0.1, "-0.1")])
def test_fraction_rejects_values_outside_zero_to_one(value, got):
    with pytest.raises(ValueError, match=rf"beta must be in \[0, 1\), got {got}"):
        checks.fraction(value, "beta")


def test_fraction_rejects_non_finite_and_non_numbers():
    with pytest.raises(ValueError, match="beta must be finite, got nan"):
        checks.fraction(math.nan, "beta")
    with pytest.raises(TypeError, match="beta must be a real number, got bool"):
        checks.fraction(False, "beta")


# -- positive_int --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(200)])
def test_positive_int_returns_an_int(value):
    out = checks.positive_int(value, "terms")
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value, got", [(0, "0"), (-3, "-3"), (1.5, "1.5"), (2.0, "2.0"),
                                        (True, "True"), ("3", "'3'"), (None, "None")])
def test_positive_int_rejects_everything_else_with_a_value_error(value, got):
    with pytest.raises(ValueError, match=f"terms must be a positive int, got {got}"):
        checks.positive_int(value, "terms")


# -- non_negative_int ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 7, np.int64(3)])
def test_non_negative_int_returns_an_int(value):
    out = checks.non_negative_int(value, "seed")
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value, got", [(-1, "-1"), (1.0, "1.0"), (False, "False"), ("3", "'3'")])
def test_non_negative_int_rejects_everything_else_with_a_value_error(value, got):
    with pytest.raises(ValueError, match=f"seed must be a non-negative int, got {got}"):
        checks.non_negative_int(value, "seed")


# -- float_tensor --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_float_tensor_passes_floating_tensors_through(dtype):
    t = torch.ones(2, 3, dtype=dtype)
    assert checks.float_tensor(t, "A") is t
    assert checks.float_tensor(t, "A", ndim=2, nonempty=True) is t


def test_float_tensor_accepts_empty_and_any_shape_unless_asked():
    for shape in [(), (0,), (2, 0, 3), (1, 2, 3, 4)]:
        t = torch.zeros(shape)
        assert checks.float_tensor(t, "A") is t


def test_float_tensor_rejects_non_tensors():
    with pytest.raises(TypeError, match=r"A must be a torch\.Tensor, got list"):
        checks.float_tensor([[1.0]], "A")
    with pytest.raises(TypeError, match=r"A must be a torch\.Tensor, got ndarray"):
        checks.float_tensor(np.ones((2, 2)), "A")


def test_float_tensor_numpy_ok_converts_arrays():
    a = np.arange(6.0).reshape(2, 3)
    t = checks.float_tensor(a, "B", numpy_ok=True)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    a[0, 0] = 5.0
    assert t[0, 0] == 5.0  # shares memory, like torch.from_numpy
    with pytest.raises(TypeError, match=r"B must be a torch\.Tensor or numpy\.ndarray, got list"):
        checks.float_tensor([1.0], "B", numpy_ok=True)
    with pytest.raises(TypeError, match="B must have a real floating dtype.*got torch.int64"):
        checks.float_tensor(np.ones(3, dtype=np.int64), "B", numpy_ok=True)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex128])
def test_float_tensor_rejects_other_dtypes(dtype):
    with pytest.raises(TypeError, match=f"A must have a real floating dtype .*got {dtype}"):
        checks.float_tensor(torch.ones(2, dtype=dtype), "A")


def test_float_tensor_complex_ok():
    z = torch.ones(2, 2, dtype=torch.complex64)
    assert checks.float_tensor(z, "A", complex_ok=True) is z
    x = torch.ones(2, 2)
    assert checks.float_tensor(x, "A", complex_ok=True) is x
    with pytest.raises(TypeError, match="A must have a floating or complex dtype, got torch.int32"):
        checks.float_tensor(torch.ones(2, dtype=torch.int32), "A", complex_ok=True)
    with pytest.raises(ValueError, match="A must be finite, got 1 non-finite"):
        checks.float_tensor(torch.tensor([1.0, complex(0, math.inf)]), "A", complex_ok=True)


def test_float_tensor_dtypes_restricts_the_dtype():
    floats = (torch.float32, torch.float64)
    t = torch.ones(3, dtype=torch.float32)
    assert checks.float_tensor(t, "x", dtypes=floats) is t
    for dtype in (torch.float16, torch.int64):
        with pytest.raises(TypeError, match=f"x must be float32 or float64, got {dtype}"):
            checks.float_tensor(torch.ones(3, dtype=dtype), "x", dtypes=floats)


def test_float_tensor_ndim_and_nonempty():
    with pytest.raises(ValueError, match=r"X must be 2-D, got a 1-D tensor of shape \(3,\)"):
        checks.float_tensor(torch.ones(3), "X", ndim=2)
    with pytest.raises(ValueError, match=r"X must be 2-D, got a 3-D tensor of shape \(1, 1, 1\)"):
        checks.float_tensor(torch.ones(1, 1, 1), "X", ndim=2)
    with pytest.raises(ValueError, match=r"X must be non-empty, got shape \(0, 2\)"):
        checks.float_tensor(torch.ones(0, 2), "X", ndim=2, nonempty=True)
    with pytest.raises(ValueError, match=r"X must be non-empty, got shape \(0,\)"):
        checks.float_tensor(torch.ones(0), "X", nonempty=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_float_tensor_rejects_non_finite_entries(bad):
    t = torch.tensor([[1.0, bad], [bad, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"W must be finite, got 2 non-finite entries \(nan or inf\) of 4"):
        checks.float_tensor(t, "W")


def test_float_tensor_checks_type_before_shape_before_values():
    with pytest.raises(TypeError, match="floating dtype"):
        checks.float_tensor(torch.ones(3, dtype=torch.int64), "A", ndim=2)
    with pytest.raises(ValueError, match="2-D"):
        checks.float_tensor(torch.full((3,), math.nan), "A", ndim=2)


# -- label_tensor --------------------------------------------------------------------------------
def test_label_tensor_passes_int64_labels_through():
    y = torch.tensor([3, 0, 9])
    assert checks.label_tensor(y, "y", n=3) is y


@pytest.mark.parametrize("y, got", [(torch.tensor([1.0, 2.0]), "torch.float32"),
                                    (torch.tensor([1, 2], dtype=torch.int32), "torch.int32"),
                                    ([1, 2], "list")])
def test_label_tensor_rejects_other_types(y, got):
    with pytest.raises(TypeError, match=f"y must be an int64 tensor of class labels, got {got}"):
        checks.label_tensor(y, "y", n=2)


def test_label_tensor_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"y must have shape \(3,\), one label per sample, got \(2"):
        checks.label_tensor(torch.tensor([1, 2]), "y", n=3)
    with pytest.raises(ValueError, match=r"got \(3, 1\)"):
        checks.label_tensor(torch.zeros(3, 1, dtype=torch.int64), "y", n=3)

