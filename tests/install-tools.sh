#!/bin/sh
# Installs the Debian test tools igdscope's tests use where apt-get works:
#   umockdev         real libudev on recorded devices (the discovery tests)
#   intel-gpu-tools  the reference decoders intel_vbt_decode / intel_opregion_decode
#   qemu-system-x86  real QEMU chipsets (qtest) for the check/diff tests
#   uefitool-cli     UEFITool's UEFIExtract, the reference for the compressed-section finder
#                    (installed on its own: a release without the package must not cost the others)
# Where apt-get is missing or not permitted, the tests that need them skip and say why.
set -u
need=""
# the test command makes a venv; Debian ships ensurepip separately
python3 -c "import ensurepip" >/dev/null 2>&1 || need="$need python3-venv"
command -v umockdev-run >/dev/null 2>&1 || need="$need umockdev"
command -v intel_vbt_decode >/dev/null 2>&1 || need="$need intel-gpu-tools"
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
extra=""
command -v UEFIExtract >/dev/null 2>&1 || extra="uefitool-cli"
[ -z "$need$extra" ] && { echo "test tools: umockdev, intel-gpu-tools, qemu-system-x86, uefitool-cli and venv present"; exit 0; }
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test tools: no apt-get here; tests needing$need $extra will be skipped"; exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "test tools: not root and no sudo; tests needing$need $extra will be skipped"; exit 0; fi
fi
echo "test tools: installing$need $extra"
$SUDO apt-get update -qq >/dev/null 2>&1 || echo "test tools: apt-get update failed"
install() {  # one apt-get install per group: a failure in one does not cost the other
    [ -n "$1" ] || return 0
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $1 >/dev/null 2>&1 \
        || echo "test tools: apt-get install $1 failed; those tests will be skipped"
}
install "${need# }"
install "$extra"
exit 0
