#!/usr/bin/env bash
# Install torch into the current Python environment, preferring a CPU build on machines without
# a CUDA GPU (a plain `pip install torch` on Linux pulls several GB of CUDA packages).
#   1. torch already importable: nothing to do.
#   2. an NVIDIA GPU (nvidia-smi) or not Linux: the normal wheel from PyPI.
#   3. otherwise: a local CPU build if the machine's pip sources have one (torch==2.13.0+cpu),
#      then PyTorch's CPU index, then the normal wheel as a last resort.
set -u
py=${1:-python}
if "$py" -c "import torch" 2>/dev/null; then
  echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
  exit 0
fi
pip=("$py" -m pip install --quiet)
if command -v nvidia-smi >/dev/null 2>&1 || [ "$(uname -s)" != Linux ]; then
  exec "${pip[@]}" "torch>=2.2"
fi
"${pip[@]}" "torch==2.13.0+cpu" 2>/dev/null && exit 0
"${pip[@]}" "torch>=2.2" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null && exit 0
echo "no CPU build of torch found; installing the default wheel" >&2
exec "${pip[@]}" "torch>=2.2"
