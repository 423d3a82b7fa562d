"""Apache for a demo server: a page on the replica, served on the shared address.

With a service manager, Debian's own configuration serves ``/var/www/html``
(the web root the takeover moves onto the replica). Without one
(:func:`config`), a minimal configuration of four modules does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

PORT = 80
PAGE = "index.html"
MODULES_DIR = "/usr/lib/apache2/modules"
MODULES = ("mpm_event", "authz_core", "dir", "mime")


#: Where :func:`unit_dropin` goes.
UNIT_DROPIN = "/etc/systemd/system/apache2.service.d/twinstar-demo.conf"


def unit_dropin() -> str:
    """A drop-in for Debian's ``apache2.service``: the PBX's web pages after its SIP service. Apache needs
    neither Kamailio nor MariaDB, but on two cores its start beside theirs slows them (and Kamailio waits
    for MariaDB). ``Wants=`` as well as ``After=``: an order binds only start jobs that are both queued,
    and the takeover asks for the services at once, in no fixed order."""
    return "[Unit]\nWants=kamailio.service\nAfter=kamailio.service\n"


@dataclass(frozen=True)
class ApacheSettings:
    server_root: str  # pidfile, mutexes and the error log go here
    listen: str
    document_root: str
    port: int = PORT


def config(s: ApacheSettings) -> str:
    """A self-contained ``apache2.conf`` (pure)."""
    modules = "\n".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so" for m in MODULES)
    return f"""# Written by twinstar demo: one page, one address.
ServerRoot {s.server_root}
ServerName {s.listen}
Listen {s.listen}:{s.port}
{modules}
User www-data
Group www-data
PidFile apache2.pid
DefaultRuntimeDir .
Mutex file:. default
ErrorLog error.log
LogLevel warn
TypesConfig /etc/mime.types
DocumentRoot {s.document_root}
<Directory {s.document_root}>
    Require all granted
</Directory>
DirectoryIndex {PAGE}
"""


def foreground_argv(path: str) -> list[str]:
    return ["apache2", "-f", path, "-DFOREGROUND"]


def page(text: str) -> str:
    return f"<!doctype html><title>twinstar demo</title><p>{text}</p>\n"
