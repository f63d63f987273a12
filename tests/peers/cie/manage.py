#!/usr/bin/env python3
"""Django manage.py of the CIE test peers (Trust Anchor and CIE OpenID Provider).

Usage: CIE_PEERS_DATA_DIR=DIR python manage.py COMMAND --settings=settings_ta|settings_op
"""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_ta")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
