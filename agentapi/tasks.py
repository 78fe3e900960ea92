"""Celery tasks of BYO over SSH: thin, take ids, never secrets."""

import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def ssh_install_run(install_id: int) -> None:
    """One attempt; a redelivered message finds the action started and exits quietly."""
    services.ssh_install_run(install_id=install_id)


@shared_task(acks_late=True, ignore_result=True)
def ssh_installs_forget_stale() -> None:
    count = services.ssh_installs_forget_stale()
    if count:
        log.info("blanked the secrets of %d SSH install request(s) no worker ran", count)
