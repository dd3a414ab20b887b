"""ictus.nn's kernel-backed layers (Conv1d, Conv2d, MaxPool1d, MaxPool2d, GRU) and Linear against
torch.nn with the same weights, torch run in float64: outputs, input gradients and parameter
gradients, on awkward shapes, in training and eval mode; GRU options torch lacks
(linear_before_reset=False, reproducible dropout) against a float64 NumPy stack of
gru_reference's layers. Also state_dict names and round trips, default initialisation, the
forward/backward stack, and the errors for bad inputs and hyper-parameters."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gru_reference
import numpy as np
import pytest
from ictus import nn
from reference import assert_close

torch = pytest.importorskip("torch")
tnn = torch.nn
rnn_utils = torch.nn.utils.rnn

RTOL = 1e-5
# torch's notice that its own "same" padding with an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


# ------------------------------------------------------------------------- harness


@pytest.fixture(autouse=True)
def seeded_initialisation(rng: np.random.Generator) -> None:
    """Default weights (torch's and ictus') drawn from the test's seed, so failures reproduce."""
    torch.manual_seed(int(rng.integers(2**31)))
    nn.manual_seed(int(rng.integers(2**31)))


def as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def load_twin(layer: nn.Module, module: Any) -> Any:
    """Loads torch ``module``'s float32 weights into ``layer``; returns ``module`` in float64."""
    layer.load_state_dict({name: t.detach().numpy() for name, t in module.state_dict().items()})
    return module.double()


def assert_matches_torch(layer: nn.Module, module: Any, inputs: list[np.ndarray], rng: np.random.Generator,
                         call: Callable[..., Any] | None = None, **kwargs: Any) -> None:
    """layer(*inputs, **kwargs) and, in training mode, its backward against float64 ``call`` (default:
    ``module``) on the same inputs: every output, input gradient and parameter gradient."""
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    expected = as_tuple((call or module)(*leaves))
    got = as_tuple(layer(*inputs, **kwargs))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.dtype == np.float32
        assert_close(g, e.detach().numpy(), RTOL, f"output {i}")
    if not layer.training:
        return
    grads_out = [rng.standard_normal(g.shape).astype(np.float32) for g in got]
    grads_in = as_tuple(layer.backward(*grads_out))
    sum((e * torch.from_numpy(g.astype(np.float64))).sum() for e, g in zip(expected, grads_out, strict=True)).backward()
    assert len(grads_in) == len(leaves)
    for i, (g, leaf) in enumerate(zip(grads_in, leaves, strict=True)):
        assert_close(g, leaf.grad.numpy(), RTOL, f"gradient of input {i}")
    torch_params = dict(module.named_parameters())
    for name, p in layer.named_parameters():
        assert_close(p.grad, torch_params[name].grad.numpy(), RTOL, f"gradient of {name}")


# ------------------------------------------------------------------------- convolutions

# (in, out, kernel, stride, padding, dilation, bias, batch, length)
CONV1D_CASES = [
    (3, 5, 3, 1, 0, 1, True, 2, 11),
    (1, 1, 1, 1, 0, 1, True, 1, 1),  # batch 1, length 1, kernel 1
    (7, 13, 5, 2, 2, 3, True, 3, 29),  # primes, stride and dilation
    (4, 6, 5, 1, "same", 4, True, 2, 3),  # dilated span 16 > 3 frames
    (4, 6, 5, 1, "causal", 4, False, 2, 3),
    (5, 3, 2, 1, "same", 1, True, 1, 17),  # even kernel: one more zero on the right
    (2, 3, 3, 3, "causal", 2, True, 2, 10),
    (3, 2, 3, 1, "valid", 1, False, 2, 3),
]


def torch_conv1d(c_in: int, c_out: int, kernel: int, stride: int, padding: Any, dilation: int, bias: bool
                 ) -> tuple[Any, Callable[..., Any]]:
    """torch.nn.Conv1d and how to call it for ictus' padding (torch has no "causal": pad by hand)."""
    if padding != "causal":
        module = tnn.Conv1d(c_in, c_out, kernel, stride, padding, dilation, bias=bias)
        return module, module
    module = tnn.Conv1d(c_in, c_out, kernel, stride, 0, dilation, bias=bias)
    return module, lambda x: module(tnn.functional.pad(x, (dilation * (kernel - 1), 0)))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", CONV1D_CASES, ids=str)
def test_conv1d_matches_torch(case: tuple[Any, ...], training: bool, randn: Any, rng: np.random.Generator) -> None:
    c_in, c_out, kernel, stride, padding, dilation, bias, batch, length = case
    layer = nn.Conv1d(c_in, c_out, kernel, stride, padding, dilation, bias).train(training)
    module, call = torch_conv1d(c_in, c_out, kernel, stride, padding, dilation, bias)
    load_twin(layer, module)
    assert_matches_torch(layer, module, [randn(batch, c_in, length)], rng, call=call)


def test_conv1d_causal_and_same_keep_the_length(randn: Any) -> None:
    x = randn(2, 3, 7)
    for padding in ("same", "causal"):
        assert nn.Conv1d(3, 4, 6, padding=padding, dilation=5)(x).shape == (2, 4, 7)


def test_conv1d_causal_output_ignores_future_frames(randn: Any) -> None:
    layer = nn.Conv1d(2, 3, 3, padding="causal", dilation=2).eval()
    x = randn(1, 2, 9)
    changed = x.copy()
    changed[:, :, 6:] += 1.0
    np.testing.assert_array_equal(layer(x)[:, :, :6], layer(changed)[:, :, :6])


# (in, out, kernel, stride, padding, dilation, bias, batch, height, width)
CONV2D_CASES = [
    (1, 4, 3, 1, 1, 1, True, 2, 7, 5),
    (3, 5, (3, 2), (2, 1), (1, 0), (1, 2), True, 1, 11, 13),
    (2, 3, (5, 3), 1, "same", (3, 2), True, 2, 4, 3),  # dilated spans 12 x 4 > 4 x 3
    (4, 1, 1, 1, 0, 1, True, 1, 1, 1),
    (3, 2, 2, 1, "valid", 1, False, 2, 5, 6),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_matches_torch(case: tuple[Any, ...], training: bool, randn: Any, rng: np.random.Generator) -> None:
    c_in, c_out, kernel, stride, padding, dilation, bias, batch, height, width = case
    layer = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, bias).train(training)
    module = tnn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, bias=bias)
    load_twin(layer, module)
    assert_matches_torch(layer, module, [randn(batch, c_in, height, width)], rng)


@pytest.mark.parametrize("two_d", [True, False], ids=["2d", "1d"])
def test_conv_without_input_grad_returns_none_and_the_same_parameter_gradients(two_d: bool, randn: Any) -> None:
    make = (lambda: nn.Conv2d(3, 4, (3, 2), padding=1)) if two_d else (lambda: nn.Conv1d(3, 4, 3, padding="same"))
    full, first = make(), make()
    first.load_state_dict(full.state_dict())
    first.input_grad = False
    x = randn(2, 3, 7, 5) if two_d else randn(2, 3, 9)
    grad_y = randn(*full(x).shape)
    first(x)
    assert first.backward(grad_y) is None and full.backward(grad_y).shape == x.shape
    for (name, p), q in zip(full.named_parameters(), first.parameters(), strict=True):
        np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)
    # a Sequential allows it in its first layer only
    model = nn.Sequential(first, nn.ReLU())
    model(x)
    assert model.backward(grad_y) is None
    model = nn.Sequential(nn.ReLU(), first)
    model(x)
    with pytest.raises(RuntimeError, match=r"the layer after ReLU returned no input gradient \(input_grad=False\)"):
        model.backward(grad_y)


# ------------------------------------------------------------------------- pooling

# (kernel, stride, padding, dilation, ceil_mode, batch, channels, length)
POOL1D_CASES = [
    (2, None, 0, 1, False, 2, 3, 10),
    (3, 2, 1, 1, True, 1, 1, 8),
    (3, 1, 1, 2, False, 2, 5, 13),  # overlapping windows: gradients add up
    (1, 1, 0, 1, False, 1, 1, 1),
    (4, 3, 2, 1, True, 3, 2, 11),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", POOL1D_CASES, ids=str)
def test_max_pool1d_matches_torch(case: tuple[Any, ...], training: bool, randn: Any, rng: np.random.Generator) -> None:
    kernel, stride, padding, dilation, ceil_mode, batch, channels, length = case
    layer = nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode).train(training)
    module = tnn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    assert_matches_torch(layer, module, [randn(batch, channels, length)], rng)


# (kernel, stride, padding, dilation, ceil_mode, batch, channels, height, width)
POOL2D_CASES = [
    (2, None, 0, 1, False, 2, 3, 6, 7),
    ((3, 1), (2, 1), (1, 0), 1, True, 1, 2, 9, 5),
    (3, 1, 1, (2, 1), False, 2, 1, 7, 11),
    (1, 1, 0, 1, False, 1, 1, 1, 1),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", POOL2D_CASES, ids=str)
def test_max_pool2d_matches_torch(case: tuple[Any, ...], training: bool, randn: Any, rng: np.random.Generator) -> None:
    kernel, stride, padding, dilation, ceil_mode, batch, channels, height, width = case
    layer = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode).train(training)
    module = tnn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    assert_matches_torch(layer, module, [randn(batch, channels, height, width)], rng)


ACTIVATION_TWINS = {"ELU": (lambda: nn.ELU(0.7), lambda: tnn.ELU(0.7)), "ReLU": (nn.ReLU, tnn.ReLU),
                    "Tanh": (nn.Tanh, tnn.Tanh), "Sigmoid": (nn.Sigmoid, tnn.Sigmoid)}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("activation", sorted(ACTIVATION_TWINS))
@pytest.mark.parametrize("two_d", [True, False], ids=["2d", "1d"])
def test_activation_then_max_pool_runs_pool_first_with_torchs_results(activation: str, two_d: bool, training: bool,
                                                                       randn: Any, rng: np.random.Generator) -> None:
    """Sequential runs a non-decreasing activation after the max-pool that follows it: the same
    outputs and gradients as torch's activation-then-pool, with the activation on a third of the values."""
    make, make_torch = ACTIVATION_TWINS[activation]
    pool, torch_pool = ((nn.MaxPool2d((1, 3)), tnn.MaxPool2d((1, 3))) if two_d else
                        (nn.MaxPool1d(3, 2, 1, ceil_mode=True), tnn.MaxPool1d(3, 2, 1, ceil_mode=True)))
    layer = nn.Sequential(make(), pool, make(), nn.Flatten()).train(training)
    module = tnn.Sequential(make_torch(), torch_pool, make_torch(), tnn.Flatten())
    assert [type(m) for m in layer._run_order()] == [type(pool), type(layer[0]), type(layer[2]), nn.Flatten]
    x = randn(2, 3, 5, 13) * 3 if two_d else randn(2, 3, 14) * 3
    assert_matches_torch(layer, module, [x], rng)


# ------------------------------------------------------------------------- linear


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("shape", "out_features", "bias"), [
    ((5,), 3, True), ((1, 1), 1, True), ((4, 7), 13, False), ((2, 3, 11), 5, True), ((2, 1, 3, 6), 2, True),
], ids=str)
def test_linear_matches_torch(shape: tuple[int, ...], out_features: int, bias: bool, training: bool, randn: Any,
                              rng: np.random.Generator) -> None:
    layer = nn.Linear(shape[-1], out_features, bias).train(training)
    module = tnn.Linear(shape[-1], out_features, bias=bias)
    load_twin(layer, module)
    assert_matches_torch(layer, module, [randn(*shape)], rng)


# ------------------------------------------------------------------------- GRU

# (input, hidden, layers, bias, batch_first, bidirectional, steps, batch, with h0, lengths)
GRU_CASES = [
    (5, 4, 1, True, False, False, 7, 3, False, None),
    (3, 6, 2, True, True, True, 9, 4, True, [9, 1, 5, 7]),  # the works
    (1, 1, 1, True, False, False, 1, 1, True, None),  # every size 1
    (7, 5, 3, False, False, True, 5, 2, False, None),
    (4, 3, 2, True, True, False, 5, 3, True, [1, 5, 3]),
    (2, 3, 2, True, False, True, 6, 1, False, [4]),
]


def torch_gru_call(module: Any, lengths: list[int] | None, steps: int) -> Callable[..., Any]:
    """Calls torch's GRU as ictus does with ``lengths``: a packed sequence, padded back to ``steps``."""
    if lengths is None:
        return module
    batch_first = module.batch_first

    def call(x: Any, h0: Any = None) -> tuple[Any, Any]:
        packed = rnn_utils.pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                                enforce_sorted=False)
        out, h_n = module(packed, h0)
        y, _ = rnn_utils.pad_packed_sequence(out, batch_first=batch_first, total_length=steps)
        return y, h_n

    return call


def gru_inputs(layer: Any, steps: int, batch: int, with_h0: bool, randn: Any) -> list[np.ndarray]:
    x = randn(batch, steps, layer.input_size) if layer.batch_first else randn(steps, batch, layer.input_size)
    return [x, randn(layer.num_layers * layer.directions, batch, layer.hidden_size)] if with_h0 else [x]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", GRU_CASES, ids=str)
def test_gru_matches_torch(case: tuple[Any, ...], training: bool, randn: Any, rng: np.random.Generator) -> None:
    input_size, hidden, layers, bias, batch_first, bidirectional, steps, batch, with_h0, lengths = case
    # dropout is inactive in eval mode (and torch warns about it with one layer); in training mode
    # it is tested against the NumPy stack below
    dropout = 0.5 if layers > 1 and not training else 0.0
    layer = nn.GRU(input_size, hidden, layers, bias, batch_first, dropout, bidirectional).train(training)
    module = tnn.GRU(input_size, hidden, layers, bias, batch_first, dropout, bidirectional).train(training)
    load_twin(layer, module)
    inputs = gru_inputs(layer, steps, batch, with_h0, randn)
    assert_matches_torch(layer, module, inputs, rng, call=torch_gru_call(module, lengths, steps), lengths=lengths)


def numpy_gru_stack(layer: Any, x: np.ndarray, h0: np.ndarray | None, lengths: Any, masks: list[np.ndarray],
                    grad_y: np.ndarray, grad_h_n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                       np.ndarray, dict[str, np.ndarray]]:
    """(y, h_n, grad_x, grad_h0, parameter gradients) of a time-major GRU stack in float64, from
    gru_reference's layers, with dropout masks[l] applied to layer l's output."""
    params = layer.state_dict()
    dirs, hidden = layer.directions, layer.hidden_size
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def weights(index: int) -> list[Any]:
        suffix = f"_l{index // dirs}" + ("_reverse" if index % dirs else "")
        return [params.get(name + suffix) for name in names]

    def start(a: np.ndarray | None, index: int) -> np.ndarray | None:
        return None if a is None else a[index]

    options = {"linear_before_reset": layer.linear_before_reset, "lengths": lengths}
    inputs, finals, layer_in = [], [], x
    for lay in range(layer.num_layers):
        outs = [gru_reference.gru_forward(layer_in, start(h0, lay * dirs + d), *weights(lay * dirs + d),
                                          reverse=bool(d), **options) for d in range(dirs)]
        inputs.append(layer_in)
        finals += [h_n for _, h_n in outs]
        layer_in = np.concatenate([y for y, _ in outs], axis=2) * (masks[lay] if lay < len(masks) else 1.0)
    grads, grad_h0, grad = {}, [None] * len(finals), grad_y.astype(np.float64)
    for lay in reversed(range(layer.num_layers)):
        grad = grad * (masks[lay] if lay < len(masks) else 1.0)
        grad_in = 0.0
        for d in range(dirs):
            index = lay * dirs + d
            gx, grad_h0[index], *param_grads = gru_reference.gru_backward(
                grad[:, :, d * hidden:(d + 1) * hidden], grad_h_n[index], inputs[lay], start(h0, index),
                *weights(index), reverse=bool(d), **options)
            suffix = f"_l{lay}" + ("_reverse" if d else "")
            grads.update({name + suffix: g for name, g in zip(names, param_grads, strict=True)})
            grad_in = grad_in + gx
        grad = grad_in
    return layer_in, np.stack(finals), grad, np.stack(grad_h0), grads


@pytest.mark.parametrize(("linear_before_reset", "dropout"), [(False, 0.0), (False, 0.4), (True, 0.5), (True, 1.0)])
def test_gru_stack_matches_numpy_reference(linear_before_reset: bool, dropout: float, randn: Any) -> None:
    """Options torch's GRU lacks (linear_before_reset=False) or draws differently (dropout masks,
    which come from ictus.nn.random as the GRU docstring says)."""
    layer = nn.GRU(3, 4, 3, dropout=dropout, bidirectional=True, linear_before_reset=linear_before_reset)
    steps, batch, lengths = 6, 3, [6, 2, 5]
    x, h0 = randn(steps, batch, 3), randn(6, batch, 4)
    grad_y, grad_h_n = randn(steps, batch, 8), randn(6, batch, 4)
    nn.manual_seed(7)
    y, h_n = layer(x, h0, lengths=lengths)
    grad_x, grad_h0 = layer.backward(grad_y, grad_h_n)
    nn.manual_seed(7)
    keep_scale = 0.0 if dropout == 1.0 else 1.0 / (1.0 - dropout)
    masks = [(nn.random.generator().random((steps, batch, 8), dtype=np.float32) >= dropout) * keep_scale
             for _ in range(2 if dropout else 0)]
    ref = numpy_gru_stack(layer, x, h0, lengths, masks, grad_y, grad_h_n)
    for what, got, expected in zip(("y", "h_n", "grad_x", "grad_h0"), (y, h_n, grad_x, grad_h0), ref[:4], strict=True):
        assert_close(got, expected, RTOL, what)
    for name, p in layer.named_parameters():
        assert_close(p.grad, ref[4][name], RTOL, f"gradient of {name}")


def test_gru_dropout_draws_a_fresh_mask_per_call(randn: Any) -> None:
    layer = nn.GRU(3, 4, 2, dropout=0.5)
    x = randn(5, 2, 3)
    first, second = layer(x)[0], layer(x)[0]
    assert not np.array_equal(first, second)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0], layer(x)[0])


def test_gru_backward_returns_grad_h0_only_when_given_h0(randn: Any) -> None:
    layer = nn.GRU(2, 3)
    layer(randn(4, 1, 2))
    assert isinstance(layer.backward(randn(4, 1, 3)), np.ndarray)
    layer(randn(4, 1, 2), randn(1, 1, 3))
    grad_x, grad_h0 = layer.backward(randn(4, 1, 3))
    assert grad_x.shape == (4, 1, 2) and grad_h0.shape == (1, 1, 3)


# ------------------------------------------------------------------------- the Module contract

TORCH_TWINS: dict[str, tuple[Callable[[], Any], Callable[[], Any], tuple[int, ...]]] = {
    # name: (ictus layer, torch module, input shape)
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding="same"), lambda: tnn.Conv1d(3, 4, 3, padding="same"), (2, 3, 9)),
    "conv1d_nobias": (lambda: nn.Conv1d(3, 4, 2, bias=False), lambda: tnn.Conv1d(3, 4, 2, bias=False), (1, 3, 5)),
    "conv2d": (lambda: nn.Conv2d(2, 3, (3, 2)), lambda: tnn.Conv2d(2, 3, (3, 2)), (2, 2, 5, 4)),
    "linear": (lambda: nn.Linear(6, 2), lambda: tnn.Linear(6, 2), (3, 6)),
    "linear_nobias": (lambda: nn.Linear(6, 2, bias=False), lambda: tnn.Linear(6, 2, bias=False), (3, 6)),
    "gru": (lambda: nn.GRU(3, 5, 2, batch_first=True, bidirectional=True),
            lambda: tnn.GRU(3, 5, 2, batch_first=True, bidirectional=True), (2, 7, 3)),
    "gru_nobias": (lambda: nn.GRU(3, 2, bias=False), lambda: tnn.GRU(3, 2, bias=False), (4, 1, 3)),
}


@pytest.mark.parametrize("name", TORCH_TWINS)
def test_state_dict_has_torchs_names_shapes_and_order(name: str) -> None:
    make, make_torch, _ = TORCH_TWINS[name]
    ours = make().state_dict()
    theirs = make_torch().state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == [(k, tuple(v.shape)) for k, v in theirs.items()]
    assert all(v.dtype == np.float32 for v in ours.values())


@pytest.mark.parametrize("name", TORCH_TWINS)
def test_state_dict_round_trip_to_torch(name: str, randn: Any) -> None:
    make, make_torch, shape = TORCH_TWINS[name]
    layer, module = make().eval(), make_torch().eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = randn(*shape)
    with torch.no_grad():
        expected = as_tuple(module(torch.from_numpy(x)))
    for got, e in zip(as_tuple(layer(x)), expected, strict=True):
        assert_close(got, e.numpy(), RTOL)


@pytest.mark.parametrize(("make", "bound"), [
    (lambda: nn.Conv1d(16, 200, 5), 1 / np.sqrt(80)),
    (lambda: nn.Conv2d(4, 100, (3, 2)), 1 / np.sqrt(24)),
    (lambda: nn.Linear(30, 300), 1 / np.sqrt(30)),
    (lambda: nn.GRU(20, 50, bidirectional=True), 1 / np.sqrt(50)),
], ids=["conv1d", "conv2d", "linear", "gru"])
def test_default_init_is_torchs_uniform(make: Callable[[], Any], bound: float) -> None:
    """Every parameter U(-bound, bound): inside the bound, reaching near it, with the uniform's spread."""
    nn.manual_seed(3)
    first = make()
    for name, p in first.named_parameters():
        values = p.data.ravel()
        assert np.abs(values).max() <= bound, name
        if values.size >= 200:
            assert np.abs(values).max() > 0.95 * bound, name
            assert abs(values.std() - bound / np.sqrt(3)) < 0.1 * bound, name
    nn.manual_seed(3)
    again = make()
    for (name, p), q in zip(first.named_parameters(), again.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"{name}: manual_seed does not fix the init")


STACK_CASES: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding="causal", dilation=2), (2, 3, 8)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (1, 2, 5, 6)),
    "maxpool1d": (lambda: nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (1, 2, 6, 4)),
    "linear": (lambda: nn.Linear(5, 4), (3, 2, 5)),
    "gru": (lambda: nn.GRU(5, 3, 2, bidirectional=True), (6, 2, 5)),
}


def first_output(value: Any) -> Any:
    return value[0] if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", STACK_CASES)
def test_two_forwards_then_two_backwards_pair_up_in_reverse(name: str, randn: Any) -> None:
    """A layer used twice in one pass gets its backward calls last-in first-out, as autograd's."""
    make, shape = STACK_CASES[name]
    layer = make()
    x1, x2 = randn(*shape), randn(*shape)
    y_shape = first_output(layer.eval()(x1)).shape
    layer.train()
    g1, g2 = randn(*y_shape), randn(*y_shape)
    singles = []
    for x, g in ((x1, g1), (x2, g2)):
        layer.zero_grad()
        layer(x)
        singles.append((layer.backward(g), [p.grad.copy() for p in layer.parameters()]))
    layer.zero_grad()
    layer(x1)
    layer(x2)
    np.testing.assert_array_equal(layer.backward(g2), singles[1][0])
    np.testing.assert_array_equal(layer.backward(g1), singles[0][0])
    for p, a, b in zip(layer.parameters(), singles[0][1], singles[1][1], strict=True):
        assert_close(p.grad, a.astype(np.float64) + b, RTOL, "accumulated gradient")
    with pytest.raises(RuntimeError, match="no forward pass"):
        layer.backward(g1)


@pytest.mark.parametrize("name", STACK_CASES)
def test_backward_needs_a_training_forward(name: str, randn: Any) -> None:
    make, shape = STACK_CASES[name]
    layer = make()
    grad = randn(*first_output(layer.eval()(randn(*shape))).shape)
    with pytest.raises(RuntimeError, match="eval mode"):
        layer.backward(grad)
    with pytest.raises(RuntimeError, match="no forward pass"):
        make().backward(grad)


# ------------------------------------------------------------------------- errors

BAD_INPUTS = [
    # (layer, input, error, message)
    (lambda: nn.Conv1d(20, 4, 3), np.zeros((3, 7), np.float32), ValueError, r"Conv1d: x must have shape \(N, 20, T\), got \(3, 7\)"),
    (lambda: nn.Conv1d(20, 4, 3), np.zeros((2, 19, 7), np.float32), ValueError, r"\(N, 20, T\), got \(2, 19, 7\)"),
    (lambda: nn.Conv1d(2, 4, 3), np.zeros((2, 2, 7)), TypeError, r"Conv1d: x must be float32, got float64; cast it with x\.astype\(np\.float32\)"),
    (lambda: nn.Conv1d(2, 4, 3), [[[0.0] * 7] * 2], TypeError, "Conv1d: x must be a float32 NumPy or CuPy array, got list"),
    (lambda: nn.Conv1d(2, 4, 5, dilation=2), np.zeros((1, 2, 8), np.float32), ValueError, r"Conv1d: input \(1, 2, 8\)"),
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((1, 3, 5), np.float32), ValueError, r"Conv2d: x must have shape \(N, 3, H, W\)"),
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((1, 3, 5, 5), np.float16), TypeError, "Conv2d: x must be float32, got float16"),
    (lambda: nn.MaxPool1d(2), np.zeros((3, 7), np.float32), ValueError, r"MaxPool1d: x must have shape \(N, C, T\)"),
    (lambda: nn.MaxPool1d(4), np.zeros((1, 1, 3), np.float32), ValueError, r"MaxPool1d: input \(1, 1, 3\)"),
    (lambda: nn.MaxPool2d(2), np.zeros((1, 2, 4, 4)), TypeError, "MaxPool2d: x must be float32"),
    (lambda: nn.Linear(5, 2), np.zeros((3, 4), np.float32), ValueError, r"Linear: x must have shape \(\.\.\., 5\), got \(3, 4\)"),
    (lambda: nn.Linear(5, 2), np.zeros((3, 5), np.float64), TypeError, r"cast it with x\.astype\(np\.float32\)"),
    (lambda: nn.GRU(5, 2), np.zeros((3, 4), np.float32), ValueError, r"GRU: x must have shape \(T, N, 5\), got \(3, 4\)"),
    (lambda: nn.GRU(5, 2, batch_first=True), np.zeros((3, 4, 6), np.float32), ValueError, r"\(N, T, 5\)"),
    (lambda: nn.GRU(5, 2), np.zeros((3, 4, 5)), TypeError, "GRU: x must be float32, got float64"),
]


@pytest.mark.parametrize(("make", "x", "error", "message"), BAD_INPUTS, ids=lambda v: getattr(v, "shape", None))
def test_bad_input_raises_with_the_fix(make: Callable[[], Any], x: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()(x)


def test_gru_bad_h0_lengths_and_gradients_raise(randn: Any) -> None:
    layer = nn.GRU(3, 2, 2, bidirectional=True)
    x = randn(5, 4, 3)
    with pytest.raises(ValueError, match=r"GRU: h0 must have shape \(4, 4, 2\), got \(2, 4, 2\)"):
        layer(x, randn(2, 4, 2))
    with pytest.raises(TypeError, match="GRU: h0 must be float32"):
        layer(x, np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="lengths"):
        layer(x, lengths=[5, 6, 1, 1])
    layer(x)
    with pytest.raises(ValueError, match=r"GRU.backward: grad_y must have shape \(5, 4, 4\), got \(5, 4, 2\)"):
        layer.backward(randn(5, 4, 2))
    layer(x)
    with pytest.raises(ValueError, match=r"GRU.backward: grad_h_n must have shape \(4, 4, 2\)"):
        layer.backward(randn(5, 4, 4), randn(1, 4, 2))


@pytest.mark.parametrize("name", ["conv1d", "maxpool2d", "linear"])
def test_wrong_gradient_shape_raises(name: str, randn: Any) -> None:
    make, shape = STACK_CASES[name]
    layer = make()
    y = layer(randn(*shape))
    with pytest.raises(ValueError, match=r"\.backward: grad_out must have shape"):
        layer.backward(randn(*y.shape[:-1], y.shape[-1] + 1))


BAD_HYPER_PARAMETERS = [
    (lambda: nn.Conv1d(3, 4, 0), "Conv1d: kernel_size must be an int >= 1, got 0"),
    (lambda: nn.Conv1d(3, 4, 3, padding="bogus"), r"Conv1d: padding must be an int or one of \['valid', 'same', 'causal'\], got 'bogus'"),
    (lambda: nn.Conv1d(3, 4, 3, padding=-1), "Conv1d: padding must be an int >= 0, got -1"),
    (lambda: nn.Conv1d(3, 4, 3, stride=2, padding="same"), "Conv1d: padding='same' needs stride 1"),
    (lambda: nn.Conv1d(0, 4, 3), "Conv1d: in_channels must be an int >= 1, got 0"),
    (lambda: nn.Conv1d(3, 4, True), "Conv1d: kernel_size must be an int >= 1, got True"),
    (lambda: nn.Conv1d(3, 4, 2.5), "Conv1d: kernel_size must be an int >= 1, got 2.5"),
    (lambda: nn.Conv1d(3, 4, 3, dilation=0), "Conv1d: dilation must be an int >= 1, got 0"),
    (lambda: nn.Conv2d(3, 4, (3,)), r"Conv2d: kernel_size must be an int or an \(h, w\) pair, got \(3,\)"),
    (lambda: nn.Conv2d(3, 4, 3, padding="causal"), r"Conv2d: padding must be an int or one of \['valid', 'same'\]"),
    (lambda: nn.Conv2d(3, 4, 3, stride=(1, 0)), "Conv2d: stride must be an int >= 1, got 0"),
    (lambda: nn.Conv2d(3, 4, 3, stride=(1, 2), padding="same"), "Conv2d: padding='same' needs stride 1"),
    (lambda: nn.MaxPool1d(0), "MaxPool1d: kernel_size must be an int >= 1, got 0"),
    (lambda: nn.MaxPool1d(3, padding=2), "MaxPool1d: padding must be at most half of kernel_size"),
    (lambda: nn.MaxPool2d((2, 4), padding=(1, 3)), "MaxPool2d: padding must be at most half of kernel_size"),
    (lambda: nn.MaxPool2d(2, stride=0), "MaxPool2d: stride must be an int >= 1, got 0"),
    (lambda: nn.Linear(0, 3), "Linear: in_features must be an int >= 1, got 0"),
    (lambda: nn.GRU(3, 0), "GRU: hidden_size must be an int >= 1, got 0"),
    (lambda: nn.GRU(3, 2, num_layers=0), "GRU: num_layers must be an int >= 1, got 0"),
    (lambda: nn.GRU(3, 2, dropout=1.5), r"GRU: dropout must be a probability in \[0, 1\], got 1.5"),
]


@pytest.mark.parametrize(("make", "message"), BAD_HYPER_PARAMETERS, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_hyper_parameters_raise_in_the_constructor(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
