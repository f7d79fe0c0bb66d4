# Sourced by the bench scripts. `start_nginx CONNS` starts nginx (the Debian package) on a free
# loopback port with one worker and a tiny static response, for up to CONNS concurrent
# connections; it sets WORK (a temporary directory), PORT, URL and NGINX_PID, waits until nginx
# answers, and stops it and removes WORK when the script exits.
start_nginx() {
  local conns=${1:-4096}
  local nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
  WORK=$(mktemp -d)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $(ulimit -n);
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections $((conns + 512)); }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$PORT backlog=16384;
    location / { return 200 "ok\n"; }
  }
}
CONF
  "$nginx" -c "$WORK/nginx.conf" -p "$WORK" &
  NGINX_PID=$!
  trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$WORK"' EXIT
  URL="http://127.0.0.1:$PORT/"
  for _ in $(seq 50); do curl -sf "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
}
