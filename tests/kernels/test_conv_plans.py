"""BinaryConvPlan / BwnConvPlan / DirectConvPlan: a model layer's per-call path, checked once,
bit-identical to the kernels."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref


def _binary_case(seed: int, c: int = 70, o: int = 20, k: int = 3):
    rng = np.random.default_rng(seed)
    w = ref.pack_bits(rng.standard_normal((o, k, k, c)).astype(np.float32))
    scale = rng.uniform(0.1, 2, o).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    slope = rng.uniform(0, 0.5, o).astype(np.float32)
    return rng, K.BinaryConvWeights(w, c), scale, bias, slope


@pytest.mark.parametrize(("output", "fused"), [("float", False), ("bits", False), ("float", True),
                                               ("both", True), ("both", False)])
@pytest.mark.parametrize(("stride", "padding"), [(1, "same_zero"), (2, "same_one"), (1, "valid")])
def test_binary_plan_equals_binary_conv2d_fused(simd: str, threads: int, output: str, fused: bool,
                                                stride: int, padding: str) -> None:
    rng, w, scale, bias, slope = _binary_case(stride)
    plan = K.BinaryConvPlan(w, scale, bias, stride, padding, output, slope if fused else None, fused)
    for h, wd in [(9, 8), (6, 11), (9, 8)]:  # a second size, then the first again (its geometry remembered)
        x = ref.pack_bits(rng.standard_normal((2, h, wd, w.c_in)).astype(np.float32))
        want = K.binary_conv2d_fused(x, w, w.c_in, scale, bias, stride, padding, output)
        res = None
        if fused:
            res = rng.standard_normal(want[0].shape if output == "both" else want.shape).astype(np.float32)
            want = K.binary_conv2d_fused(x, w, w.c_in, scale, bias, stride, padding, output, res, slope)
        for g, e in zip(_parts(plan(x, res), output), _parts(want, output), strict=True):
            np.testing.assert_array_equal(g, e)


def _parts(result, output: str) -> list[np.ndarray]:
    return list(result) if output == "both" else [result]


@pytest.mark.parametrize(("stride", "padding", "output", "o"), [
    (2, "same", "both", 64), (1, "valid", "float", 16), (1, "same", "both", 65), (1, "valid", "float", 5)])
def test_bwn_plan_equals_bwn_conv2d(simd: str, threads: int, stride: int, padding: str, output: str,
                                    o: int) -> None:
    rng = np.random.default_rng(o)
    c, k = 16, 3 if o != 5 else 1
    w = ref.pack_bits(rng.standard_normal((o, k, k, c)).astype(np.float32))
    scale, bias = rng.uniform(0.1, 2, o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    slope = rng.uniform(0, 0.5, o).astype(np.float32)
    plan = K.BwnConvPlan(w, c, scale, bias, stride, padding, slope, output)
    for h, wd in [(10, 12), (7, 9), (10, 12)]:
        x = rng.standard_normal((1, h, wd, c)).astype(np.float32)
        want = K.bwn_conv2d(x, w, c, scale, bias, stride, padding, slope, output)
        shape = (want[0] if output == "both" else want).shape
        for out in (None, np.empty(shape, np.float32)):
            got = _parts(plan(x, out), output)
            for g, e in zip(got, _parts(want, output), strict=True):
                np.testing.assert_array_equal(g, e)
            assert out is None or got[0] is out


def test_a_plan_keeps_its_own_copies_of_the_fixed_arguments() -> None:
    rng, w, scale, bias, slope = _binary_case(5)
    x = ref.pack_bits(rng.standard_normal((1, 6, 6, w.c_in)).astype(np.float32))
    plan = K.BinaryConvPlan(w, scale, bias, 1, "same_zero", "float", slope)
    xf = rng.standard_normal((1, 6, 6, 16)).astype(np.float32)
    wb = ref.pack_bits(rng.standard_normal((8, 3, 3, 16)).astype(np.float32))
    s8, b8 = np.ones(8, np.float32), np.zeros(8, np.float32)
    bwn = K.BwnConvPlan(wb, 16, s8, b8, 1, "same")
    before, before_bwn = plan(x), bwn(xf)
    for a in (scale, bias, slope, s8, b8):
        a *= 3
    wb ^= np.uint64(1)
    np.testing.assert_array_equal(plan(x), before)
    np.testing.assert_array_equal(bwn(xf), before_bwn)
    assert not plan.scale.flags.writeable and not bwn.w.flags.writeable


def test_plans_keep_their_weights_on_whole_cache_lines() -> None:
    """No vector load of a plan's weights spans two cache lines (numpy's arrays start 16 bytes into one)."""
    rng = np.random.default_rng(8)
    shapes = [((7,), np.float32), ((3, 5, 9), np.float32), ((70000,), np.uint8), ((4, 33), np.int8)]
    for shape, dtype in shapes:
        a = K.aligned_empty(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.ctypes.data % 64 == 0
    direct = K.DirectConvPlan(rng.standard_normal((7, 7, 3, 64)).astype(np.float32), stride=2, padding=3)
    dense = K.DensePlan(rng.standard_normal((1000, 512)).astype(np.float32))
    bwn = K.BwnConvPlan(rng.integers(0, 2**63, (64, 3, 3, 1), dtype=np.uint64), 16,
                        np.ones(64, np.float32), np.zeros(64, np.float32))
    for a in (direct.w, dense.wf, bwn._tables.patterns, bwn._tables.scale):
        assert a.ctypes.data % 64 == 0


def test_a_plan_checks_its_fixed_arguments_when_made() -> None:
    _, w, scale, bias, slope = _binary_case(6)
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        K.BinaryConvPlan(w, scale, bias, 3)
    with pytest.raises(ValueError, match="a residual or slope needs output"):
        K.BinaryConvPlan(w, scale, bias, 1, "same_zero", "bits", slope)
    with pytest.raises(ValueError, match="scale must have shape"):
        K.BinaryConvPlan(w, scale[:-1], bias)
    with pytest.raises(ValueError, match="w must be BinaryConvWeights"):
        K.BinaryConvPlan(w.packed, scale, bias)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slope must be finite"):
        K.BwnConvPlan(np.zeros((4, 1, 1, 1), np.uint64), 3, np.ones(4, np.float32), np.zeros(4, np.float32),
                      slope=np.full(4, np.nan, np.float32))


def test_a_plan_rejects_a_bad_input_as_the_function_does() -> None:
    rng, w, scale, bias, slope = _binary_case(7)
    plan = K.BinaryConvPlan(w, scale, bias, 1, "valid", "float", slope, residual=True)
    good = ref.pack_bits(rng.standard_normal((1, 5, 5, w.c_in)).astype(np.float32))
    res = np.zeros((1, 3, 3, 20), np.float32)
    plan(good, res)  # its size is now remembered: the bad inputs below still get the full check
    bad_inputs = [(good.astype(np.int64), res), (good[:, :, ::2], res), (good[..., :0], res),
                  (good[:, :2, :2], res), (np.zeros((0, 5, 5, 2), np.uint64), res),
                  (good, res[:, :2]), (good, res.astype(np.float64)), ([[1]], res)]
    for x, r in bad_inputs:
        with pytest.raises(ValueError) as want:
            K.binary_conv2d_fused(x, w, w.c_in, scale, bias, 1, "valid", "float", r, slope)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=None) as got:
            plan(x, r)  # type: ignore[arg-type]
        assert str(got.value) == str(want.value)
    wb = ref.pack_bits(rng.standard_normal((8, 3, 3, 16)).astype(np.float32))
    s8, b8 = np.ones(8, np.float32), np.zeros(8, np.float32)
    bwn = K.BwnConvPlan(wb, 16, s8, b8, 1, "valid")
    xf = rng.standard_normal((1, 5, 5, 16)).astype(np.float32)
    bwn(xf)
    out = np.empty((1, 3, 3, 8), np.float32)
    overlapping = xf.reshape(-1)[:72].reshape(out.shape)
    for x, o in [(xf.astype(np.float64), None), (xf[..., :8], None), (xf[:, :2, :2], None),
                 (xf, out[..., :4]), (xf, out.astype(np.float64)), (xf, overlapping)]:
        with pytest.raises(ValueError) as want:
            K.bwn_conv2d(x, wb, 16, s8, b8, 1, "valid", out=o)
        with pytest.raises(ValueError) as got:
            bwn(x, o)
        assert str(got.value) == str(want.value)


def test_binary_plan_signs_with_negative_and_zero_scales(simd: str, threads: int) -> None:
    """A bits plan finds its sign thresholds once, at creation: a negative scale flips a channel's test,
    a zero scale leaves only the bias's sign, on every call and input size."""
    rng, w, _, _, _ = _binary_case(5, c=100, o=40)
    scale = rng.choice([-0.75, -0.5, 0.0, 0.25, 1.5], 40).astype(np.float32)
    bias = (rng.integers(-6, 7, 40) * 0.25).astype(np.float32)
    plan = K.BinaryConvPlan(w, scale, bias, 1, "same_zero", "bits")
    for h, wd in [(7, 9), (3, 4), (7, 9)]:
        x = ref.pack_bits(rng.standard_normal((1, h, wd, 100)).astype(np.float32))
        acc = ref.binary_conv2d(x, w.packed, 100, 1, "same_zero")
        np.testing.assert_array_equal(plan(x), ref.pack_bits(ref.affine(acc, scale, bias)))


@pytest.mark.parametrize("where", [0, -1])
def test_binary_plan_finds_a_nan_in_any_threads_pixels(simd: str, threads: int, where: int) -> None:
    """Each thread counts the NaN results of its own pixels; a NaN in the first or the last pixel (a
    different thread's, on two) makes the signs undefined, and the call says so."""
    rng, w, scale, bias, slope = _binary_case(6)
    plan = K.BinaryConvPlan(w, scale, bias, 1, "same_zero", "both", slope, residual=True)
    x = ref.pack_bits(rng.standard_normal((1, 12, 16, w.c_in)).astype(np.float32))
    res = rng.standard_normal((1, 12, 16, 20)).astype(np.float32)
    plan(x, res)
    res.reshape(-1, 20)[where, 3] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        plan(x, res)


def _direct_case(seed: int, c: int = 3, o: int = 20, k: int = 3):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, k, c, o)).astype(np.float32)
    lut = rng.standard_normal((256, c)).astype(np.float32)
    return rng, w, rng.standard_normal(o).astype(np.float32), lut


@pytest.mark.parametrize("pool", [None, 2, 3])
@pytest.mark.parametrize("output", ["float", "both"])
def test_direct_plan_equals_conv2d_small(simd: str, threads: int, pool: int | None, output: str) -> None:
    """Float tensors and uint8 images (through the plan's table and channel map), several sizes and back,
    into a given buffer or a new one: conv2d_small's results, bit for bit."""
    rng, w, bias, lut = _direct_case(8)
    plan = K.DirectConvPlan(w, bias, 2, 1, True, lut=lut, channels=(2, 1, 0), pool=pool, output=output)
    for h, wd in [(13, 11), (8, 9), (13, 11)]:
        xf = rng.standard_normal((2, h, wd, 3)).astype(np.float32)
        x8 = rng.integers(0, 256, (2, h, wd, 3), np.uint8)
        for x, u8 in ((xf, {}), (x8, {"lut": lut, "channels": (2, 1, 0)})):
            want = K.conv2d_small(x, w, bias, 2, 1, True, pool=pool, output=output, **u8)
            shape = (want[0] if output == "both" else want).shape
            for out in (None, np.empty(shape, np.float32)):
                got = _parts(plan(x, out), output)
                for g, e in zip(got, _parts(want, output), strict=True):
                    np.testing.assert_array_equal(g.view(np.uint8), e.view(np.uint8))
                assert out is None or got[0] is out


def test_direct_plan_checks_a_size_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full check runs at the first call of an input's dtype and shape, not again."""
    rng, w, bias, lut = _direct_case(9)
    plan = K.DirectConvPlan(w, bias, 1, 1, lut=lut)
    x = rng.integers(0, 256, (1, 6, 7, 3), np.uint8)
    want = plan(x)
    monkeypatch.setattr(K, "_conv2d_small_args", lambda *a, **k: pytest.fail("checked again"))
    np.testing.assert_array_equal(plan(x), want)
    np.testing.assert_array_equal(plan(x, np.empty_like(want)), want)


def test_direct_plan_keeps_its_own_copies_and_rejects_what_conv2d_small_rejects() -> None:
    rng, w, bias, lut = _direct_case(10)
    plan = K.DirectConvPlan(w, bias, 1, 0, lut=lut)
    xf = rng.standard_normal((1, 5, 5, 3)).astype(np.float32)
    x8 = rng.integers(0, 256, (1, 5, 5, 3), np.uint8)
    before, before8 = plan(xf), plan(x8)
    for a in (w, bias, lut):
        a *= 3
    np.testing.assert_array_equal(plan(xf), before)
    np.testing.assert_array_equal(plan(x8), before8)
    w, bias, lut = w / 3, bias / 3, lut / 3
    out = np.empty((1, 3, 3, 20), np.float32)
    overlapping = np.zeros(400, np.float32)
    for x, o in [(xf.astype(np.float64), None), (xf[..., :2], None), (xf[:, :, ::2], None), (xf[:, :2], None),
                 (x8[..., :1], None), ([[1.0]], None), (xf, out[..., :4]), (xf, out.astype(np.float64)),
                 (overlapping[:75].reshape(1, 5, 5, 3), overlapping[40:220].reshape(1, 3, 3, 20))]:
        u8 = {"lut": lut} if isinstance(x, np.ndarray) and x.dtype == np.uint8 else {}
        with pytest.raises(ValueError) as want:
            K.conv2d_small(x, w, bias, 1, 0, out=o, **u8)  # type: ignore[arg-type]
        with pytest.raises(ValueError) as got:
            plan(x, o)  # type: ignore[arg-type]
        assert str(got.value) == str(want.value)
    with pytest.raises(ValueError, match="w must have dtype float32"):
        K.DirectConvPlan(w.astype(np.float64))
    with pytest.raises(ValueError, match="bias must have shape"):
        K.DirectConvPlan(w, bias[:-1])
