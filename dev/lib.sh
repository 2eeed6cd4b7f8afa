# Shared by dev/run and dev/test: install and start what invsync needs on a
# Debian machine, idempotently, saying what it does. Sourced, not run.

TEMPORAL_CLI_VERSION=1.5.1
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	say "installing $* with apt-get"
	if [ -z "${APT_UPDATED:-}" ]; then
		as_root apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local secs=$1 what=$2
	shift 2
	for _ in $(seq "$secs"); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 1
	done
	say "$what did not come up within ${secs}s"
	return 1
}

ensure_go() {
	if ! command -v go >/dev/null; then
		say "Go 1.26 or newer is needed (https://go.dev/dl/); it is not on PATH"
		return 1
	fi
	# Go 1.27.3 fixes vulnerabilities in net/http, crypto/tls, crypto/x509
	# and html/template that invsync's code reaches (dev/vulncheck lists
	# them under an older Go). The go command fetches that release from the
	# module proxy once (about 76 MB) and uses it from then on.
	export GOTOOLCHAIN=go1.27.3
	export PATH="$PATH:$(go env GOPATH)/bin"
}

ensure_postgres() {
	if ! command -v pg_ctlcluster >/dev/null; then
		apt_install postgresql
	fi
	if ! pg_isready -q -h 127.0.0.1 -p 5432; then
		say "starting PostgreSQL"
		as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
		wait_for 30 PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
	fi
	if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
		# A fresh Debian install asks for passwords on TCP; the local
		# development setup trusts loopback connections instead.
		local ver hba
		ver=$(ls /etc/postgresql | sort -V | tail -1)
		hba=/etc/postgresql/$ver/main/pg_hba.conf
		say "letting loopback connections into PostgreSQL without a password ($hba)"
		as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
		wait_for 10 "PostgreSQL login" psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1'
	fi
	say "PostgreSQL is up on 127.0.0.1:5432"
}

ensure_database() { # ensure_database NAME
	if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname = '$1'" | grep -q 1; then
		say "creating database $1"
		psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $1"
	fi
}

ensure_rabbitmq() {
	if ! command -v rabbitmq-server >/dev/null; then
		apt_install rabbitmq-server
	fi
	if ! rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
		say "starting RabbitMQ"
		as_root rabbitmq-server -detached >/dev/null 2>&1 || true
		wait_for 90 RabbitMQ rabbitmq-diagnostics -q check_port_connectivity
	fi
	# The management API is where the worker reads unacked message counts.
	if ! rabbitmq-plugins list -q -e -m 2>/dev/null | grep -qx rabbitmq_management; then
		say "enabling the RabbitMQ management plugin (queue depths with unacked counts, http://127.0.0.1:15672)"
		as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
	fi
	wait_for 60 "RabbitMQ management API" rabbitmq-diagnostics -q check_port_listener 15672
	say "RabbitMQ is up on 127.0.0.1:5672, management API on 127.0.0.1:15672"
}

ensure_chromium() {
	if ! command -v chromium >/dev/null; then
		apt_install chromium
	fi
	say "headless Chromium is at $(command -v chromium)"
}

# ensure_temporal_cli installs the temporal CLI (dev server and Web UI) into
# GOPATH/bin and sets TEMPORAL_CLI to it.
ensure_temporal_cli() {
	TEMPORAL_CLI="$(go env GOPATH)/bin/temporal"
	if [ ! -x "$TEMPORAL_CLI" ] || ! go version -m "$TEMPORAL_CLI" 2>/dev/null | grep -q "github.com/temporalio/cli[[:space:]]*v$TEMPORAL_CLI_VERSION"; then
		say "building the temporal CLI v$TEMPORAL_CLI_VERSION (about 3 minutes, once)"
		GOFLAGS= go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
	fi
	export TEMPORAL_CLI
	say "temporal CLI v$TEMPORAL_CLI_VERSION is at $TEMPORAL_CLI"
}
