"""Which kind of VM definition a text is: libvirt domain XML, a Proxmox VE config (or ``qm set``
commands), or a QEMU command line -- the sniffing shared by the VM readers
(:mod:`igdscope.analysis.vmconfig`) and by the file sniffing of :mod:`igdscope.decode.files`
(a VM definition given where a capture or firmware file is expected).

Only the line shapes live here, no parsing: a ``key: value`` line with a qemu-server key, a
``qm set``/``qm create`` command, a QEMU binary or a QEMU option at the start of a line, and QEMU's
own error echo (``qemu-system-x86_64: -device ...: message``).
"""

from __future__ import annotations

import re

# qemu-server's VM config: "key: value" lines; the keys qemu-server knows (PVE/QemuServer.pm)
PVE_KEY = re.compile(r"^([a-z][a-z0-9_-]*):(?:\s+(.*?))?\s*$")
PVE_KNOWN = re.compile(
    r"^(?:acpi|affinity|agent|allow-ksm|amd-sev|arch|args|audio0|autostart|balloon|bios|boot|bootdisk|cdrom|cicustom|"
    r"cipassword|citype|ciupgrade|ciuser|cores|cpu|cpulimit|cpuunits|description|efidisk0|freeze|hookscript|"
    r"hostpci\d+|hotplug|hugepages|ide\d+|intel-tdx|ipconfig\d+|ivshmem|keephugepages|keyboard|kvm|localtime|lock|"
    r"machine|memory|meta|migrate_downtime|migrate_speed|name|nameserver|net\d+|numa\d*|onboot|ostype|parallel\d+|"
    r"parent|protection|reboot|rng0|runningcpu|runningmachine|sata\d+|scsi\d+|scsihw|searchdomain|serial\d+|shares|"
    r"smbios1|smp|snaptime|sockets|spice_enhancements|sshkeys|startdate|startup|tablet|tags|tdf|template|tpmstate0|"
    r"unused\d+|usb\d+|vcpus|vga|virtio\d+|virtiofs\d+|vmgenid|vmstate|vmstatestorage|watchdog)$"
)
QM_SET = re.compile(r"^qm\s+(set|create)\b")
# a shell prompt in front of a pasted command ("root@pve:~# qm set ...")
PROMPT_PREFIX = re.compile(r"^[\w.-]+@[\w.-]+:\S*[#$]\s+")
QEMU_BIN = re.compile(r"^(?:.*/)?(?:qemu-system-[\w.-]+|qemu-kvm|kvm)(?:\.exe)?$")
# QEMU's error echo: "[timestamp ]prog[pid]: rest"
QEMU_ECHO = re.compile(
    r"^\s*(?:\d{4}-\d\d-\d\dT[\d:.]+Z?\s+)?(?P<prog>(?:\S*/)?(?:qemu-system-[\w.-]+|qemu-kvm|kvm))(?:\[\d+\])?:\s+(?P<rest>\S.*)$"
)
# the rest of an echo that names the option it refused: "-device ARG: message"
QEMU_ECHO_OPT = re.compile(r"^(?P<opt>-{1,2}[A-Za-z][\w-]*)\s+(?P<arg>\{.*?\}(?=:\s)|\S+?):\s+(?P<msg>.+)$")
_OPTION_LINE = re.compile(r"^-{1,2}(device|machine|M|vga|set|global|drive|blockdev|nodefaults|enable-kvm|m|smp|cpu|name)\b")
_OPTION_INSIDE = re.compile(r"(?:^|\s)-(?:device|machine|M)\s")
_INVOCATION_INSIDE = re.compile(r"(?:^|[\s/])(?:qemu-system-[\w.-]+|qemu-kvm)(?:\s|$)")

# what each kind is called in messages, and the option that reads it
KIND_NAMES = {
    "libvirt": "a libvirt domain XML",
    "proxmox": "a Proxmox VM config",
    "proxmox-qm": "Proxmox qm set commands",
    "qemu": "a QEMU command line",
}
KIND_OPTION = {"libvirt": "--libvirt", "proxmox": "--proxmox", "proxmox-qm": "--proxmox", "qemu": "--vm-args"}


def strip_leading_comments(text: str) -> str:
    """``text`` without the XML comments, ``#`` lines and blank lines it starts with."""
    s = text.lstrip()
    while True:
        if s.startswith("<!--"):
            end = s.find("-->")
            if end < 0:
                return ""
            s = s[end + 3:].lstrip()
        elif s.startswith("#"):
            nl = s.find("\n")
            if nl < 0:
                return ""
            s = s[nl + 1:].lstrip()
        else:
            return s


def vm_kind(text: str, *, detail: bool = False) -> str | None:
    """"libvirt", "proxmox", "qemu" or None; with ``detail``, Proxmox input holding ``qm set`` /
    ``qm create`` commands is "proxmox-qm"."""
    body = strip_leading_comments(text)
    if body.startswith("<"):
        return "libvirt"
    pve_keys = qm = invocation = options = 0
    for ln in body.split("\n")[:20000]:
        s = PROMPT_PREFIX.sub("", ln.strip())
        if not s or s.startswith("#"):
            continue
        if QM_SET.match(s):
            qm += 1
            continue
        echo = QEMU_ECHO.match(s)
        if echo and QEMU_ECHO_OPT.match(echo["rest"]):
            options += 1
            continue
        km = PVE_KEY.match(s)
        if km and PVE_KNOWN.match(km[1]) and not (km[1] == "kvm" and (km[2] or "").startswith("-")):
            pve_keys += 1
            continue
        first = s.split(None, 1)[0]
        if QEMU_BIN.match(first) or _INVOCATION_INSIDE.search(s):
            invocation += 1
        if _OPTION_LINE.match(s) or _OPTION_INSIDE.search(s):
            options += 1
    if qm or (pve_keys and not invocation and (pve_keys >= 2 or not options)):
        if detail and qm:
            return "proxmox-qm"
        return "proxmox"
    if invocation or options:
        return "qemu"
    if pve_keys:
        return "proxmox"
    return None
