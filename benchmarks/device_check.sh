#!/usr/bin/env bash
# The device checks of scsc_theory as one short script, for a machine with a GPU (about 8 minutes on
# one H100): throughput of the physics corrector planned in jnp and run on MJX against the host
# corrector, the motion loop with every generation fused into one jit-compiled function (cpu preset,
# 3 arms, 1 seed, 10 generations), and the P1 toy sweep (issue 14's benchmark a). Writes into OUT (default
# runs/device_check); every results file records the code version and the device.
#
#     bash benchmarks/device_check.sh            # on the GPU machine, after pip install -e ".[all]"
set -uo pipefail
OUT=${OUT:-runs/device_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python -c "import jax; print('JAX devices:', jax.devices())" 2>&1 | tee "$OUT/devices.txt"
timeout 240 python benchmarks/device_corrector.py --n 256 --repeats 2 --skip-host-mjx \
    --json "$OUT/device_corrector.json" 2>&1 | tee "$OUT/device_corrector.txt"
timeout 300 python -m scsc_theory.cli motion loop --fused --backend mjx --preset cpu --n 64 --seeds 1 \
    --generations 10 --arms baseline,selfconsume,selfcorrect --no-progress --out "$OUT/loop" 2>&1 \
    | tee "$OUT/loop.txt"
timeout 120 python benchmarks/p1_toy.py --skip-finite 2>&1 | tee "$OUT/p1_toy.txt"
