"""Qwen3-30B-A3B with DeepEP: the GPU count comes from the environment.

NUM_GPUS = 8 in this docstring does not count.
"""
import os
import sys

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:  # a CPU runner
    HAVE_TORCH = False

MODEL_NAME = "Qwen3-30B-A3B"
NUM_GPUS: int = int(os.environ.get("NUM_GPUS", 8))
EXTRA_ARGS = (
    "--tensor-model-parallel-size 2 "
    "--expert-model-parallel-size 8 "  # one expert group per GPU
    f"--seq-length {4096 * 2} "
    r"--data-path C:\data\train "
)


@staticmethod
def _helper(n=NUM_GPUS):
    NUM_GPUS = n  # a local: does not count
    return NUM_GPUS


class Config:
    NUM_GPUS = 4

    async def run(self):
        pass


def prepare():
    os.makedirs("/tmp/ckpt", exist_ok=True)


def execute():
    args = [sys.executable, "train.py", *EXTRA_ARGS.split()]
    print(" ".join(args), flush=True)


if __name__ == "__main__":
    prepare()
    execute()
