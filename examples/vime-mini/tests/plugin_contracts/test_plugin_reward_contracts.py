"""Plugin contract: a custom reward function returns one float per sample.

CPU only (NUM_GPUS = 0): runs under pytest, or directly as
`python tests/plugin_contracts/test_plugin_reward_contracts.py`.
"""
import math
import os

MODEL_NAME = None  # no model: a CPU contract test
NUM_GPUS = 0


def example_reward(args, samples):
    """A user hook of the documented shape: 1.0 when the answer is boxed, else 0.0."""
    return [1.0 if "\\boxed{" in s["response"] else 0.0 for s in samples]


def check_rewards(fn, samples):
    rewards = fn(None, samples)
    if len(rewards) != len(samples):
        raise ValueError(f"{fn.__name__} gave {len(rewards)} rewards for {len(samples)} samples")
    for r in rewards:
        if not isinstance(r, float) or not math.isfinite(r):
            raise ValueError(f"{fn.__name__} gave {r!r}, not a finite float")
    return rewards


def test_example_reward_satisfies_the_contract():
    samples = [{"response": "so \\boxed{4}"}, {"response": "four"}]
    assert check_rewards(example_reward, samples) == [1.0, 0.0]


def test_nan_reward_is_rejected():
    try:
        check_rewards(lambda args, samples: [math.nan for _ in samples], [{"response": ""}])
    except ValueError:
        return
    raise AssertionError("a NaN reward was accepted")


if __name__ == "__main__":
    test_example_reward_satisfies_the_contract()
    test_nan_reward_is_rejected()
    print(f"[{os.path.basename(__file__)}] ok")
