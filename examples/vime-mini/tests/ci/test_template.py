{#-
  tests/ci/test_template.py: what `gpuci new-test` writes for vime-mini (a
  Jinja2 template: << >> expressions, <% %> statements). It sees name,
  path, num_gpus, model, job, label and args. vime-mini's tests simulate
  training through tests/ci/gpu_record.py, so a new test runs under
  `gpuci run` at once; a real repository's template would call its
  training utilities instead.
-#}
"""TODO: what << name >> checks<< ' with ' ~ model if model >> (simulated).

CI: << ('job ' ~ job ~ (', label ' ~ label if label else '')) if job else 'run-ci-changed' >>.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ci"))
import gpu_record  # noqa: E402  (tests/ci/gpu_record.py: GPU checks, log, knobs)

MODEL_NAME = << (model or 'Qwen2.5-0.5B-Instruct') | tojson >>
NUM_GPUS = << num_gpus >>


def prepare():
    # A real test downloads its model and datasets here (hf download ...).
    pass


def execute():
    parser = argparse.ArgumentParser(description="the test_args of a CI matrix entry")
    # Every flag an entry's test_args may pass, e.g. parser.add_argument("--colocate", ...).
    options, extra = parser.parse_known_args()
    gpu_record.train(__file__, MODEL_NAME, NUM_GPUS, dict(vars(options), extra=extra))


if __name__ == "__main__":
    prepare()
    for proxy_var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(proxy_var, None)
    execute()
