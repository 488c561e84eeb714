"""Plugin contract: a custom rollout function has the signature the trainer calls.

CPU only (NUM_GPUS = 0): runs under pytest, or directly as
`python tests/plugin_contracts/test_plugin_rollout_contracts.py`.
"""
import inspect
import os

MODEL_NAME = None  # no model: a CPU contract test
NUM_GPUS = 0

# The trainer calls rollout hooks as fn(args, rollout_id, data_source, evaluation=...).
REQUIRED_PARAMS = ("args", "rollout_id", "data_source", "evaluation")


def example_rollout(args, rollout_id, data_source, evaluation=False):
    """A user hook of the documented shape: one group of samples per prompt."""
    return [[{"prompt": p, "response": p[::-1], "reward": float(len(p))}] for p in data_source[:2]]


def check_rollout_hook(fn):
    params = inspect.signature(fn).parameters
    missing = [name for name in REQUIRED_PARAMS if name not in params]
    if missing:
        raise TypeError(f"{fn.__name__} lacks parameters {missing}")
    if params["evaluation"].default is inspect.Parameter.empty:
        raise TypeError(f"{fn.__name__}: 'evaluation' needs a default")


def test_example_hook_satisfies_the_contract():
    check_rollout_hook(example_rollout)
    groups = example_rollout(None, 0, ["abc", "de", "f"])
    assert len(groups) == 2
    assert groups[0][0] == {"prompt": "abc", "response": "cba", "reward": 3.0}


def test_hook_without_evaluation_is_rejected():
    def bad_rollout(args, rollout_id, data_source):
        return []

    try:
        check_rollout_hook(bad_rollout)
    except TypeError:
        return
    raise AssertionError("a hook without 'evaluation' was accepted")


if __name__ == "__main__":
    test_example_hook_satisfies_the_contract()
    test_hook_without_evaluation_is_rejected()
    print(f"[{os.path.basename(__file__)}] ok")
