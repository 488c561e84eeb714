"""Checkpoint save and load: Qwen3-4B, train, save, reload, compare (simulated).

CI: run-ci-ckpt, three ways: plain; --async-save; and
--ckpt-format torch_dist --keep-hf (written with two spaces in the workflow:
the runner must split test_args on whitespace, or argparse rejects them).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ci"))
import gpu_record  # noqa: E402  (tests/ci/gpu_record.py: GPU checks, log, knobs)

MODEL_NAME = "Qwen3-4B"
NUM_GPUS = 2


def prepare():
    # A real test downloads Qwen3-4B and its datasets here (hf download ...).
    pass


def execute():
    parser = argparse.ArgumentParser(description="the test_args of a CI matrix entry")
    parser.add_argument("--async-save", action="store_true")
    parser.add_argument("--ckpt-format", choices=["torch", "torch_dist"], default="torch")
    parser.add_argument("--keep-hf", action="store_true", help="also keep the HF checkpoint")
    options = vars(parser.parse_args())
    # A real test builds the training command line and calls U.execute_train(...).
    gpu_record.train(__file__, MODEL_NAME, NUM_GPUS, options)


if __name__ == "__main__":
    prepare()
    for proxy_var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(proxy_var, None)
    execute()
