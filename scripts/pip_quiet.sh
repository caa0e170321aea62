# Sourced by setup.sh and install_cellprofiler.sh: `pip_quiet CMD...` runs a pip command and
# keeps its stderr except one kind of note; `pip_quiet_summary` (at the end of the script that
# sourced this first) says in one line how many such notes were left out.
#
# Some machines' pip configuration (/etc/pip.conf, PIP_* variables) names local package
# indexes as file:// URLs that hold folders for only some packages. pip then prints
# "WARNING: Location 'file:///.../simple/NAME/' is ignored: it is neither a file nor a
# directory." once per package it looks up there and does not find; nothing is wrong (the
# other indexes serve those packages).
_PIP_LOCATION_NOTE="^WARNING: Location 'file://[^']*' is ignored: it is neither a file nor a directory\.$"
if [ -z "${PIP_QUIET_TALLY:-}" ]; then
  PIP_QUIET_TALLY=$(mktemp)
  export PIP_QUIET_TALLY
  _PIP_QUIET_OWNER=1
fi

pip_quiet() {
  local err rc=0
  err=$(mktemp)
  "$@" 2>"$err" || rc=$?
  grep -cE "$_PIP_LOCATION_NOTE" "$err" >>"$PIP_QUIET_TALLY" || true
  grep -vE "$_PIP_LOCATION_NOTE" "$err" >&2 || true
  rm -f "$err"
  return "$rc"
}

pip_quiet_summary() {
  [ -n "${_PIP_QUIET_OWNER:-}" ] || return 0
  local hidden
  hidden=$(awk '{ n += $1 } END { print n + 0 }' "$PIP_QUIET_TALLY")
  rm -f "$PIP_QUIET_TALLY"
  if [ "$hidden" -gt 0 ]; then
    echo "setup: left out $hidden pip notes about packages absent from a local file:// index named in this machine's pip config (they came from the other indexes)"
  fi
}
