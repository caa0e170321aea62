#!/bin/sh
# The image's entrypoint: record, from inside, which container runs this job, then run it.
# Every job log of a containerised run starts with this line (tests check it), e.g.
#   starrynight-container: id=3f2a9c81b0de dockerenv=yes uid=1000 gid=1000
# A container's hostname is its short id unless --hostname overrides it.
dockerenv=no
[ -e /.dockerenv ] && dockerenv=yes
echo "starrynight-container: id=$(cat /etc/hostname 2>/dev/null || hostname) dockerenv=$dockerenv uid=$(id -u) gid=$(id -g)" >&2
exec "$@"
