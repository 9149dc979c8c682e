#!/usr/bin/env bash
# Neural Noether on the pendulum over many seeds, one process per seed, for the stage's
# default settings and for a variant, on the same baselines; then the combined tables and a
# paired comparison per seed.
#
#   bash benchmarks/neural_seeds.sh N "SEEDS" [VARIANT] [DIR]
#
#   N        processes at a time (one seed each; every process is single-threaded)
#   SEEDS    the seeds, separated by spaces or newlines, e.g. "$(seq 0 29)"
#   VARIANT  a name from the list below (default: flow-grad)
#   DIR      the results store (default: results/neural-seeds); a rerun reuses every stage
#
# Each seed's process runs `bench_neural.py --seeds S --no-rank --validation --store DIR`
# with the default settings, then with the variant's (the baselines are shared, through the
# store folder DIR/pendulum-seedS); its log is DIR/logs/seed-S.log, with the user and system
# CPU seconds of each of the two runs (`cpu`; a rerun rewrites the log, and its seconds are
# those of what was left to compute). At the end the tables of all the seeds are
# printed for the default and for the variant (from the store: every stage reused, the two
# side by side), then the paired comparison (benchmarks/neural_seeds_compare.py).
set -euo pipefail

if [[ $# -lt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    echo "variants: $(grep -o '^        [a-z-]*)' "$0" | tr -d ' )' | tr '\n' ' ')"
    exit 0
fi
N=$1
SEEDS=$(echo "$2" | tr '\n' ' ')
VARIANT=${3:-flow-grad}
DIR=${4:-results/neural-seeds}

# the settings of each variant (bench_neural.py options); "default" is the stage's
FLOW="--pretrain-flow 100 --pretrain-epochs 2000"
variant_args() {
    case "$1" in
        default) echo "" ;;
        flow) echo "$FLOW --embed-lrs 0 0.01 0.03" ;;
        flow-fixed) echo "$FLOW --embed-lrs 0" ;;
        flow-meta) echo "$FLOW --embed-lrs 0.01 0.03" ;;
        flow-grad) echo "$FLOW --noether-norm gradient --embed-lrs 0 0.01 0.03" ;;
        flow-fixed-grad) echo "$FLOW --noether-norm gradient --embed-lrs 0" ;;
        warp-fixed) echo "--noether-norm gradient --pretrain-epochs 5000 --embed-lrs 0" ;;
        *) echo "unknown variant '$1'; one of: default flow flow-fixed flow-meta flow-grad flow-fixed-grad warp-fixed" >&2
           return 1 ;;
    esac
}
VARGS=$(variant_args "$VARIANT")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
mkdir -p "$DIR/logs"
export OMP_NUM_THREADS=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

one_seed() {  # $1: the seed; default, then the variant, in one process chain
    local s=$1 log="$DIR/logs/seed-$1.log"
    local runs="default"
    [[ "$VARIANT" != default ]] && runs="default $VARIANT"
    : > "$log"
    for v in $runs; do
        echo "## $v: python benchmarks/bench_neural.py --systems pendulum --seeds $s --no-rank --validation --store $DIR $(variant_args "$v")" >> "$log"
        # shellcheck disable=SC2046
        /usr/bin/time -f "cpu $v seed $s: %U user + %S sys s, %e s wall, %M KB peak" \
            -a -o "$log" python "$HERE/bench_neural.py" --systems pendulum --seeds "$s" \
            --no-rank --validation --store "$DIR" $(variant_args "$v") >> "$log" 2>&1 \
            || echo "FAILED $v seed $s" >> "$log"
    done
}

echo "running seeds: $SEEDS ($N at a time), variant $VARIANT: ${VARGS:-(default)}; logs in $DIR/logs"
start=$(date +%s)
for s in $SEEDS; do
    while (( $(jobs -rp | wc -l) >= N )); do wait -n || true; done
    one_seed "$s" &
done
wait
echo "all seeds done in $(( $(date +%s) - start )) s wall (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "CPU seconds per seed and variant (user + system):"
grep -h '^cpu ' "$DIR"/logs/seed-*.log | sort -t' ' -k2,2 -k4,4n || true
if grep -l '^FAILED' "$DIR"/logs/seed-*.log; then
    echo "some runs failed: see the logs above"
fi

# shellcheck disable=SC2086
tables() {  # the combined table of one variant, from the store
    python "$HERE/bench_neural.py" --systems pendulum --seeds $SEEDS --no-rank --validation \
        --store "$DIR" $(variant_args "$1")
}
tables default > "$DIR/default.md" 2>&1 &
[[ "$VARIANT" != default ]] && tables "$VARIANT" > "$DIR/$VARIANT.md" 2>&1 &
wait
echo
echo "### default"
cat "$DIR/default.md"
[[ "$VARIANT" == default ]] && exit 0
echo
echo "### $VARIANT"
cat "$DIR/$VARIANT.md"
echo
python "$HERE/neural_seeds_compare.py" "$DIR/default.md" "$DIR/$VARIANT.md" --name "$VARIANT"
