"""The scripts of ``benchmarks/`` (not a package), loaded as modules for their tests."""
import importlib.util
import os
import types

FOLDER = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks")


def path(name: str) -> str:
    """``benchmarks/<name>.py``."""
    return os.path.join(FOLDER, f"{name}.py")


def load(name: str) -> types.ModuleType:
    """``benchmarks/<name>.py`` executed as a module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
