"""Bound calls (``kernels.Bound``): a kernel bound once to its arrays gives, run after run, what a fresh call
gives on the values those arrays hold then, whatever its result arrays held before; ``_program`` runs them
back to back."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import _program
from xnorvision import kernels as K

from . import reference as ref


def _garbage(a: np.ndarray) -> np.ndarray:
    """``a`` (a result array before its first run) filled with set bits: nothing may be left of them."""
    a.view(np.uint8)[...] = 0xA5
    return a


def _parts(result: object) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple) else [result]  # type: ignore[arg-type]


def _assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, e in zip(got, want, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g.view(np.uint8), e.view(np.uint8))


@pytest.mark.parametrize(("output", "fused"), [("float", False), ("bits", False), ("both", True)])
@pytest.mark.parametrize(("stride", "padding"), [(1, "same_zero"), (2, "same_one"), (1, "valid")])
@pytest.mark.parametrize(("c", "o"), [(70, 20), (64, 64), (37, 70)])
def test_a_bound_binary_conv_follows_its_input(simd: str, threads: int, output: str, fused: bool, stride: int,
                                              padding: str, c: int, o: int) -> None:
    rng = np.random.default_rng(c + o)
    w = K.BinaryConvWeights(ref.pack_bits(rng.standard_normal((o, 3, 3, c)).astype(np.float32)), c)
    scale, bias = rng.uniform(0.1, 2, o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    slope = rng.uniform(0, 0.5, o).astype(np.float32) if fused else None
    plan = K.BinaryConvPlan(w, scale, bias, stride, padding, output, slope, fused)
    x = ref.pack_bits(rng.standard_normal((2, 9, 8, c)).astype(np.float32))
    shape = K.binary_conv2d_fused(x, w, c, scale, bias, stride, padding).shape
    res = rng.standard_normal(shape).astype(np.float32) if fused else None
    outs = [_garbage(np.empty_like(a)) for a in _parts(plan(x, res))]
    bound = plan.bind(x, res, *outs)
    assert bound.threads[0] <= bound.threads[1] <= threads
    for _ in range(3):  # new values in the same arrays, run after run
        _assert_same(_parts(bound.call.run()), _parts(plan(x, res)))
        x[...] = ref.pack_bits(rng.standard_normal((2, 9, 8, c)).astype(np.float32))
        if res is not None:
            res[...] = rng.standard_normal(res.shape)


@pytest.mark.parametrize("output", ["float", "both"])
def test_a_bound_bireal_conv_may_write_its_result_over_its_residual(simd: str, threads: int,
                                                                    output: str) -> None:
    """How the runtime plans a shortcut read for the last time: each value is read before it is written."""
    rng = np.random.default_rng(3)
    c, o = 70, 70
    w = K.BinaryConvWeights(ref.pack_bits(rng.standard_normal((o, 3, 3, c)).astype(np.float32)), c)
    scale, bias = rng.uniform(0.1, 2, o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    plan = K.BinaryConvPlan(w, scale, bias, 1, "same_zero", output, rng.uniform(0, 0.5, o).astype(np.float32),
                            True)
    x = ref.pack_bits(rng.standard_normal((2, 9, 8, c)).astype(np.float32))
    res = rng.standard_normal((2, 9, 8, o)).astype(np.float32)
    packed = [_garbage(np.empty((2, 9, 8, 2), np.uint64))] if output == "both" else []
    bound = plan.bind(x, res, res, *packed)
    for _ in range(3):
        want = _parts(plan(x, res.copy()))
        got = _parts(bound.call.run())
        assert got[0] is res
        _assert_same(got, want)
        res[...] = rng.standard_normal(res.shape)
    flat = np.zeros(res.size + 1, np.float32)  # a residual one value on from the result: never
    with pytest.raises(ValueError, match="apart from the inputs"):
        plan.bind(x, flat[1:].reshape(res.shape), flat[:-1].reshape(res.shape), *packed)


@pytest.mark.parametrize("kind", ["float", "image", "pool2", "pool3_both", "1x1"])
def test_a_bound_direct_conv_follows_its_input(simd: str, threads: int, kind: str) -> None:
    rng = np.random.default_rng(7)
    k, c, o = (1, 40, 24) if kind == "1x1" else (3, 3, 20)
    w = rng.standard_normal((k, k, c, o)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    lut = rng.standard_normal((256, c)).astype(np.float32) if kind in ("image", "pool3_both") else None
    pool = {"pool2": 2, "pool3_both": 3}.get(kind)
    plan = K.DirectConvPlan(w, bias, 2 if k == 3 else 1, k // 2, True, lut=lut, pool=pool,
                            output="both" if kind == "pool3_both" else "float")

    def new_x() -> np.ndarray:
        if lut is not None:
            return rng.integers(0, 256, (2, 17, 15, c), np.uint8)
        return rng.standard_normal((2, 17, 15, c)).astype(np.float32)

    x = new_x()
    outs = [_garbage(np.empty_like(a)) for a in _parts(plan(x))]
    bound = plan.bind(x, *outs)
    for _ in range(3):
        _assert_same(_parts(bound.call.run()), _parts(plan(x)))
        x[...] = new_x()


@pytest.mark.parametrize("o", [16, 80])
def test_a_bound_bwn_conv_follows_its_input(simd: str, threads: int, o: int) -> None:
    rng = np.random.default_rng(8)
    plan = K.BwnConvPlan(ref.pack_bits(rng.standard_normal((o, 3, 3, 8)).astype(np.float32)), 8,
                         rng.uniform(0.1, 1, o).astype(np.float32), rng.standard_normal(o).astype(np.float32),
                         2, "same", rng.uniform(0, 0.5, o).astype(np.float32), "both")
    x = rng.standard_normal((2, 11, 10, 8)).astype(np.float32)
    outs = [_garbage(np.empty_like(a)) for a in _parts(plan(x))]
    bound = plan.bind(x, *outs)
    for _ in range(2):
        _assert_same(_parts(bound.call.run()), _parts(plan(x)))
        x[...] = rng.standard_normal(x.shape)


@pytest.mark.parametrize(("op", "kernel", "stride", "padding"), [
    ("maxpool2d_bits", 3, 2, 1), ("maxpool2d", 2, 2, 0), ("avgpool2d", 3, 2, 1),
    ("avgpool2d", (7, 6), (7, 6), 0)])
def test_a_bound_pool_follows_its_input(threads: int, op: str, kernel: object, stride: object,
                                        padding: int) -> None:
    rng = np.random.default_rng(9)
    fn = getattr(K, op)

    def new_x() -> np.ndarray:
        f = rng.standard_normal((2, 7, 6, 70)).astype(np.float32)
        return ref.pack_bits(f) if op == "maxpool2d_bits" else f

    x = new_x()
    out = _garbage(np.empty_like(fn(x, kernel, stride, padding)))
    bound = K.pool_bind(op, x, kernel, stride, padding, out)
    for _ in range(3):
        _assert_same([bound.call.run()], [fn(x, kernel, stride, padding)])
        x[...] = new_x()


def test_bound_pools_side_by_side_follow_their_input(threads: int) -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 8, 6, 13)).astype(np.float32)
    ops = ("avgpool2d", "maxpool2d")
    out = _garbage(np.empty((2, 4, 3, 26), np.float32))
    bound = K.pool_bind(ops, x, 2, 2, 0, out)
    for _ in range(3):
        _assert_same([bound.call.run()], [np.concatenate([K.avgpool2d(x, 2, 2), K.maxpool2d(x, 2, 2)], -1)])
        x[...] = rng.standard_normal(x.shape)
    with pytest.raises(ValueError, match="shape"):
        K.pool_bind(ops, x, 2, 2, 0, np.empty((2, 4, 3, 13), np.float32))


def test_a_bound_join_puts_rows_side_by_side() -> None:
    rng = np.random.default_rng(10)
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((2, 3, 4, 7)).astype(np.float32)
    out = _garbage(np.empty((2, 3, 4, 12), np.float32))
    bound = K.join_bind([a, b], out)
    for _ in range(2):
        _assert_same([bound.call.run()], [np.concatenate([a, b], axis=-1)])
        a[...], b[...] = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    flat = np.empty((2, 60), np.float32)
    _assert_same([K.join_bind([a.reshape(2, -1)], flat).call.run()], [a.reshape(2, -1)])


@pytest.mark.parametrize(("xs", "out", "match"), [
    ([np.zeros((2, 3), np.float32)], np.zeros((2, 4), np.float32), "shape"),
    ([np.zeros((2, 3), np.float64)], np.zeros((2, 3), np.float32), "float32"),
    ([np.zeros((2, 3), np.float32)[:, ::2]], np.zeros((2, 2), np.float32), "C-contiguous"),
])
def test_a_join_checks_its_arrays(xs: list[np.ndarray], out: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        K.join_bind(xs, out)


def test_a_bound_result_may_not_overlap_an_input() -> None:
    x = np.zeros((1, 4, 4, 8), np.float32)
    with pytest.raises(ValueError, match="apart from the inputs"):
        K.pool_bind("maxpool2d", x, 1, 1, 0, x)
    with pytest.raises(ValueError, match="shape"):
        K.pool_bind("maxpool2d", x, 2, 2, 0, np.zeros((1, 4, 4, 8), np.float32))


def _nan_case() -> tuple[K.Bound, np.ndarray, np.ndarray]:
    """A binary conv whose signs are asked for, with a residual: NaN in the residual fails it."""
    rng = np.random.default_rng(11)
    w = K.BinaryConvWeights(ref.pack_bits(rng.standard_normal((8, 3, 3, 8)).astype(np.float32)), 8)
    plan = K.BinaryConvPlan(w, np.ones(8, np.float32), np.zeros(8, np.float32), output="both", residual=True)
    x = ref.pack_bits(rng.standard_normal((1, 5, 5, 8)).astype(np.float32))
    res = np.zeros((1, 5, 5, 8), np.float32)
    out, packed = np.empty((1, 5, 5, 8), np.float32), np.empty((1, 5, 5, 1), np.uint64)
    return plan.bind(x, res, out, packed), res, out


def test_a_program_runs_its_steps_in_order_and_stops_at_a_failed_one() -> None:
    conv, res, conv_out = _nan_case()
    pooled = np.empty((1, 2, 2, 8), np.float32)
    pool = K.pool_bind("maxpool2d", conv_out, 2, 2, 0, pooled)
    program = _program.Program([conv, pool])
    assert program.n == 2 and program.run(0, 2, False) == -1
    np.testing.assert_array_equal(pooled, K.maxpool2d(conv_out, 2, 2))
    pooled[...] = 7
    res[0, 2, 2, 3] = np.nan
    assert program.run(0, 2, True) == 0  # the conv failed: the pool did not run
    assert (pooled == 7).all()
    assert program.run(1, 2, False) == -1 and program.run(1, 1, False) == -1
    with pytest.raises(ValueError, match="contains NaN"):
        conv.call.run()
    with pytest.raises(IndexError):
        program.run(1, 3, False)
