"""Binary layers: sign at zero, alpha, eval forward = runtime arithmetic, estimators' gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from xnorvision.train._estimators import hard_sign, sign  # noqa: E402
from xnorvision.train._layers import BinaryConv2d, BinaryLinear, SignActivation  # noqa: E402


def test_sign_maps_zero_to_plus_one() -> None:
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-30, -1e-30])
    assert hard_sign(x).tolist() == [-1.0, 1.0, 1.0, 1.0, -1.0]


@pytest.mark.parametrize(("name", "expected"), [("ste", [0.0, 1.0, 1.0, 1.0, 0.0]),
                                                ("bireal", [0.0, 1.0, 2.0, 1.0, 0.0])])
def test_estimator_gradients(name: str, expected: list[float]) -> None:
    x = torch.tensor([-1.5, -0.5, 0.0, 0.5, 1.5], requires_grad=True)
    sign(x, name).sum().backward()
    assert x.grad is not None and x.grad.tolist() == expected


def test_unknown_estimator_is_rejected() -> None:
    with pytest.raises(ValueError, match="estimator"):
        BinaryConv2d(3, 4, 3, estimator="nope")


def test_xnor_conv_eval_is_integer_dot_product_times_alpha() -> None:
    torch.manual_seed(0)
    conv = BinaryConv2d(5, 7, 3, padding=1, mode="xnor").eval()
    x = torch.randn(2, 5, 6, 6)
    y = conv(x)
    xs, ws = hard_sign(x), hard_sign(conv.weight)
    acc = torch.nn.functional.conv2d(xs.double(), ws.double(), padding=1)
    alpha = conv.weight.detach().abs().mean(dim=(1, 2, 3)).view(1, -1, 1, 1)
    assert torch.equal(acc, acc.round())  # exact integers
    torch.testing.assert_close(y, (acc.float() * alpha), rtol=1e-6, atol=1e-6)
    conv.train()  # the training forward computes the same value through the estimators
    torch.testing.assert_close(conv(x), y, rtol=1e-5, atol=1e-5)


def test_pad_with_plus_one_differs_only_at_the_border() -> None:
    torch.manual_seed(1)
    a = BinaryConv2d(3, 4, 3, padding=1, pad_value=0).eval()
    b = BinaryConv2d(3, 4, 3, padding=1, pad_value=1).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 5, 5)
    ya, yb = a(x), b(x)
    torch.testing.assert_close(ya[..., 1:-1, 1:-1], yb[..., 1:-1, 1:-1])
    assert not torch.allclose(ya, yb)


def test_bwn_keeps_real_inputs_and_linear_gets_gradients() -> None:
    torch.manual_seed(2)
    lin = BinaryLinear(8, 3, mode="bwn")
    x = torch.randn(4, 8)
    lin(x).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
    lin.eval()
    expected = x @ (hard_sign(lin.weight) * lin.alpha().view(-1, 1)).T + lin.bias
    torch.testing.assert_close(lin(x), expected, rtol=1e-5, atol=1e-5)


def test_sign_activation_passes_gradient_in_training_only_through_estimator() -> None:
    act = SignActivation("ste")
    x = torch.tensor([0.3, 2.0], requires_grad=True)
    act(x).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 0.0]
