"""Group h of ictus.bench: the torch twin of the examples' BeatTCN matches the ictus model (outputs
and, without dropout, gradients, against float64 torch), ictus.torch.patch on the twin keeps its
outputs and gradients, the FLOP count matches the network's layers, and the group's cases run
through the harness once at a tiny size (no timing assertions)."""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ictus.torch as ictus_torch
import reference as ref
from ictus import nn
from ictus.bench import beats, beats_twin, harness, report, targets, timing
from ictus.bench.noise import NoiseGuard
from ictus.bench.workloads import (
    BEAT_TCN_INFERENCE,
    BEAT_TCN_TRAINING,
    BeatTcnShape,
    workloads,
)
from ictus.examples.beats.model import BeatTCN
from ictus.examples.beats.training import MultiTaskLoss
from torch.nn import functional as F

RTOL = 1e-5
TINY = BeatTcnShape(2, 23, beats.DIRECTIONS)  # 23 frames: the large dilations' taps read padding only


def tiny_batch(rng: np.random.Generator, shape: BeatTcnShape = TINY) -> tuple[np.ndarray, beats.Batch]:
    return beats.network_input(shape, rng), beats.training_targets(shape, rng)


def without_dropout(model: BeatTCN) -> BeatTCN:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return model


def ictus_outputs_and_grads(model: BeatTCN, x: np.ndarray, targets: beats.Batch) -> list[np.ndarray]:
    """Outputs, then the gradients of the example's loss for x and every parameter (named order)."""
    outputs = model(x)
    loss = MultiTaskLoss()
    for term, out, target in zip((loss.beats, loss.downbeats, loss.tempo), outputs, targets, strict=True):
        term(out, target)
    model.zero_grad()
    grad_x = model.backward(loss.backward())
    return [*outputs, grad_x, *(p.grad for p in model.parameters())]


def torch_outputs_and_grads(twin: torch.nn.Module, x: np.ndarray, targets: beats.Batch, names: list[str],
                            dtype: torch.dtype = torch.float64) -> list[np.ndarray]:
    """As ictus_outputs_and_grads, by autograd on ``twin`` (in ``dtype``)."""
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    outputs = twin(xt)
    twin.zero_grad()
    beats_twin.multitask_loss(outputs, tuple(torch.tensor(t, dtype=dtype) for t in targets)).backward()
    params = dict(twin.named_parameters())
    return [t.detach().numpy() for t in (*outputs, xt.grad, *(params[n].grad for n in names))]


def assert_all_close(got: list[Any], want: list[Any], names: list[str], rtol: float = RTOL) -> None:
    for g, w, name in zip(got, want, names, strict=True):
        ref.assert_close(g, w, rtol=rtol, what=name)


def result_names(model: BeatTCN) -> list[str]:
    return ["beats", "downbeats", "tempo", "grad x", *(f"grad {n}" for n, _ in model.named_parameters())]


def test_twin_has_the_ictus_model_s_names_and_loads_its_weights() -> None:
    model = beats.build_model(seed=3)
    twin = beats_twin.BeatTCN()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})  # strict
    assert list(twin.state_dict()) == list(model.state_dict())
    assert {n for n, _ in twin.named_modules()} == {n for n, _ in model.named_modules()}
    for name, value in beats_twin.from_ictus(model).state_dict().items():
        np.testing.assert_array_equal(value.numpy(), model.state_dict()[name])


@pytest.mark.parametrize("n, t", [(1, 1), (2, 23), (3, 101)])
def test_twin_gives_the_ictus_model_s_outputs_in_eval_mode(rng: np.random.Generator, n: int, t: int) -> None:
    model = beats.build_model(seed=t).eval()
    x = beats.network_input(BeatTcnShape(n, t, ("fwd",)), rng)
    twin = beats_twin.from_ictus(model).double()
    with torch.no_grad():
        want = twin(torch.from_numpy(x).double())
    assert_all_close(model(x), want, ["beats", "downbeats", "tempo"])


def test_twin_gives_the_ictus_model_s_gradients_without_dropout(rng: np.random.Generator) -> None:
    model = without_dropout(beats.build_model(seed=1)).train()
    x, targets = tiny_batch(rng)
    twin = beats_twin.from_ictus(model).double()
    assert all(m.p == 0.0 for m in twin.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd))
    names = [n for n, _ in model.named_parameters()]
    assert_all_close(ictus_outputs_and_grads(model, x, targets), torch_outputs_and_grads(twin, x, targets, names),
                     result_names(model))


def test_twin_copies_dropout_rates_and_mode() -> None:
    model = BeatTCN(dropout=0.3).train()
    twin = beats_twin.from_ictus(model)
    rates = {m.p for m in twin.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)}
    assert rates == {0.3} and twin.training
    assert isinstance(twin.tcn.blocks[0].dropout, torch.nn.Dropout1d)  # spatial: whole channels
    assert not beats_twin.from_ictus(model.eval()).training


def test_multitask_loss_is_the_example_s_loss(rng: np.random.Generator) -> None:
    model = beats.build_model(seed=2).eval()
    x, targets = tiny_batch(rng)
    outputs = model(x)
    loss = MultiTaskLoss()
    got = sum(float(term(o, t)) for term, o, t in zip((loss.beats, loss.downbeats, loss.tempo), outputs, targets,
                                                       strict=True))
    as_tensors = [tuple(torch.tensor(a, dtype=torch.float64) for a in group) for group in (outputs, targets)]
    want = beats_twin.multitask_loss(*as_tensors)
    assert got == pytest.approx(float(want), rel=1e-6)
    assert float(want) != pytest.approx(float(F.binary_cross_entropy(as_tensors[0][0], as_tensors[1][0])))


def test_patch_keeps_the_twin_s_outputs_and_gradients(rng: np.random.Generator) -> None:
    model = beats.build_model(seed=4).eval()
    x, targets = tiny_batch(rng)
    twin = beats_twin.from_ictus(model)
    patched = copy.deepcopy(twin)
    report_ = ictus_torch.patch(patched)
    # front end: conv, ELU, pool x 3; TCN blocks: 4 convs and an ELU x 11; heads' 1x1 convs; the final ELU
    assert len(report_.swapped) == 3 * 3 + 11 * 5 + 2 + 1 and not report_.left
    names = [n for n, _ in model.named_parameters()]
    got = torch_outputs_and_grads(patched, x, targets, names, dtype=torch.float32)
    want = torch_outputs_and_grads(twin.double(), x, targets, names)
    assert_all_close(got, want, result_names(model))


def test_flop_count_matches_the_network_s_layers(rng: np.random.Generator) -> None:
    """2 x multiply-adds of every Conv1d, Conv2d and Linear, counted by hooks on the twin."""
    counted = []

    def count(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        taps = module.in_features if isinstance(module, torch.nn.Linear) else (
            module.in_channels * int(np.prod(module.kernel_size)))
        counted.append(2 * output.numel() * taps)
    twin = beats_twin.from_ictus(beats.build_model(seed=0)).eval()
    for m in twin.modules():
        if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Linear):
            m.register_forward_hook(count)
    with torch.no_grad():
        twin(torch.from_numpy(beats.network_input(TINY, rng)))
    assert TINY.fwd_flop == sum(counted)
    assert beats.flop(TINY, "train step") == 3 * beats.flop(TINY, "fwd") == 3 * TINY.fwd_flop


def test_norm_rel_diff_is_the_largest_relative_norm_error() -> None:
    ref_ = [np.array([3.0, 4.0]), np.ones(4)]
    assert beats.norm_rel_diff([np.array([3.0, 4.5]), np.ones(4)], ref_) == pytest.approx(0.1)
    assert beats.norm_rel_diff([ref_[0], np.ones(4) * 1.2], [torch.from_numpy(a) for a in ref_]) == pytest.approx(0.2)


def test_training_step_check_compares_a_dropout_free_step_and_restores_dropout(rng: np.random.Generator) -> None:
    x, targets = tiny_batch(rng)
    step = beats.TrainingStep(beats.build_model(seed=5), x, targets, torch)
    err = step.compare()
    assert err is not None and err <= beats.TOLERANCES["train step"]
    assert {m.p for m in step.model.modules() if isinstance(m, nn.Dropout)} == {0.15}
    assert {m.p for m in step.twin.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)} == {0.15}
    before = step.model.state_dict()["tempo.2.weight"].copy()
    step.ictus_step()  # with dropout, from the weights the check left: they move
    assert not np.array_equal(before, step.model.state_dict()["tempo.2.weight"])
    step.torch_loss = lambda outputs, targets: F.binary_cross_entropy(outputs[0], targets[0])  # a wrong loss
    assert step.compare() > beats.TOLERANCES["train step"]


def tiny_policy_and_guard() -> tuple[timing.TimingPolicy, NoiseGuard]:
    policy = timing.TimingPolicy(min_runs=1, min_time_s=0.0, max_runs=1, blocks=1, warmup_s=0.0, settle_s=0.0,
                                 block_warmup_s=0.0, heavy_min_runs=1)
    return policy, NoiseGuard(attempts=1, max_wait_s=0.0, budget_s=0.0)


@pytest.mark.parametrize("direction", beats.DIRECTIONS)
def test_cases_run_through_the_harness(direction: str) -> None:
    policy, guard = tiny_policy_and_guard()
    case = beats.make_case(TINY, direction, torch)
    rows = harness.measure_case(case, 1, harness.Roofs(100.0), policy, guard, torch)
    assert [r.impl for r in rows] == ["ictus", "torch"]
    ictus_row = rows[0]
    assert ictus_row.max_rel_err is not None and not ictus_row.mismatch
    assert ictus_row.flop == beats.flop(TINY, direction) and ictus_row.x_vs_torch is not None
    table = report.tables(rows, {(beats.OP, direction): "title"}, torch_missing=False)
    assert "MISMATCH" not in table and TINY.label in table


def test_cases_without_torch() -> None:
    for direction in beats.DIRECTIONS:
        case = beats.make_case(TINY, direction, None)
        assert case.check() is None
        assert [i.name for i in case.impls] == ([] if direction == "patch fwd" else ["ictus"])
        for impl in case.impls:
            impl.run()
    with pytest.raises(ValueError, match="direction must be one of"):
        beats.make_case(TINY, "bwd", None)


def test_group_h_workloads_and_targets() -> None:
    assert workloads(("h",), quick=False) == [BEAT_TCN_INFERENCE, BEAT_TCN_TRAINING]
    assert [s.directions for s in workloads(("h",), quick=True)] == [("fwd",), ("train step",)]
    template = harness.Result(op=beats.OP, group="h", shape="", series=None, direction="", threads=1,
                              impl="ictus", kernel="k", median_ms=1.0, samples=1, flop=1, gflops=1.0, pct_peak=1.0,
                              x_vs_torch=1.0, contended=False, others_cpu=0.0, retries=0)
    rows = [dataclasses.replace(template, shape=BEAT_TCN_INFERENCE.label, direction="fwd", x_vs_torch=5.5),
            dataclasses.replace(template, shape=BEAT_TCN_TRAINING.label, direction="train step", x_vs_torch=2.0)]
    goals = {t.name.split(",")[1].strip(): t for t in targets.evaluate(rows)
             if t.name.startswith("(h)") and "patch" not in t.name}
    assert goals["inference"].met is True and goals["training step"].met is False
    patch = [t for t in targets.evaluate(rows) if "patch" in t.name]
    assert len(patch) == 1 and patch[0].met is None and "--quick" in patch[0].measured
