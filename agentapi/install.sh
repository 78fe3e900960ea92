#!/bin/sh
# dockercloud node installer: installs Docker Engine (from the distro) and the dockercloud agent,
# registers this host with the control plane and starts the agent.
#
#   curl -fsSL '@@SERVER@@/install/@@TOKEN@@' | sh -s -- --sha256 AGENT_SHA256
#
# Run by another user than root, it fetches itself again and runs through sudo (which asks for
# the user's password on the terminal): many servers run as root have no sudo at all.
#
# The agent is run only if its sha256 is the one the install command carries (the command
# comes from the control plane's portal or API; the download may come through anything).
# Re-running it is safe: a registered host keeps its registration, and the agent is restarted
# with the control plane's current agent.
set -eu

SERVER='@@SERVER@@'
TOKEN='@@TOKEN@@'

PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH

STATE_DIR=/var/lib/dockercloud
PYZ="$STATE_DIR/dockercloud-agent.pyz"
RUN_DIR=/run/dockercloud
LOG_DIR=/var/log/dockercloud
LOG="$LOG_DIR/agent.log"
UNIT=/etc/systemd/system/dockercloud-agent.service
PKG=
APT_UPDATED=
PYTHON=
DL_TMP=
AGENT_SHA256=

say() {
    printf 'dockercloud: %s\n' "$*"
}

die() {
    printf 'dockercloud: error: %s\n' "$*" >&2
    exit 1
}

have() {
    command -v "$1" >/dev/null 2>&1
}

cleanup() {
    if [ -n "$DL_TMP" ]; then
        rm -f "$DL_TMP"
    fi
}

parse_args() {
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --sha256)
                [ "$#" -ge 2 ] || die "--sha256 needs the agent's sha256"
                AGENT_SHA256=$2
                shift 2
                ;;
            --sha256=*)
                AGENT_SHA256=${1#--sha256=}
                shift
                ;;
            *)
                die "unknown argument '$1' (this script takes --sha256 HEX)"
                ;;
        esac
    done
    [ -n "$AGENT_SHA256" ] || die "this install command does not say which agent to trust (no --sha256): copy the whole command from the control plane"
    case "$AGENT_SHA256" in
        *[!0-9a-f]*) die "--sha256 must be 64 lowercase hex digits, got '$AGENT_SHA256'" ;;
    esac
    [ "${#AGENT_SHA256}" -eq 64 ] || die "--sha256 must be 64 lowercase hex digits, got '$AGENT_SHA256'"
}

# sha256_of FILE: its sha256 in hex (coreutils, else the python3 found by install_prerequisites)
sha256_of() {
    if have sha256sum; then
        sha256sum "$1" </dev/null | cut -d ' ' -f 1
    else
        "$PYTHON" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1" </dev/null
    fi
}

# pid_is PID WORD: PID runs and its command line contains WORD
pid_is() {
    [ -n "$1" ] || return 1
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\000' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

detect_os() {
    [ "$(uname -s)" = Linux ] || die "this installer supports Linux only (this is $(uname -s))"
    OS_NAME=Linux
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091 # the host's file, read at run time
        OS_NAME=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${NAME:-Linux}}")
    fi
    if have apt-get; then
        PKG=apt
    elif have dnf; then
        PKG=dnf
    elif have yum; then
        PKG=yum
    fi
    say "host: $OS_NAME ($(uname -m)), package manager: ${PKG:-none found}"
}

pkg_install() {
    case "$PKG" in
        apt)
            if [ -z "$APT_UPDATED" ]; then
                DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null \
                    || die "apt-get update failed: check this host's package sources and network"
                APT_UPDATED=1
            fi
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" </dev/null
            ;;
        dnf)
            dnf install -y "$@" </dev/null
            ;;
        yum)
            yum install -y "$@" </dev/null
            ;;
        *)
            return 1
            ;;
    esac
}

python_ok() {
    have python3 || return 1
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' \
        </dev/null >/dev/null 2>&1
}

install_prerequisites() {
    need=
    python_ok || need="$need python3"
    have openssl || need="$need openssl"
    if ! have curl && ! have wget; then
        need="$need curl"
    fi
    if [ -n "$need" ]; then
        [ -n "$PKG" ] || die "missing:$need. Install them (python3 must be 3.8 or newer) and re-run this script"
        say "installing$need"
        # shellcheck disable=SC2086 # word splitting of the package list is wanted
        pkg_install $need || die "could not install$need with $PKG: install them by hand and re-run this script"
    fi
    python_ok || die "python3 3.8 or newer is required (found: $(python3 --version 2>&1 || echo none)): install it and re-run this script"
    have openssl || die "openssl is required: install it and re-run this script"
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' </dev/null)
    [ -x "$PYTHON" ] || die "cannot locate the python3 interpreter (got '$PYTHON')"
}

install_docker() {
    if have dockerd; then
        say "Docker Engine found: $(dockerd --version 2>/dev/null || echo unknown version)"
        return 0
    fi
    say "installing Docker Engine from the distribution's packages"
    case "$PKG" in
        apt) pkg_install docker.io ;;
        dnf | yum) pkg_install moby-engine || pkg_install docker ;;
        *) false ;;
    esac || die "could not install Docker Engine: install it by hand (https://docs.docker.com/engine/install/) and re-run this script"
    have dockerd || die "a Docker package was installed but there is no dockerd on PATH (on RHEL the 'docker' package is podman): install Docker Engine by hand and re-run this script"
}

# The agent runs and supervises dockerd itself: the distro's docker service must not.
release_docker_service() {
    if [ -d /run/systemd/system ]; then
        for unit in docker.socket docker.service; do
            systemctl stop "$unit" >/dev/null 2>&1 || true
            systemctl disable "$unit" >/dev/null 2>&1 || true
            systemctl mask "$unit" >/dev/null 2>&1 || true
        done
    fi
    ours=$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null || true)
    for pidfile in /run/docker.pid /var/run/docker.pid; do
        [ -r "$pidfile" ] || continue
        other=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$other" ] && [ "$other" != "$ours" ] && kill -0 "$other" 2>/dev/null; then
            die "a Docker daemon not managed by dockercloud is running (pid $other, $pidfile): stop it and disable it at boot (for example: service docker stop), then re-run this script"
        fi
    done
}

download_agent() {
    mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
    chmod 755 "$STATE_DIR"
    url="$SERVER/install/agent.pyz"
    DL_TMP="$PYZ.download.$$"
    say "downloading the agent from $url"
    if have curl; then
        curl -fsSL --retry 3 --connect-timeout 20 -o "$DL_TMP" "$url" </dev/null
    else
        wget -q -T 60 -O "$DL_TMP" "$url" </dev/null
    fi || die "could not download $url: check that this host reaches the control plane at $SERVER"
    got=$(sha256_of "$DL_TMP") || die "could not compute the sha256 of the downloaded agent"
    if [ "$got" != "$AGENT_SHA256" ]; then
        rm -f "$DL_TMP"
        die "the agent downloaded from $url has sha256 $got, but the install command expects $AGENT_SHA256: not running it. If the control plane was upgraded since, get a new install command; otherwise something between this host and the control plane changed the download"
    fi
    say "agent verified (sha256 $AGENT_SHA256)"
    "$PYTHON" "$DL_TMP" version </dev/null >/dev/null 2>&1 \
        || die "the downloaded agent does not run with $PYTHON: check $url"
    chmod 755 "$DL_TMP"
    mv -f "$DL_TMP" "$PYZ"
    DL_TMP=
}

register_node() {
    "$PYTHON" "$PYZ" register --server "$SERVER" --token "$TOKEN" </dev/null \
        || die "registration failed (see above). If the token expired or was used, get a new install command from the control plane and run it"
}

start_with_systemd() {
    say "starting the agent as the systemd service dockercloud-agent"
    cat >"$UNIT" <<EOF
[Unit]
Description=dockercloud node agent (runs and supervises dockerd)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$PYTHON $PYZ run
Restart=always
RestartSec=2
# 3 = deregistered: stay stopped
RestartPreventExitStatus=3
# dockerd (and so the containers) survive agent restarts and upgrades: the agent adopts it
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
EOF
    systemctl daemon-reload || die "systemctl daemon-reload failed"
    systemctl enable dockercloud-agent.service || die "could not enable dockercloud-agent.service"
    # restart, not start: a re-run replaces a running agent with the one just downloaded
    systemctl restart dockercloud-agent.service || die "could not restart dockercloud-agent.service: see 'journalctl -u dockercloud-agent' and $LOG"
}

stop_pid() {
    pid=$1
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 40 ]; then
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
    done
}

start_with_supervisor() {
    old=$(cat "$RUN_DIR/supervise.pid" 2>/dev/null || true)
    if pid_is "$old" supervise; then
        say "stopping the previous agent supervisor (pid $old)"
        stop_pid "$old"
    fi
    old=$(cat "$RUN_DIR/agent.pid" 2>/dev/null || true)
    if pid_is "$old" dockercloud-agent; then
        say "stopping the previous agent (pid $old)"
        stop_pid "$old"
    fi
    say "starting the agent supervisor (no systemd here)"
    rm -f "$RUN_DIR/supervise.pid" "$RUN_DIR/agent.pid"
    if have setsid; then
        nohup setsid "$PYTHON" "$PYZ" supervise </dev/null >>"$LOG" 2>&1 &
    else
        nohup "$PYTHON" "$PYZ" supervise </dev/null >>"$LOG" 2>&1 &
    fi
    # supervise writes its own pid to $RUN_DIR/supervise.pid ($! may be a setsid that forked)
}

wait_for_agent() {
    i=0
    while :; do
        pid=$(cat "$RUN_DIR/agent.pid" 2>/dev/null || true)
        if pid_is "$pid" dockercloud-agent; then
            return 0
        fi
        i=$((i + 1))
        if [ "$i" -gt 30 ]; then
            tail -n 20 "$LOG" >&2 2>/dev/null || true
            die "the agent did not start within 30s: see $LOG"
        fi
        sleep 1
    done
}

# become_root ARGS: return as root, or run this installer again through sudo and exit with its
# status. The script came through a pipe, so it cannot re-run its own file: it fetches itself.
become_root() {
    [ "$(id -u)" = 0 ] && return 0
    have sudo || die "run it as root (this host has no sudo): su -c \"curl -fsSL '$SERVER/install/$TOKEN' | sh -s -- --sha256 $AGENT_SHA256\""
    say "not root: running the installer through sudo"
    if have curl; then
        curl -fsSL --retry 3 --connect-timeout 20 "$SERVER/install/$TOKEN" </dev/null | sudo sh -s -- "$@"
    elif have wget; then
        wget -q -T 60 -O - "$SERVER/install/$TOKEN" </dev/null | sudo sh -s -- "$@"
    else
        die "run it as root: this host has neither curl nor wget to fetch the installer again"
    fi
    exit $?
}

main() {
    trap cleanup EXIT
    parse_args "$@"
    become_root "$@"
    detect_os
    install_prerequisites
    install_docker
    release_docker_service
    download_agent
    register_node
    if [ -d /run/systemd/system ]; then
        start_with_systemd
    else
        start_with_supervisor
    fi
    wait_for_agent
    uuid=$("$PYTHON" "$PYZ" status --uuid </dev/null) || die "the agent is not registered: see $LOG"
    printf 'node registered: %s; agent running\n' "$uuid"
}

# Everything runs from main, so that `curl ... | sh` has read the whole script before any
# command runs (and nothing a command reads from stdin can eat the rest of it).
main "$@"
