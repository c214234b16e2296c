# Shell helpers the benchmark scripts share: `source benchmarks/lib.sh` from the repository root.

put() {  # put SRC DST: copy a set into a study's folder (temp file, then rename); never over a different file
  if [ -e "$2" ]; then cmp -s "$1" "$2" || { echo "$2 exists and differs from $1: not replaced" >&2; exit 2; }
  else mkdir -p "$(dirname "$2")"; cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; fi
}
