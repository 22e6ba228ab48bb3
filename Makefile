# make [PREFIX=/usr/local] [DESTDIR=] install | uninstall | build | test | deb
#   deb: .build/deb/babymonitor_<version>_<arch>.deb (packaging/deb/build-deb)
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
LOGROTATEDIR ?= /etc/logrotate.d
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share/babymonitor
PROGRAMS = babymonitord monitorctl crymodel

.PHONY: build test install uninstall deb

build:
	swift build -c release

test:
	scripts/test

deb:
	packaging/deb/build-deb

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/models $(DESTDIR)$(SYSCONFDIR)/babymonitor \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(PREFIX)/share/doc/babymonitor
	for p in $(PROGRAMS); do install -m 0755 "$$(swift build -c release --show-bin-path)/$$p" $(DESTDIR)$(BINDIR)/$$p; done
	install -m 0644 config/models/*.safetensors $(DESTDIR)$(DATADIR)/models/
	# The installed config points at the installed models; an existing config is kept.
	[ -e $(DESTDIR)$(SYSCONFDIR)/babymonitor/babymonitor.toml ] || \
		sed -e 's|"models/|"$(DATADIR)/models/|' config/babymonitor.toml > $(DESTDIR)$(SYSCONFDIR)/babymonitor/babymonitor.toml
	sed -e 's|/usr/local|$(PREFIX)|g' systemd/babymonitord.service > $(DESTDIR)$(UNITDIR)/babymonitord.service
	install -m 0644 systemd/babymonitor.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/babymonitor.conf
	install -m 0644 systemd/babymonitor.logrotate $(DESTDIR)$(LOGROTATEDIR)/babymonitor
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/babymonitor/README.md

uninstall:
	for p in $(PROGRAMS); do rm -f $(DESTDIR)$(BINDIR)/$$p; done
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(PREFIX)/share/doc/babymonitor
	rm -f $(DESTDIR)$(UNITDIR)/babymonitord.service $(DESTDIR)$(SYSUSERSDIR)/babymonitor.conf $(DESTDIR)$(LOGROTATEDIR)/babymonitor
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/babymonitor (your configuration) and /var/log/babymonitor (your events)"
