# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, from Debian's packages.

sudo_cmd() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "error: '$*' needs root; run as root or install sudo" >&2
    return 1
  fi
}

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: apt-get not found; install these yourself: $*" >&2
    return 1
  fi
  echo "Installing $* (Debian packages)..." >&2
  sudo_cmd apt-get update -qq
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres_server() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

ensure_postgres() {
  have_postgres_server && return 0
  # Relais runs its own private cluster; stop Debian from creating and starting a system-wide one.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    sudo_cmd mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | sudo_cmd tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  apt_install postgresql
  have_postgres_server || { echo "error: PostgreSQL server binaries still missing" >&2; return 1; }
}

python_with_nacl() {
  local py
  for py in "${RELAIS_TEST_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c "import nacl.secret" >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

# The vault's interoperability test opens a Relais ciphertext with PyNaCl, a stock libsodium binding.
ensure_pynacl() {
  local py
  if ! py=$(python_with_nacl); then
    apt_install python3 python3-nacl || true
    if ! py=$(python_with_nacl); then
      python3 -m pip install --quiet --user pynacl 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages pynacl
      py=$(python_with_nacl) || { echo "error: could not install PyNaCl" >&2; return 1; }
    fi
  fi
  export RELAIS_TEST_PYTHON="$py"
}

# The mail tests deliver to a real SMTP peer: Debian's aiosmtpd, run by the test harness
# (crates/testkit/src/mail.rs) with RELAIS_TEST_PYTHON if it has the module, else /usr/bin/python3.
python_with_aiosmtpd() {
  local py
  for py in "${RELAIS_TEST_PYTHON:-}" /usr/bin/python3 python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c "import aiosmtpd.handlers" >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

ensure_smtp_peer() {
  python_with_aiosmtpd >/dev/null && return 0
  apt_install python3 python3-aiosmtpd
  python_with_aiosmtpd >/dev/null || { echo "error: aiosmtpd still missing (python3-aiosmtpd)" >&2; return 1; }
}

# The connected-mailbox tests log in to a real IMAP server: Debian's Dovecot, started by the test
# harness with a private configuration in a temp directory (crates/testkit/src/mail_peers.rs). The
# package's own system service is not needed (and not used) by the tests.
dovecot_binary() {
  local path
  for path in /usr/sbin/dovecot /usr/local/sbin/dovecot; do
    [ -x "$path" ] && { echo "$path"; return 0; }
  done
  return 1
}

ensure_imap_peer() {
  dovecot_binary >/dev/null && return 0
  apt_install dovecot-imapd
  dovecot_binary >/dev/null || { echo "error: dovecot still missing (dovecot-imapd)" >&2; return 1; }
}

# The Gmail / Microsoft 365 mailbox tests connect to a real OAuth2 server on loopback: npm's
# oauth2-mock-server, run by crates/testkit/peers/oauth/provider.mjs (crates/testkit/src/oauth_peer.rs).
# Installed with `npm ci` from the committed lockfile (every package pinned by version and
# integrity) into target/tools, nothing global; nothing fetched when that install is current.
# Sets RELAIS_OAUTH_PEER_MODULES. Needs Node.js 20.19 or later (the package's engines).
OAUTH_MOCK_SERVER_VERSION=8.2.3
ensure_oauth_peer() {
  local source="$PWD/crates/testkit/peers/oauth"
  local dir="${RELAIS_TOOLS_DIR:-$PWD/target/tools}/oauth2-mock-server-$OAUTH_MOCK_SERVER_VERSION"
  command -v node >/dev/null 2>&1 || apt_install nodejs
  command -v npm >/dev/null 2>&1 || apt_install npm
  if [ ! -f "$dir/node_modules/oauth2-mock-server/package.json" ] \
    || ! cmp -s "$source/package-lock.json" "$dir/package-lock.json"; then
    echo "Installing oauth2-mock-server $OAUTH_MOCK_SERVER_VERSION (npm) into $dir..." >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$source/package.json" "$source/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --silent --ignore-scripts --no-audit --no-fund >/dev/null) \
      || { rm -rf "$dir"; echo "error: could not install oauth2-mock-server $OAUTH_MOCK_SERVER_VERSION" >&2; return 1; }
  fi
  export RELAIS_OAUTH_PEER_MODULES="$dir"
}

# Stops a cluster started by Relais (fast shutdown) given the directory that holds data/.
stop_cluster() {
  local root="$1" pidfile
  [ -f "$root/postgres-location.txt" ] && root=$(cat "$root/postgres-location.txt")
  [ -d "$root/postgres" ] && root="$root/postgres"
  pidfile="$root/data/postmaster.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(head -n 1 "$pidfile")
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "warning: PostgreSQL ($pid) did not stop within 10 s" >&2
}

# The browser tests drive Debian's Chromium through its WebDriver, chromedriver.
ensure_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return 0
  fi
  apt_install chromium chromium-driver
}

# The API fuzzing of scripts/api-fuzz.sh: schemathesis from PyPI, pinned, in its own virtual
# environment under target/ (nothing installed into the system's Python). Sets SCHEMATHESIS.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
  local venv="${RELAIS_TOOLS_DIR:-$PWD/target/tools}/schemathesis-$SCHEMATHESIS_VERSION"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    local py
    py=$(command -v python3) || { apt_install python3 python3-venv; py=$(command -v python3); }
    if ! "$py" -m venv "$venv" 2>/dev/null; then
      apt_install python3-venv
      rm -rf "$venv"
      "$py" -m venv "$venv"
    fi
    echo "Installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into $venv..." >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  export SCHEMATHESIS="$venv/bin/schemathesis"
}

# The browser tests' accessibility checks (crates/testkit/src/a11y.rs): axe-core from the npm
# registry, pinned by version and integrity, unpacked under target/tools (nothing installed
# globally; nothing fetched when present). Sets RELAIS_AXE_JS to its axe.min.js.
AXE_CORE_VERSION=4.14.1
AXE_CORE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
ensure_axe() {
  local dir="${RELAIS_TOOLS_DIR:-$PWD/target/tools}/axe-core-$AXE_CORE_VERSION"
  if [ ! -s "$dir/axe.min.js" ]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    command -v python3 >/dev/null 2>&1 || apt_install python3
    local tmp tarball integrity
    tmp=$(mktemp -d)
    echo "Installing axe-core $AXE_CORE_VERSION (npm) into $dir..." >&2
    (cd "$tmp" && npm pack --silent "axe-core@$AXE_CORE_VERSION" >/dev/null) \
      || { rm -rf "$tmp"; echo "error: could not fetch axe-core $AXE_CORE_VERSION" >&2; return 1; }
    tarball="$tmp/axe-core-$AXE_CORE_VERSION.tgz"
    integrity=$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
    if [ "$integrity" != "$AXE_CORE_INTEGRITY" ]; then
      rm -rf "$tmp"
      echo "error: axe-core $AXE_CORE_VERSION does not match its pinned integrity ($integrity)" >&2
      return 1
    fi
    tar -xzf "$tarball" -C "$tmp" package/axe.min.js package/LICENSE
    mkdir -p "$dir"
    mv "$tmp/package/LICENSE" "$dir/LICENSE"
    mv "$tmp/package/axe.min.js" "$dir/axe.min.js"
    rm -rf "$tmp"
  fi
  export RELAIS_AXE_JS="$dir/axe.min.js"
}
