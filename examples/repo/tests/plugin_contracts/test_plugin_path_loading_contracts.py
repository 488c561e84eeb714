"""Plugin contract: hooks named by a "module:function" path load, and bad paths fail clearly (CPU only)."""
import importlib
import os

NUM_GPUS = 0
MODEL_NAME = None  # no model: a CPU contract test


def load_function(path):
    """Resolve "package.module:function" (or "package.module.function") to a callable."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"not a function path: {path!r}")
    fn = getattr(importlib.import_module(module_name), attr, None)
    if not callable(fn):
        raise ValueError(f"{path!r} does not name a callable")
    return fn


def test_colon_and_dot_paths_load_the_same_function():
    assert load_function("os.path:join") is os.path.join
    assert load_function("os.path.join") is os.path.join


def test_bad_paths_are_rejected():
    for bad in ("join", "os.path:no_such_function", "os:sep"):
        try:
            load_function(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


if __name__ == "__main__":
    test_colon_and_dot_paths_load_the_same_function()
    test_bad_paths_are_rejected()
    print(f"[{os.path.basename(__file__)}] ok")
