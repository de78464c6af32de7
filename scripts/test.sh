#!/bin/sh
# Run every test: installs what the tests need, builds, runs `make check`.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh test
make -j"$(nproc)" all
exec make check
