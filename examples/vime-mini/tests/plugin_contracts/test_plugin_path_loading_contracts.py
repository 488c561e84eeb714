"""Plugin contract: hooks named by function path ("module.sub:function") load.

CPU only (NUM_GPUS = 0): runs under pytest, or directly as
`python tests/plugin_contracts/test_plugin_path_loading_contracts.py`.
"""
import importlib
import os

MODEL_NAME = None  # no model: a CPU contract test
NUM_GPUS = 0


def load_function(path):
    """What the trainer does with --custom-rm-path and friends."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{path!r} is not of the form 'module.sub:function'")
    fn = getattr(importlib.import_module(module_name), attr)
    if not callable(fn):
        raise TypeError(f"{path!r} names {type(fn).__name__}, not a function")
    return fn


def test_standard_library_function_loads():
    assert load_function("os.path:join")("a", "b") == os.path.join("a", "b")


def test_malformed_paths_are_rejected():
    for bad in ("os.path.join", ":join", "os.path:", "os:sep"):
        try:
            load_function(bad)
        except (ValueError, TypeError):
            continue
        raise AssertionError(f"{bad!r} was accepted")


if __name__ == "__main__":
    test_standard_library_function_loads()
    test_malformed_paths_are_rejected()
    print(f"[{os.path.basename(__file__)}] ok")
