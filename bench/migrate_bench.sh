#!/usr/bin/env bash
# make bench: medmigrate's full migration against a plain COPY pipe of the same
# tables with the same transforms in SQL (the practical limit), on the private
# cluster. See bench/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash bench/migrate_bench.sh [OPTIONS]

Times (a) `medmigrate migrate --json` of a generated legacy MDW database into a
fresh target and (b) a plain `psql COPY (SELECT <same transforms>) TO STDOUT |
psql COPY ... FROM STDIN` pipe of the same tables into another fresh target, on
the private PostgreSQL cluster; prints rows/s of both, their ratio and
medmigrate's peak RSS, then medmigrate's peak RSS at the small scale for
comparison.

Options:
  --scale S          tiny|small|medium|prod|large (default large)
  --seed N           generator seed (default 42)
  --concurrency N    medmigrate --max-concurrency, and pipe tables at once (default 4)
  --data-dir D       private cluster folder (default build/bench-pg)
  --binary PATH      medmigrate binary (default build/medmigrate, built by `make build`)
  --no-build         do not run `make build` first
  --no-small         skip the small-scale RSS comparison run
  --no-pipe          skip (b), the COPY pipe: no ratio (to re-measure medmigrate
                     alone; the pipe's figure does not depend on medmigrate)
  --keep-running     leave the cluster running at the end (default: stop it)
  -h, --help         this help

The legacy database bench_legacy_<scale> is generated once and kept (the
table bench.meta records scale and seed); bench_target, bench_pipe and
bench_target_small are dropped and recreated on every run.
EOF
}

SCALE=large
SEED=42
CONCURRENCY=4
DATA_DIR=build/bench-pg
BIN=build/medmigrate
BUILD=1
SMALL=1
PIPE=1
KEEP_RUNNING=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --binary) BIN=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-small) SMALL=0; shift ;;
    --no-pipe) PIPE=0; shift ;;
    --keep-running) KEEP_RUNNING=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "migrate_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$SCALE" in tiny|small|medium|prod|large) ;; *)
  echo "migrate_bench.sh: --scale must be tiny, small, medium, prod or large" >&2; exit 2 ;;
esac
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "migrate_bench.sh: --seed must be an unsigned integer" >&2; exit 2; }
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || { echo "migrate_bench.sh: --concurrency must be >= 1" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SPEC=specs/mdw.toml
for tool in psql python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "migrate_bench.sh: $tool is needed (apt-get install postgresql-client python3 time)" >&2; exit 1; }
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

if [[ $BUILD == 1 ]]; then
  log "make build"
  make --no-print-directory build >"${TMPDIR:-/tmp}/medmigrate-bench-build.log" 2>&1 ||
    { tail -30 "${TMPDIR:-/tmp}/medmigrate-bench-build.log" >&2; exit 1; }
fi
BIN=$(realpath "$BIN")
[[ -x "$BIN" ]] || { echo "migrate_bench.sh: no binary at $BIN" >&2; exit 1; }

mkdir -p "$(dirname "$DATA_DIR")"
DATA_DIR=$(realpath -m "$DATA_DIR")
WORK="$DATA_DIR-work"  # migrate's logs, the post-load SQL, per-table timings
rm -rf "$WORK"
mkdir -p "$WORK"

log "starting the private cluster in $DATA_DIR"
"$BIN" pg start --data-dir "$DATA_DIR" >/dev/null
if [[ $KEEP_RUNNING == 0 ]]; then
  trap '"$BIN" pg stop --data-dir "$DATA_DIR" >/dev/null 2>&1 || true' EXIT
fi
LEGACY_URL=$("$BIN" pg status --json --show-password --data-dir "$DATA_DIR" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["legacy_url"])')
BASE_URL=${LEGACY_URL%/*}  # postgres://user:password@host:port
url() { printf '%s/%s' "$BASE_URL" "$1"; }
PSQL=(psql -X -v ON_ERROR_STOP=1 -q)
admin() { "${PSQL[@]}" "$(url postgres)" "$@"; }
recreate_db() {
  admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
    -c "CREATE DATABASE $1" >/dev/null
}
db_exists() {
  [[ $(admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$1'") == 1 ]]
}

NAMESPACE=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["uuid_namespace"])' "$SPEC")

# Generates bench_legacy_<scale> unless it exists with a matching bench.meta.
ensure_legacy() {
  local scale=$1 db=bench_legacy_$1 meta=""
  if db_exists "$db"; then
    meta=$("${PSQL[@]}" "$(url "$db")" -Atc \
      "SELECT scale || ':' || seed FROM bench.meta" 2>/dev/null || true)
  fi
  if [[ "$meta" == "$scale:$SEED" ]]; then
    log "$db: already generated (scale $scale, seed $SEED)"
  else
    log "$db: generating scale $scale, seed $SEED"
    recreate_db "$db"
    local t0; t0=$(now)
    (cd "$WORK" && "$BIN" generate --legacy-url "$(url "$db")" --scale "$scale" --seed "$SEED" \
       --jobs "$(( CONCURRENCY < 16 ? CONCURRENCY : 16 ))" --quiet --truth "$WORK/$db.truth.json") >&2
    "${PSQL[@]}" "$(url "$db")" -c "ANALYZE" \
      -c "CREATE SCHEMA IF NOT EXISTS bench" \
      -c "CREATE TABLE bench.meta (scale text NOT NULL, seed bigint NOT NULL, generated_at timestamptz NOT NULL DEFAULT now())" \
      -c "INSERT INTO bench.meta (scale, seed) VALUES ('$scale', $SEED)"
    log "$db: generated in $(elapsed "$t0" "$(now)") s"
  fi
}

# Runs medmigrate init + migrate --json under /usr/bin/time -v; writes
# <tag>.json (the summary) and <tag>.time (time's report) into $WORK.
run_medmigrate() {
  local legacy=$1 target=$2 tag=$3
  recreate_db "$target"
  "$BIN" init --target-url "$(url "$target")" >/dev/null
  log "medmigrate migrate $legacy -> $target (--max-concurrency $CONCURRENCY)"
  (cd "$WORK" && /usr/bin/time -v -o "$WORK/$tag.time" \
     "$BIN" migrate --legacy-url "$(url "$legacy")" --target-url "$(url "$target")" \
       --json --no-validate --max-concurrency "$CONCURRENCY" >"$WORK/$tag.json" 2>"$WORK/$tag.stderr") || {
    tail -20 "$WORK/$tag.stderr" >&2
    echo "migrate_bench.sh: medmigrate migrate failed (see $WORK/$tag.stderr)" >&2
    exit 1
  }
}
time_field() {  # time_field FILE "Maximum resident set size (kbytes)"
  sed -n "s/^[[:space:]]*$2: //p" "$1"
}
wall_seconds() {  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.03" -> seconds
  time_field "$1" 'Elapsed (wall clock) time (h:mm:ss or m:ss)' |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'
}

# ---------------------------------------------------------------------------
# The pipe: per target table, the SELECT that does medmigrate's transforms in
# SQL (helpers in bench/pipe_setup.sql, schema bench of the legacy database)
# and the target columns it fills, in that order.
declare -A SQL COLS

COLS[offices]="id, legacy_id, name, address_line1, address_line2, city, state, zip_code, country, phone, email, is_active, created_at, updated_at"
SQL[offices]="
SELECT bench.id('offices', o.id::text), o.id, bench.trim(o.name),
       nullif(bench.trim(o.address_line1), ''), nullif(bench.trim(o.address_line2), ''),
       nullif(bench.trim(o.city), ''), nullif(bench.trim(o.state), ''),
       nullif(bench.trim(o.zip_code), ''), nullif(upper(bench.trim(o.country)), ''),
       nullif(bench.trim(o.phone), ''), bench.email(nullif(lower(bench.trim(o.email)), '')),
       o.is_active, o.created_at, o.updated_at
  FROM public.dispatch_office o"

COLS[profiles]="id, legacy_id, username, first_name, last_name, email, is_staff, is_superuser, is_active, last_login, date_joined"
SQL[profiles]="
SELECT bench.id('profiles', u.id::text), u.id, u.username,
       nullif(bench.trim(u.first_name), ''), nullif(bench.trim(u.last_name), ''),
       bench.email(nullif(lower(bench.trim(u.email)), '')),
       u.is_staff, u.is_superuser, u.is_active, u.last_login, u.date_joined
  FROM public.auth_user u"

COLS[projects]="id, legacy_id, name, project_type, status, file_path, file_size, version, metadata, metadata_raw, created_at, updated_at"
SQL[projects]="
SELECT bench.id('projects', p.id::text), p.id, p.name, p.project_type, p.status,
       nullif(p.file_path, ''), p.file_size, p.version,
       j.v, CASE WHEN j.v IS NULL THEN p.metadata END, p.created_at, p.updated_at
  FROM public.dispatch_project p
 CROSS JOIN LATERAL (SELECT bench.try_jsonb(p.metadata) AS v) j"

COLS[workflow_templates]="id, legacy_id, name, description, tasks, tasks_raw, is_active, created_at, updated_at"
SQL[workflow_templates]="
SELECT bench.id('workflow_templates', t.id::text), t.id, t.name, nullif(t.description, ''),
       j.v, CASE WHEN j.v IS NULL THEN t.tasks END, t.is_active, t.created_at, t.updated_at
  FROM public.dispatch_template t
 CROSS JOIN LATERAL (SELECT bench.try_jsonb(t.tasks) AS v) j"

COLS[workflow_template_tasks]="id, legacy_id, workflow_template_id, position, name, role, sequence, duration_hours"
SQL[workflow_template_tasks]="
SELECT bench.id('workflow_template_tasks', t.id || ':' || (e.ord - 1)), t.id || ':' || (e.ord - 1),
       bench.id('workflow_templates', t.id::text), e.ord - 1,
       nullif(bench.trim(e.el ->> 'name'), ''), nullif(bench.trim(e.el ->> 'role'), ''),
       e.el ->> 'sequence', e.el ->> 'duration_hours'
  FROM public.dispatch_template t
 CROSS JOIN LATERAL (SELECT bench.try_jsonb(t.tasks) AS v) j
 CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(j.v) = 'array' THEN j.v
                                              ELSE '[]'::jsonb END)
            WITH ORDINALITY AS e(el, ord)"

COLS[doctors]="id, legacy_id, profile_id, office_id, license_number, specialty, phone, created_at, updated_at"
SQL[doctors]="
SELECT bench.id('doctors', d.id::text), d.id, bench.id('profiles', d.user_id::text),
       CASE WHEN EXISTS (SELECT 1 FROM public.dispatch_office o WHERE o.id = d.office_id)
            THEN bench.id('offices', d.office_id::text) END,
       nullif(bench.trim(d.license_number), ''), nullif(bench.trim(d.specialty), ''),
       nullif(bench.trim(d.phone), ''), d.created_at, d.updated_at
  FROM public.dispatch_doctor d
 WHERE EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = d.user_id)"

COLS[patients]="id, legacy_id, profile_id, birthdate, sex, updated_at"
SQL[patients]="
SELECT bench.id('patients', p.id::text), p.id, bench.id('profiles', p.user_id::text),
       CASE WHEN p.birthdate = DATE '1900-01-01' OR p.birthdate > current_date THEN NULL
            ELSE p.birthdate END,
       CASE upper(bench.trim(p.sex)) WHEN 'M' THEN 'male' WHEN 'F' THEN 'female'
            ELSE 'unknown' END,
       p.updated_at
  FROM public.dispatch_patient p
 WHERE EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = p.user_id)"

COLS[orders]="id, legacy_id, order_number, patient_id, doctor_id, office_id, status, legacy_status, total_price, currency, due_date, notes, created_at, updated_at"
SQL[orders]="
SELECT bench.id('orders', o.id::text), o.id, o.order_number, bench.id('patients', o.patient_id::text),
       CASE WHEN EXISTS (SELECT 1 FROM bench.ok_doctor d WHERE d.id = o.doctor_id)
            THEN bench.id('doctors', o.doctor_id::text) END,
       CASE WHEN EXISTS (SELECT 1 FROM public.dispatch_office f WHERE f.id = o.office_id)
            THEN bench.id('offices', o.office_id::text) END,
       CASE WHEN s.v IN ('new', 'in_progress', 'shipped', 'delivered', 'cancelled') THEN s.v
            ELSE 'unknown' END,
       CASE WHEN s.v IN ('new', 'in_progress', 'shipped', 'delivered', 'cancelled') THEN NULL
            ELSE o.status END,
       o.total_price, upper(bench.trim(o.currency)), o.due_date, nullif(o.notes, ''),
       o.created_at, o.updated_at
  FROM public.dispatch_order o
 CROSS JOIN LATERAL (
       SELECT CASE r.v WHEN 'canceled' THEN 'cancelled' ELSE r.v END AS v
         FROM (SELECT replace(replace(lower(bench.trim(o.status)), '-', '_'), ' ', '_') AS v) r) s
 WHERE EXISTS (SELECT 1 FROM bench.ok_patient p WHERE p.id = o.patient_id)"

COLS[treatment_plans]="id, legacy_id, patient_id, doctor_id, title, description, stage_count, status, created_at, updated_at"
SQL[treatment_plans]="
SELECT bench.id('treatment_plans', t.id::text), t.id, bench.id('patients', t.patient_id::text),
       CASE WHEN EXISTS (SELECT 1 FROM bench.ok_doctor d WHERE d.id = t.doctor_id)
            THEN bench.id('doctors', t.doctor_id::text) END,
       t.title, nullif(t.description, ''), t.stage_count, t.status, t.created_at, t.updated_at
  FROM public.dispatch_treatmentplan t
 WHERE EXISTS (SELECT 1 FROM bench.ok_patient p WHERE p.id = t.patient_id)"

COLS[jaws]="id, legacy_id, patient_id, order_id, jaw_type, scan_file, notes, created_at, updated_at"
SQL[jaws]="
SELECT bench.id('jaws', j.id::text), j.id, bench.id('patients', j.patient_id::text),
       CASE WHEN EXISTS (SELECT 1 FROM bench.ok_order o WHERE o.id = j.order_id)
            THEN bench.id('orders', j.order_id::text) END,
       lower(bench.trim(j.jaw_type)),
       nullif(replace(bench.trim(j.scan_file), '\\', '/'), ''), nullif(j.notes, ''),
       j.created_at, j.updated_at
  FROM public.dispatch_jaw j
 WHERE lower(bench.trim(j.jaw_type)) IN ('upper', 'lower')
   AND EXISTS (SELECT 1 FROM bench.ok_patient p WHERE p.id = j.patient_id)"

COLS[products]="id, legacy_id, order_id, sku, name, quantity, unit_price, created_at, updated_at"
SQL[products]="
SELECT bench.id('products', p.id::text), p.id, bench.id('orders', p.order_id::text),
       p.sku, p.name, p.quantity, p.unit_price, p.created_at, p.updated_at
  FROM public.dispatch_product p
 WHERE p.quantity >= 0
   AND EXISTS (SELECT 1 FROM bench.ok_order o WHERE o.id = p.order_id)"

STATES="'0' THEN 'created' WHEN '1' THEN 'received' WHEN '2' THEN 'in_design'
        WHEN '3' THEN 'design_approved' WHEN '4' THEN 'manufacturing'
        WHEN '5' THEN 'quality_check' WHEN '6' THEN 'shipped' WHEN '7' THEN 'delivered'
        WHEN '8' THEN 'on_hold' WHEN '9' THEN 'cancelled'"
COLS[instruction_states]="id, legacy_id, order_id, instruction, state, state_code, previous_state, previous_state_code, changed_by_id, changed_at, note"
SQL[instruction_states]="
SELECT bench.id('instruction_states', s.id::text), s.id, bench.id('orders', s.order_id::text),
       nullif(s.instruction, ''),
       CASE bench.trim(s.state_code::text) WHEN $STATES ELSE 'unknown' END,
       s.state_code,
       CASE WHEN s.previous_state_code IS NOT NULL THEN
            CASE bench.trim(s.previous_state_code::text) WHEN $STATES ELSE 'unknown' END END,
       s.previous_state_code,
       CASE WHEN EXISTS (SELECT 1 FROM public.auth_user u WHERE u.id = s.changed_by_id)
            THEN bench.id('profiles', s.changed_by_id::text) END,
       s.changed_at, nullif(s.note, '')
  FROM public.dispatch_state s
 WHERE EXISTS (SELECT 1 FROM bench.ok_order o WHERE o.id = s.order_id)"

# Each table is ANALYZEd right after its COPY, as medmigrate analyzes an entity
# when it completes: the post-load steps need the statistics (without them the
# post-load steps and ANALYZE took ~3.5 min of the pipe's 474 s at scale prod).
# Dependency levels (a table's references point at earlier levels). The pipe
# loads with session_replication_role = replica (no FK triggers), so the order
# is for likeness with medmigrate, not for correctness.
LEVELS=(
  "offices profiles projects workflow_templates"
  "workflow_template_tasks doctors patients"
  "orders treatment_plans"
  "jaws products instruction_states"
)

pipe_table() {  # pipe_table LEGACY_DB PIPE_DB TABLE: one COPY pipe; writes $WORK/pipe.TABLE
  local legacy=$1 pipe=$2 t=$3 t0 out
  t0=$(now)
  out=$(psql -X -v ON_ERROR_STOP=1 -q "$(url "$legacy")" -c "COPY (${SQL[$t]}) TO STDOUT" |
        psql -X -v ON_ERROR_STOP=1 "$(url "$pipe")" -c "SET session_replication_role = replica" \
          -c "COPY public.$t (${COLS[$t]}) FROM STDIN" -c "ANALYZE public.$t")
  printf '%s %s\n' "$(sed -n 's/^COPY //p' <<<"$out")" "$(elapsed "$t0" "$(now)")" >"$WORK/pipe.$t"
}

run_pipe() {  # run_pipe LEGACY_DB PIPE_DB
  local legacy=$1 pipe=$2 level t running
  for level in "${LEVELS[@]}"; do
    running=0
    for t in $level; do
      if (( running >= CONCURRENCY )); then wait -n; running=$((running - 1)); fi
      pipe_table "$legacy" "$pipe" "$t" &
      running=$((running + 1))
    done
    while (( running > 0 )); do wait -n; running=$((running - 1)); done
  done
  local f
  for f in "$WORK"/post_load.*.sql; do
    "${PSQL[@]}" "$(url "$pipe")" -f "$f"
  done
  "${PSQL[@]}" "$(url "$pipe")" -c "ANALYZE public.patients, public.state_analytics"
}

# ---------------------------------------------------------------------------
LEGACY=bench_legacy_$SCALE
ensure_legacy "$SCALE"
"${PSQL[@]}" "$(url "$LEGACY")" -v ns="$NAMESPACE" -f bench/pipe_setup.sql >/dev/null

# The post_load steps, verbatim from the spec, in file order.
python3 - "$SPEC" "$WORK" <<'EOF'
import sys, tomllib
spec = tomllib.load(open(sys.argv[1], "rb"))
for i, step in enumerate(spec.get("post_load", [])):
    with open(f"{sys.argv[2]}/post_load.{i}.sql", "w") as f:
        f.write(f"-- {step['name']}\n{step['sql']};\n")
EOF

# (a) medmigrate
run_medmigrate "$LEGACY" bench_target mm
MM_ROWS=$(python3 -c 'import json, sys; print(sum(e["read"] for e in json.load(open(sys.argv[1]))["entities"]))' "$WORK/mm.json")
MM_SECS=$(wall_seconds "$WORK/mm.time")
MM_RSS_KB=$(time_field "$WORK/mm.time" 'Maximum resident set size (kbytes)')
MM_STATE=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["state"])' "$WORK/mm.json")
MM_RUN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$WORK/mm.json")

# (e) validation of (a)'s run, timed on its own (migrate ran with --no-validate
# so that (a) compares with the pipe, which proves nothing).
log "medmigrate validate $MM_RUN (bench_target against $LEGACY)"
V0=$(now)
(cd "$WORK" && "$BIN" validate "$MM_RUN" --legacy-url "$(url "$LEGACY")" \
   --target-url "$(url bench_target)" --json >"$WORK/validate.json" 2>"$WORK/validate.stderr") ||
  log "validate exited non-zero: see $WORK/validate.json and validate.stderr"
VAL_SECS=$(elapsed "$V0" "$(now)")

# (d) incremental: 1% of the legacy rows changed (generate --mutate on a copy,
# so the generated database stays as it was), then an incremental run into
# bench_target, which (a) filled.
MUT=${LEGACY}_mutated
admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $MUT WITH (FORCE)" \
  -c "CREATE DATABASE $MUT TEMPLATE $LEGACY" >/dev/null
(cd "$WORK" && "$BIN" generate --legacy-url "$(url "$MUT")" --mutate --mutate-fraction 0.01 \
   --seed "$SEED" >"$WORK/mutate.out" 2>&1) || { cat "$WORK/mutate.out" >&2; exit 1; }
log "medmigrate migrate --type incremental $MUT -> bench_target"
(cd "$WORK" && /usr/bin/time -v -o "$WORK/inc.time" \
   "$BIN" migrate --type incremental --legacy-url "$(url "$MUT")" --target-url "$(url bench_target)" \
     --json --no-validate --max-concurrency "$CONCURRENCY" >"$WORK/inc.json" 2>"$WORK/inc.stderr") || {
  tail -20 "$WORK/inc.stderr" >&2
  echo "migrate_bench.sh: incremental migrate failed (see $WORK/inc.stderr)" >&2
  exit 1
}
INC_SECS=$(wall_seconds "$WORK/inc.time")
admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $MUT WITH (FORCE)" >/dev/null

# (b) the pipe
PIPE_SECS=""
if [[ $PIPE == 1 ]]; then
  recreate_db bench_pipe
  "$BIN" init --target-url "$(url bench_pipe)" >/dev/null
  log "COPY pipe $LEGACY -> bench_pipe ($CONCURRENCY tables at once)"
  P0=$(now)
  run_pipe "$LEGACY" bench_pipe
  PIPE_SECS=$(elapsed "$P0" "$(now)")
fi

# (c) medmigrate at the small scale, for peak RSS as the scale grows
if [[ $SMALL == 1 ]]; then
  ensure_legacy small
  run_medmigrate bench_legacy_small bench_target_small mm_small
  SMALL_ROWS=$(python3 -c 'import json, sys; print(sum(e["read"] for e in json.load(open(sys.argv[1]))["entities"]))' "$WORK/mm_small.json")
  SMALL_SECS=$(wall_seconds "$WORK/mm_small.time")
  SMALL_RSS_KB=$(time_field "$WORK/mm_small.time" 'Maximum resident set size (kbytes)')
fi

# ---------------------------------------------------------------------------
# Summary. Rows of the pipe = rows it loaded (it reads the same legacy rows as
# medmigrate; the tables it filters lose only the rows medmigrate rejects).
python3 - "$WORK" "$SCALE" "$SEED" "$CONCURRENCY" "$MM_SECS" "$MM_RSS_KB" "$MM_STATE" "$PIPE_SECS" \
  "${SMALL_ROWS:-}" "${SMALL_SECS:-}" "${SMALL_RSS_KB:-}" "$INC_SECS" "$VAL_SECS" <<'EOF'
import json, sys
work, scale, seed, conc = sys.argv[1:5]
mm_secs, mm_rss_kb, mm_state = float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
pipe_secs = float(sys.argv[8]) if sys.argv[8] else None  # --no-pipe
small_rows, small_secs, small_rss = sys.argv[9:12]
mm = json.load(open(f"{work}/mm.json"))
ents = {e["entity"]: e for e in mm["entities"]}
order = ["offices", "profiles", "projects", "workflow_templates", "workflow_template_tasks",
         "doctors", "patients", "orders", "treatment_plans", "jaws", "products",
         "instruction_states"]
pipe = {}
for t in order:
    if pipe_secs is None:
        pipe[t] = (None, None)
        continue
    n, secs = open(f"{work}/pipe.{t}").read().split()
    pipe[t] = (int(n), float(secs))
mm_read = sum(e["read"] for e in ents.values())
mm_loaded = sum(e["loaded"] for e in ents.values())
pipe_loaded = sum(n or 0 for n, _ in pipe.values())
mb = lambda kb: kb / 1024
print()
print(f"medmigrate bench: scale {scale}, seed {seed}, concurrency {conc}")
print(f"{'table':<26}{'mm read':>11}{'mm loaded':>11}{'mm rej':>9}{'mm s':>9}{'pipe rows':>11}{'pipe s':>9}")
mismatches = []
for t in order:
    e = ents.get(t, {"read": 0, "loaded": 0, "rejected": 0, "seconds": 0.0})
    n, secs = pipe[t]
    if n is None:
        print(f"{t:<26}{e['read']:>11}{e['loaded']:>11}{e['rejected']:>9}{e['seconds']:>9.1f}{'-':>11}{'-':>9}")
        continue
    flag = "" if n == e["loaded"] else "  <- differs"
    if flag:
        mismatches.append(f"{t}: medmigrate loaded {e['loaded']}, pipe {n}")
    print(f"{t:<26}{e['read']:>11}{e['loaded']:>11}{e['rejected']:>9}{e['seconds']:>9.1f}{n:>11}{secs:>9.1f}{flag}")
print("(per-table seconds overlap: tables run in parallel; the pipe's include each table's ANALYZE, not the post-load steps)")
print()
print(f"medmigrate: {mm_read} rows read ({mm_loaded} loaded) in {mm_secs:.1f} s = {mm_read / mm_secs:,.0f} rows/s  [state {mm_state}]")
dd = mm.get("dedup")
if dd:
    print(f"  of which dedup phase: {dd['records']} records, {dd['candidate_pairs']} candidate pairs, "
          f"{dd['auto_merges']} merged automatically, {dd['review_pairs']} to review, {dd['seconds']:.1f} s")
if pipe_secs is not None:
    print(f"COPY pipe:  {pipe_loaded} rows loaded in {pipe_secs:.1f} s = {pipe_loaded / pipe_secs:,.0f} rows/s (same legacy rows read: {mm_read / pipe_secs:,.0f} rows/s)")
    ratio = mm_secs / pipe_secs
    print(f"ratio medmigrate_time / pipe_time: {ratio:.2f}")
else:
    ratio = None
    print("COPY pipe: not measured (--no-pipe)")
print(f"medmigrate peak RSS: {mb(mm_rss_kb):.1f} MB at scale {scale}")
if small_rss:
    print(f"medmigrate peak RSS: {mb(int(small_rss)):.1f} MB at scale small ({int(small_rows)} rows in {float(small_secs):.1f} s)")
for m in mismatches:
    print(f"warning: row counts differ: {m}")
if pipe_secs is not None and not mismatches:
    print(f"row counts: pipe equals medmigrate's loaded count on every table ({pipe_loaded})")
peak = max(mm_rss_kb, int(small_rss) if small_rss else 0)
if ratio is not None:
    print(f"target: end-to-end within 1.5x of the pipe: {'yes' if ratio <= 1.5 else 'no'} ({ratio:.2f})")
print(f"target: peak RSS under 256 MB: {'yes' if mb(peak) < 256 else 'no'} ({mb(peak):.1f} MB)")
inc_secs = float(sys.argv[12])
inc = json.load(open(f"{work}/inc.json"))
tot = lambda k: sum(e[k] for e in inc["entities"])
print(f"incremental after 1% changed: {tot('read')} rows read, {tot('inserted')} inserted, "
      f"{tot('updated')} updated, {tot('unchanged')} unchanged, {tot('deleted')} deleted in "
      f"{inc_secs:.1f} s [state {inc['state']}]")
if inc.get("dedup"):
    print(f"  of which dedup phase: {inc['dedup']['seconds']:.1f} s")
share = inc_secs / mm_secs
print(f"target: incremental under 10% of the full run's time: {'yes' if share < 0.10 else 'no'} ({share:.1%})")
val_secs = float(sys.argv[13])
try:
    val = json.load(open(f"{work}/validate.json"))
except (OSError, ValueError):
    val = {}
vshare = val_secs / mm_secs
print(f"validation of the full run: {val_secs:.1f} s, {'passed' if val.get('passed') else 'FAILED'}")
print(f"target: validation under a quarter of the migration's time: {'yes' if vshare < 0.25 else 'no'} ({vshare:.1%})")
EOF
