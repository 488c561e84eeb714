docker run --pull=always --rm \
  --privileged \
  --cap-add SYS_NICE \
  --security-opt seccomp=unconfined \
  --network host \
  --gpus all \
  --ipc=host \
  --shm-size=8g \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  --memory=0 \
  --memory-swap=0 \
  -e http_proxy \
  -e CI_COMMIT_NAME \
  -e TEST_FILE="${{ matrix.info.test_file }}" \
  -e NUM_GPUS="${{ matrix.info.num_gpus }}" \
  -e MODE=fast \
  -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \
  -v /mnt/ci/cache:/data/cache \
  -v /mnt/ci/models:/root/models \
  --mount type=tmpfs,destination=/scratch \
  -w "$GITHUB_WORKSPACE" \
  gpuci-test/bookworm:1 \
  bash -lc '
    set -euo pipefail
    pip install -e . --no-deps --break-system-packages
    TEST_PATH="$TEST_FILE"
    if [[ "$TEST_PATH" != tests/* ]]; then
      TEST_PATH="tests/$TEST_PATH"
    fi
    if [ "$NUM_GPUS" = "0" ]; then
      python "$TEST_PATH"
    else
      python tests/ci/gpu_lock_exec.py --count "$NUM_GPUS" -- python "$TEST_PATH"
    fi
  '
