#!/usr/bin/env bash
# Builds Rust guest plugins into plugin directories the host can install:
#
#   target/plugins/<id>/{plugin.wasm,plugin.toml}
#
# <id> is the `id` of the crate's plugin.toml; the copied plugin.toml gets the component's
# sha256 after its `component` line. Components are built for wasm32-wasip2 with the
# size-optimised `plugin` profile into target/wasm (a target dir of their own, so guest
# builds do not wait on native builds), then checked to be components (not core modules)
# and their sizes printed.
#
#   plugins/build.sh [--test] [--profile NAME] [CRATE_DIR...]
#
# CRATE_DIR: a guest crate's directory (with Cargo.toml and plugin.toml), relative to the
# repository root or absolute; none builds plugins/linux.
#   --test          run the crates' native unit tests (cargo test) first
#   --profile NAME  cargo profile (default: plugin; `release` also works, larger output)
#   --release       the default profile, accepted for habit's sake
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/target/plugins
WASM_TARGET_DIR=$ROOT/target/wasm
profile=plugin
run_tests=0
crates=()

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --test) run_tests=1 ;;
        --release) profile=plugin ;;
        --profile) [ $# -ge 2 ] || { usage >&2; exit 2; }; profile=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
        *) crates+=("$1") ;;
    esac
    shift
done
[ ${#crates[@]} -gt 0 ] || crates=(plugins/linux)

# The value of `key = "value"` in the first section of a TOML file (before any [table]).
toml_top() { # FILE KEY
    awk -v key="$2" '
        /^\[/ { exit }
        $0 ~ "^" key "[[:space:]]*=" {
            sub("^[^=]*=[[:space:]]*\"", ""); sub("\".*$", ""); print; exit
        }' "$1"
}

# The value of `key = "value"` in the [package] table of a Cargo.toml.
package_field() { # FILE KEY
    awk -v key="$2" '
        /^\[package\]/ { in_pkg = 1; next }
        /^\[/ { in_pkg = 0 }
        in_pkg && $0 ~ "^" key "[[:space:]]*=" {
            sub("^[^=]*=[[:space:]]*\"", ""); sub("\".*$", ""); print; exit
        }' "$1"
}

# Fails unless FILE starts with the component preamble: "\0asm", version 0x0d 0x00, layer
# 0x01 0x00 (a core module has version 1, layer 0).
check_component() { # FILE
    local head
    head=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
    if [ "$head" != "0061736d0d000100" ]; then
        echo "$1 is not a WebAssembly component (preamble $head); was it built for wasm32-wasip2?" >&2
        exit 1
    fi
}

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

for crate in "${crates[@]}"; do
    dir=$crate
    [ "${dir#/}" != "$dir" ] || dir=$ROOT/$crate
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/Cargo.toml" ] || { echo "$crate: no Cargo.toml" >&2; exit 1; }
    package=$(package_field "$dir/Cargo.toml" name)
    [ -n "$package" ] || { echo "$crate: no [package] name in Cargo.toml" >&2; exit 1; }
    manifest=$dir/plugin.toml
    if [ -f "$manifest" ]; then
        id=$(toml_top "$manifest" id)
        [ -n "$id" ] || { echo "$manifest: no id" >&2; exit 1; }
    else
        echo "warning: $crate has no plugin.toml; the component is copied without a manifest" >&2
        id=$package
    fi

    if [ $run_tests = 1 ]; then
        echo "== $package: unit tests"
        (cd "$ROOT" && cargo test --quiet -p "$package")
    fi
    echo "== $package: component ($profile profile)"
    start=$(date +%s.%N)
    (cd "$ROOT" && CARGO_TARGET_DIR=$WASM_TARGET_DIR cargo build --quiet \
        --target wasm32-wasip2 --profile "$profile" -p "$package")
    # Cargo puts the `dev` profile in debug/ and any other in a directory of its name.
    profile_dir=$profile
    [ "$profile" != dev ] || profile_dir=debug
    wasm=$WASM_TARGET_DIR/wasm32-wasip2/$profile_dir/${package//-/_}.wasm
    [ -f "$wasm" ] || { echo "$wasm was not built: is the crate a cdylib?" >&2; exit 1; }
    check_component "$wasm"

    dest=$OUT/$id
    mkdir -p "$dest"
    cp "$wasm" "$dest/plugin.wasm"
    if [ -f "$manifest" ]; then
        sum=$(sha256sum "$dest/plugin.wasm" | cut -d' ' -f1)
        grep -q '^component[[:space:]]*=' "$manifest" \
            || { echo "$manifest: no component line to put sha256 after" >&2; exit 1; }
        if grep -q '^sha256[[:space:]]*=' "$manifest"; then
            echo "$manifest: remove its sha256 line; the build writes it" >&2
            exit 1
        fi
        sed "/^component[[:space:]]*=/a sha256 = \"$sum\"" "$manifest" > "$dest/plugin.toml"
    fi
    size=$(stat -c %s "$dest/plugin.wasm")
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    printf '   %s: %s bytes (%s KiB), a component, in %s s -> %s\n' "$id" "$size" \
        "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1024 }')" "$took" "${dest#"$ROOT"/}"
done
