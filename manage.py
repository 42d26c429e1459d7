#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")
    # Without DATABASE_URL: the embedded PostgreSQL under var/, before settings load.
    from costwatch.embedded import use_local_defaults

    use_local_defaults()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
