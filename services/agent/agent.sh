#!/bin/sh
# spotbatch on-instance agent: runs one task attempt's step(s), detached from SSH.
# POSIX sh (dash, bash) and standard tools only: date sleep cat mv rm mkdir tail tr sed grep;
# setsid when present (else ps); curl or GNU wget for the watcher. docs/agent.md lists them.
# See docs/agent.md for the task dir files and the exit code conventions.
#
#   cd <task dir> && setsid sh plan/agent.sh run </dev/null >>agent.log 2>&1 &
#
# Inputs (written by the dispatcher before the start, never edited after):
#   plan/config.sh  MODE (steps|command), STEP_COUNT, STEP_NAME_<n>, STEP_TIMEOUT,
#                   STEP_TIMEOUT_<n> (a step's own timeout; STEP_TIMEOUT when unset),
#                   HEARTBEAT, KILL_GRACE, METADATA_POLL, CHECKPOINT_DIR:
#                   assignments of integers and quoted words
#   plan/env.sh     export NAME='value' lines (single-quote escaped)
#   plan/args.sh    set -- 'word' ...: the task args (steps mode) or argv + args (command mode)
#   plan/step-<n>.sh  the step scripts (steps mode)
# Outputs: agent.pid started-at heartbeat step.pid step.pgid .term-<pid>/ step.current stdout stderr
#          timed-out notice rebalance ended-at exit-status (last), agent.log (the
#          agent's own lines), .imds/ (the metadata watcher's scratch files).

set -u

TIMED_OUT_CODE=124      # a step that ran past its timeout (as coreutils timeout)
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
# seconds in $1. Every METADATA_POLL seconds it starts one poll of the instance
# metadata service in the background (never two at once), so a slow or absent
# service never holds up the heartbeat or the timeout. The poll (IMDSv2 token
# reused until near expiry, IMDSv1 when the token PUT fails; curl, else wget;
# 2 s per request) looks at:
#   latest/meta-data/spot/instance-action  -> writes `notice` (the service's
#       JSON plus "seenAt"), TERMs the step's process group once; no further step
#   latest/meta-data/events/recommendations/rebalance -> writes `rebalance` once
# Scratch files (token, answers) live in .imds/ in the task dir.
IMDS_TOKEN_TTL=21600    # seconds asked for a token (the service's maximum)
IMDS_TOKEN_MARGIN=60    # a token with less than this left is renewed
_imds_next=0
_imds_pid=

watch_metadata() {
  [ "$IMDS_ENABLED" = 1 ] || return 0
  # Both files written: nothing left to watch for.
  [ -e "$TASK_DIR/notice" ] && [ -e "$TASK_DIR/rebalance" ] && return 0
  if [ -n "$_imds_pid" ] && kill -0 "$_imds_pid" 2>/dev/null; then return 0; fi
  [ "$1" -ge "$_imds_next" ] || return 0
  _imds_next=$(($1 + METADATA_POLL))
  poll_metadata "$1" &
  _imds_pid=$!
}

# Stop a poll in flight (the watchdog is ending).
stop_metadata_poll() {
  [ -n "$_imds_pid" ] && kill "$_imds_pid" 2>/dev/null
  _imds_pid=
}

# imds_http METHOD PATH NAME [HEADER]: the answer's body goes to .imds/NAME;
# prints the HTTP status (000: no answer). Proxy variables and ~/.curlrc are ignored.
imds_http() {
  _body="$IMDS_DIR/$3"
  rm -f "$_body"
  if command -v curl >/dev/null 2>&1; then
    curl -q -s --noproxy '*' --connect-timeout 1 -m 2 -X "$1" ${4:+-H "$4"} \
      -o "$_body" -w '%{http_code}' "$IMDS_ENDPOINT$2" 2>/dev/null || :
  elif command -v wget >/dev/null 2>&1; then
    # GNU wget; busybox wget cannot PUT, which means IMDSv1.
    _m=
    [ "$1" = PUT ] && _m=--method=PUT
    wget -q -S -T 2 -t 1 -O "$_body" ${4:+--header="$4"} ${_m:+"$_m"} \
      "$IMDS_ENDPOINT$2" 2>"$IMDS_DIR/headers" || :
    _st=$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$IMDS_DIR/headers" 2>/dev/null | tail -n 1)
    printf '%s' "${_st:-000}"
  else
    if [ ! -e "$IMDS_DIR/no-client-logged" ]; then
      : > "$IMDS_DIR/no-client-logged"
      log "metadata: neither curl nor wget found: interruption notices cannot be seen"
    fi
    printf '000'
  fi
}

# A token for IMDSv2 (printed), reused from .imds/token until near expiry; fails when the PUT does.
imds_token() {
  _exp=$(cat "$IMDS_DIR/token-expires" 2>/dev/null) || _exp=0
  case $_exp in '' | *[!0-9]*) _exp=0 ;; esac
  if [ "$1" -lt $((_exp - IMDS_TOKEN_MARGIN)) ] && [ -s "$IMDS_DIR/token" ]; then
    cat "$IMDS_DIR/token"
    return 0
  fi
  _st=$(imds_http PUT latest/api/token token.body "X-aws-ec2-metadata-token-ttl-seconds: $IMDS_TOKEN_TTL")
  if [ "$_st" != 200 ] || [ ! -s "$IMDS_DIR/token.body" ]; then
    rm -f "$IMDS_DIR/token" "$IMDS_DIR/token-expires"
    return 1
  fi
  _tok=$(cat "$IMDS_DIR/token.body")
  put "$IMDS_DIR/token" "$_tok"
  put "$IMDS_DIR/token-expires" $(($1 + IMDS_TOKEN_TTL))
  printf '%s' "$_tok"
}

# imds_get PATH NAME NOW: GET with the token (a refused token is renewed once),
# or without one (IMDSv1) when there is none; prints the status.
imds_get() {
  _tok=$(imds_token "$3") || _tok=
  if [ -z "$_tok" ] && [ ! -e "$IMDS_DIR/v1-logged" ]; then
    : > "$IMDS_DIR/v1-logged"
    log "metadata: no IMDSv2 token from $IMDS_ENDPOINT (PUT failed): trying IMDSv1"
  fi
  _st=$(imds_http GET "$1" "$2" ${_tok:+"X-aws-ec2-metadata-token: $_tok"})
  if [ "$_st" = 401 ] && [ -n "$_tok" ]; then
    rm -f "$IMDS_DIR/token" "$IMDS_DIR/token-expires"
    _tok=$(imds_token "$3") || _tok=
    _st=$(imds_http GET "$1" "$2" ${_tok:+"X-aws-ec2-metadata-token: $_tok"})
  fi
  if [ "$_st" = 000 ] && [ ! -e "$IMDS_DIR/down-logged" ]; then
    : > "$IMDS_DIR/down-logged"
    log "metadata: no answer from $IMDS_ENDPOINT (will keep trying)"
  fi
  printf '%s' "$_st"
}

# The JSON object in .imds/NAME on one line, "seenAt": NOW added; fails when it is not an object.
imds_json_seen() {
  _j=$(tr '\n\r\t' '   ' <"$IMDS_DIR/$1" 2>/dev/null) || return 1
  _j=${_j%"${_j##*[! ]}"}
  _j=${_j#"${_j%%[! ]*}"}
  case $_j in '{'*'}') ;; *) return 1 ;; esac
  _in=${_j#?}
  _in=${_in%?}
  case $_in in *[!\ ]*) printf '%s,"seenAt":%s}' "${_j%?}" "$2" ;; *) printf '{"seenAt":%s}' "$2" ;; esac
}

# One poll (in the background): notice first, then the rebalance recommendation.
poll_metadata() {
  umask 077
  unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
  mkdir -p "$IMDS_DIR" 2>/dev/null || exit 0
  if [ ! -e "$TASK_DIR/notice" ]; then
    _st=$(imds_get latest/meta-data/spot/instance-action instance-action "$1")
    if [ "$_st" = 200 ] && grep -q '"action"' "$IMDS_DIR/instance-action" 2>/dev/null &&
      _n=$(imds_json_seen instance-action "$1") && [ ! -e "$TASK_DIR/notice" ]; then
      put "$TASK_DIR/notice" "$_n"
      log "spot interruption notice $(cat "$IMDS_DIR/instance-action"): TERM to the step's process group (once); no further step"
      term_step_once || log "(the step had its TERM already)"
    fi
  fi
  if [ ! -e "$TASK_DIR/rebalance" ]; then
    _st=$(imds_get latest/meta-data/events/recommendations/rebalance rebalance "$1")
    if [ "$_st" = 200 ]; then
      _r=$(imds_json_seen rebalance "$1") || _r="{\"seenAt\":$1}"
      put "$TASK_DIR/rebalance" "$_r"
      log "rebalance recommendation $(cat "$IMDS_DIR/rebalance"): recorded, step left running"
    fi
  fi
  exit 0
}
# <<< INTERRUPTION WATCHER <<<

# TERM to the running step, at most once per step whoever asks (a stop, the timeout, a notice; the agent,
# its watchdog or stopAgent): the first to create .term-<step pid> sends it. Fails when the TERM was
# already sent (or there is no step).
term_step_once() {
  _sp=$(cat "$TASK_DIR/step.pid" 2>/dev/null) || _sp=
  [ -n "$_sp" ] && mkdir "$TASK_DIR/.term-$_sp" 2>/dev/null && signal_step TERM
}

# The watchdog is done: its tick's sleep and a poll in flight go with it.
watchdog_exit() {
  [ -n "$_tick" ] && kill "$_tick" 2>/dev/null
  stop_metadata_poll
  exit 0
}

# Runs in the background beside a step: heartbeat, step timeout, stop request.
# $1: the step's start (epoch seconds), $2: its number, $3: its timeout in seconds (0: none), $4: its pid.
# It ends on TERM from the agent, and, whatever became of that TERM (dash drops a signal that arrives
# before the trap is set), at its first tick after its step's pid left step.pid: a watchdog never
# outlives its step, so it never applies its timeout to the next one. The agent waits for it.
watchdog() {
  _t0=$1
  _step=$2
  _limit=$3
  _spid=$4
  _beat=0
  _term_at=0
  _killed=0
  _tick=
  trap 'watchdog_exit' TERM
  while :; do
    [ "$(cat "$TASK_DIR/step.pid" 2>/dev/null)" = "$_spid" ] || watchdog_exit
    _t=$(now)
    if [ $((_t - _beat)) -ge "$HEARTBEAT" ]; then
      put "$TASK_DIR/heartbeat" "$_t"
      _beat=$_t
    fi
    if [ "$_term_at" -eq 0 ]; then
      if [ "$_limit" -gt 0 ] && [ $((_t - _t0)) -ge "$_limit" ]; then
        put "$TASK_DIR/timed-out" "$_step $_limit"
        if term_step_once; then
          log "step $_step ran past its timeout of ${_limit}s: TERM to its process group"
        else
          log "step $_step ran past its timeout of ${_limit}s (already sent TERM)"
        fi
        _term_at=$_t
      elif [ -e "$TASK_DIR/stop-requested" ]; then
        if term_step_once; then log "stop requested: TERM to the step's process group"; fi
        _term_at=$_t
      fi
    elif [ "$_killed" -eq 0 ] && [ $((_t - _term_at)) -ge "$KILL_GRACE" ]; then
      log "step still running ${KILL_GRACE}s after TERM: KILL"
      signal_step KILL
      _killed=1
    fi
    watch_metadata "$_t"
    # A trapped TERM ends `wait` at once (it would wait for a foreground sleep to end).
    sleep 1 &
    _tick=$!
    wait "$_tick"
    _tick=
  done
}

# TERM or INT to the agent itself: stop like stopAgent does.
on_stop_signal() {
  : > "$TASK_DIR/stop-requested"
  term_step_once
  interrupted=1
}

# Launch step $1 in its own process group, wait for it; returns its exit code.
run_step() {
  _n=$1
  _name=
  eval "_name=\${STEP_NAME_$_n}"
  # The step's own timeout, else the run's.
  eval "_limit=\${STEP_TIMEOUT_$_n:-\$STEP_TIMEOUT}"
  case $_limit in '' | *[!0-9]*) log "step $_n: timeout '$_limit' is not a number of seconds: using ${STEP_TIMEOUT}s"; _limit=$STEP_TIMEOUT ;; esac
  put "$TASK_DIR/step.current" "$_n $_name"
  rm -f "$TASK_DIR/timed-out"
  log "step $_n ($_name) starting, timeout ${_limit}s"
  (
    # The step's own environment: the login environment, SPOTBATCH_* and the plan's variables.
    # What runs is fixed before the user's env.sh is sourced, as the positional parameters
    # "<steps|command> <setsid or -> <program> <args>...": after env.sh only "$@" is read and
    # nothing is assigned, so no user variable (MODE, PLAN, SH, TASK_DIR, PATH ...) can change
    # what the agent does, and none of the agent's own (unexported) variables reach the step.
    cd "$WORK_DIR" || exit 126
    # The plan files are written per run by the dispatcher (agent-files.ts): nothing for shellcheck to follow.
    # shellcheck source=/dev/null
    . "$PLAN/args.sh"
    if [ "$MODE" = steps ]; then
      set -- steps "${SETSID:--}" "$SH" "$PLAN/step-$_n.sh" "$@"
    else
      set -- command "${SETSID:--}" "$@"
    fi
    SPOTBATCH_TASK_DIR=$TASK_DIR
    SPOTBATCH_STEP=$_n
    SPOTBATCH_STEP_NAME=$_name
    export SPOTBATCH_TASK_DIR SPOTBATCH_STEP SPOTBATCH_STEP_NAME
    if [ -n "$CHECKPOINT_DIR" ]; then
      SPOTBATCH_CHECKPOINT_DIR=$WORK_DIR/$CHECKPOINT_DIR
      export SPOTBATCH_CHECKPOINT_DIR
    fi
    # shellcheck source=/dev/null
    . "$PLAN/env.sh"
    # Command mode: the program is looked up on the step's PATH (the user's, when env sets one).
    if [ "$1" = command ] && ! command -v "$3" >/dev/null 2>&1; then
      printf 'spotbatch agent: %s: command not found\n' "$3" >&2
      exit 127
    fi
    if [ "$2" = - ]; then shift 2; else shift 1; fi
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
  [ -e "$TASK_DIR/stop-requested" ] && term_step_once
  watchdog "$(now)" "$_n" "$_limit" "$_pid" &
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
  # The step is over: its pid leaves step.pid (which alone ends the watchdog at its next tick), then
  # TERM for a prompt end, and wait, so that no watchdog outlives its step.
  rm -f "$TASK_DIR/step.pgid" "$TASK_DIR/step.pid"
  kill "$_wd" 2>/dev/null
  while kill -0 "$_wd" 2>/dev/null; do wait "$_wd" 2>/dev/null; done
  rm -rf "$TASK_DIR/.term-$_pid"
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
  # shellcheck source=/dev/null
  . "$PLAN/config.sh"
  WORK_DIR=${HOME:-$TASK_DIR}
  SH=$(command -v sh) || SH=/bin/sh
  SETSID=
  if [ "${SPOTBATCH_AGENT_NO_SETSID:-}" != 1 ]; then SETSID=$(command -v setsid) || SETSID=; fi
  if [ -z "$SETSID" ]; then
    log "setsid not found: trying job control (set -m) for the step's process group"
    set -m 2>/dev/null || true
  fi
  CHECKPOINT_DIR=${CHECKPOINT_DIR:-}
  METADATA_POLL=${METADATA_POLL:-5}
  if [ -n "$CHECKPOINT_DIR" ] && ! mkdir -p "$WORK_DIR/$CHECKPOINT_DIR"; then
    log "cannot create the checkpoint folder $WORK_DIR/$CHECKPOINT_DIR"
  fi
  # The metadata service as the step would see it: the plan's env, else the login env.
  # shellcheck source=/dev/null
  IMDS_ENDPOINT=$(. "$PLAN/env.sh" >/dev/null 2>&1; printf '%s' "${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254/}")
  IMDS_ENDPOINT=${IMDS_ENDPOINT%/}/
  # shellcheck source=/dev/null
  IMDS_ENABLED=$(. "$PLAN/env.sh" >/dev/null 2>&1; case ${AWS_EC2_METADATA_DISABLED:-} in [Tt][Rr][Uu][Ee]) echo 0 ;; *) echo 1 ;; esac)
  IMDS_DIR=$TASK_DIR/.imds
  [ "$IMDS_ENABLED" = 1 ] || log "AWS_EC2_METADATA_DISABLED: no interruption watcher"
  _t=$(now)
  put "$TASK_DIR/started-at" "$_t"
  put "$TASK_DIR/heartbeat" "$_t"
  : >> "$TASK_DIR/stdout"
  : >> "$TASK_DIR/stderr"
  log "run started: $STEP_COUNT step(s), mode $MODE, default timeout ${STEP_TIMEOUT}s, heartbeat ${HEARTBEAT}s, metadata every ${METADATA_POLL}s at $IMDS_ENDPOINT"
  code=0
  i=1
  while [ "$i" -le "$STEP_COUNT" ]; do
    if [ -e "$TASK_DIR/stop-requested" ]; then code=$STOPPED_CODE; break; fi
    if [ "$i" -gt 1 ] && [ -e "$TASK_DIR/notice" ]; then
      log "interruption notice: step $i and after not started"
      code=$STOPPED_CODE
      break
    fi
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
