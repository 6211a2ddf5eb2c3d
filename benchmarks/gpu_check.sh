#!/usr/bin/env bash
# One-shot GPU check for TransformerReward: environment probe, GPU tests,
# throughput benchmark. Needs no network when torch, transformers, tokenizers,
# safetensors, numpy, scipy and scikit-learn>=1.6 are already installed; missing
# ones are installed from the requirement strings in pyproject.toml, first from a
# local wheel directory ($PCR_WHEELHOUSE or benchmarks/wheels) if one exists,
# else from whatever index pip is configured with (fails fast when offline).
#
# Usage (from anywhere):  bash benchmarks/gpu_check.sh [--smoke]
#         GPU_PROFILE=1 bash benchmarks/gpu_check.sh   # + the embedding profile
#         GPU_PROFILE=only bash benchmarks/gpu_check.sh  # the profile alone
# Output: $OUT/bench_gpu.json (+ gpu_tests.txt, env.txt) when OUT is set,
#         else benchmarks/results/; with GPU_PROFILE, gpu_embedding_profile.json
#         (benchmarks/gpu_embedding_profile.py: the package's frozen pass
#         against direct loops, ~3 minutes). Total runtime target: under 5
#         minutes without the profile.
set -u
cd "$(dirname "$0")/.."
RESULTS="${OUT:-benchmarks/results}"
mkdir -p "$RESULTS"
PY="${PYTHON:-$(command -v python || command -v python3)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the repo copy, no install
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log() { echo "[gpu_check $(date +%H:%M:%S)] $*"; }

probe() {
  "$PY" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ["numpy", "scipy", "sklearn", "torch", "transformers", "tokenizers",
             "safetensors", "pytest", "hypothesis", "pandas"]:
    try:
        module = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" cuda={module.version.cuda} available={module.cuda.is_available()}"
            if module.cuda.is_available():
                extra += f" gpu={module.cuda.get_device_name(0)}"
        print(f"{name:13s} {getattr(module, '__version__', '?')}{extra}")
    except Exception as exc:
        print(f"{name:13s} MISSING ({type(exc).__name__}: {exc})")
EOF
}

# Requirement strings (from pyproject.toml) of the modules that do not import.
missing_requirements() {
  "$PY" - <<'EOF'
import importlib, re
try:
    import tomllib
    with open("pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    reqs = list(project["dependencies"])
    for extra in ("torch", "text"):
        reqs += project["optional-dependencies"][extra]
except Exception:  # Python < 3.11: fall back to bare names
    reqs = ["numpy", "scipy", "scikit-learn>=1.6", "torch", "transformers",
            "tokenizers", "safetensors"]
modules = {"scikit-learn": "sklearn", "numpy": "numpy", "scipy": "scipy",
           "torch": "torch", "transformers": "transformers",
           "tokenizers": "tokenizers", "safetensors": "safetensors"}
out = []
for req in reqs:
    name = re.split(r"[<>=!~ \[]", req, maxsplit=1)[0]
    if name not in modules:
        continue  # not needed by the benchmark (pandas, sentence-transformers...)
    try:
        module = importlib.import_module(modules[name])
        if name == "scikit-learn":
            major, minor = (int(x) for x in module.__version__.split(".")[:2])
            if (major, minor) < (1, 6):
                raise ImportError("scikit-learn too old")
    except Exception:
        out.append(req)
print(" ".join(f"'{r}'" for r in out))
EOF
}

log "environment"
probe | tee "$RESULTS/env.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv | tee -a "$RESULTS/env.txt"

MISSING="$(missing_requirements)"
if [ -n "$MISSING" ]; then
  log "missing: $MISSING"
  PIP="$PY -m pip install --disable-pip-version-check --no-input --retries 0 --timeout 15"
  WHEELS="${PCR_WHEELHOUSE:-benchmarks/wheels}"
  if [ -d "$WHEELS" ]; then
    log "installing from local wheels in $WHEELS"
    eval timeout 180 $PIP --no-index --find-links "$WHEELS" $MISSING || log "local wheels failed"
  fi
  MISSING="$(missing_requirements)"
  if [ -n "$MISSING" ]; then
    log "installing from the configured index (fails fast offline)"
    eval timeout 180 $PIP $MISSING || log "pip install failed; continuing with what imports"
  fi
  probe | tee -a "$RESULTS/env.txt"
fi

if "$PY" -c "import torch, pytest, hypothesis, transformers" 2>/dev/null; then
  log "GPU tests (tests marked gpu; skipped without CUDA)"
  timeout 120 "$PY" -m pytest -q -m gpu -p no:cacheprovider \
    tests/ 2>&1 | tail -20 | tee "$RESULTS/gpu_tests.txt"
else
  log "pytest/hypothesis/torch/transformers not importable: GPU tests skipped" \
    | tee "$RESULTS/gpu_tests.txt"
fi

STATUS=0
if [ "${GPU_PROFILE:-0}" != only ]; then
  log "benchmark"
  # The tokenizer is the main per-text CPU cost: let it use the host cores here.
  TOKENIZERS_PARALLELISM=true timeout 270 "$PY" benchmarks/bench_gpu.py --time-budget 210 "$@"
  STATUS=$?
  log "benchmark exit status $STATUS; JSON in $RESULTS/bench_gpu.json"
fi
if [ "${GPU_PROFILE:-0}" != 0 ]; then
  log "embedding profile"
  TOKENIZERS_PARALLELISM=true timeout 260 "$PY" benchmarks/gpu_embedding_profile.py \
    --time-budget 200
  PROFILE_STATUS=$?
  log "profile exit status $PROFILE_STATUS; JSON in $RESULTS/gpu_embedding_profile.json"
  [ "$STATUS" = 0 ] && STATUS=$PROFILE_STATUS
fi
exit $STATUS
