#!/bin/sh
# The compose file's command is the official image's: `redis-server` and its options. Runs it as
# the redis user on every interface of the container, without protected mode (the compose network
# is the boundary), with its files in /data.
set -eu
[ "${1:-}" = redis-server ] && shift
chown redis:redis /data
exec runuser -u redis -- redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
