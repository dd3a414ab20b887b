"""ictus.nn.TCNBlock and TCN against the same network written in torch, run in float64.

The torch twin has the same module names (so state dicts move between them) and multiplies by the
spatial-dropout masks that ictus drew, so training-mode dropout is compared too. Outputs, the input
gradient and every parameter gradient must agree; a parameter torch leaves without a gradient
(the last block's residual projection when the skips are summed) must have none in ictus either.
"""
from __future__ import annotations

from typing import Any

import ictus
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import reference as ref
from ictus import nn
from torch import nn as tnn
from torch.nn import functional as F

TORCH_ACTIVATIONS = {"elu": F.elu, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class TorchTCNBlock(tnn.Module):
    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int, parallel: tuple[int, ...],
                 activation: str) -> None:
        super().__init__()
        self.dilated = tnn.ModuleList(tnn.Conv1d(in_channels, channels, kernel_size, dilation=dilation * f,
                                                 padding="same") for f in parallel)
        self.skip = tnn.Conv1d(len(parallel) * channels, channels, 1)
        self.residual = tnn.Conv1d(in_channels, channels, 1)
        self.activation = TORCH_ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.activation(torch.cat([conv(x) for conv in self.dilated], dim=1))
        skip = self.skip(a if mask is None else a * mask)
        return self.residual(x) + skip, skip


class TorchTCN(tnn.Module):
    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilations: tuple[int, ...],
                 parallel: tuple[int, ...], skip_connections: bool, activation: str) -> None:
        super().__init__()
        self.blocks = tnn.ModuleList(TorchTCNBlock(in_channels if i == 0 else channels, channels, kernel_size, d,
                                                   parallel, activation) for i, d in enumerate(dilations))
        self.skip_connections = skip_connections
        self.activation = TORCH_ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor | None]) -> torch.Tensor:
        skips = []
        for block, mask in zip(self.blocks, masks, strict=True):
            x, skip = block(x, mask)
            skips.append(skip)
        return self.activation(sum(skips) if self.skip_connections else x)


def dropout_masks(model: nn.Module) -> list[torch.Tensor | None]:
    """The masks ictus' SpatialDropout1d layers drew in the latest forward (None where p = 0)."""
    layers = [m for m in model.modules() if isinstance(m, nn.SpatialDropout1d)]
    saved = [m._stack[-1][0] for m in layers]  # (seed, mask shape)
    # the kernel's factors (0 or 1 / (1 - p)) of each mask: what multiplies x
    return [None if s is None else torch.from_numpy(ictus.dropout(np.ones(s[1], np.float32), m.p, s[0])).double()
            for m, s in zip(layers, saved, strict=True)]


def twin_of(model: nn.Module, twin: tnn.Module) -> tnn.Module:
    """twin in float64 with model's weights (model's float32 values, exactly)."""
    twin = twin.double()
    own = model.state_dict()
    assert list(own) == list(twin.state_dict()), "state dict names differ from torch's"
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in own.items()})
    return twin


def compare_gradients(model: nn.Module, twin: tnn.Module) -> None:
    torch_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        expected = torch_params[name].grad
        if expected is None:
            assert p.grad is None, f"{name}: torch leaves it without a gradient, ictus gave one"
        else:
            ref.assert_close(p.grad, expected.numpy(), 1e-5, f"grad of {name}")


TCN_CASES = [
    # in, channels, T, N, kernel, dilations, parallel, dropout, skip_connections, activation
    (3, 4, 1, 1, 5, (1, 2, 4), (1,), 0.0, True, "elu"),               # length 1, batch 1
    (5, 4, 37, 2, 5, (1, 2, 4, 8, 16, 32, 64), (1,), 0.0, True, "elu"),  # dilations beyond T
    (4, 4, 23, 3, 3, (1, 3), (1, 2), 0.3, True, "relu"),             # parallel dilations, dropout
    (2, 6, 29, 2, 5, (2, 1), (1, 3, 4), 0.5, False, "tanh"),         # no skip connections
    (1, 3, 13, 1, 7, (1,), (1,), 0.2, False, "sigmoid"),
]


@pytest.mark.parametrize("case", TCN_CASES, ids=lambda c: "-".join(map(str, c)))
def test_tcn_matches_torch(case: tuple[Any, ...], rng: np.random.Generator) -> None:
    c_in, channels, length, batch, kernel, dilations, parallel, dropout, skip_connections, activation = case
    nn.manual_seed(int(rng.integers(1 << 30)))
    model = nn.TCN(c_in, channels, kernel, dilations, parallel, dropout, skip_connections, activation)
    twin = twin_of(model, TorchTCN(c_in, channels, kernel, dilations, parallel, skip_connections, activation))
    x = rng.standard_normal((batch, c_in, length)).astype(np.float32)
    y = model(x)
    x_t = torch.from_numpy(x).double().requires_grad_(True)
    y_t = twin(x_t, dropout_masks(model))
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = model.backward(grad_out)
    y_t.backward(torch.from_numpy(grad_out).double())
    assert y.shape == (batch, channels, length) and y.dtype == np.float32
    ref.assert_close(y, y_t.detach().numpy(), 1e-5, "output")
    ref.assert_close(grad_x, x_t.grad.numpy(), 1e-5, "grad_x")
    compare_gradients(model, twin)


@pytest.mark.parametrize("give", ["out", "skip", "both"])
def test_tcn_block_matches_torch(give: str, rng: np.random.Generator) -> None:
    block = nn.TCNBlock(5, kernel_size=5, dilation=3, parallel=(1, 2), dropout=0.25, in_channels=3)
    twin = twin_of(block, TorchTCNBlock(3, 5, 5, 3, (1, 2), "elu"))
    x = rng.standard_normal((2, 3, 31)).astype(np.float32)
    out, skip = block(x)
    x_t = torch.from_numpy(x).double().requires_grad_(True)
    out_t, skip_t = twin(x_t, dropout_masks(block)[0])
    ref.assert_close(out, out_t.detach().numpy(), 1e-5, "out")
    ref.assert_close(skip, skip_t.detach().numpy(), 1e-5, "skip")
    grad_out = rng.standard_normal(out.shape).astype(np.float32) if give in ("out", "both") else None
    grad_skip = rng.standard_normal(out.shape).astype(np.float32) if give in ("skip", "both") else None
    grad_x = block.backward(grad_out, grad_skip)
    outputs = [(t, g) for t, g in ((out_t, grad_out), (skip_t, grad_skip)) if g is not None]
    torch.autograd.backward([t for t, _ in outputs], [torch.from_numpy(g).double() for _, g in outputs])
    ref.assert_close(grad_x, x_t.grad.numpy(), 1e-5, "grad_x")
    compare_gradients(block, twin)


def test_tcn_default_is_the_beat_tracking_network() -> None:
    model = nn.TCN(16, 16)
    assert [b.dilation for b in model.blocks] == [2 ** i for i in range(11)]
    assert [tuple(b.dilated[0].weight.shape) for b in model.blocks] == [(16, 16, 5)] * 11
    assert model.blocks[0].dropout.p == 0.1
    names = list(model.state_dict())
    assert names[:6] == ["blocks.0.dilated.0.weight", "blocks.0.dilated.0.bias", "blocks.0.skip.weight",
                         "blocks.0.skip.bias", "blocks.0.residual.weight", "blocks.0.residual.bias"]
    assert len(names) == 66


def test_tcn_eval_mode_is_deterministic(rng: np.random.Generator) -> None:
    model = nn.TCN(2, 3, dilations=(1, 2), dropout=0.5).eval()
    x = rng.standard_normal((2, 2, 19)).astype(np.float32)
    np.testing.assert_array_equal(model(x), model(x))


def test_tcn_bad_input() -> None:
    with pytest.raises(ValueError, match=r"TCNBlock: activation must be one of \['elu', 'relu', 'sigmoid', 'tanh'\]"):
        nn.TCNBlock(4, activation="gelu")
    with pytest.raises(ValueError, match="TCN: activation must be one of"):
        nn.TCN(2, 4, dilations=(1,), activation="swish")
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\)"):
        nn.TCN(2, 4, dropout=1.0)
    with pytest.raises(ValueError, match="TCN: dilations must be a non-empty sequence of ints >= 1"):
        nn.TCN(2, 4, dilations=())
    with pytest.raises(ValueError, match="TCNBlock: parallel must be a non-empty sequence of ints >= 1"):
        nn.TCNBlock(4, parallel=(1, 0))
    with pytest.raises(ValueError, match="TCNBlock: dilation must be"):
        nn.TCNBlock(4, dilation=0)
    with pytest.raises(ValueError, match="TCNBlock: channels must be an int >= 1"):
        nn.TCNBlock(0)
    with pytest.raises(TypeError, match="TCN: skip_connections must be True or False"):
        nn.TCN(2, 4, skip_connections="yes")
    model = nn.TCN(2, 4, dilations=(1, 2))
    with pytest.raises(TypeError, match=r"TCN: x must be float32, got float64; cast it with x.astype\(np.float32\)"):
        model(np.zeros((1, 2, 8)))
    with pytest.raises(ValueError, match=r"TCN: x must have shape \(N, 2, T\), got \(1, 3, 8\)"):
        model(np.zeros((1, 3, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"TCN: x must have shape \(N, 2, T\), got \(2, 8\)"):
        model(np.zeros((2, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="give the gradient of out, of skip, or both"):
        nn.TCNBlock(2).backward(None, None)
