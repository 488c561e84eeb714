"""Moonlight-16B precision check (CRLF, tabs)."""
import os

NUM_GPUS = 4_0 // 5  # computed
NUM_GPUS = 0o10
MODEL_NAME = "Moonlight-16B-A3B"


def prepare():
	if os.environ.get("X"):
		pass


def execute():
	x = (1 +
	     2)
	return x


if __name__ == "__main__":
	prepare()
	execute()
