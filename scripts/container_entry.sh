#!/bin/sh
# The image's entrypoint: record, from inside, which container runs this job, then run it.
# Every job log of a containerised run starts with this line (tests check it), e.g.
#   starrynight-container: id=3f2a9c81b0de dockerenv=yes uid=1000 gid=1000
# The id is read from the bind mount Docker makes for /etc/hostname (its source is
# <data-root>/containers/<id>/hostname): the hostname is the host's under --network host.
dockerenv=no
[ -e /.dockerenv ] && dockerenv=yes
id=$(sed -n 's|.*/containers/\([0-9a-f]\{12\}\)[0-9a-f]*/hostname .*|\1|p' /proc/self/mountinfo | head -n 1)
echo "starrynight-container: id=${id:-unknown} dockerenv=$dockerenv uid=$(id -u) gid=$(id -g)" >&2
exec "$@"
