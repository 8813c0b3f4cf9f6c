#!/bin/sh
# Installs a flynn-edge release tarball (made by `npm run release`) on this host:
#   /opt/flynn-edge/releases/<version>   the tree, checked against its SHA256SUMS before use
#   /opt/flynn-edge/current              a link to the release in use
#   /usr/local/bin/flynn-host, flynn     wrappers that run it with `node` from PATH (or $NODE)
#   /lib/systemd/system/flynn-host.service
#   /etc/flynn, /var/lib/flynn, /var/log/flynn
# /etc/flynn/host.json is never written here: `flynn-host init` makes it. A second run with the
# same tarball changes nothing. --root DIR installs under DIR as if it were /, and the paths
# written into the wrappers and the unit point inside DIR, so that install runs from there too.
set -eu

usage() {
  echo "usage: install.sh [--root DIR] [--no-systemd] TARBALL" >&2
  exit 2
}
die() {
  echo "install.sh: $*" >&2
  exit 1
}

ROOT=""
SYSTEMD=1
TARBALL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || usage; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --no-systemd) SYSTEMD=0; shift ;;
    -h|--help) usage ;;
    -*) echo "install.sh: unknown flag $1" >&2; usage ;;
    *) [ -z "$TARBALL" ] || usage; TARBALL="$1"; shift ;;
  esac
done
[ -n "$TARBALL" ] || usage
[ -f "$TARBALL" ] || die "no such file: $TARBALL"
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != "/" ] || ROOT=""
fi

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
if ! "${NODE:-node}" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "install.sh: warning: flynn-edge needs Node.js >= 20 as \`node\` on PATH (or NODE=/path/to/node)" >&2
fi

# The tarball holds one folder, flynn-edge-<version>/, with VERSION and SHA256SUMS in it.
TOP=$(tar -tzf "$TARBALL" | head -n 1 | cut -d/ -f1)
case "$TOP" in flynn-edge-?*) ;; *) die "$TARBALL is not a flynn-edge release" ;; esac
VERSION=$(tar -xzOf "$TARBALL" "$TOP/VERSION" 2>/dev/null) || die "$TARBALL has no VERSION"
case "$VERSION" in *[!A-Za-z0-9._+-]*|"") die "bad VERSION in $TARBALL" ;; esac

BASE="$ROOT/opt/flynn-edge"
REL="$BASE/releases/$VERSION"
CHANGED=0
changed() {
  CHANGED=1
  echo "$*"
}

TMP=""
cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# 1. The release tree: unpacked beside its final place, checked, then renamed into it.
mkdir -p "$BASE/releases"
if [ -f "$REL/SHA256SUMS" ] && tar -xzOf "$TARBALL" "$TOP/SHA256SUMS" | cmp -s - "$REL/SHA256SUMS"; then
  :
else
  TMP=$(mktemp -d "$BASE/releases/.unpack.XXXXXX")
  tar -xzf "$TARBALL" -C "$TMP" --no-same-owner
  (cd "$TMP/$TOP" && sha256sum -c --quiet --strict SHA256SUMS) || die "checksum mismatch in $TARBALL"
  chmod 755 "$TMP/$TOP"
  if [ -e "$REL" ]; then
    rm -rf "$REL.old"
    mv "$REL" "$REL.old"
  fi
  mv "$TMP/$TOP" "$REL"
  rm -rf "$REL.old"
  changed "unpacked $VERSION to $REL"
fi

# 2. `current` → releases/<version> (relative, so the tree can be moved).
if [ "$(readlink "$BASE/current" 2>/dev/null || true)" != "releases/$VERSION" ]; then
  ln -sfn "releases/$VERSION" "$BASE/current.new"
  mv -T "$BASE/current.new" "$BASE/current"
  changed "current -> releases/$VERSION"
fi

# Writes $2 to $1 (mode $3) only when it differs.
put() {
  if [ -f "$1" ] && printf '%s' "$2" | cmp -s - "$1"; then
    [ "$(stat -c %a "$1")" = "$3" ] || { chmod "$3" "$1"; changed "chmod $3 $1"; }
    return 0
  fi
  mkdir -p "$(dirname "$1")"
  printf '%s' "$2" >"$1.new"
  chmod "$3" "$1.new"
  mv -f "$1.new" "$1"
  changed "wrote $1"
}

# 3. Command wrappers.
for cmd in flynn-host flynn; do
  put "$ROOT/usr/local/bin/$cmd" "#!/bin/sh
# flynn-edge: runs $cmd from the release in use (installed by install.sh).
exec \"\${NODE:-node}\" $BASE/current/apps/cli/bin/$cmd.js \"\$@\"
" 755
done

# 4. The systemd unit, ExecStart pointing at the wrapper under the same root.
UNIT_SRC="$REL/packaging/flynn-host.service"
[ -f "$UNIT_SRC" ] || die "$TARBALL has no packaging/flynn-host.service"
UNIT_TEXT=$(sed "s#^ExecStart=/usr/local/bin/#ExecStart=$ROOT/usr/local/bin/#" "$UNIT_SRC")
UNIT="$ROOT/lib/systemd/system/flynn-host.service"
UNIT_BEFORE=$CHANGED
CHANGED=0
put "$UNIT" "$UNIT_TEXT
" 644
UNIT_CHANGED=$CHANGED
[ "$UNIT_BEFORE" = 0 ] || CHANGED=1

# 5. Configuration, state and log folders (host.json is `flynn-host init`'s, never touched here).
for d in "etc/flynn:755" "var/lib/flynn:700" "var/log/flynn:755"; do
  dir="$ROOT/${d%%:*}"
  mode="${d##*:}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    chmod "$mode" "$dir"
    changed "created $dir"
  fi
done

# 6. systemd: check the unit; on a real root, load it (it is started after `flynn-host init`).
if [ "$SYSTEMD" = 1 ] && [ "$UNIT_CHANGED" = 1 ] && command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$UNIT" || die "systemd-analyze verify $UNIT failed"
fi
if [ "$SYSTEMD" = 1 ] && [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if [ "$UNIT_CHANGED" = 1 ]; then systemctl daemon-reload; fi
  if ! systemctl is-enabled --quiet flynn-host 2>/dev/null; then
    systemctl enable --quiet flynn-host
    changed "enabled flynn-host.service"
  fi
fi

if [ "$CHANGED" = 0 ]; then
  echo "flynn-edge $VERSION already installed; nothing changed"
else
  echo "flynn-edge $VERSION installed in ${ROOT:-/}"
  if [ ! -f "$ROOT/etc/flynn/host.json" ]; then
    echo "next: flynn-host init --peer-ips=<ips> --external-ip=<this host's ip>, then systemctl start flynn-host"
  fi
fi
