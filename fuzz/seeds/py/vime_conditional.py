'''GLM4-9B checkpoint round trip; the count depends on the machine.'''
import os, sys; import time

MODEL_NAME = 'GLM4-9B'
NUM_GPUS = 0x8
if os.environ.get("SMALL"):
    NUM_GPUS = 4
elif sys.platform == "darwin": NUM_GPUS = 0
else:
    for attempt in range(3):
        with open(os.devnull) as NUM_GPUS_FILE:
            pass
match os.environ.get("MODE"):
    case "debug" | "trace":
        DEBUG = True
    case other if (n := len(other)) > 3:
        DEBUG = n
    case _:
        DEBUG = False

CHECKPOINT = """
NUM_GPUS = 16
"""
NUM_GPUS = \
    (8)  # back to eight
LAYERS = [
    1, 2,
    3,  # ]
]
lengths = {'a': 1, "b": [2, (3,)], b'c': rb'\'', Rb"d": u'e', F'{MODEL_NAME!r}': 0}


def prepare(): pass


def execute():
    for i in range(NUM_GPUS):
        time.sleep(0.01 * i)


if '__main__' == __name__:
    prepare()
    execute()
else:
    NUM_GPUS_SEEN = NUM_GPUS
