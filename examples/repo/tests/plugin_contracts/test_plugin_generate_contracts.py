"""Plugin contract: a custom generate function is a coroutine that fills in a sample (CPU only)."""
import asyncio
import inspect
import os

NUM_GPUS = 0
MODEL_NAME = None  # no model: a CPU contract test


async def example_generate(args, sample, sampling_params):
    """A user hook of the documented shape: async, returns the sample it was given."""
    await asyncio.sleep(0)
    sample["response"] = sample["prompt"].upper()[: sampling_params["max_new_tokens"]]
    sample["status"] = "completed"
    return sample


def test_generate_hook_is_a_coroutine():
    assert inspect.iscoroutinefunction(example_generate)


def test_generate_hook_fills_the_sample():
    sample = {"prompt": "hello world", "response": "", "status": "pending"}
    out = asyncio.run(example_generate(None, sample, {"max_new_tokens": 5}))
    assert out is sample
    assert out == {"prompt": "hello world", "response": "HELLO", "status": "completed"}


if __name__ == "__main__":
    test_generate_hook_is_a_coroutine()
    test_generate_hook_fills_the_sample()
    print(f"[{os.path.basename(__file__)}] ok")
