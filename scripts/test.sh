#!/bin/sh
# Run every test: installs what the tests need, builds, runs `make check`
# (host Check tests, then the kernel driver suite on Debian 6.1 and 6.12 inside QEMU).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh kernel
make -j"$(nproc)" all
exec make check
