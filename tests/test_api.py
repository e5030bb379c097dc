"""``xnorvision.api``: the one import a plugin needs, light until a name is used, every name resolvable."""

import subprocess
import sys

import xnorvision.api as api


def test_importing_the_api_for_a_plugins_hooks_loads_no_opencv_and_no_kernels():
    code = ("import sys\n"
            "from xnorvision.api import ModelSpec, PipelineOptions, PipelineSpec, Stage, hookimpl\n"
            "heavy = [m for m in sys.modules if m == 'cv2' or m.startswith('xnorvision._') "
            "and m not in ('xnorvision._lazy',) or m.startswith('xnorvision.runtime')]\n"
            "print(heavy); sys.exit(1 if heavy else 0)")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_every_public_name_resolves_to_its_home():
    from xnorvision.pipeline._contract import Pipeline, Stage
    from xnorvision.plugins._hookspecs import hookimpl
    from xnorvision.runtime import Model

    assert set(api.__all__) <= set(dir(api))
    for name in api.__all__:
        assert getattr(api, name) is not None
    assert api.Pipeline is Pipeline and api.Stage is Stage and api.hookimpl is hookimpl and api.Model is Model


def test_the_contract_is_one_object_wherever_it_is_exported():
    import xnorvision.plugins as plugins
    from xnorvision.pipeline import PipelineOptions, Stage

    assert plugins.PipelineOptions is PipelineOptions is api.PipelineOptions
    assert plugins.Stage is Stage is api.Stage
