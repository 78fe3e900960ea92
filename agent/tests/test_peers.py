"""`probe_peers`: real sockets on loopback, one listening and one closed port."""

import socket

import pytest

from dockercloud_agent.peers import PeerArgsError, parse, probe


def test_names_the_ports_that_refuse_in_the_order_given():
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen(4)
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        open_port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        peers, timeout = parse(
            {"peers": [{"host": "127.0.0.1", "port": p} for p in (closed_port, open_port)]}
        )
        assert probe(peers, timeout) == ["127.0.0.1:%d" % closed_port]
        assert probe([("127.0.0.1", open_port)], timeout) == []


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"peers": "10.0.0.1"},
        {"peers": [{"host": "example.com", "port": 7946}]},
        {"peers": [{"host": "10.0.0.1", "port": 0}]},
        {"peers": [{"host": "10.0.0.1", "port": True}]},
        {"peers": [{"host": "10.0.0.1", "port": 7946}] * 257},
        {"peers": [], "timeout": "2"},
    ],
)
def test_refuses_malformed_or_unbounded_arguments(args):
    with pytest.raises(PeerArgsError):
        parse(args)


def test_bounds_the_timeout():
    assert parse({"peers": [], "timeout": 3600})[1] == 5.0
    assert parse({"peers": [], "timeout": 0})[1] == 0.1
