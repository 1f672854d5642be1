#!/usr/bin/env bash
# Benchmark `docket scan` against checkov on the same replicated Terraform corpus.
#
# The scenario folders are copied into a temporary directory at run time (never
# into the repository), checkov is installed from PyPI into a cached virtualenv,
# each tool is timed with /usr/bin/time -v, and a side-by-side summary is printed
# and written as markdown to OUT/scan-bench.md.
set -euo pipefail

readonly CHECKOV_VERSION=3.3.30
readonly DEFAULT_RESOURCES=10000

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"
PROG="$(basename "$0")"

usage() {
    cat <<EOF
Usage: $PROG SCENARIOS_DIR [--resources N] [--docket PATH] [--out DIR] [--docket-only]

Benchmark \`docket scan\` against checkov $CHECKOV_VERSION on one Terraform corpus.

SCENARIOS_DIR is a folder of Terraform scenario folders (e.g. NN-name/*.tf, with
optional modules/). They are copied (copy-0001/, copy-0002/, ...) into a temporary
directory until the corpus holds at least N \`resource\` blocks.

Options:
  --resources N    minimum number of resource blocks in the corpus (default $DEFAULT_RESOURCES)
  --docket PATH    docket binary (default: REPO/target/release/docket)
  --out DIR        where to write scan-bench.md (default: the temporary directory)
  --docket-only    run docket only, skip installing and running checkov
  --keep-corpus    keep the generated corpus (it is deleted on exit by default)
  -h, --help       show this help

Environment:
  DOCKET_BENCH_CHECKOV_VENV  virtualenv for checkov
                             (default \${XDG_CACHE_HOME:-\$HOME/.cache}/docket-bench/checkov-$CHECKOV_VERSION)

Exit status: 0 on success, 2 on a usage error or when a tool fails.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 2
}

log() {
    echo "==> $*" >&2
}

# --- arguments --------------------------------------------------------------

SCENARIOS_DIR=""
RESOURCES="$DEFAULT_RESOURCES"
DOCKET=""
OUT=""
RUN_CHECKOV=1
RUN_DOCKET=1
KEEP_CORPUS=0

need_value() {
    [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --resources) need_value "$@"; RESOURCES="$2"; shift 2 ;;
        --resources=*) RESOURCES="${1#*=}"; shift ;;
        --docket) need_value "$@"; DOCKET="$2"; shift 2 ;;
        --docket=*) DOCKET="${1#*=}"; shift ;;
        --out) need_value "$@"; OUT="$2"; shift 2 ;;
        --out=*) OUT="${1#*=}"; shift ;;
        --docket-only) RUN_CHECKOV=0; shift ;;
        --checkov-only) RUN_DOCKET=0; shift ;; # hidden: time checkov alone
        --keep-corpus) KEEP_CORPUS=1; shift ;;
        --) shift; break ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *)
            [[ -z "$SCENARIOS_DIR" ]] || die "only one SCENARIOS_DIR may be given (got '$SCENARIOS_DIR' and '$1')"
            SCENARIOS_DIR="$1"; shift ;;
    esac
done
if [[ $# -gt 0 ]]; then
    [[ -z "$SCENARIOS_DIR" && $# -eq 1 ]] || die "unexpected arguments: $*"
    SCENARIOS_DIR="$1"
fi

[[ -n "$SCENARIOS_DIR" ]] || { usage >&2; die "missing SCENARIOS_DIR"; }
[[ -d "$SCENARIOS_DIR" ]] || die "SCENARIOS_DIR '$SCENARIOS_DIR' is not a directory"
[[ "$RESOURCES" =~ ^[0-9]+$ && "$RESOURCES" -gt 0 ]] || die "--resources must be a positive integer, got '$RESOURCES'"
[[ $RUN_CHECKOV -eq 1 || $RUN_DOCKET -eq 1 ]] || die "--docket-only and --checkov-only exclude each other"
SCENARIOS_DIR="$(cd "$SCENARIOS_DIR" && pwd)"

if [[ $RUN_DOCKET -eq 1 ]]; then
    DOCKET="${DOCKET:-$REPO_ROOT/target/release/docket}"
    if [[ ! -x "$DOCKET" ]]; then
        echo "$PROG: error: docket binary not found or not executable: $DOCKET" >&2
        echo "Build it from the repository root with:" >&2
        echo "    cargo build --release --locked -p docket-cli" >&2
        echo "or pass --docket PATH." >&2
        exit 2
    fi
    DOCKET="$(cd "$(dirname "$DOCKET")" && pwd)/$(basename "$DOCKET")"
fi

command -v python3 >/dev/null || die "python3 is required"

# --- scenarios and corpus ---------------------------------------------------

# Count `resource "TYPE" "NAME"` block openings in the *.tf files under $1.
count_resources() {
    { grep -rhE '^[[:space:]]*resource[[:space:]]+"' --include='*.tf' -- "$1" || true; } | wc -l
}

# Scenario folders: the direct subfolders that hold at least one *.tf file.
SCENARIOS=()
while IFS= read -r -d '' dir; do
    if [[ -n "$(find "$dir" -type f -name '*.tf' -print -quit)" ]]; then
        SCENARIOS+=("$dir")
    fi
done < <(find "$SCENARIOS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -print0 | sort -z)
[[ ${#SCENARIOS[@]} -gt 0 ]] || die "no scenario folders with *.tf files in $SCENARIOS_DIR"

PER_COPY=0
for dir in "${SCENARIOS[@]}"; do
    PER_COPY=$((PER_COPY + $(count_resources "$dir")))
done
[[ $PER_COPY -gt 0 ]] || die "no Terraform resource blocks found under $SCENARIOS_DIR"
COPIES=$(((RESOURCES + PER_COPY - 1) / PER_COPY))

WORK="$(mktemp -d "${TMPDIR:-/tmp}/docket-bench-scan.XXXXXX")"
CORPUS="$WORK/corpus"
OUT="${OUT:-$WORK}"
mkdir -p "$OUT" "$CORPUS"
OUT="$(cd "$OUT" && pwd)"

cleanup() {
    if [[ $KEEP_CORPUS -eq 0 && -d "$CORPUS" ]]; then
        rm -rf -- "$CORPUS"
    fi
}
trap cleanup EXIT

log "building corpus: ${#SCENARIOS[@]} scenarios x $COPIES copies ($PER_COPY resources per copy) in $CORPUS"
for ((i = 1; i <= COPIES; i++)); do
    dest="$CORPUS/$(printf 'copy-%04d' "$i")"
    mkdir -p "$dest"
    cp -R -- "${SCENARIOS[@]}" "$dest/"
done

CORPUS_FILES=$(find "$CORPUS" -type f | wc -l)
CORPUS_TF_FILES=$(find "$CORPUS" -type f -name '*.tf' | wc -l)
CORPUS_DIRS=$(find "$CORPUS" -mindepth 1 -type d | wc -l)
CORPUS_RESOURCES=$(count_resources "$CORPUS")
echo "Corpus: $CORPUS_FILES files ($CORPUS_TF_FILES .tf), $CORPUS_DIRS folders, $CORPUS_RESOURCES resource blocks ($COPIES copies of ${#SCENARIOS[@]} scenarios)"

# --- measurement ------------------------------------------------------------

# measure NAME CMD...: run CMD with stdout to $WORK/NAME.json and stderr to
# $WORK/NAME.stderr; write "wall_s rss_kb exit" to $WORK/NAME.metrics.
# Wall time comes from bash's EPOCHREALTIME (microseconds); peak RSS from
# /usr/bin/time -v, or from getrusage(RUSAGE_CHILDREN) in a python3 wrapper
# when /usr/bin/time is missing. Both report the largest single process of
# the command's tree, not the sum over concurrent processes.
measure() {
    local name="$1"
    shift
    local out="$WORK/$name.json" err="$WORK/$name.stderr" tfile="$WORK/$name.time"
    local start end rc=0 rss
    start="$EPOCHREALTIME"
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -v -o "$tfile" "$@" >"$out" 2>"$err" || rc=$?
        end="$EPOCHREALTIME"
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")
    else
        python3 - "$tfile" "$@" >"$out" 2>"$err" <<'PY' || rc=$?
import resource, subprocess, sys
proc = subprocess.run(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(proc.returncode)
PY
        end="$EPOCHREALTIME"
        rss=$(cat "$tfile")
    fi
    python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])), sys.argv[3], sys.argv[4])' \
        "$start" "$end" "${rss:-0}" "$rc" >"$WORK/$name.metrics"
    return "$rc"
}

# --- checkov ----------------------------------------------------------------

CHECKOV_BIN=""
if [[ $RUN_CHECKOV -eq 1 ]]; then
    VENV="${DOCKET_BENCH_CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/docket-bench/checkov-$CHECKOV_VERSION}"
    CHECKOV_BIN="$VENV/bin/checkov"
    installed=""
    if [[ -x "$CHECKOV_BIN" ]]; then
        installed="$("$CHECKOV_BIN" --version 2>/dev/null | head -n 1 || true)"
    fi
    if [[ "$installed" == "$CHECKOV_VERSION" ]]; then
        log "reusing checkov $CHECKOV_VERSION in $VENV"
    else
        log "installing checkov $CHECKOV_VERSION into $VENV (takes a minute or two)"
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv --clear "$VENV" || die "python3 -m venv failed"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
            || die "pip install checkov==$CHECKOV_VERSION failed"
        installed="$("$CHECKOV_BIN" --version 2>/dev/null | head -n 1 || true)"
        [[ "$installed" == "$CHECKOV_VERSION" ]] \
            || die "checkov --version printed '$installed', expected $CHECKOV_VERSION"
    fi
    echo "checkov: $CHECKOV_BIN ($installed)"

    log "running checkov on the corpus"
    rc=0
    measure checkov "$CHECKOV_BIN" -d "$CORPUS" --framework terraform -o json --quiet --compact \
        --skip-download --download-external-modules false || rc=$?
    # 0: no failed checks, 1: failed checks found. Anything else is an error.
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        tail -n 20 "$WORK/checkov.stderr" >&2 || true
        die "checkov exited with status $rc (stderr: $WORK/checkov.stderr)"
    fi
    echo "checkov: exit $rc, $(cut -d' ' -f1 "$WORK/checkov.metrics") s"
fi

# --- docket -----------------------------------------------------------------

if [[ $RUN_DOCKET -eq 1 ]]; then
    log "running docket scan on the corpus"
    rc=0
    measure docket "$DOCKET" scan "$CORPUS" --format json || rc=$?
    # 0: clean, 1: findings. 2 (or anything else) is a failure.
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        tail -n 20 "$WORK/docket.stderr" >&2 || true
        die "docket scan exited with status $rc (stderr: $WORK/docket.stderr)"
    fi
    echo "docket: exit $rc, $(cut -d' ' -f1 "$WORK/docket.metrics") s"
fi

# --- report -----------------------------------------------------------------

export BENCH_WORK="$WORK" BENCH_OUT="$OUT" BENCH_CORPUS="$CORPUS"
export BENCH_CHECKOV_VERSION="$CHECKOV_VERSION" BENCH_DOCKET="$DOCKET"
export BENCH_SCENARIOS_DIR="$SCENARIOS_DIR" BENCH_SCENARIOS="${#SCENARIOS[@]}" BENCH_COPIES="$COPIES"
export BENCH_FILES="$CORPUS_FILES" BENCH_TF_FILES="$CORPUS_TF_FILES" BENCH_DIRS="$CORPUS_DIRS"
export BENCH_RESOURCES="$CORPUS_RESOURCES"
BENCH_NPROC="$(nproc)"
BENCH_CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
BENCH_DOCKET_VERSION=""
if [[ $RUN_DOCKET -eq 1 ]]; then
    BENCH_DOCKET_VERSION="$("$DOCKET" --version 2>/dev/null | head -n 1 || true)"
fi
BENCH_RSS_SOURCE="gnu-time"
[[ -x /usr/bin/time ]] || BENCH_RSS_SOURCE=python
export BENCH_NPROC BENCH_CPU BENCH_DOCKET_VERSION BENCH_RSS_SOURCE

python3 - <<'PY'
import collections, datetime, json, os, platform

env = os.environ
work, out_dir = env["BENCH_WORK"], env["BENCH_OUT"]


def metrics(name):
    path = os.path.join(work, name + ".metrics")
    if not os.path.exists(path):
        return None
    wall, rss_kb, rc = open(path).read().split()
    return {"wall": float(wall), "rss_mib": int(rss_kb) / 1024.0, "exit": int(rc)}


def load(name):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024.0 / 1024.0
    except OSError:
        pass
    return None


def checkov_reports(data):
    """checkov -o json prints one report (dict) or a list of them (one per framework)."""
    if data is None:
        return []
    reports = data if isinstance(data, list) else [data]
    return [r for r in reports if isinstance(r, dict)]


cm, dm = metrics("checkov"), metrics("docket")
checkov, docket = load("checkov"), load("docket")
lines = []
p = lines.append

p("# docket scan vs checkov")
p("")
p("Generated by `scripts/bench-scan.sh` on %s." % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
p("")
mem = mem_total_gib()
p("**Machine:** %s vCPUs, %s, %s memory; Linux %s; Python %s."
  % (env["BENCH_NPROC"], env["BENCH_CPU"] or "unknown CPU",
     "%.1f GiB" % mem if mem else "unknown", platform.release(), platform.python_version()))
p("")
p("**Corpus:** %s copies of the %s scenario folders of `%s`: %s files (%s `.tf`), %s folders, "
  "**%s `resource` blocks** (lines matching `^\\s*resource\\s+\"`, modules included)."
  % (env["BENCH_COPIES"], env["BENCH_SCENARIOS"], os.path.basename(env["BENCH_SCENARIOS_DIR"]),
     env["BENCH_FILES"], env["BENCH_TF_FILES"], env["BENCH_DIRS"], env["BENCH_RESOURCES"]))
p("")
p("**Commands:**")
p("")
p("```sh")
if cm:
    p("checkov -d CORPUS --framework terraform -o json --quiet --compact --skip-download "
      "--download-external-modules false   # checkov %s" % env["BENCH_CHECKOV_VERSION"])
if dm:
    p("docket scan CORPUS --format json   # %s" % (env["BENCH_DOCKET_VERSION"] or env["BENCH_DOCKET"]))
p("```")
p("")
p("One run each, one after the other. Wall time from bash's `EPOCHREALTIME` around the command; "
  "peak RSS from %s (that of the largest single process of the command, not a sum over "
  "concurrent processes)."
  % ("`/usr/bin/time -v`" if env["BENCH_RSS_SOURCE"] == "gnu-time"
     else "`getrusage(RUSAGE_CHILDREN)` in a python3 wrapper"))
p("")
p("| Tool | Wall time (s) | Peak RSS (MiB) | Exit |")
p("|---|---:|---:|---:|")
if cm:
    p("| checkov %s | %.2f | %.1f | %d |" % (env["BENCH_CHECKOV_VERSION"], cm["wall"], cm["rss_mib"], cm["exit"]))
if dm:
    p("| docket | %.2f | %.1f | %d |" % (dm["wall"], dm["rss_mib"], dm["exit"]))
if cm and dm:
    wall_ratio = cm["wall"] / dm["wall"] if dm["wall"] > 0 else float("inf")
    mem_ratio = cm["rss_mib"] / dm["rss_mib"] if dm["rss_mib"] > 0 else float("inf")
    p("")
    p("**Ratios (checkov / docket):** wall time **%.1f×**, peak memory **%.1f×**." % (wall_ratio, mem_ratio))

# Totals per tool.
reports = checkov_reports(checkov)
failed = []
if cm:
    totals = collections.Counter()
    for r in reports:
        totals.update({k: v for k, v in (r.get("summary") or {}).items() if isinstance(v, int)})
        failed.extend((r.get("results") or {}).get("failed_checks") or [])
    p("")
    p("checkov summary: %d passed, %d failed, %d skipped, %d parsing errors, %d resources."
      % (totals["passed"], totals["failed"], totals["skipped"], totals["parsing_errors"], totals["resource_count"]))
if dm and isinstance(docket, dict):
    findings = docket.get("findings") or []
    status = collections.Counter(f.get("status") for f in findings)
    p("")
    p("docket summary: %d findings (%d violation, %d unknown), %d errors."
      % (len(findings), status["violation"], status["unknown"], len(docket.get("errors") or [])))

# Side-by-side findings on the checkov ids docket's rules reference.
if cm and dm and isinstance(docket, dict):
    rules = collections.defaultdict(set)
    violations, unknowns = collections.Counter(), collections.Counter()
    for f in docket.get("findings") or []:
        for cid in ((f.get("references") or {}).get("checkov") or []):
            rules[cid].add(f.get("rule_id") or "?")
            if f.get("status") == "violation":
                violations[cid] += 1
            elif f.get("status") == "unknown":
                unknowns[cid] += 1
    checkov_failed = collections.Counter(c.get("check_id") for c in failed)
    p("")
    p("## Findings on shared rules")
    p("")
    if not rules:
        p("No docket finding references a checkov id.")
    else:
        p("| checkov id | docket rule | checkov failed | docket violations | docket unknown |")
        p("|---|---|---:|---:|---:|")
        for cid in sorted(rules):
            p("| %s | %s | %d | %d | %d |" % (cid, ", ".join(sorted(rules[cid])), checkov_failed[cid],
                                             violations[cid], unknowns[cid]))
elif cm and failed:
    p("")
    p("## checkov failed checks by id")
    p("")
    p("| checkov id | failed |")
    p("|---|---:|")
    for cid, n in sorted(collections.Counter(c.get("check_id") for c in failed).items()):
        p("| %s | %d |" % (cid, n))

p("")
p("Raw outputs: `%s` (`checkov.json`, `docket.json`, `*.stderr`, `*.time`)." % work)

text = "\n".join(lines) + "\n"
print()
print(text, end="")
md = os.path.join(out_dir, "scan-bench.md")
with open(md, "w") as f:
    f.write(text)
print("\nSummary written to %s" % md)
PY
