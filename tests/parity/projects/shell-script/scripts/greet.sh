#!/usr/bin/env bash
set -euo pipefail
mkdir -p "$(dirname {{product}})"
printf 'hello\nparity\n' > {{product}}
