"""An SMTP server with AUTH for the connected-mailbox tests: aiosmtpd's Controller on a loopback
port, accepting one user name and password (PLAIN or LOGIN, without TLS: auth_require_tls=False,
loopback only), delivering into a maildir.

    python3 smtp_auth.py PORT MAILDIR USER

The password is read from the environment (SMTP_PEER_PASSWORD), not the command line, so it does
not show in the process list. The process runs until it is killed.
"""

import os
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


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


def main():
    port, maildir, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
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
