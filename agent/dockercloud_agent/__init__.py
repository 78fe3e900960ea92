"""dockercloud node agent: registration, dockerd supervision, control channel, tunnel."""

__version__ = "0.1.0"

# Exit status meaning "do not restart me" (deregistered, or not registered at all).
# `supervise` stops on it; the systemd unit has RestartPreventExitStatus=3.
EXIT_FINAL = 3
