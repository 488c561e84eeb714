"""Debug rollout-then-train: Qwen2.5-0.5B, rollouts saved then replayed (simulated).

CI: run-ci-short.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ci"))
import gpu_record  # noqa: E402  (tests/ci/gpu_record.py: GPU checks, log, knobs)

MODEL_NAME = "Qwen2.5-0.5B-Instruct"
NUM_GPUS = 4


def prepare():
    # A real test downloads Qwen2.5-0.5B-Instruct and its datasets here (hf download ...).
    pass


def execute():
    parser = argparse.ArgumentParser(description="the test_args of a CI matrix entry")
    options = vars(parser.parse_args())
    # A real test builds the training command line and calls U.execute_train(...).
    gpu_record.train(__file__, MODEL_NAME, NUM_GPUS, options)


if __name__ == "__main__":
    prepare()
    for proxy_var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(proxy_var, None)
    execute()
