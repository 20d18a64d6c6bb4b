#!/bin/sh
# spotbatch on-instance agent: runs one task attempt's step(s), detached from SSH.
# POSIX sh and standard tools only (date, sleep, mv, rm, cat; setsid when present).
# See docs/agent.md for the task dir files and the exit code conventions.
#
#   cd <task dir> && setsid sh plan/agent.sh run </dev/null >>agent.log 2>&1 &
#
# Inputs (written by the dispatcher before the start, never edited after):
#   plan/config.sh  MODE (steps|command), STEP_COUNT, STEP_NAME_<n>, STEP_TIMEOUT,
#                   HEARTBEAT, KILL_GRACE: assignments of integers and quoted words
#   plan/env.sh     export NAME='value' lines (single-quote escaped)
#   plan/args.sh    set -- 'word' ...: the task args (steps mode) or argv + args (command mode)
#   plan/step-<n>.sh  the step scripts (steps mode)
# Outputs: agent.pid started-at heartbeat step.pid step.pgid step.current stdout stderr
#          timed-out ended-at exit-status (last), agent.log (the agent's own lines).

set -u

TIMED_OUT_CODE=124      # a step that ran past STEP_TIMEOUT (as coreutils timeout)
STOPPED_CODE=143        # 128 + SIGTERM: stopped on request (stop-requested / TERM to the agent)

TASK_DIR=$(pwd)
PLAN="$TASK_DIR/plan"

now() { date +%s; }

# Replace a small file atomically: readers see the old or the new content, never half.
put() { printf '%s\n' "$2" > "$1.tmp" && mv -f "$1.tmp" "$1"; }

log() { printf '%s agent[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2; }

# Signal the running step: its whole process group when it has one, else its pid.
signal_step() {
  _pg=$(cat "$TASK_DIR/step.pgid" 2>/dev/null) || _pg=
  if [ -n "$_pg" ]; then
    kill -"$1" -"$_pg" 2>/dev/null
  else
    _pid=$(cat "$TASK_DIR/step.pid" 2>/dev/null) || _pid=
    [ -n "$_pid" ] && kill -"$1" "$_pid" 2>/dev/null
  fi
}

# >>> INTERRUPTION WATCHER (extension point) >>>
# Called by the watchdog about once a second while a step runs, with the epoch
# seconds in $1. The interruption work polls the instance metadata service here
# (curl "$AWS_EC2_METADATA_SERVICE_ENDPOINT" or http://169.254.169.254/, IMDSv2
# token, latest/meta-data/spot/instance-action), records the notice in a file
# of the task dir and runs the checkpoint hook. It must return quickly (poll at
# its own cadence, e.g. when $(( $1 % 5 )) = 0) and must not exit the shell.
watch_metadata() {
  :
}
# <<< INTERRUPTION WATCHER <<<

# Runs in the background beside a step: heartbeat, step timeout, stop request.
watchdog() {
  _t0=$1
  _beat=0
  _term_at=0
  _killed=0
  while :; do
    _t=$(now)
    if [ $((_t - _beat)) -ge "$HEARTBEAT" ]; then
      put "$TASK_DIR/heartbeat" "$_t"
      _beat=$_t
    fi
    if [ "$_term_at" -eq 0 ]; then
      if [ "$STEP_TIMEOUT" -gt 0 ] && [ $((_t - _t0)) -ge "$STEP_TIMEOUT" ]; then
        : > "$TASK_DIR/timed-out"
        log "step ran past its timeout of ${STEP_TIMEOUT}s: TERM to its process group"
        signal_step TERM
        _term_at=$_t
      elif [ -e "$TASK_DIR/stop-requested" ]; then
        log "stop requested: TERM to the step's process group"
        signal_step TERM
        _term_at=$_t
      fi
    elif [ "$_killed" -eq 0 ] && [ $((_t - _term_at)) -ge "$KILL_GRACE" ]; then
      log "step still running ${KILL_GRACE}s after TERM: KILL"
      signal_step KILL
      _killed=1
    fi
    watch_metadata "$_t"
    sleep 1
  done
}

# TERM or INT to the agent itself: stop like stopAgent does.
on_stop_signal() {
  : > "$TASK_DIR/stop-requested"
  signal_step TERM
  interrupted=1
}

# Launch step $1 in its own process group, wait for it; returns its exit code.
run_step() {
  _n=$1
  eval "_name=\${STEP_NAME_$_n}"
  put "$TASK_DIR/step.current" "$_n $_name"
  rm -f "$TASK_DIR/timed-out"
  log "step $_n ($_name) starting"
  (
    # The step's own environment: the plan's variables, the task args as "$@".
    cd "$WORK_DIR" || exit 126
    . "$PLAN/env.sh"
    . "$PLAN/args.sh"
    SPOTBATCH_TASK_DIR=$TASK_DIR
    SPOTBATCH_STEP=$_n
    SPOTBATCH_STEP_NAME=$_name
    export SPOTBATCH_TASK_DIR SPOTBATCH_STEP SPOTBATCH_STEP_NAME
    if [ "$MODE" = steps ]; then
      set -- "$SH" "$PLAN/step-$_n.sh" "$@"
    elif ! command -v "$1" >/dev/null 2>&1; then
      printf 'spotbatch agent: %s: command not found\n' "$1" >&2
      exit 127
    fi
    if [ -n "$SETSID" ]; then exec "$SETSID" "$@"; fi
    exec "$@"
  ) </dev/null >>"$TASK_DIR/stdout" 2>>"$TASK_DIR/stderr" &
  _pid=$!
  put "$TASK_DIR/step.pid" "$_pid"
  if [ -n "$SETSID" ]; then
    put "$TASK_DIR/step.pgid" "$_pid"
  else
    # Without setsid: a group only if job control (set -m) took effect.
    _pg=$(ps -o pgid= -p "$_pid" 2>/dev/null | tr -d ' ') || _pg=
    if [ "$_pg" = "$_pid" ]; then put "$TASK_DIR/step.pgid" "$_pid"; else log "no process group for the step: signals go to its pid only"; fi
  fi
  # A stop that came while we were launching.
  [ -e "$TASK_DIR/stop-requested" ] && signal_step TERM
  watchdog "$(now)" &
  _wd=$!
  interrupted=0
  _rc=0
  wait "$_pid" || _rc=$?
  while [ "$interrupted" -eq 1 ]; do
    # A trapped signal ended the wait early: wait for the step itself.
    interrupted=0
    _rc=0
    wait "$_pid" || _rc=$?
  done
  kill "$_wd" 2>/dev/null
  rm -f "$TASK_DIR/step.pgid" "$TASK_DIR/step.pid"
  if [ -e "$TASK_DIR/timed-out" ]; then
    _rc=$TIMED_OUT_CODE
  elif [ -e "$TASK_DIR/stop-requested" ]; then
    _rc=$STOPPED_CODE
  fi
  log "step $_n ($_name) ended: exit status $_rc"
  return "$_rc"
}

main() {
  trap '' HUP
  trap on_stop_signal TERM INT
  interrupted=0
  put "$TASK_DIR/agent.pid" "$$"
  . "$PLAN/config.sh"
  WORK_DIR=${HOME:-$TASK_DIR}
  SH=$(command -v sh) || SH=/bin/sh
  SETSID=
  if [ "${SPOTBATCH_AGENT_NO_SETSID:-}" != 1 ]; then SETSID=$(command -v setsid) || SETSID=; fi
  if [ -z "$SETSID" ]; then
    log "setsid not found: trying job control (set -m) for the step's process group"
    set -m 2>/dev/null || true
  fi
  _t=$(now)
  put "$TASK_DIR/started-at" "$_t"
  put "$TASK_DIR/heartbeat" "$_t"
  : >> "$TASK_DIR/stdout"
  : >> "$TASK_DIR/stderr"
  log "run started: $STEP_COUNT step(s), mode $MODE, timeout ${STEP_TIMEOUT}s, heartbeat ${HEARTBEAT}s"
  code=0
  i=1
  while [ "$i" -le "$STEP_COUNT" ]; do
    if [ -e "$TASK_DIR/stop-requested" ]; then code=$STOPPED_CODE; break; fi
    code=0
    run_step "$i" || code=$?
    [ "$code" -eq 0 ] || break
    i=$((i + 1))
  done
  put "$TASK_DIR/ended-at" "$(now)"
  # Written last: its presence means the run is over.
  put "$TASK_DIR/exit-status" "$code"
  log "run ended: exit status $code"
}

case "${1:-}" in
  run) main ;;
  *) echo "usage: sh plan/agent.sh run (from the task dir)" >&2; exit 2 ;;
esac
