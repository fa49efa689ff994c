#!/bin/sh
# The task's own entrypoint: a service that takes a while to come up, then the command.
(sleep 3 && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/www) \
  > /var/log/server.log 2>&1 &
exec "$@"
