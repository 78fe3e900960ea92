"""The docker client's TLS material: written once per organization, safely from many threads."""

import os
import shutil
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from accounts.audit import Actor
from nodes import services as node_services
from nodes.docker_client import _tls_files

from .test_registration import FACTS, make_csr

THREADS = 16
ROUNDS = 20  # the race is narrow: give it many chances


@pytest.mark.django_db(transaction=True)  # the threads read the CA through their own connections
def test_threads_of_one_worker_write_the_tls_files_at_once(owner, settings, tmp_path):
    """Probes run in the threads of one worker process: the first use of an organization's
    client certificate by several of them at once must give every one the files."""
    settings.VAR_DIR = tmp_path
    _, token = node_services.registration_token_create(
        actor=Actor(user=owner.user), organization=owner.org
    )
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    node.organization.uuid  # noqa: B018 (loaded once here, not in every thread)

    for _ in range(ROUNDS):
        shutil.rmtree(tmp_path / "tls", ignore_errors=True)  # a first use each round
        start = threading.Barrier(THREADS)

        def write(_, start=start):
            try:
                start.wait(timeout=10)
                return _tls_files(node)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(write, range(THREADS)))

        assert len(set(results)) == 1
        folder = os.path.dirname(results[0][0])
        assert sorted(os.listdir(folder)) == ["ca.pem", "cert.pem", "key.pem"]  # no leftovers
        for path in results[0]:
            assert open(path).read().startswith("-----BEGIN")
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
