import subprocess
import sys


def test_root_exposes_model_and_detections_lazily():
    import xnorvision
    from xnorvision.detect import Detections
    from xnorvision.runtime import Model

    assert xnorvision.Model is Model and xnorvision.Detections is Detections


def test_importing_the_root_pulls_in_neither_torch_nor_qt_nor_the_runtime():
    code = ("import sys, xnorvision; bad = [m for m in ('torch', 'PyQt5', 'xnorvision.runtime', 'cv2') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_inference_path_never_imports_torch():
    code = ("import sys; import xnorvision.api, xnorvision.pipeline, xnorvision.runtime, xnorvision.kernels; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
