#!/usr/bin/env python3
"""Set the fiscal number of a test user of the CIE OpenID Provider.

Usage:
  CIE_PEERS_DATA_DIR=DIR python set_user_fiscal_number.py [--user USERNAME] [FISCAL_NUMBER]

Defaults: user "user" (password "oidcuser"), fiscal number TINIT-RSSMRA85T10A562S (a valid
codice fiscale in the SPID/CIE form; the fixture's TINIT-AATTTJDFKSKDF89 is not one).
Writes the claim https://attributes.eid.gov.it/fiscal_number in the user's attributes in
DIR/op.sqlite3; the running OP sees it at the next login. Prints "USERNAME FISCAL_NUMBER".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "settings_op"

CLAIM = "https://attributes.eid.gov.it/fiscal_number"
DEFAULT = "TINIT-RSSMRA85T10A562S"


def main(argv):
    user, value = "user", DEFAULT
    args = list(argv)
    if args[:1] == ["--user"] and len(args) >= 2:
        user, args = args[1], args[2:]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.exit(__doc__)
    if args:
        value = args[0]

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.get(username=user)
    account.attributes = {**(account.attributes or {}), CLAIM: value}
    account.save(update_fields=["attributes"])
    print(user, value)


if __name__ == "__main__":
    main(sys.argv[1:])
