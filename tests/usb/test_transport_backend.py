"""Real USB's backend: libusb found by its soname, without ``ldconfig``.

No Astribank here: only the library lookup runs (libusb-1.0 is installed with
python3-usb); no device is opened.
"""

from __future__ import annotations

import subprocess
import sys

#: Open the real-USB backend and report the programs started and whether libusb 0.1's module was loaded.
CODE = (
    "import subprocess, sys\n"
    "started = []\n"
    "real = subprocess.Popen.__init__\n"
    "def record(self, args, *a, **k):\n"
    "    started.append(args)\n"
    "    real(self, args, *a, **k)\n"
    "subprocess.Popen.__init__ = record\n"
    "from twinstar.usb.transport import BusChoice, find_libusb, open_backend\n"
    "backend = open_backend(BusChoice())\n"
    "print(type(backend).__module__, started, 'usb.backend.libusb0' in sys.modules, find_libusb('usb-1.0'))\n"
)


def test_real_libusb_is_loaded_by_soname_without_starting_ldconfig() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["usb.backend.libusb1", "[]", "False", "libusb-1.0.so.0"], proc.stdout + proc.stderr


def test_a_library_without_a_known_soname_is_looked_up_as_pyusb_would() -> None:
    from twinstar.usb.transport import find_libusb

    assert find_libusb("twinstar-no-such-library") is None
