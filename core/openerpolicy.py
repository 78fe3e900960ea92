"""Cross-Origin-Opener-Policy only where a browser honours it.

Browsers apply the header on trustworthy origins only (https, or loopback) and log a console
error for every page served over plain http at another address, which is how a first install
is often browsed (`http://10.0.0.5:8000`). Django's SecurityMiddleware would send it everywhere.
"""

import ipaddress

from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port

POLICY = "same-origin"


def _loopback(host: str) -> bool:
    name = split_domain_port(host)[0].strip("[]")  # lowercased; IPv6 keeps its brackets
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class OpenerPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.is_secure() or _loopback(request.get_host()):
            response.headers.setdefault("Cross-Origin-Opener-Policy", POLICY)
        return response
