#!/usr/bin/env bash
# The checks a session lent a GPU runs, in order of importance, each one's output under $1.
#   bash benchmarks/gpu_checks.sh OUT_DIR [VECTORS.npy]
# 1. the GPU evaluation test; 2. one real epoch of every deep method at paper scale
# (bench_epoch.py); 3. the main job's path on CUDA (runner, records) and under torchrun;
# 4. the step benchmarks at paper scale. Nothing here needs the network.
set -u
out=${1:?give an output folder}
vectors=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 \
  || { tail -5 "$out/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pytest -q -p no:cacheprovider tests/test_evaluation.py -k gpu 2>&1 | tail -3
python3 benchmarks/bench_epoch.py --device cuda --per-class 20 \
  --methods razh,dsh,dpsh,dsdh,dch,ddsh,adsh,amvh,sitnet,hashnet,csq,razh-a,razh-c,razh-d,drmh \
  ${vectors:+--vectors "$vectors"} --csv "$out/paper_epoch.csv" 2>&1 | tee "$out/paper_epoch.txt"
results=$(mktemp -d)
zshbench run --method razh --dataset digits --bits 24 --device cuda --encoder hashing \
  -o epochs=6 --results "$results" 2>&1 | tail -4
torchrun --nproc_per_node 1 -m zshbench run --method hashnet --dataset digits --bits 24 \
  --device cuda -o epochs=6 --results "$results" 2>&1 | tail -3
zshbench report --results "$results" 2>&1 | tail -6
python3 benchmarks/bench_razh_step.py --scale paper --device cuda 2>&1 | tee "$out/razh_step.txt"
python3 benchmarks/bench_deephash_step.py --scale paper --device cuda 2>&1 | tee "$out/deephash_step.txt"
