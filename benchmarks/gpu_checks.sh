#!/usr/bin/env bash
# The checks a session lent a GPU runs, in order of importance, each one's output under $1.
#   bash benchmarks/gpu_checks.sh OUT_DIR [VECTORS.npy]
# About 10 minutes in all on an H100/H200: every stage runs under its own time limit (a stage
# that runs out prints what it had; the next one starts), and the seconds each took are in
# $OUT_DIR/stages.txt. Nothing here needs the network.
# 1. the epoch-versus-step table of every deep method at paper scale, batch 16 and batch 64
#    (bench_epoch.py: the epoch's img/s, the bare step's and the loader's on the same batches,
#    ep/step; the goal is ep/step >= 90 %); 2. the data path at 224 px on CUDA
#    (bench_data_path.py); 3. the GPU evaluation test; 4. the main job's path on CUDA (runner,
#    records) and under torchrun; 5. the step benchmarks at paper scale.
set -u
out=${1:?give an output folder}
vectors=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 \
  || { tail -5 "$out/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

stage() {  # stage NAME SECONDS COMMAND...: run under a time limit, output to NAME.txt
  local name=$1 limit=$2 started=$SECONDS
  shift 2
  echo "== $name (at most ${limit} s)"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out/$name.txt" | tail -25
  echo "$name $((SECONDS - started)) s (limit $limit)" | tee -a "$out/stages.txt"
}

# RAZH (two epochs: warm-up and fine-tuning) after the baselines, DRMH (detection at 800 px)
# last: a stage limit then cuts the slowest, not the others. 900 CUB-shaped images per epoch.
methods=dsh,dpsh,dsdh,dch,ddsh,adsh,amvh,sitnet,hashnet,csq,razh,razh-a,razh-c,razh-d,drmh
for batch in 16 64; do
  stage "epoch_vs_step_b$batch" 165 python3 benchmarks/bench_epoch.py --device cuda \
    --per-class 6 --batch "$batch" --methods "$methods" ${vectors:+--vectors "$vectors"} \
    --csv "$out/epoch_vs_step_b$batch.csv"
done
stage data_path 60 python3 benchmarks/bench_data_path.py --device cuda --count 256 --repeats 2 \
  --source-side 448
stage evaluation_gpu 30 python3 -m pytest -q -p no:cacheprovider tests/test_evaluation.py -k gpu
results=$(mktemp -d)
stage runner_cuda 40 zshbench run --method razh --dataset digits --bits 24 --device cuda \
  --encoder hashing -o epochs=6 --results "$results"
stage torchrun_cuda 30 torchrun --nproc_per_node 1 -m zshbench run --method hashnet \
  --dataset digits --bits 24 --device cuda -o epochs=6 --results "$results"
zshbench report --results "$results" 2>&1 | tail -6
stage razh_step 40 python3 benchmarks/bench_razh_step.py --scale paper --device cuda --steps 10
stage deephash_step 40 python3 benchmarks/bench_deephash_step.py --scale paper --device cuda
