"""ictus.torch: the drop-in modules give torch's outputs and gradients (checked against torch's own
modules run in float64 with the same weights), fall back to torch for what ictus does not
support, and patch() swaps a model's modules in place."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ictus.torch as it
import reference as ref
from torch import nn
from torch.nn.utils import rnn as rnn_utils

RTOL = 1e-5


def float64_twin(module: nn.Module) -> nn.Module:
    """The torch module with the same weights, in float64 and torch's own forward."""
    twin = copy.deepcopy(module).double()
    for name, child in list(twin.named_modules()):
        for base in (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.GRU, nn.ELU):
            if isinstance(child, base) and type(child) is not base:
                child.__class__ = base
    return twin


def outputs_and_grads(module: nn.Module, inputs: list[torch.Tensor], reduce: Callable[[Any], torch.Tensor]
                      ) -> list[np.ndarray]:
    """Outputs, the inputs' gradients and the parameters' gradients of sum(out * fixed weights)."""
    module.zero_grad()
    ins = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = module(*ins)
    loss = reduce(out)
    loss.backward()
    results = [np.asarray(o.detach().double().numpy()) for o in (out if isinstance(out, tuple) else (out,))
               if isinstance(o, torch.Tensor)]
    results += [t.grad.double().numpy() for t in ins if t.grad is not None]
    results += [p.grad.double().numpy() for p in module.parameters() if p.grad is not None]
    return results


def weighted_sum(seed: int) -> Callable[[Any], torch.Tensor]:
    """sum(out * w) over every float tensor output, with fixed random weights per output."""
    def reduce(out: Any) -> torch.Tensor:
        outs = [o for o in (out if isinstance(out, tuple) else (out,))
                if isinstance(o, torch.Tensor) and o.is_floating_point()]
        gen = torch.Generator().manual_seed(seed)
        return sum((o * torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)).sum() for o in outs)
    return reduce


def check_against_torch(module: nn.Module, inputs: list[torch.Tensor], what: str) -> None:
    twin = float64_twin(module)
    got = outputs_and_grads(module, inputs, weighted_sum(0))
    want = outputs_and_grads(twin, [t.double() if t.is_floating_point() else t for t in inputs], weighted_sum(0))
    assert len(got) == len(want), f"{what}: {len(got)} results, torch gave {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        ref.assert_close(g, w, RTOL, f"{what} result {i}", ref.fp32_rounding_allowance(np.abs(w), 10_000))


@pytest.mark.parametrize("kwargs", [{"kernel_size": 5, "padding": "same", "dilation": 4},
                                    {"kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
                                    {"kernel_size": 1}])
def test_conv1d(kwargs: dict[str, Any]) -> None:
    torch.manual_seed(0)
    module = it.Conv1d(6, 7, **kwargs)
    assert module.ictus_supported(torch.zeros(1, 6, 30))
    check_against_torch(module, [torch.randn(2, 6, 30)], f"Conv1d {kwargs}")


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3}, {"kernel_size": (1, 8)},
                                    {"kernel_size": 3, "padding": "same", "dilation": (2, 1)},
                                    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "bias": False}])
def test_conv2d(kwargs: dict[str, Any]) -> None:
    torch.manual_seed(1)
    module = it.Conv2d(3, 5, **kwargs)
    check_against_torch(module, [torch.randn(2, 3, 17, 11)], f"Conv2d {kwargs}")


def test_conv_first_layer_input_needs_no_grad() -> None:
    torch.manual_seed(2)
    module = it.Conv2d(1, 4, 3)
    x = torch.randn(1, 1, 9, 9)  # requires no grad: only the weights get gradients
    module(x).sum().backward()
    twin = float64_twin(module)
    twin(x.double()).sum().backward()
    ref.assert_close(module.weight.grad.numpy(), twin.weight.grad.numpy(), RTOL, "Conv2d weight grad")


@pytest.mark.parametrize("kwargs", [{"kernel_size": (1, 3)}, {"kernel_size": 2, "stride": 1, "padding": 1},
                                    {"kernel_size": 3, "stride": 2, "ceil_mode": True, "return_indices": True}])
def test_max_pool2d(kwargs: dict[str, Any]) -> None:
    torch.manual_seed(3)
    module = it.MaxPool2d(**kwargs)
    check_against_torch(module, [torch.randn(2, 3, 10, 13)], f"MaxPool2d {kwargs}")


def test_max_pool1d() -> None:
    torch.manual_seed(4)
    check_against_torch(it.MaxPool1d(2), [torch.randn(2, 4, 31)], "MaxPool1d 2")
    check_against_torch(it.MaxPool1d(3, stride=2, padding=1, return_indices=True), [torch.randn(2, 4, 31)],
                        "MaxPool1d 3/2/1")


@pytest.mark.parametrize("alpha", [1.0, 0.3, 0.0])
def test_elu(alpha: float) -> None:
    torch.manual_seed(5)
    module = it.ELU(alpha)
    assert module.ictus_supported(torch.zeros(2, 3))
    check_against_torch(module, [torch.randn(2, 3, 7, 5) * 3], f"ELU alpha={alpha}")


def test_elu_in_place_after_a_layer() -> None:
    torch.manual_seed(6)
    model = nn.Sequential(it.Conv1d(3, 4, 3), it.ELU(0.5, inplace=True))
    check_against_torch(model, [torch.randn(2, 3, 19)], "Conv1d + ELU(inplace=True)")


def test_elu_falls_back_to_torch_where_ictus_declines() -> None:
    x = torch.randn(3, 4)
    negative = it.ELU(-0.5)  # torch allows it; ictus' backward reads the sign of the output
    assert not negative.ictus_supported(x)
    np.testing.assert_array_equal(negative(x).numpy(), nn.functional.elu(x, -0.5).numpy())
    assert not it.ELU().ictus_supported(x.double()) and it.ELU()(x.double()).dtype == torch.float64
    assert not it.ELU(inplace=True).ictus_supported(x.t())  # in place on a strided view
    assert it.ELU()(torch.zeros(0, 3)).shape == (0, 3)


@pytest.mark.parametrize("layers,bidirectional,batch_first,h0,bias", [
    (1, False, False, False, True), (2, True, False, True, True), (2, True, True, True, False),
    (3, False, True, False, True)])
def test_gru(layers: int, bidirectional: bool, batch_first: bool, h0: bool, bias: bool) -> None:
    torch.manual_seed(5)
    module = it.GRU(7, 9, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    x = torch.randn(3, 11, 7) if batch_first else torch.randn(11, 3, 7)
    inputs = [x] + ([torch.randn(layers * (2 if bidirectional else 1), 3, 9)] if h0 else [])
    check_against_torch(module, inputs, f"GRU layers={layers} bi={bidirectional} batch_first={batch_first}")


def test_gru_packed_sequence() -> None:
    torch.manual_seed(6)
    module = it.GRU(5, 8, num_layers=2, bidirectional=True)
    twin = float64_twin(module)
    lengths = torch.tensor([4, 9, 1, 6])
    x = torch.randn(9, 4, 5)
    out, h_n = module(rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False))
    want_out, want_h = twin(rnn_utils.pack_padded_sequence(x.double(), lengths, enforce_sorted=False))
    got_padded, got_len = rnn_utils.pad_packed_sequence(out)
    want_padded, want_len = rnn_utils.pad_packed_sequence(want_out)
    assert torch.equal(got_len, want_len)
    ref.assert_close(got_padded.detach().numpy(), want_padded.detach().numpy(), RTOL, "packed GRU output")
    ref.assert_close(h_n.detach().numpy(), want_h.detach().numpy(), RTOL, "packed GRU h_n")
    (got_padded.sum() + h_n.sum()).backward()
    (want_padded.sum() + want_h.sum()).backward()
    for (name, p), q in zip(module.named_parameters(), twin.parameters(), strict=True):
        ref.assert_close(p.grad.numpy(), q.grad.numpy(), RTOL, f"packed GRU grad {name}",
                         ref.fp32_rounding_allowance(np.abs(q.grad.numpy()), 100))


def test_unsupported_calls_fall_back_to_torch() -> None:
    torch.manual_seed(7)
    grouped = it.Conv1d(4, 4, 3, groups=2)
    assert not grouped.ictus_supported(torch.zeros(1, 4, 10))
    x = torch.randn(2, 4, 10)
    np.testing.assert_array_equal(grouped(x).detach().numpy(), nn.Conv1d.forward(grouped, x).detach().numpy())
    conv = it.Conv1d(4, 4, 3).double()  # float64: torch's forward
    assert not conv.ictus_supported(torch.zeros(1, 4, 10, dtype=torch.float64))
    assert conv(torch.randn(2, 4, 10, dtype=torch.float64)).dtype == torch.float64


class _TinyTCN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.front = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ELU(), nn.MaxPool2d((1, 3)))
        self.blocks = nn.ModuleList([nn.Conv1d(4 * 5 if d == 1 else 8, 8, 5, padding="same", dilation=d)
                                     for d in (1, 2, 4)])
        self.depthwise = nn.Conv1d(8, 8, 3, padding=1, groups=8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.front(x)  # (N, 4, T, 5)
        h = h.permute(0, 1, 3, 2).reshape(x.shape[0], -1, h.shape[2])
        for block in self.blocks:
            h = nn.functional.elu(block(h))
        h = self.depthwise(h)
        return self.head(h.transpose(1, 2))


def test_patch_swaps_supported_modules_and_keeps_results() -> None:
    torch.manual_seed(8)
    model = _TinyTCN()
    x = torch.randn(2, 1, 40, 17)
    want = model(x).detach().numpy()
    report = it.patch(model)
    assert report.swapped == ["front.0", "front.1", "front.2", "blocks.0", "blocks.1", "blocks.2"]
    assert report.left == {"depthwise": "groups=8"}
    assert "swapped 6" in str(report)
    assert isinstance(model.front[0], it.Conv2d) and isinstance(model.blocks[1], it.Conv1d)
    ref.assert_close(model(x).detach().numpy(), want, RTOL, "patched model output")
    assert set(model.state_dict()) == set(_TinyTCN().state_dict())
