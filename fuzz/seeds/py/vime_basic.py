"""MiMo-7B MTP (simulated)."""
import os
import time

NUM_GPUS = 1
MODEL_NAME = "MiMo-7B-RL"


def prepare():
    pass


def execute():
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    print(f"[{os.path.basename(__file__)}] training {MODEL_NAME} on GPUs {gpus}", flush=True)
    # Simulated work: a real test launches Megatron training here.
    time.sleep(float(os.environ.get("DEMO_SECONDS", "0.8")))


if __name__ == "__main__":
    prepare()
    for proxy_var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(proxy_var, None)
    execute()
