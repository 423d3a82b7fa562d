"""A real program for engine tests: records each call, then behaves as told.

usage: recorder.py LOGFILE WORD [--create PATH] [--remove PATH] [fail|hang|kill-parent|sleep SECONDS]

Appends WORD to LOGFILE (one line per call), creates or removes a marker
file, then: ``fail`` exits 1, ``hang`` ignores SIGTERM and sleeps with a
child process in its group, ``kill-parent`` SIGKILLs the calling twinstar
process (a crash between steps), ``sleep`` sleeps for the given time.
"""

import os
import signal
import subprocess
import sys
import time

args = sys.argv[1:]
log, word, rest = args[0], args[1], args[2:]
create = remove = None
while rest[:1] and rest[0].startswith("--"):
    opt, value, rest = rest[0], rest[1], rest[2:]
    if opt == "--create":
        create = value
    elif opt == "--remove":
        remove = value
with open(log, "a") as f:
    f.write(word + "\n")
if rest[:1] == ["fail"]:
    sys.exit(1)
if create:
    open(create, "w").close()
if remove and os.path.exists(remove):
    os.unlink(remove)
if rest[:1] == ["hang"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "300"])
    with open(log + ".pids", "a") as f:
        f.write(f"{os.getpid()} {child.pid}\n")
    time.sleep(300)
if rest[:1] == ["kill-parent"]:
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(5)
if rest[:1] == ["sleep"]:
    time.sleep(float(rest[1]))
