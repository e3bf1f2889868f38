#!/usr/bin/env bash
# Create .venv with everything the main job and the tests need, on a fresh Debian 12 /
# Python 3.11 machine without ROS or GPU. Idempotent: skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VAG_VENV:-.venv}
PY=${PYTHON:-python3}
# VAG_EXTRAS=lerobot (make lerobot): lerobot 0.4.4 in the same environment; it pins
# torch<2.11, so pip takes torch 2.10 from PyPI (a CUDA build, about 7 GB in all) instead of
# this machine's CPU 2.13 wheel.
EXTRAS=${VAG_EXTRAS:-}

# Headless rendering for MuJoCo (EGL through Mesa); only when missing and we may install.
if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libGL.so.1'; then
  echo "bootstrap: installing Mesa EGL for headless rendering (apt-get)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
fi

stamp_src=$( (cat setup.py requirements/*.txt scripts/bootstrap.sh; echo "$EXTRAS") |
  sha256sum | cut -c1-16)
stamp="$VENV/.vag_ros-installed-$stamp_src"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip="$VENV/bin/python -m pip install --quiet --disable-pip-version-check"
extras=sim,model,engine,dataset,dev
if [ -n "$EXTRAS" ]; then
  extras="$extras,$EXTRAS"
else
  # CPU torch first: a range that 2.13.0 satisfies then installs nothing heavier.
  $pip 'torch==2.13.0'
fi
constraints=()
if [[ ",$EXTRAS," == *",lerobot,"* ]]; then
  constraints=(-c requirements/lerobot-constraints.txt)   # the environment as resolved
fi
$pip -r requirements/ros-pypi.txt "${constraints[@]}"
$pip -e ".[$extras]" "${constraints[@]}"
rm -f "$VENV"/.vag_ros-installed-*
touch "$stamp"
echo "bootstrap: $VENV ready"
