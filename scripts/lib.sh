# Shared helpers for the scripts in this folder (sourced, not run).
# shellcheck shell=bash

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
ok() { printf '  ok: %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}
