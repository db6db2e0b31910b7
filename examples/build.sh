#!/usr/bin/env bash
# Builds the example cloud connectors (Rust, Python, JavaScript) into plugin directories:
#
#   target/plugins/example-inventory-<lang>/{plugin.wasm,plugin.toml}
#
# The copied plugin.toml gets the component's sha256. Guest tools are installed on first use
# into target/guest-tools/ from the package registries (PyPI: componentize-py; npm:
# componentize-js and jco, pinned by examples/connector-js/package-lock.json) and reused
# afterwards. Before each build the example's native unit tests run (cargo test, unittest,
# node --test): they take seconds.
#
#   examples/build.sh [--smoke] [--inspect] [--no-tests] [rust] [python] [js]
#
# (no language: all three). --smoke also runs each component under Node against the fixture
# server (examples/connector-js/smoke.mjs). --inspect checks each plugin directory on the real
# runtime (examples/connector-rust/examples/inspect.rs: manifest, digest, world) and runs the
# Rust connector's golden cases on each component (examples/golden.rs: all three must answer
# alike); release builds, the first one builds wasmtime optimised (minutes). --no-tests skips
# the unit tests.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLES=$ROOT/examples
TOOLS=$ROOT/target/guest-tools
OUT=$ROOT/target/plugins
COMPONENTIZE_PY_VERSION=0.25.1

smoke=0
inspect=0
unit_tests=1
langs=()
for arg in "$@"; do
    case $arg in
        --smoke) smoke=1 ;;
        --inspect) inspect=1 ;;
        --no-tests) unit_tests=0 ;;
        rust | python | js) langs+=("$arg") ;;
        *) echo "usage: $0 [--smoke] [--inspect] [--no-tests] [rust] [python] [js]" >&2; exit 2 ;;
    esac
done
[ ${#langs[@]} -gt 0 ] || langs=(rust python js)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
step() { printf '== %s\n' "$*"; }

# Copies a manifest into the plugin directory with the component's sha256 after `component`.
install_plugin() { # SRC_DIR ID WASM
    local dir=$OUT/$2 sum
    mkdir -p "$dir"
    [ "$3" = "$dir/plugin.wasm" ] || cp "$3" "$dir/plugin.wasm"
    sum=$(sha256sum "$dir/plugin.wasm" | cut -d' ' -f1)
    sed "/^component = /a sha256 = \"$sum\"" "$1/plugin.toml" > "$dir/plugin.toml"
    grep -q "^sha256 = \"$sum\"" "$dir/plugin.toml" || { echo "no component line in $1/plugin.toml" >&2; exit 1; }
}

report() { # ID START
    local wasm=$OUT/$1/plugin.wasm
    printf '   %s: %s bytes (%s MiB) in %s\n' "$1" "$(stat -c %s "$wasm")" \
        "$(awk -v s="$(stat -c %s "$wasm")" 'BEGIN { printf "%.1f", s / 1048576 }')" "$(since "$2")"
}

smoke() { # ID
    [ $smoke = 1 ] || return 0
    step "smoke test $1 (Node)"
    ensure_js_tools
    node "$EXAMPLES/connector-js/smoke.mjs" "$TOOLS/js" "$OUT/$1/plugin.wasm" "$1"
}

ensure_py_tools() {
    local py=$TOOLS/py
    if ! "$py/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
        step "installing componentize-py $COMPONENTIZE_PY_VERSION into $py"
        python3 -m venv "$py"
        "$py/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
}

ensure_js_tools() {
    local js=$TOOLS/js
    # `npm install` rather than `npm ci`: npm 11's `ci` refuses this lock file because it lacks
    # the other platforms' optional binaries (rolldown, jco-node-fs), which `install` fills in.
    # The versions come from the lock either way; a copy of it marks what is installed.
    if ! cmp -s "$EXAMPLES/connector-js/package-lock.json" "$js/installed-lock.json" \
        || [ ! -x "$js/node_modules/.bin/jco" ]; then
        step "installing componentize-js and jco into $js (npm)"
        mkdir -p "$js"
        cp "$EXAMPLES/connector-js/package.json" "$EXAMPLES/connector-js/package-lock.json" "$js/"
        (cd "$js" && npm install --no-audit --no-fund --loglevel=error)
        cp "$EXAMPLES/connector-js/package-lock.json" "$js/installed-lock.json"
    fi
}

build_rust() {
    local start id=example-inventory-rust
    start=$(now)
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    if [ $unit_tests = 1 ]; then
        step "rust: unit tests"
        cargo test --quiet -p example-connector-rust --lib --test connector
    fi
    step "rust: component"
    CARGO_TARGET_DIR=$ROOT/target/wasm cargo build --quiet --target wasm32-wasip2 --profile plugin \
        -p example-connector-rust
    install_plugin "$EXAMPLES/connector-rust" $id \
        "$ROOT/target/wasm/wasm32-wasip2/plugin/example_connector_rust.wasm"
    report $id "$start"
    smoke $id
}

build_python() {
    local start id=example-inventory-python src=$EXAMPLES/connector-python
    local bindings=$TOOLS/py-bindings/cloud-connector
    start=$(now)
    ensure_py_tools
    if [ $unit_tests = 1 ]; then
        step "python: unit tests"
        rm -rf "$bindings"
        "$TOOLS/py/bin/componentize-py" -d "$ROOT/wit" -w cloud-connector bindings "$bindings" >/dev/null
        (cd "$src" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$bindings python3 -m unittest -q test_inventory)
    fi
    step "python: component"
    mkdir -p "$OUT/$id"
    (cd "$src" && PYTHONDONTWRITEBYTECODE=1 "$TOOLS/py/bin/componentize-py" -d "$ROOT/wit" \
        -w cloud-connector componentize app -o "$OUT/$id/plugin.wasm" >/dev/null)
    install_plugin "$src" $id "$OUT/$id/plugin.wasm"
    report $id "$start"
    smoke $id
}

build_js() {
    local start id=example-inventory-js src=$EXAMPLES/connector-js
    start=$(now)
    ensure_js_tools
    if [ $unit_tests = 1 ]; then
        step "js: unit tests"
        (cd "$src" && node --test --test-reporter=dot)
    fi
    step "js: component"
    node "$src/build.mjs" "$TOOLS/js" "$OUT/$id/plugin.wasm" >/dev/null
    install_plugin "$src" $id "$OUT/$id/plugin.wasm"
    report $id "$start"
    smoke $id
}

total=$(now)
for lang in "${langs[@]}"; do
    "build_$lang"
done
dirs=()
for lang in "${langs[@]}"; do dirs+=("$OUT/example-inventory-$lang"); done
if [ $inspect = 1 ]; then
    step "inspect on the runtime (release build)"
    cargo run --quiet --release -p example-connector-rust --example inspect -- "${dirs[@]}"
    step "golden cases on the runtime (release build)"
    cargo run --quiet --release -p example-connector-rust --example golden -- "${dirs[@]}"
fi
step "done in $(since "$total"):"
for dir in "${dirs[@]}"; do
    printf '   %-26s %10s bytes  %s\n' "$(basename "$dir")" "$(stat -c %s "$dir/plugin.wasm")" "$dir"
done
