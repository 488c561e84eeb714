"""MoE with DeepEP: Qwen3-30B-A3B (simulated).

CI: run-ci-megatron, with use_deepep: '1', which the job's env passes on as
VIME_TEST_USE_DEEPEP=1.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ci"))
import gpu_record  # noqa: E402  (tests/ci/gpu_record.py: GPU checks, log, knobs)

MODEL_NAME = "Qwen3-30B-A3B"
NUM_GPUS = 8


def prepare():
    # A real test downloads Qwen3-30B-A3B and its datasets here (hf download ...).
    pass


def execute():
    parser = argparse.ArgumentParser(description="the test_args of a CI matrix entry")
    options = vars(parser.parse_args())
    options["use_deepep"] = os.environ.get("VIME_TEST_USE_DEEPEP", "0") == "1"
    # A real test builds the training command line and calls U.execute_train(...).
    gpu_record.train(__file__, MODEL_NAME, NUM_GPUS, options)


if __name__ == "__main__":
    prepare()
    for proxy_var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(proxy_var, None)
    execute()
