#!/usr/bin/env bash
# Set up this machine for openagent, then run the demo, the test suite or the performance report,
# or build the container image.
#
#   scripts/dev.sh demo          synthetic GPU fleet + Whatap collector emulator on loopback,
#                                and the agent scraping the one and sending to the other
#   scripts/dev.sh test [ARGS]   ruff, mypy, then pytest (ARGS go to pytest)
#   scripts/dev.sh bench [ARGS]  the performance report (python -m benchmarks.compare ARGS)
#   scripts/dev.sh image [ARGS]  the container image, with podman on a Debian base made by
#                                mmdebstrap (python3 scripts/image.py build ARGS; deploy/IMAGE.md)
#   scripts/dev.sh setup         only the set-up steps
#
# Set-up: Debian's prometheus, promtool, victoria-metrics (vmagent), kubectl, podman,
# mmdebstrap, chromium and curl are installed with apt-get when missing (never started), and
# a virtualenv in .venv gets `pip install -e '.[test]'` whenever pyproject.toml changes (`bench`:
# `.[test,bench]`, which adds matplotlib and py-spy).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
FLEET_PID=
COLLECTOR_PID=
PYTHON="${PYTHON:-python3}"

# The demo's collector emulator (benchmarks/whatap_collector.py) on 127.0.0.1:16600; it
# accepts the fake license of the protocol's test vectors and prints what arrived.
DEMO_COLLECTOR=(--port 16600 --summary --summary-interval 5)
DEMO_LICENSE=x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf
# The demo's agent command; it runs in the foreground with .venv/bin on PATH.
DEMO_AGENT=(env WHATAP_LICENSE="$DEMO_LICENSE" WHATAP_HOST=127.0.0.1 WHATAP_PORT=16600
    WHATAP_ONAME=openagent-demo
    openagent run --config config/static-demo.yaml --sink whatap --listen 127.0.0.1:9401)
# The demo's fleet: 4 nodes of 8 GPUs and 40 families on 127.0.0.1:19400..19403.
DEMO_FLEET=(--nodes 4 --gpus 8 --families 40 --base-port 19400)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'dev.sh: %s\n' "$*" >&2
    exit 1
}

# The Debian package of each command the suite runs: peers (prometheus, vmagent), kubectl,
# the image build (podman, mmdebstrap), the status page's browser test (chromium) and the
# README's commands (curl).
declare -A DEBIAN_PACKAGE_OF=(
    [prometheus]=prometheus [promtool]=prometheus
    [victoria-metrics]=victoria-metrics [vmagent]=victoria-metrics
    [kubectl]=kubernetes-client [podman]=podman [mmdebstrap]=mmdebstrap [chromium]=chromium
    [curl]=curl
)

ensure_system_packages() {
    local bin missing=() pkgs=() sudo=()
    for bin in "${!DEBIAN_PACKAGE_OF[@]}"; do
        command -v "$bin" >/dev/null 2>&1 && continue
        missing+=("$bin")
        [[ " ${pkgs[*]} " == *" ${DEBIAN_PACKAGE_OF[$bin]} "* ]] || pkgs+=("${DEBIAN_PACKAGE_OF[$bin]}")
    done
    "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || { missing+=("(python3 venv)") && pkgs+=(python3-venv); }
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing ${missing[*]}; as root run: apt-get install --no-install-recommends ${pkgs[*]}"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get here; install Debian packages: ${pkgs[*]}"
    say "installing Debian packages: ${pkgs[*]} (missing: ${missing[*]})"
    local log policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
    log="$(mktemp)"
    # Keep the packages' services stopped: invoke-rc.d honours policy-rc.d exit 101.
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        added_policy=1
    fi
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends "${pkgs[@]}"
    } >"$log" 2>&1 || rc=$?
    [ "$added_policy" -eq 1 ] && "${sudo[@]}" rm -f "$policy"
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        die "apt-get failed (exit $rc); install by hand: ${pkgs[*]}"
    fi
    rm -f "$log"
    for bin in "${!DEBIAN_PACKAGE_OF[@]}"; do
        command -v "$bin" >/dev/null 2>&1 || die "$bin is still missing after installing ${pkgs[*]}"
    done
}

check_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; openagent needs Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$("$PYTHON" -V 2>&1) is too old; openagent needs Python 3.11 or newer (set PYTHON=...)"
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
    fi
    install_extras test .openagent-pyproject.sha256 "openagent and its test tools"
}

# install_extras EXTRAS STAMP WHAT: `pip install -e '.[EXTRAS]'` unless the stamp file in
# .venv already holds the hash of this pyproject.toml (one stamp per set of extras).
install_extras() {
    local extras="$1" stamp_file="$VENV/$2" what="$3" want have log
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    have="$(cat "$stamp_file" 2>/dev/null || true)"
    [ "$want" = "$have" ] && return 0
    say "installing $what into .venv"
    log="$(mktemp)"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[$extras]" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "pip install -e '.[$extras]' failed"
    fi
    rm -f "$log"
    printf '%s\n' "$want" >"$stamp_file"
}

setup() {
    check_python
    ensure_system_packages
    ensure_venv
}

run_tests() {
    local failed=() rc=0
    export PATH="$VENV/bin:$PATH"
    say "ruff check"
    ruff check openagent tests benchmarks || failed+=("ruff check")
    say "ruff format --check"
    ruff format --check openagent tests benchmarks || failed+=("ruff format")
    say "mypy"
    mypy || failed+=("mypy")
    say "pytest"
    python -m pytest "$@" || rc=$?
    case "$rc" in
        0) ;;
        5) failed+=("pytest (no tests were collected)") ;;
        *) failed+=("pytest (exit $rc)") ;;
    esac
    if [ "${#failed[@]}" -ne 0 ]; then
        local IFS=,
        printf 'dev.sh: failed: %s\n' "${failed[*]}" >&2
        return 1
    fi
}

run_bench() {
    install_extras test,bench .openagent-bench.sha256 "the benchmark tools (matplotlib, py-spy)"
    say "python -m benchmarks.compare $* (report: benchmarks/results/ unless --out says otherwise)"
    PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m benchmarks.compare "$@"
}

run_demo() {
    local dir="$ROOT/.demo"
    mkdir -p "$dir"
    rm -f "$dir/fleet.json"
    say "starting the synthetic fleet: ${DEMO_FLEET[*]} (log: .demo/fleet.log)"
    "$VENV/bin/python" -m benchmarks.fleet "${DEMO_FLEET[@]}" --endpoints-file "$dir/fleet.json" \
        >"$dir/fleet.log" 2>&1 &
    FLEET_PID=$!
    trap stop_demo EXIT
    for _ in $(seq 1 200); do
        [ -s "$dir/fleet.json" ] && break
        if ! kill -0 "$FLEET_PID" 2>/dev/null; then
            cat "$dir/fleet.log" >&2
            die "the fleet did not start"
        fi
        sleep 0.05
    done
    [ -s "$dir/fleet.json" ] || die "the fleet did not answer within 10 s (see .demo/fleet.log)"
    "$VENV/bin/python" - "$dir/fleet.json" <<'EOF' || die "the fleet does not answer on /health"
import json, sys, urllib.request
for node in json.load(open(sys.argv[1]))["nodes"]:
    urllib.request.urlopen(node["url"].replace("/metrics", "/health"), timeout=5).read()
    print(f"    {node['hostname']}: {node['url']}")
EOF
    rm -f "$dir/collector.json"
    say "starting the Whatap collector emulator: ${DEMO_COLLECTOR[*]} (records: .demo/received.jsonl)"
    "$VENV/bin/python" -m benchmarks.whatap_collector "${DEMO_COLLECTOR[@]}" \
        --ready-file "$dir/collector.json" --jsonl "$dir/received.jsonl" &
    COLLECTOR_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$dir/collector.json" ] && break
        kill -0 "$COLLECTOR_PID" 2>/dev/null || die "the collector emulator did not start"
        sleep 0.05
    done
    [ -s "$dir/collector.json" ] || die "the collector emulator did not start within 10 s"
    say "running: ${DEMO_AGENT[*]/$DEMO_LICENSE/<fake license>}"
    PATH="$VENV/bin:$PATH" "${DEMO_AGENT[@]}"
}

stop_demo() {
    local pid
    for pid in "$COLLECTOR_PID" "$FLEET_PID"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
}

cmd="${1:-}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
    demo)
        setup
        run_demo
        ;;
    test)
        setup
        run_tests "$@"
        ;;
    bench)
        setup
        run_bench "$@"
        ;;
    image)
        check_python
        ensure_system_packages
        "$PYTHON" scripts/image.py build "$@"
        ;;
    setup) setup ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
