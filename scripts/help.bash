# Sourced by the bash scripts here right after `set -euo pipefail`: `-h` or `--help` among the
# arguments prints the script's header comment (from its second line to its `set -`) and exits 0,
# so that no script takes --help for a command, a name or a count, or passes it on to a tool.
for argument in "$@"; do
    case $argument in
        -h | --help) sed -n '2,/^set -/{/^set -/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    esac
done
