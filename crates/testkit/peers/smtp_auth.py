"""An SMTP server with AUTH for the connected-mailbox tests: aiosmtpd's Controller on a loopback
port, accepting one account (without TLS: auth_require_tls=False, loopback only), delivering into
a maildir.

    python3 smtp_auth.py PORT MAILDIR USER
    python3 smtp_auth.py PORT MAILDIR USER --xoauth2 INTROSPECTION_URL

With a password (first form: PLAIN or LOGIN), the password is read from the environment
(SMTP_PEER_PASSWORD), not the command line, so it does not show in the process list.

With --xoauth2, only SASL XOAUTH2 is offered (as Gmail and Microsoft 365 do for OAuth2 clients):
the initial response `user=USER^Aauth=Bearer TOKEN^A^A` is accepted only when the OAuth2 server
that issued the token says it is active (RFC 7662 introspection at INTROSPECTION_URL) for this
very account (its `email`). Each accepted token's id (`jti`, never the token) is appended to
MAILDIR/../xoauth2.log, so a test can tell which token a message was sent with.

The process runs until it is killed.
"""

import asyncio
import base64
import collections
import json
import os
import sys
import threading
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class OneAccount:
    """Accepts exactly one user name and password."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


def introspect(url, token):
    """The OAuth2 server's word on a token (RFC 7662)."""
    body = urllib.parse.urlencode({"token": token}).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def token_id(token):
    """The `jti` of a JWT access token, read without verifying (introspection did that)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload)).get("jti", "")
    except (IndexError, ValueError):
        return ""


class LongAuthSMTP(SMTP):
    """aiosmtpd's SMTP, taking AUTH lines as long as RFC 4954 §4 allows (12288 octets): an XOAUTH2
    initial response carries a JWT, past aiosmtpd's default 512."""

    line_length_limit = 16384

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit, {"AUTH": 12288})


class LongAuthController(Controller):
    def factory(self):
        return LongAuthSMTP(self.handler, **self.SMTP_kwargs)


class XOAuth2Mailbox(Mailbox):
    """Delivers into a maildir; logs in with XOAUTH2 only (aiosmtpd calls `auth_XOAUTH2`)."""

    def __init__(self, maildir, user, introspection_url, log_path):
        super().__init__(maildir)
        self.user = user
        self.introspection_url = introspection_url
        self.log_path = log_path

    async def auth_XOAUTH2(self, server, args):
        if len(args) != 2:
            # No initial response: lettre and the Relais engine always send one.
            return AuthResult(success=False, handled=False)
        try:
            fields = base64.b64decode(args[1], validate=True).decode().split("\x01")
        except (ValueError, UnicodeDecodeError):
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        user = next((f[len("user="):] for f in fields if f.startswith("user=")), "")
        auth = next((f[len("auth="):] for f in fields if f.startswith("auth=")), "")
        if not auth.startswith("Bearer ") or user != self.user:
            return AuthResult(success=False, handled=False)
        token = auth[len("Bearer "):]
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, introspect, self.introspection_url, token)
        except OSError:
            return AuthResult(success=False, handled=False, message="454 4.7.0 Temporary authentication failure")
        if answer.get("active") is not True or answer.get("email") != self.user:
            return AuthResult(success=False, handled=False)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(token_id(token) + "\n")
        return AuthResult(success=True, auth_data=user)


def main():
    port, maildir, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if len(sys.argv) == 6 and sys.argv[4] == "--xoauth2":
        log_path = os.path.join(os.path.dirname(os.path.abspath(maildir)), "xoauth2.log")
        handler = XOAuth2Mailbox(maildir, user, sys.argv[5], log_path)
        controller = LongAuthController(
            handler,
            hostname="127.0.0.1",
            port=port,
            auth_require_tls=False,
            auth_required=True,
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )
    else:
        password = os.environ["SMTP_PEER_PASSWORD"]
        controller = Controller(
            Mailbox(maildir),
            hostname="127.0.0.1",
            port=port,
            authenticator=OneAccount(user, password),
            auth_require_tls=False,
            auth_required=True,
        )
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
