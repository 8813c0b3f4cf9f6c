// The backend (nginx serving `ok` and a 1 MB / 64 MB file) and the anchor proxies: nginx (HTTP,
// HTTPS and stream), HAProxy (HTTP and TCP), each with its own config in a temp directory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, tcpReady, waitFor } from './lib.mjs';

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function nginxCommon(dir, name) {
  const d = join(dir, name);
  mkdirSync(join(d, 'tmp'), { recursive: true });
  return {
    d,
    head: `pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
worker_rlimit_nofile 16384;`,
    httpHead: `access_log off;
  client_body_temp_path ${d}/tmp/body;
  proxy_temp_path ${d}/tmp/proxy;
  fastcgi_temp_path ${d}/tmp/fastcgi;
  uwsgi_temp_path ${d}/tmp/uwsgi;
  scgi_temp_path ${d}/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;`,
  };
}

async function runNginx(d, conf, ports) {
  writeFileSync(join(d, 'nginx.conf'), conf);
  const proc = startProcess('nginx', ['-p', d, '-c', join(d, 'nginx.conf')]);
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`nginx exited: ${proc.log()}`);
      for (const p of ports) if (!(await tcpReady(p))) return false;
      return true;
    },
    { what: `nginx ${d}` },
  );
  return proc;
}

/**
 * The backend all proxies talk to: `GET /` answers `ok` (2 bytes, keep-alive), `/1mb` and `/64mb`
 * are static files. One worker without a master, so it is one pid.
 */
export async function startBackend(dir, port) {
  const { d, head, httpHead } = nginxCommon(dir, 'backend');
  mkdirSync(join(d, 'www'), { recursive: true });
  writeFileSync(join(d, 'www', '1mb'), Buffer.alloc(1 << 20, 'a'));
  writeFileSync(join(d, 'www', '64mb'), Buffer.alloc(64 << 20, 'b'));
  const conf = `daemon off;
master_process off;
worker_processes 1;
${head}
events { worker_connections 8192; }
http {
  ${httpHead}
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = / { default_type text/plain; return 200 "ok"; }
    location / { root ${d}/www; }
  }
}
`;
  return runNginx(d, conf, [port]);
}

/** nginx as a reverse proxy with upstream keep-alive: HTTP on `port`, HTTPS on `tlsPort`. */
export async function startNginxProxy(dir, { name, workers, port, tlsPort, backendPort, cert, key }) {
  const { d, head, httpHead } = nginxCommon(dir, name);
  writeFileSync(join(d, 'cert.pem'), cert);
  writeFileSync(join(d, 'key.pem'), key);
  const conf = `daemon off;
master_process on;
worker_processes ${workers};
${head}
events { worker_connections 8192; }
http {
  ${httpHead}
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    listen 127.0.0.1:${tlsPort} ssl backlog=4096;
    ssl_certificate ${d}/cert.pem;
    ssl_certificate_key ${d}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
  return runNginx(d, conf, [port, tlsPort]);
}

/** nginx `stream` (libnginx-mod-stream): a TCP proxy from `port` to the backend. */
export async function startNginxStream(dir, { port, backendPort, workers = 1 }) {
  const { d, head } = nginxCommon(dir, `stream-${workers}`);
  const conf = `load_module ${STREAM_MODULE};
daemon off;
master_process on;
worker_processes ${workers};
${head}
events { worker_connections 8192; }
stream {
  server {
    listen 127.0.0.1:${port} backlog=4096;
    proxy_pass 127.0.0.1:${backendPort};
  }
}
`;
  return runNginx(d, conf, [port]);
}

/**
 * HAProxy 1 thread: HTTP (http-reuse always) on `port`, HTTPS on `tlsPort`, TCP mode on `tcpPort`.
 */
export async function startHaproxy(dir, { port, tlsPort, tcpPort, backendPort, cert, key }) {
  const d = join(dir, 'haproxy');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'cert.pem'), `${cert.trim()}\n${key.trim()}\n`);
  const conf = `global
  nbthread 1
  maxconn 8000
  tune.ssl.default-dh-param 2048
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
  tune.ssl.cachesize 0
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  option http-keep-alive
  http-reuse always
frontend http_in
  bind 127.0.0.1:${port}
  bind 127.0.0.1:${tlsPort} ssl crt ${d}/cert.pem
  option forwardfor
  default_backend be
backend be
  server s1 127.0.0.1:${backendPort}
frontend tcp_in
  mode tcp
  bind 127.0.0.1:${tcpPort}
  default_backend be_tcp
backend be_tcp
  mode tcp
  server s1 127.0.0.1:${backendPort}
`;
  writeFileSync(join(d, 'haproxy.cfg'), conf);
  const proc = startProcess('haproxy', ['-db', '-f', join(d, 'haproxy.cfg')]);
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`haproxy exited: ${proc.log()}`);
      return (await tcpReady(port)) && (await tcpReady(tlsPort)) && (await tcpReady(tcpPort));
    },
    { what: 'haproxy' },
  );
  return proc;
}
