# Makefile — build, install and package kpartx (Rust).
#
#   make                      cargo build --release --locked
#   make install              install into $(DESTDIR) (see the directory variables below)
#   make uninstall            remove what install put there
#   make orig                 ../kpartx-rs_<v>.orig.tar.xz + .orig-vendor.tar.xz and ./vendor
#                             (packaging/debian/make-orig.sh; cargo vendor needs the network)
#   make deb                  dpkg-buildpackage -b of the tree at git HEAD, offline from the
#                             vendored crates; .deb in target/packages/ (packaging/debian/build-deb.sh)
#   make rpm                  rpmbuild -ba, likewise; RPMs in target/packages/ (packaging/rpm/build-rpm.sh)
#   make test-packages        build both packages and check them (lintian, rpmlint, kpartx swap)
#   make check-packaging      lint the udev rules, the man page and the completions
#
# BIN names the binary to install or package; set it to install a prebuilt binary without
# running cargo (make install BIN=/path/to/kpartx DESTDIR=/tmp/root).

PREFIX       ?= /usr
SBINDIR      ?= $(PREFIX)/sbin
UDEVDIR      ?= $(PREFIX)/lib/udev
UDEVRULESDIR ?= $(UDEVDIR)/rules.d
SYSCONFDIR   ?= /etc
MANDIR       ?= $(PREFIX)/share/man
BASHCOMPDIR  ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   ?= $(PREFIX)/share/zsh/vendor-completions
SCHEMADIR    ?= $(PREFIX)/share/kpartx/schema
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# initramfs integration (booting from a partition of a multipath map); set either to empty
# to leave that one out (the RPM has no initramfs-tools, Debian's dracut is optional).
INITRAMFSTOOLSDIR ?= $(PREFIX)/share/initramfs-tools
DRACUTMODULESDIR ?= $(PREFIX)/lib/dracut/modules.d
DESTDIR      ?=

CARGO        ?= cargo
INSTALL      ?= install
RELEASE_BIN  := target/release/kpartx
BIN          ?= $(RELEASE_BIN)

RULES        := rules.d/56-kpartx-parts.rules rules.d/66-kpartx.rules rules.d/68-del-part-nodes.rules
CONFIG       := config/kpartx.toml
DROPIN_README := config/kpartx.d/README
MAN8         := packaging/man/kpartx.8
MAN5         := packaging/man/kpartx.toml.5
BASHCOMP     := packaging/completions/kpartx.bash
ZSHCOMP      := packaging/completions/_kpartx
KPARTX_ID    := packaging/udev/kpartx_id
SCHEMAS      := packaging/schema/kpartx-action.schema.json packaging/schema/kpartx-status.schema.json
IMAGES_UNIT  := packaging/systemd/kpartx-images.service
INITRAMFS_HOOK := packaging/initramfs-tools/hooks/kpartx
DRACUT_MODULE  := packaging/dracut/90kpartx-rs/module-setup.sh

# The rules files name the helper as /usr/sbin/kpartx; install rewrites that to $(SBINDIR).
SUBST_SBIN   := sed -e 's|/usr/sbin/kpartx|$(SBINDIR)/kpartx|g'
# The initramfs hook and the dracut module name where the binary, the rules and the policy are.
SUBST_BOOT   := sed -e 's|^KPARTX=.*|KPARTX=$(SBINDIR)/kpartx|' \
	-e 's|^\(KPARTX_\)\{0,1\}UDEV=.*|\1UDEV=$(UDEVDIR)|' \
	-e 's|^\(KPARTX_\)\{0,1\}POLICY\(_DIR\)\{0,1\}=.*|\1POLICY\2=$(SYSCONFDIR)/kpartx|'

.PHONY: all build install uninstall orig deb rpm test-packages check-packaging clean-packages

all: build

build:
	$(CARGO) build --release --locked

# Only the default binary is built on demand; a BIN given on the command line must exist.
$(RELEASE_BIN):
	$(CARGO) build --release --locked

install: $(BIN)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UDEVRULESDIR) \
		$(DESTDIR)$(SYSCONFDIR)/kpartx $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.d \
		$(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(SCHEMADIR)
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/kpartx
	for r in $(RULES); do \
		$(SUBST_SBIN) $$r > $(DESTDIR)$(UDEVRULESDIR)/$${r##*/}.tmp && \
		chmod 0644 $(DESTDIR)$(UDEVRULESDIR)/$${r##*/}.tmp && \
		mv -f $(DESTDIR)$(UDEVRULESDIR)/$${r##*/}.tmp $(DESTDIR)$(UDEVRULESDIR)/$${r##*/} || exit 1; \
	done
	$(SUBST_SBIN) $(KPARTX_ID) > $(DESTDIR)$(UDEVDIR)/kpartx_id.tmp
	chmod 0755 $(DESTDIR)$(UDEVDIR)/kpartx_id.tmp
	mv -f $(DESTDIR)$(UDEVDIR)/kpartx_id.tmp $(DESTDIR)$(UDEVDIR)/kpartx_id
	@# A live system's edited policy is kept; staging trees (DESTDIR set) always get the file.
	@if [ -z "$(DESTDIR)" ] && [ -e $(SYSCONFDIR)/kpartx/kpartx.toml ] && \
	    ! cmp -s $(CONFIG) $(SYSCONFDIR)/kpartx/kpartx.toml; then \
		echo "keeping the existing $(SYSCONFDIR)/kpartx/kpartx.toml (compare with $(CONFIG))"; \
	else \
		echo "$(INSTALL) -m 0644 $(CONFIG) $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml"; \
		$(INSTALL) -m 0644 $(CONFIG) $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml; \
	fi
	[ ! -e $(DROPIN_README) ] || $(INSTALL) -m 0644 $(DROPIN_README) $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.d/README
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/kpartx.8
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/kpartx.toml.5
	$(INSTALL) -m 0644 $(BASHCOMP) $(DESTDIR)$(BASHCOMPDIR)/kpartx
	$(INSTALL) -m 0644 $(ZSHCOMP) $(DESTDIR)$(ZSHCOMPDIR)/_kpartx
	$(INSTALL) -m 0644 $(SCHEMAS) $(DESTDIR)$(SCHEMADIR)/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	$(SUBST_SBIN) $(IMAGES_UNIT) > $(DESTDIR)$(SYSTEMDUNITDIR)/kpartx-images.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/kpartx-images.service
	if [ -n "$(INITRAMFSTOOLSDIR)" ]; then \
		$(INSTALL) -d -m 0755 $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks && \
		$(SUBST_BOOT) $(INITRAMFS_HOOK) > $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/kpartx && \
		chmod 0755 $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/kpartx; \
	fi
	if [ -n "$(DRACUTMODULESDIR)" ]; then \
		$(INSTALL) -d -m 0755 $(DESTDIR)$(DRACUTMODULESDIR)/90kpartx-rs && \
		$(SUBST_BOOT) $(DRACUT_MODULE) > $(DESTDIR)$(DRACUTMODULESDIR)/90kpartx-rs/module-setup.sh && \
		chmod 0755 $(DESTDIR)$(DRACUTMODULESDIR)/90kpartx-rs/module-setup.sh; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kpartx
	rm -f $(addprefix $(DESTDIR)$(UDEVRULESDIR)/,$(notdir $(RULES)))
	rm -f $(DESTDIR)$(UDEVDIR)/kpartx_id
	rm -f $(DESTDIR)$(MANDIR)/man8/kpartx.8 $(DESTDIR)$(MANDIR)/man5/kpartx.toml.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/kpartx $(DESTDIR)$(ZSHCOMPDIR)/_kpartx
	rm -f $(addprefix $(DESTDIR)$(SCHEMADIR)/,$(notdir $(SCHEMAS)))
	-rmdir $(DESTDIR)$(SCHEMADIR) $(DESTDIR)$(dir $(SCHEMADIR)) 2>/dev/null
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/kpartx-images.service
	[ -z "$(INITRAMFSTOOLSDIR)" ] || rm -f $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/kpartx
	[ -z "$(DRACUTMODULESDIR)" ] || { rm -f $(DESTDIR)$(DRACUTMODULESDIR)/90kpartx-rs/module-setup.sh; \
		rmdir $(DESTDIR)$(DRACUTMODULESDIR)/90kpartx-rs 2>/dev/null || :; }
	@# The policy goes only if it is unchanged; the directories only if empty.
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml ] && \
	    cmp -s $(CONFIG) $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml ]; then \
		echo "keeping the edited $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.toml"; \
	fi
	rm -f $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.d/README
	-rmdir $(DESTDIR)$(SYSCONFDIR)/kpartx/kpartx.d $(DESTDIR)$(SYSCONFDIR)/kpartx 2>/dev/null

# The packages build from source (git HEAD + vendored crates), not from BIN.
orig:
	packaging/debian/make-orig.sh

deb:
	packaging/debian/build-deb.sh

rpm:
	@command -v rpmbuild >/dev/null || { echo "rpmbuild not found (Debian: apt-get install rpm)" >&2; exit 1; }
	packaging/rpm/build-rpm.sh

test-packages:
	packaging/test-packages.sh

check-packaging:
	packaging/check-rules.sh
	groff -ww -man -Tutf8 -z $(MAN8)
	[ ! -e $(MAN5) ] || groff -ww -man -Tutf8 -z $(MAN5)
	bash -n $(BASHCOMP)
	sh -n $(KPARTX_ID)
	sh -n $(INITRAMFS_HOOK)
	bash -n $(DRACUT_MODULE)
	! command -v zsh >/dev/null || zsh -n $(ZSHCOMP)

clean-packages:
	rm -rf target/packages
