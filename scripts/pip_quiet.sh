# Sourced by setup.sh and install_cellprofiler.sh: `pip_quiet CMD...` runs a pip command and
# keeps its stderr except one kind of note.
#
# Some machines' pip configuration (/etc/pip.conf, PIP_* variables) names local package
# indexes as file:// URLs that hold folders for only some packages. pip then prints
# "WARNING: Location 'file:///.../simple/NAME/' is ignored: it is neither a file nor a
# directory." once per package it looks up there and does not find; nothing is wrong (the
# other indexes serve those packages). Those lines are counted and summarised in one line.
_PIP_LOCATION_NOTE="^WARNING: Location 'file://[^']*' is ignored: it is neither a file nor a directory\.$"

pip_quiet() {
  local err rc=0 hidden
  err=$(mktemp)
  "$@" 2>"$err" || rc=$?
  hidden=$(grep -cE "$_PIP_LOCATION_NOTE" "$err" || true)
  grep -vE "$_PIP_LOCATION_NOTE" "$err" >&2 || true
  rm -f "$err"
  if [ "$hidden" -gt 0 ]; then
    echo "  (pip: $hidden packages not in a local file:// index of this machine's pip config; found elsewhere)"
  fi
  return "$rc"
}
