"""A ``service`` stand-in that runs init scripts from a given directory instead of /etc/init.d.

usage: service.py INITDIR NAME ACTION [ARGS...]

What Debian's /usr/sbin/service does for a SysV script, minus systemd
redirection: run INITDIR/NAME ACTION in a clean environment and pass its
exit status on. The init scripts and the daemons they start are real.
"""

import os
import sys

init_dir, argv = sys.argv[1], sys.argv[2:]
if len(argv) < 2:
    print("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]", file=sys.stderr)
    sys.exit(1)
script = os.path.join(init_dir, argv[0])
if not os.access(script, os.X_OK):
    print(f"{argv[0]}: unrecognized service", file=sys.stderr)
    sys.exit(1)
os.execve(script, [script, *argv[1:]], {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
