#!/bin/sh
# Installs the Debian test tools igdscope's tests use where apt-get works:
#   umockdev         real libudev on recorded devices (the discovery tests)
#   intel-gpu-tools  the reference decoders intel_vbt_decode / intel_opregion_decode
#   qemu-system-x86  real QEMU chipsets (qtest) for the check/diff tests
#   libvirt-clients  virt-xml-validate: libvirt's own schema for the XML igdscope plan writes
#   libxml2-utils    xmllint, which virt-xml-validate runs (only recommended by libvirt-clients)
#   uefitool-cli     UEFITool's UEFIExtract, the reference for the compressed-section finder
#                    (installed on its own: a release without the package must not cost the others)
# and, beside the installed QEMU (bookworm: 7.2), QEMU 10.0 from bookworm-backports, fetched and
# unpacked but not installed: tests/.tools/qemu-10.0/ (gitignored), run through its wrapper
# tests/.tools/qemu-10.0/qemu-system-x86_64. That step needs apt-get and dpkg but not root: it uses a
# private apt source list and package lists under tests/.tools/apt/, never the system's.
# Where apt-get is missing or not permitted, the tests that need them skip and say why; when the
# QEMU 10.0 fetch fails, tests/.tools/qemu-10.0.skip holds the reason and its tests skip with it.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/.tools"

install_debian_tools() {
    need=""
    # the test command makes a venv; Debian ships ensurepip separately
    python3 -c "import ensurepip" >/dev/null 2>&1 || need="$need python3-venv"
    command -v umockdev-run >/dev/null 2>&1 || need="$need umockdev"
    command -v intel_vbt_decode >/dev/null 2>&1 || need="$need intel-gpu-tools"
    command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
    command -v virt-xml-validate >/dev/null 2>&1 || need="$need libvirt-clients"
    command -v xmllint >/dev/null 2>&1 || need="$need libxml2-utils"
    extra=""
    command -v UEFIExtract >/dev/null 2>&1 || extra="uefitool-cli"
    [ -z "$need$extra" ] && { echo "test tools: umockdev, intel-gpu-tools, qemu-system-x86, libvirt-clients, uefitool-cli and venv present"; return 0; }
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test tools: no apt-get here; tests needing$need $extra will be skipped"; return 0
    fi
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
            echo "test tools: not root and no sudo; tests needing$need $extra will be skipped"; return 0; fi
    fi
    echo "test tools: installing$need $extra"
    $SUDO apt-get update -qq >/dev/null 2>&1 || echo "test tools: apt-get update failed"
    install "${need# }" "$SUDO"
    install "$extra" "$SUDO"
}

install() {  # one apt-get install per group: a failure in one does not cost the other
    [ -n "$1" ] || return 0
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $2 apt-get install -y -qq --no-install-recommends $1 >/dev/null 2>&1 \
        || echo "test tools: apt-get install $1 failed; those tests will be skipped"
}

# QEMU 10.0 side by side: the packages whose files the binary reads (its own modules must come from
# the same build, or QEMU refuses them and aborts listing devices; the data files for -L).
Q10_PACKAGES="qemu-system-x86 qemu-system-common qemu-system-data qemu-system-modules-opengl qemu-system-modules-spice"
Q10="$TOOLS/qemu-10.0"
Q10_SKIP="$TOOLS/qemu-10.0.skip"

q10_works() {  # it runs, and lists its devices (which loads every module: a foreign one aborts it)
    [ -x "$Q10/qemu-system-x86_64" ] && "$Q10/qemu-system-x86_64" -version 2>/dev/null | grep -q "version 10\.0\." \
        && "$Q10/qemu-system-x86_64" -device help 2>/dev/null | grep '"vfio-pci"' >/dev/null
}

q10_fail() {
    echo "$1" > "$Q10_SKIP"
    echo "test tools: QEMU 10.0 not fetched: $1; its tests will be skipped"
    return 0
}

fetch_qemu10() {
    mkdir -p "$TOOLS" || { echo "test tools: cannot create $TOOLS; QEMU 10.0 tests will be skipped"; return 0; }
    if q10_works; then
        rm -f "$Q10_SKIP"
        echo "test tools: QEMU 10.0 present in tests/.tools/qemu-10.0"; return 0
    fi
    command -v apt-get >/dev/null 2>&1 || { q10_fail "no apt-get here (QEMU 10.0 comes from Debian bookworm-backports)"; return 0; }
    command -v dpkg >/dev/null 2>&1 || { q10_fail "no dpkg here to unpack the bookworm-backports packages"; return 0; }
    arch=$(dpkg --print-architecture)
    [ "$arch" = amd64 ] || { q10_fail "the QEMU 10.0 fetch is set up for amd64, this is $arch"; return 0; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -r "$keyring" ] || { q10_fail "no $keyring to check bookworm-backports with"; return 0; }
    apt="$TOOLS/apt"
    rm -rf "$apt" "$Q10" "$Q10.tmp"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$Q10.tmp/root"
    echo "deb [signed-by=$keyring] http://deb.debian.org/debian bookworm-backports main" > "$apt/sources.list"
    log="$apt/log"
    set -- -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User="$(id -un)"
    apt-get "$@" -qq update >"$log" 2>&1 \
        || { q10_fail "apt-get update of bookworm-backports failed: $(grep -m1 -E '^(E|W):' "$log" || tail -n1 "$log")"; return 0; }
    specs=""
    for p in $Q10_PACKAGES; do specs="$specs $p/bookworm-backports"; done
    # shellcheck disable=SC2086
    (cd "$apt/debs" && apt-get "$@" -qq download $specs) >>"$log" 2>&1 \
        || { q10_fail "apt-get download of$specs failed: $(grep -m1 '^E:' "$log" || tail -n1 "$log")"; return 0; }
    for deb in "$apt"/debs/*.deb; do
        dpkg -x "$deb" "$Q10.tmp/root" >>"$log" 2>&1 || { q10_fail "dpkg -x $(basename "$deb") failed"; return 0; }
    done
    bin="$Q10.tmp/root/usr/bin/qemu-system-x86_64"
    [ -x "$bin" ] || { q10_fail "the qemu-system-x86 package held no usr/bin/qemu-system-x86_64"; return 0; }
    moddir=$(cd "$Q10.tmp/root" && find usr/lib -name 'hw-usb-host.so' | head -n1)
    moddir=${moddir%/*}
    [ -n "$moddir" ] || { q10_fail "no QEMU module directory in the unpacked packages"; return 0; }
    # the wrapper: this build's modules (QEMU_MODULE_DIR) and data files (-L) before the installed QEMU's
    cat > "$Q10.tmp/qemu-system-x86_64" <<WRAPPER
#!/bin/sh
d=\$(cd "\$(dirname "\$0")" && pwd)
QEMU_MODULE_DIR="\$d/root/$moddir" exec "\$d/root/usr/bin/qemu-system-x86_64" -L "\$d/root/usr/share/qemu" "\$@"
WRAPPER
    chmod +x "$Q10.tmp/qemu-system-x86_64"
    mv "$Q10.tmp" "$Q10"
    if ! q10_works; then
        missing=$(ldd "$Q10/root/usr/bin/qemu-system-x86_64" 2>/dev/null | awk '/not found/ {printf " %s", $1}')
        if [ -n "$missing" ]; then
            q10_fail "the QEMU 10.0 binary lacks shared libraries:$missing (install qemu-system-x86 7.2 first, it brings them)"
        else
            q10_fail "the QEMU 10.0 binary does not run or list its devices: $("$Q10/qemu-system-x86_64" -device help 2>&1 >/dev/null | grep -v -m1 '^Only' )"
        fi
        return 0
    fi
    rm -f "$Q10_SKIP"
    rm -rf "$apt/debs"  # unpacked; the lists stay for the next run's update
    echo "test tools: QEMU 10.0 fetched into tests/.tools/qemu-10.0 ($("$Q10/qemu-system-x86_64" -version | head -n1))"
}

install_debian_tools
fetch_qemu10
exit 0
