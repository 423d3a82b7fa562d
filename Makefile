# twinstar: make deb (Debian and Ubuntu), make install / make uninstall (other
# distributions). The development set-up is .ci/setup.
#
#   make deb [DEBDIR=build/deb]
#   make install [PREFIX=/usr/local] [DESTDIR=] [SYSTEM_SITE_PACKAGES=no] [PIP_OPTS=]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]
#
# deb builds the Debian package with dpkg-buildpackage -us -uc -b from a copy
# of this tree in DEBDIR/src (dpkg-buildpackage writes next to the tree it
# builds), checks it with lintian, and leaves twinstar_VERSION_all.deb, its
# .buildinfo and .changes in DEBDIR. .ci/setup installs the build dependencies.
#
# Installs twinstar and its Python dependencies into a private virtual
# environment in $(LIBDIR), the hooks into $(LIBDIR)/hooks, a twinstar link in
# $(SBINDIR), the udev rule, the systemd units, the OCF resource agent
# ocf:twinstar:astribank in $(OCFDIR) and (only when none exists) the
# example configuration. When dahdi-tools' astribank_hook would act on the
# xbus events too (a rule runs it and XPP_HOTPLUG_DAHDI=yes), it appends
# XPP_HOTPLUG_DAHDI=no to $(SYSCONFDIR)/dahdi/init.conf, so that exactly one
# hook acts. What was installed and edited is recorded in
# $(LIBDIR)/install-manifest.json; uninstall removes exactly that and takes
# the init.conf lines out again.
# SYSTEM_SITE_PACKAGES=yes lets the environment use Debian's python3-pyudev,
# python3-usb, python3-click, python3-yaml and python3-jeepney instead of downloading them;
# PIP_OPTS passes options to pip (e.g. --no-index --find-links DIR offline).

PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
LIBDIR ?= $(PREFIX)/lib/twinstar
SBINDIR ?= $(PREFIX)/sbin
UDEVRULESDIR ?= $(SYSCONFDIR)/udev/rules.d
UNITDIR ?= $(SYSCONFDIR)/systemd/system
OCFDIR ?= /usr/lib/ocf/resource.d/twinstar
PYTHON ?= /usr/bin/python3
SYSTEM_SITE_PACKAGES ?= no
PIP_OPTS ?=
DEBDIR ?= build/deb

INSTALLER = cd '$(CURDIR)' && $(PYTHON) -m twinstar.ops.installation

.PHONY: deb install uninstall

deb:
	rm -rf '$(DEBDIR)/src'
	mkdir -p '$(DEBDIR)/src/twinstar'
	tar -C '$(CURDIR)' --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
		--exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.mypy_cache \
		--exclude=.hypothesis --exclude=./bench/raw -cf - . | tar -C '$(DEBDIR)/src/twinstar' -xf -
	# Debian's own python3 and tools, whatever else is first on PATH (pyenv, a virtual environment).
	cd '$(DEBDIR)/src/twinstar' && env PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b
	cp '$(DEBDIR)'/src/twinstar_*_all.deb '$(DEBDIR)'/src/twinstar_*.buildinfo '$(DEBDIR)'/src/twinstar_*.changes '$(DEBDIR)/'
	rm -rf '$(DEBDIR)/src'
	lintian --fail-on error --suppress-tags-from-file /dev/null '$(DEBDIR)'/twinstar_*.changes
	@echo "deb: built $$(ls '$(DEBDIR)'/twinstar_*_all.deb)"

install:
	$(INSTALLER) install --source '$(CURDIR)' --destdir '$(DESTDIR)' --libdir '$(LIBDIR)' \
		--sbindir '$(SBINDIR)' --udevrulesdir '$(UDEVRULESDIR)' --unitdir '$(UNITDIR)' \
		--sysconfdir '$(SYSCONFDIR)' --ocfdir '$(OCFDIR)' --python '$(PYTHON)' \
		--system-site-packages '$(SYSTEM_SITE_PACKAGES)' --pip-opts '$(PIP_OPTS)'
	@if [ -z '$(DESTDIR)' ]; then \
		echo "install: now run: systemctl daemon-reload && udevadm control --reload"; \
		echo "install: then either systemctl enable --now twinstar.service (daemon) or rely on the udev hook"; \
	fi

uninstall:
	$(INSTALLER) uninstall --destdir '$(DESTDIR)' --libdir '$(LIBDIR)'
	@if [ -z '$(DESTDIR)' ]; then \
		echo "uninstall: now run: systemctl daemon-reload && udevadm control --reload"; \
	fi
