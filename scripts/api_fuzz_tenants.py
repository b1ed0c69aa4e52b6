"""Prepares the two tenants `scripts/api-fuzz.sh` runs schemathesis as, on a `relais demo` server.

Tenant 1 is the demo organization (seeded CRM data); tenant 2 is a new organization signed up
through the API, its confirmation link read from the demo's local mail outbox. Each gets an owner
API key (`rk_…`), printed one per line: an API key, not an access token, because schemathesis
calls `POST /api/v1/auth/logout-all`, which would end an access token's login in the middle of
the run (an API key is refused there with a 400).

Usage: api_fuzz_tenants.py BASE_URL OUTBOX_DIR. Standard library only; loopback only.
"""

import email
import email.policy
import json
import pathlib
import re
import sys
import time
import urllib.error
import urllib.request

DEMO_EMAIL = "camille.martin@demo.relais.example"
DEMO_PASSWORD = "demo-relais-2026"
SECOND_EMAIL = "owner@tenant-two.example"
SECOND_PASSWORD = "tenant-two-fuzz-2026"


def call(base, method, path, body=None, bearer=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if bearer:
        request.add_header("authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None), text
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, None, text


def expect(status, wanted, what, text):
    if status != wanted:
        sys.exit(f"api_fuzz_tenants: {what} answered {status} (wanted {wanted}): {text}")


def api_key(base, email_address, password, name):
    status, pair, text = call(base, "POST", "/api/v1/auth/token", {"email": email_address, "password": password})
    expect(status, 200, "the token request", text)
    access = pair["access_token"]
    status, created, text = call(base, "POST", "/api/v1/api-keys", {"name": name, "role": "owner"}, access)
    expect(status, 201, "creating the API key", text)
    return created["key"]


def confirmation_token(outbox, address, deadline):
    while time.monotonic() < deadline:
        for path in sorted(pathlib.Path(outbox).glob("**/*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address not in str(message.get("To", "")):
                continue
            for part in message.walk():
                if part.get_content_maintype() != "text":
                    continue
                found = re.search(r"/signup/confirm\?token=([A-Za-z0-9_\-]+)", part.get_content())
                if found:
                    return found.group(1)
        time.sleep(0.2)
    sys.exit(f"api_fuzz_tenants: no confirmation mail for {address} in {outbox}")


def second_tenant(base, outbox):
    with urllib.request.urlopen(base + "/signup", timeout=60) as response:
        page = response.read().decode()
    policy = re.search(r'name="accepted_policy_version" value="([^"]*)"', page)
    if not policy:
        sys.exit("api_fuzz_tenants: the sign-up page shows no policy version")
    body = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": SECOND_EMAIL,
        "password": SECOND_PASSWORD,
        "organization_name": "Tenant Two SARL",
        "job_title": "Owner",
        "adult": True,
        "accepted_policy_version": policy.group(1),
    }
    status, _, text = call(base, "POST", "/api/v1/signup", body)
    expect(status, 202, "the sign-up", text)
    token = confirmation_token(outbox, SECOND_EMAIL, time.monotonic() + 30)
    status, _, text = call(base, "POST", "/api/v1/signup/confirm", {"token": token})
    expect(status, 201, "the sign-up confirmation", text)
    return api_key(base, SECOND_EMAIL, SECOND_PASSWORD, "schemathesis")


def main():
    base, outbox = sys.argv[1].rstrip("/"), sys.argv[2]
    print(api_key(base, DEMO_EMAIL, DEMO_PASSWORD, "schemathesis"))
    print(second_tenant(base, outbox))


if __name__ == "__main__":
    main()
