"""ictus.nn.Module and Parameter: registration order and names, state_dict round trips, modes,
the saved-state stack that pairs forward and backward calls, gradient accumulation, devices."""
from __future__ import annotations

import numpy as np
import pytest
from ictus import nn


class Scale(nn.Module):
    """y = w * x with a running-count buffer: the smallest module with a parameter and a buffer."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.arange(1, size + 1, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), np.int64))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(x)
        self.calls += 1
        return self.weight.data * x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self._saved()
        self.weight.accumulate((grad_out * x).sum(axis=0))
        return grad_out * self.weight.data


def test_names_follow_assignment_order_and_nesting() -> None:
    model = nn.Sequential(Scale(3), nn.Sequential(Scale(2)))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "1.0.weight"]
    assert list(model.state_dict()) == ["0.weight", "0.calls", "1.0.weight", "1.0.calls"]
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "1.0"]


def test_reassigning_an_attribute_unregisters_it() -> None:
    m = Scale(2)
    m.weight = None
    assert list(m.state_dict()) == ["calls"]


def test_attribute_before_init_is_refused() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.weight = nn.Parameter(np.ones(2))

    with pytest.raises(RuntimeError, match=r"super\(\)\.__init__\(\)"):
        Broken()


def test_state_dict_round_trip_copies_values_and_keeps_float32() -> None:
    source, target = Scale(4), Scale(4)
    source.weight.data[:] = [5, 6, 7, 8]
    target.load_state_dict({k: np.asarray(v, np.float64) if k == "weight" else v
                            for k, v in source.state_dict().items()})
    assert target.weight.data.dtype == np.float32
    np.testing.assert_array_equal(target.weight.data, [5, 6, 7, 8])
    source.weight.data[:] = 0
    np.testing.assert_array_equal(target.weight.data, [5, 6, 7, 8])  # a copy, not shared


def test_load_state_dict_reports_missing_unexpected_and_shape() -> None:
    m = Scale(3)
    with pytest.raises(KeyError, match="missing keys \\['calls'\\].*unexpected keys \\['extra'\\]"):
        m.load_state_dict({"weight": np.ones(3), "extra": np.ones(1)})
    m.load_state_dict({"weight": np.full(3, 2.0)}, strict=False)
    np.testing.assert_array_equal(m.weight.data, [2, 2, 2])
    with pytest.raises(ValueError, match="weight has shape \\(4,\\), this module expects \\(3,\\)"):
        m.load_state_dict({"weight": np.ones(4), "calls": np.zeros((), np.int64)})


def test_backward_pairs_with_forwards_in_reverse_order_and_accumulates() -> None:
    m = Scale(2)
    x1, x2 = np.array([[1, 2]], np.float32), np.array([[10, 20]], np.float32)
    m(x1)
    m(x2)
    m.backward(np.ones((1, 2), np.float32))  # pairs with x2
    np.testing.assert_array_equal(m.weight.grad, [10, 20])
    m.backward(np.ones((1, 2), np.float32))  # pairs with x1
    np.testing.assert_array_equal(m.weight.grad, [11, 22])
    m.zero_grad()
    assert m.weight.grad is None


def test_eval_mode_keeps_nothing_and_backward_says_so() -> None:
    m = Scale(2).eval()
    assert not m.training
    m(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="eval mode; call model.train\\(\\)"):
        m.backward(np.ones((1, 2), np.float32))


def test_train_and_eval_reach_every_submodule_and_eval_drops_saved_state() -> None:
    model = nn.Sequential(Scale(2), nn.Sequential(Scale(2)))
    model(np.ones((1, 2), np.float32))
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(RuntimeError, match="no forward pass"):
        model.backward(np.ones((1, 2), np.float32))


def test_sequential_backward_is_the_chain_rule() -> None:
    model = nn.Sequential(Scale(2), Scale(2))
    x = np.array([[3, 4]], np.float32)
    np.testing.assert_array_equal(model(x), [[3, 16]])
    grad_x = model.backward(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(grad_x, [[1, 4]])
    np.testing.assert_array_equal(model[0].weight.grad, [3, 8])
    np.testing.assert_array_equal(model[1].weight.grad, [3, 8])
    assert len(model) == 2 and list(model) == [model[0], model[1]]


def test_sequential_refuses_non_modules() -> None:
    with pytest.raises(TypeError, match="argument 1 is a function"):
        nn.Sequential(Scale(2), lambda x: x)


def test_parameter_is_float32_contiguous_and_checks_gradient_shape() -> None:
    p = nn.Parameter(np.ones((3, 2), np.float64).T)
    assert p.data.dtype == np.float32 and p.data.flags.c_contiguous and p.shape == (2, 3)
    with pytest.raises(ValueError, match="gradient shape \\(3, 2\\) != parameter shape \\(2, 3\\)"):
        p.accumulate(np.ones((3, 2), np.float32))


def test_to_cpu_keeps_numpy_and_unknown_device_is_refused() -> None:
    m = Scale(2)
    assert m.to("cpu") is m and isinstance(m.weight.data, np.ndarray)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda', got 'gpu'"):
        m.to("gpu")


def test_manual_seed_reproduces_draws_and_state_restores_them() -> None:
    nn.manual_seed(7)
    first = nn.random.generator().random(4)
    nn.manual_seed(7)
    state = nn.get_rng_state()
    np.testing.assert_array_equal(nn.random.generator().random(4), first)
    nn.set_rng_state(state)
    np.testing.assert_array_equal(nn.random.generator().random(4), first)
    with pytest.raises(ValueError, match="non-negative int"):
        nn.manual_seed(-1)


def test_unknown_layer_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Conv3d'"):
        nn.Conv3d  # noqa: B018
