#!/usr/bin/env bash
set -euo pipefail
tr '[:lower:]' '[:upper:]' < {{upstream['greet']}} > {{product['loud']}}
wc -l < {{upstream['greet']}} | tr -d ' ' > {{product['count']}}
