"""``Model``: load an .xnv file once, then run batches of images through it on the XNOR kernels."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xnorvision import _ram, kernels
from xnorvision._profiling import current_span
from xnorvision.errors import ModelFormatError, XnorvisionError
from xnorvision.runtime import _threads
from xnorvision.runtime._fold import Step, fold
from xnorvision.runtime._format import XnvFile, load_xnv
from xnorvision.runtime._governor import ThreadGovernor
from xnorvision.runtime._graph import check_peak, infer, tensor_bytes
from xnorvision.runtime._info import model_info
from xnorvision.runtime._layers import Conv2d, Layer, _Buffers
from xnorvision.runtime._native import NativeRun
from xnorvision.runtime._outputs import OutputKind, to_probabilities
from xnorvision.runtime._schema import TensorType
from xnorvision.runtime.ops import OPS

#: called after each step with (its index in :attr:`Model.steps`, its wall time in seconds)
StepHook = Callable[[int, float], None]
_KEEP_NATIVE_RUNS = 8  # input shapes whose native runs a model keeps (an image pyramid has a handful)
_BATCH_CHECK_BYTES = 64 << 20  # a call needing less is not checked against the memory available


class Model:
    """A validated, folded network ready to run.

    ``model(images)`` takes BGR uint8 images (``(H, W, 3)`` or ``(N, H, W, 3)``), preprocesses them as the
    file's input spec says and returns the first output; ``model.run(x)`` returns every output by name.
    Run one model from one thread at a time: its layers reuse their buffers from call to call (the outputs
    handed back are copies and stay valid).
    """

    def __init__(self, file: XnvFile, threads: int | None = None, path: Path | None = None) -> None:
        self.file, self.path = file, path
        self.input_spec: dict[str, Any] = file.input_spec
        self.labels: list[str] = file.labels
        self.metadata: dict[str, Any] = file.metadata
        self.output_names: list[str] = list(file.outputs)
        #: per output, ``"logits"`` or ``"probabilities"`` (the graph says; see docs/xnv-format.md)
        self.output_kinds: dict[str, OutputKind] = dict(file.output_kinds)
        steps, self._outputs, types = fold(file)
        self._steps = [(s.node.name, s.node.inputs, _make_layer(s, types)) for s in steps]
        self._nodes = [s.node for s in steps]
        self._kinds = [OPS[node.op].work for node in self._nodes]  # what --profile sums each step's time as
        self._label = path.name if path is not None else "model"
        # per step, worked out once: the name of a second tensor it writes (a binary conv's packed signs
        # beside its float result) or None, and the tensors it reads for the last time
        self._after = _after_steps(steps, self._steps, self._outputs)
        #: per input size checked: the bytes an image's first run holds (see :meth:`_check_batch`)
        self._image_bytes: dict[tuple[int, int], int] = {}
        self._lut = _normalising_lut(self.input_spec)
        self._input_buffers = _Buffers()
        self._governor = ThreadGovernor()
        self._first_layer_reads_images = _first_layer_reads_images(self._steps, self._outputs,
                                                                   self.input_spec, self._lut)
        #: run bound kernels without Python between them (``runtime._native``); False: layer by layer
        self.native = True
        self._native_runs: OrderedDict[tuple[Any, ...], NativeRun] = OrderedDict()
        # None: the kernels' process default (one thread per CPU unless kernels.set_num_threads said else)
        self.threads = 1
        self.set_threads(kernels.get_num_threads() if threads is None else threads)

    @classmethod
    def load(cls, path: str | os.PathLike[str], threads: int | None = None) -> Model:
        """Read and validate ``path``; raises :class:`ModelFormatError` if it is not a valid .xnv file.

        ``threads``: this model's thread count (see :meth:`set_threads`); None: the process default.
        """
        return cls(load_xnv(path), threads, Path(path))

    def set_threads(self, n: int) -> None:
        """Threads for this model's binary kernels and float layers; other models keep their own.

        More than the CPUs this process may use is capped at their number.
        """
        n = _threads.usable_threads(n)
        self.threads = n

    def __call__(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Run BGR uint8 images; return the first output."""
        return self.run(images)[self.output_names[0]]

    def probabilities(self, images: np.ndarray | list[np.ndarray], output: str | None = None) -> np.ndarray:
        """Run BGR uint8 images; return ``output`` (default the first) as probabilities in [0, 1].

        Scores a stage reports must be probabilities: this is the one place logits become them.
        """
        name = output or self.output_names[0]
        if name not in self.output_kinds:
            raise XnorvisionError(f"model has no output {name!r} (outputs: {', '.join(self.output_names)})")
        if self.output_kinds[name] == "raw":
            raise XnorvisionError(f"model output {name!r} is raw (not logits or probabilities): decode it "
                                  "with model.run")
        return to_probabilities(self.run(images)[name], self.output_kinds[name])

    def run(self, x: np.ndarray, on_step: StepHook | None = None) -> dict[str, np.ndarray]:
        """Run images (uint8) or an already normalised float32 NHWC tensor; return every output.

        ``on_step(i, seconds)`` is called after step ``i`` of :attr:`steps` with its wall time (the
        profiler's hook); without it the loop reads no clock. Inside a pipeline stage being profiled
        (``--profile``) the run's time goes to that stage's profile, by op kind.
        """
        span = current_span() if on_step is None else None
        if span is not None:
            return span.time_model(self._label, self._kinds, lambda hook: self._run(x, hook))
        return self._run(x, on_step)

    def _run(self, x: np.ndarray, on_step: StepHook | None) -> dict[str, np.ndarray]:
        images = isinstance(x, list | tuple) or (isinstance(x, np.ndarray) and x.dtype == np.uint8)
        if images and self._first_layer_reads_images:
            x = self._image_batch(x)
        else:
            x = self._preprocess(x, self._input_buffers) if images else self._check_tensor(x)
        self._check_batch(x.shape[0], x.shape[1], x.shape[2])
        # with several threads, each run uses the thread policy the governor measured to be faster
        eager = self.threads > 1 and self._governor.choose()
        start = time.perf_counter()
        with kernels.using_threads(self.threads, eager), _threads.using_threads(self.threads):
            outputs = self._run_layers(x, on_step, eager)
        if self.threads > 1:
            self._governor.record(eager, time.perf_counter() - start, x.shape[0] * x.shape[1] * x.shape[2])
        return outputs

    @property
    def steps(self) -> list[tuple[str, str, dict[str, Any]]]:
        """What runs, in order, after load-time folding: (name, op, attributes) of each step."""
        return [(name, node.op, node.attrs)
                for (name, _, _), node in zip(self._steps, self._nodes, strict=True)]

    def _run_layers(self, x: np.ndarray, on_step: StepHook | None = None,
                    eager: bool = False) -> dict[str, np.ndarray]:
        if not self.native:
            return self._outputs_by_name(self._run_each(x, on_step))
        key = (x.shape, x.dtype.str, self.threads)
        native = self._native_runs.get(key)
        if native is None:  # the first run of this input: through the layers, which plan the native runs
            tensors = self._run_each(x, on_step, keep=True)
            self._native_runs[key] = NativeRun(self._steps, self._after, self._outputs, tensors)
            if len(self._native_runs) > _KEEP_NATIVE_RUNS:
                self._native_runs.popitem(last=False)
            return self._outputs_by_name(tensors)
        self._native_runs.move_to_end(key)
        return self._outputs_by_name(native.run(x, eager, on_step))

    def _run_each(self, x: np.ndarray, on_step: StepHook | None = None,
                  keep: bool = False) -> dict[str, np.ndarray]:
        """Step by step through the layers: the graph's outputs, or with ``keep`` every tensor (arrays a layer
        may write again on its next call: the caller copies what it hands out)."""
        env: dict[str, np.ndarray] = {"input": x}
        steps = zip(self._steps, self._after, strict=True)
        for i, ((name, inputs, layer), (second, done)) in enumerate(steps):
            if on_step is None:
                out = layer([env[k] for k in inputs])
            else:
                start = time.perf_counter()
                out = layer([env[k] for k in inputs])
                on_step(i, time.perf_counter() - start)
            if second is not None:
                out, env[second] = out
            env[name] = out
            if not keep:
                for k in done:
                    del env[k]  # free it
        return env if keep else {own: env[own] for own in self._outputs}

    def _outputs_by_name(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = zip(self.output_names, self._outputs, strict=True)
        return {pub: np.array(tensors[own]) for pub, own in names}

    def preprocess(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """BGR uint8 images -> the float32 NHWC input tensor, as the input spec says (a new array).

        Takes one image ``(H, W, 3)`` (or gray ``(H, W)``), a batch ``(N, H, W, 3)``, or a list of images;
        a fixed-size model resizes each, so a list may mix sizes.
        """
        return self._preprocess(images, None)

    def _preprocess(self, images: np.ndarray | list[np.ndarray], buffers: _Buffers | None) -> np.ndarray:
        """:meth:`preprocess`, writing into ``buffers`` planned per input shape when given.

        Reusing them matters more than the arithmetic: a fresh 1.6 MB tensor per frame comes from the OS as
        untouched pages, and faulting them in cost more (~1 ms a frame) than the whole normalisation.
        """
        rows = self._image_batch(images)
        n, h, w, c = rows.shape
        rows = rows.reshape(n * h, w, c)
        planned = buffers.get(rows.shape, lambda: {"rgb": np.empty(rows.shape, np.uint8),
                                                   "x": np.empty(rows.shape, np.float32)}) if buffers else {}
        if self.input_spec["channel_order"] == "rgb" and c == 3:
            rows = cv2.cvtColor(rows, cv2.COLOR_BGR2RGB, dst=planned.get("rgb"))
        return cv2.LUT(rows, self._lut, dst=planned.get("x")).reshape(n, h, w, c)

    def _image_batch(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """BGR uint8 images -> one uint8 NHWC batch with the model's channel count and (fixed) size."""
        spec = self.input_spec
        if isinstance(images, np.ndarray) and images.dtype == np.uint8 and 0 not in images.shape:
            # a batch already as the model takes it (the faces classifier's 24 crops): no split and restack
            # one image (H, W, 1 or 3) is a batch of one; a 3-D stack of gray crops (N, H, W) gains its axis
            single = images.ndim == 3 and images.shape[-1] in (1, 3)
            batch = images[None] if single else images[..., None] if images.ndim == 3 else images
            fits = spec["height"] is None or batch.shape[1:3] == (spec["height"], spec["width"])
            if batch.ndim == 4 and batch.shape[-1] == spec["channels"] and fits:
                return np.ascontiguousarray(batch)
        out = [self.fit_image(img) for img in _image_list(images)]
        if len({img.shape for img in out}) > 1:
            raise XnorvisionError("images of different sizes cannot share a batch of an any-size model")
        return np.ascontiguousarray(out[0][None]) if len(out) == 1 else np.stack(out)

    def fit_image(self, image: np.ndarray) -> np.ndarray:
        """One BGR (or grey) uint8 image ``(H, W, C)`` as this model takes it: its channel count, and its size
        where the model's is fixed (OpenCV's INTER_AREA). A caller holding many images fits each as it reads
        it: a folder of photos at full size would fill the memory (``eval classify`` does)."""
        spec = self.input_spec
        if spec["channels"] == 1 and image.shape[-1] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None]
        elif spec["channels"] == 3 and image.shape[-1] == 1:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if spec["height"] is not None and image.shape[:2] != (spec["height"], spec["width"]):
            size = (spec["width"], spec["height"])
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA).reshape(*size[::-1], -1)
        return image

    def info(self, height: int | None = None, width: int | None = None) -> dict[str, Any]:
        """Layers, parameters, binary vs float MACs, bytes on disk, peak activation memory (batch 1)."""
        return model_info(self.file, height, width)

    def _check_tensor(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
            raise XnorvisionError("run() takes uint8 images or a float32 NHWC tensor")
        if x.shape[-1] != self.input_spec["channels"]:
            want = self.input_spec["channels"]
            raise XnorvisionError(f"input has {x.shape[-1]} channels, the model takes {want}")
        return np.ascontiguousarray(x)

    def _check_size(self, h: int, w: int) -> int:
        """Type-check the graph once per input size, so a bad size is one clear error, not a kernel's.
        Returns the bytes an image's first run at this size holds: every step's tensor (the run through the
        layers that plans the native one keeps them all; later runs reuse arrays and hold less)."""
        if (h, w) in self._image_bytes:
            return self._image_bytes[h, w]
        spec = self.input_spec
        if spec["height"] is not None and (h, w) != (spec["height"], spec["width"]):
            raise XnorvisionError(f"input is {h}x{w}, the model takes {spec['height']}x{spec['width']}")
        try:
            types, _ = infer(self.file.nodes, TensorType("float", 4, spec["channels"], h, w))
            check_peak(self.file.nodes, self.file.outputs, types)
        except ModelFormatError as exc:
            raise XnorvisionError(f"input size {h}x{w} does not fit this model: {exc}") from None
        # the tensors of the steps after folding, and the second ones some write (a conv's signs)
        names = {"input"} | {name for name, _, _ in self._steps} | {s for s, _ in self._after if s}
        self._image_bytes[h, w] = sum(tensor_bytes(types[n]) or 0 for n in names if n in types)
        return self._image_bytes[h, w]

    def _check_batch(self, n: int, h: int, w: int) -> None:
        """A batch whose activations the memory cannot hold is the caller's error, before any is allocated:
        past it, Linux's OOM killer ends the process (``eval classify --batch 100000000`` on a large folder
        would run every image in one call)."""
        need = n * self._check_size(h, w)
        if need < _BATCH_CHECK_BYTES:  # most calls: no need to read /proc/meminfo
            return
        if (available := _ram.short_of(need)) is not None:
            what = f"{n} images of {h}x{w} in one call" if n > 1 else f"one image of {h}x{w}"
            fewer = (f"; give at most {_ram.largest_fitting(need // n, available)} a call"
                     if n > 1 and not _ram.too_big(need // n, available) else "")
            raise XnorvisionError(f"{what} would need about {_ram.gigabytes(need)} of activations, "
                                  f"{_ram.over_half(available)}{fewer}")


def _image_list(images: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """Split one image, a batch or a list into (H, W, C) uint8 images, C being 1 or 3."""
    if isinstance(images, np.ndarray):
        single = images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3))
        items = [images] if single else list(images) if images.ndim in (3, 4) else [images]
    else:
        items = [np.asarray(img) for img in images]
    out = []
    for img in items:
        if img.ndim == 2:
            img = img[..., None]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] not in (1, 3) or 0 in img.shape:
            raise XnorvisionError(f"expected uint8 BGR images (H, W, 3), a batch (N, H, W, 3) or a list of "
                                  f"images; got {img.dtype} {img.shape}")
        out.append(img)
    if not out:
        raise XnorvisionError("no images given")
    return out


def _normalising_lut(spec: dict[str, Any]) -> np.ndarray:
    """A ``(1, 256, C)`` float32 table: pixel value -> ``(pixel / 255 - mean) / std`` per channel.

    Computed as ``pixel * scale + shift`` in float32; ``cv2.LUT`` then normalises an image in one pass,
    several times faster than the same arithmetic in numpy.
    """
    mean, std = np.asarray(spec["mean"], np.float32), np.asarray(spec["std"], np.float32)
    scale, shift = (1.0 / (255.0 * std)).astype(np.float32), (-mean / std).astype(np.float32)
    pixels = np.arange(256, dtype=np.float32)[:, None]
    return (pixels * scale + shift).astype(np.float32).reshape(1, 256, -1)


def _first_layer_reads_images(steps: list[tuple[str, tuple[str, ...], Layer]], outputs: list[str],
                              spec: dict[str, Any], lut: np.ndarray) -> bool:
    """Hand uint8 images straight to the first layer when it alone reads the input and can normalise it."""
    readers = [layer for _, inputs, layer in steps if "input" in inputs]
    if "input" in outputs or len(readers) != 1 or not isinstance(readers[0], Conv2d):
        return False
    channels = (2, 1, 0) if spec["channel_order"] == "rgb" and spec["channels"] == 3 else None
    return readers[0].read_images(lut, channels)


def _after_steps(steps: list[Step], runnable: list[tuple[str, tuple[str, ...], Layer]],
                 outputs: list[str]) -> list[tuple[str | None, tuple[str, ...]]]:
    """Per step: the name of the second tensor it writes (or None), and the tensors it is the last to read.

    Worked out at load, so a run does no lookups per step; graph outputs are kept to the end, and a tensor
    a step names twice (``add(x, x)``) is freed once.
    """
    last = {k: i for i, (_, inputs, _) in enumerate(runnable) for k in inputs}
    for o in outputs:
        last.pop(o, None)
    return [(s.node.attrs.get("bits_output"), tuple(dict.fromkeys(k for k in inputs if last.get(k) == i)))
            for i, (s, (_, inputs, _)) in enumerate(zip(steps, runnable, strict=True))]


def _make_layer(step: Step, types: dict[str, TensorType]) -> Layer:
    node = step.node
    return OPS[node.op].layer(node, step.params, types[node.inputs[0]])
