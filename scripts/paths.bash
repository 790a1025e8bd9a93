# Sourced by the bash scripts here that move to the repository before they use a path given to
# them. `from_here PATH` is PATH as seen from where the script was started: prefixed with that
# folder when relative, and not normalised, so that a link's ".." leads where the kernel takes it
# (`realpath -ms` would drop "link/.." as text).
from_here() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s' "$PWD/$1" ;; esac; }

# Where the data is when $KMNIST_DIR does not say: ../shared/kmnist beside the repository.
# ($here, the scripts' folder, has its links resolved already, so its ".." are the kernel's too.)
default_kmnist=$(realpath -m -- "$here/../../shared/kmnist")
