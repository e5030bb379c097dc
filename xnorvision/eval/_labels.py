"""Match a classifier's labels to a data set's classes before scoring it.

Scoring a 2-class model against 10 classes by index gives a meaningless number (top-1 0.088), so
``eval classify`` refuses a mismatch unless the user maps the labels (``--labels MODEL=DATA,...``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xnorvision.errors import XnorvisionError

__all__ = ["Alignment", "align_labels", "parse_label_map"]


@dataclass(frozen=True)
class Alignment:
    """The data's labels in the model's index space; ``keep`` marks the images that are scored."""

    truth: np.ndarray  # model-label index of each kept image
    keep: np.ndarray  # bool per data image
    names: list[str]  # the model's label names


def parse_label_map(text: str) -> dict[str, str]:
    """``"circle=airplane,square=ship"`` -> {data class: model label}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        model, sep, data = item.partition("=")
        if not sep or not model.strip() or not data.strip():
            raise XnorvisionError(f"--labels {text!r}: write MODEL_LABEL=DATA_CLASS pairs, e.g. "
                                  "cat=cat,dog=dog")
        mapping[data.strip()] = model.strip()
    return mapping


def align_labels(model_labels: list[str] | None, outputs: int, data_classes: list[str] | None,
                 y: np.ndarray, mapping: dict[str, str] | None = None) -> Alignment:
    """Data labels ``y`` (indices into ``data_classes``) turned into the model's label indices.

    With names on both sides, classes match by name (any order); a data class the model lacks is an
    error unless ``mapping`` ({data class: model label}) says what it is, and then only the mapped
    classes are scored. Without names, indices must fit the model's outputs.
    """
    names = list(model_labels) if model_labels else [str(i) for i in range(outputs)]
    if mapping is None and (not model_labels or data_classes is None):
        if int(y.max()) >= outputs:
            raise XnorvisionError(f"the data has classes up to index {int(y.max())} but the model has "
                                  f"{outputs} outputs; score it on data of its own classes")
        return Alignment(y, np.ones(len(y), bool), names)
    classes = data_classes if data_classes is not None else [str(i) for i in range(int(y.max()) + 1)]
    if mapping is None:
        present = [classes[i] for i in np.unique(y)]
        missing = [c for c in present if c not in names]
        if missing:
            raise XnorvisionError(
                f"the model's labels ({', '.join(names)}) do not match the data's classes "
                f"({', '.join(classes)}): {', '.join(missing)} missing; map them with "
                "--labels MODEL_LABEL=DATA_CLASS,... (only mapped classes are scored)")
        mapping = {c: c for c in classes if c in names}
    for data_class, label in mapping.items():
        if data_class not in classes:
            raise XnorvisionError(f"--labels: the data has no class {data_class!r} ({', '.join(classes)})")
        if label not in names:
            raise XnorvisionError(f"--labels: the model has no label {label!r} ({', '.join(names)})")
    to_model = np.array([names.index(mapping[c]) if c in mapping else -1 for c in classes], np.int64)
    truth = to_model[y]
    keep = truth >= 0
    if not keep.any():
        raise XnorvisionError("--labels maps none of the data's images")
    return Alignment(truth[keep], keep, names)
