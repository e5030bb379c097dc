"""Native runs: a model's steps bound once per input to planned arrays, then run without Python between them.

The first run of an input shape goes through the layers (``Layer.__call__``) and shows every tensor's shape
and dtype. From those, each tensor gets an array, shared by tensors whose lives do not overlap (a layer's
result takes the array of one read for the last time before it, which is likely still in cache), and each
layer that can binds its compiled kernel to its arrays (``Layer.bind``). Later runs copy the input in and
hand each stretch of bound steps to ``_program.Program`` in one call; a layer without a kernel of its own
(numpy or BLAS work) runs in between through ``__call__``, its result copied into its planned array.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from xnorvision import _program, kernels
from xnorvision.runtime._layers import Layer

#: a model step as the executor holds it: (name, input names, layer)
Step = tuple[str, tuple[str, ...], Layer]
#: per step: the name of a second tensor it writes (or None), and the tensors it reads for the last time
After = tuple[str | None, tuple[str, ...]]
#: called after each step with (its index, its wall time in seconds)
StepHook = Callable[[int, float], None]

_NAN = "x contains NaN: its sign is undefined"  # a bound step's failure, as the kernels word it


class NativeRun:
    """A model's steps bound to arrays planned for one input (shape and dtype)."""

    def __init__(self, steps: list[Step], after: list[After], outputs: list[str],
                 tensors: dict[str, np.ndarray]) -> None:
        """``tensors``: every tensor of one run through the layers (``"input"`` included), by name."""
        self._steps, self._outputs = steps, outputs
        self._arrays = _plan_arrays(steps, after, outputs, tensors)
        self._writes = [(name, *([second] if second is not None else [])) for (name, _, _), (second, _)
                        in zip(steps, after, strict=True)]
        bound: list[Any] = []  # kernels.Bound of the bound steps, in order
        #: per stretch: ("native", first bound call, end) or ("python", step index, step index + 1)
        self._stretches: list[tuple[str, int, int]] = []
        #: per bound call, its step's index
        self._bound_steps: list[int] = []
        for i, (_, inputs, layer) in enumerate(steps):
            call = None
            if isinstance(layer, Layer):  # (a plain function stands in for a layer in some tests)
                try:
                    call = layer.bind([self._arrays[k] for k in inputs],
                                      [self._arrays[k] for k in self._writes[i]])
                except ValueError:  # arrays a kernel does not take (an op's odd dtype): the layer runs it
                    call = None
            if call is None:
                self._stretches.append(("python", i, i + 1))
                continue
            if self._stretches and self._stretches[-1][0] == "native":
                kind, start, _ = self._stretches.pop()
                self._stretches.append((kind, start, len(bound) + 1))
            else:
                self._stretches.append(("native", len(bound), len(bound) + 1))
            bound.append(call)
            self._bound_steps.append(i)
        self._program = _program.Program(bound)
        #: the bound calls that read the input as their first array and nothing else of it, pointed at each
        #: run's input instead of a copy of it (ResNet-18's float input is 0.6 MB, a 416x320 one 1.6 MB);
        #: None where something else reads it (a layer run through Python, or the input is an output)
        self._input_readers: list[Any] | None = _input_readers(steps, outputs, bound, self._bound_steps)

    def step_kinds(self) -> list[str]:
        """Per step, "native" (its kernel bound) or "python" (its layer runs it)."""
        kinds = ["native"] * len(self._steps)
        for kind, i, _ in self._stretches:
            if kind == "python":
                kinds[i] = kind
        return kinds

    def run(self, x: np.ndarray, eager: bool, on_step: StepHook | None = None) -> dict[str, np.ndarray]:
        """Every output for input ``x`` of the planned shape and dtype, in its planned array (valid until the
        next run: the caller copies)."""
        if self._input_readers is None:
            np.copyto(self._arrays["input"], x)
        else:
            for call in self._input_readers:
                call.use_input(x)
        for kind, a, b in self._stretches:
            if kind == "python":
                start = time.perf_counter() if on_step is not None else 0.0
                self._run_layer(a)
                if on_step is not None:
                    on_step(a, time.perf_counter() - start)
            elif on_step is None:
                self._check(self._program.run(a, b, eager))
            else:  # one step at a time, each timed
                for j in range(a, b):
                    start = time.perf_counter()
                    self._check(self._program.run(j, j + 1, eager))
                    on_step(self._bound_steps[j], time.perf_counter() - start)
        return {name: self._arrays[name] for name in self._outputs}

    def _run_layer(self, i: int) -> None:
        _, inputs, layer = self._steps[i]
        out = layer([self._arrays[k] for k in inputs])
        results = out if len(self._writes[i]) > 1 else (out,)
        for name, value in zip(self._writes[i], results, strict=True):
            np.copyto(self._arrays[name], value)

    @staticmethod
    def _check(bad: int) -> None:
        if bad >= 0:
            raise ValueError(_NAN)


def _input_readers(steps: list[Step], outputs: list[str], bound: list[Any],
                   bound_steps: list[int]) -> list[Any] | None:
    """The bound calls to point at each run's input (see ``NativeRun._input_readers``), or None."""
    if "input" in outputs:
        return None
    calls = dict(zip(bound_steps, bound, strict=True))
    readers = []
    for i, (_, inputs, _) in enumerate(steps):
        if "input" not in inputs:
            continue
        call = calls.get(i)
        first_only = inputs[0] == "input" and "input" not in inputs[1:]
        if call is None or not first_only or not hasattr(call.call, "use_input"):
            return None
        readers.append(call.call)
    return readers


def _plan_arrays(steps: list[Step], after: list[After], outputs: list[str],
                 tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An array per tensor, shaped as in ``tensors``; a tensor's array is one freed by a tensor read for the
    last time at an earlier step, when one of its byte size is free (never the input's or an output's), or
    the array of the input its layer writes over (``Layer.writes_over``) when this step reads it last."""
    arrays = {"input": np.empty_like(tensors["input"], order="C")}
    free: dict[int, list[np.ndarray]] = {}  # raw byte arrays by size, the last freed last
    raw: dict[str, np.ndarray] = {}
    keep = set(outputs) | {"input"}
    for (name, inputs, layer), (second, done) in zip(steps, after, strict=True):
        over = _written_over(inputs, layer, done, keep, raw, np.asarray(tensors[name]))
        for t in (name, second):
            if t is None:
                continue
            value = np.asarray(tensors[t])
            spare = free.get(value.nbytes)
            if t == name and over is not None:
                raw[t] = raw.pop(over)
            else:
                raw[t] = spare.pop() if spare else kernels.aligned_empty(value.nbytes, np.uint8)
            arrays[t] = raw[t].view(value.dtype).reshape(value.shape)
        for t in done:
            if t not in keep and t in raw:
                free.setdefault(raw[t].nbytes, []).append(raw.pop(t))
    return arrays


def _written_over(inputs: tuple[str, ...], layer: object, done: tuple[str, ...], keep: set[str],
                  raw: dict[str, np.ndarray], result: np.ndarray) -> str | None:
    """The input whose planned array the step's result takes (see ``Layer.writes_over``), or None: only one
    this step reads for the last time and at no other of its inputs, not the model's input or an output,
    of the result's byte size (the kernel's ``bind`` takes it only as exactly the result's array)."""
    i = getattr(layer, "writes_over", None)
    if i is None or i >= len(inputs):
        return None
    t = inputs[i]
    if t not in done or t in keep or t not in raw or inputs.count(t) != 1:
        return None
    return t if raw[t].nbytes == result.nbytes else None
