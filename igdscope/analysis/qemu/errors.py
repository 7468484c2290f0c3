"""QEMU's and the kernel's IGD error messages, as users quote them: what was checked and what to
change. Each row: a pattern of the message, what it means, the fix, and where the message comes
from (QEMU hw/vfio/igd.c / pci.c, Linux drivers/vfio/pci)."""

from __future__ import annotations

import re

# (pattern, meaning, fix, source)
MESSAGES: tuple[tuple[str, str, str, str], ...] = (
    (r"existing devices? at (address )?1f\.0",
     "legacy mode needs guest 00:1f.0 free for its LPC bridge copy; q35's own ICH9 LPC bridge sits there",
     "use an i440fx (pc) machine for legacy mode, or ignore it on q35 if plain assignment (UPT) is what you want",
     "QEMU hw/vfio/igd.c, 2.7-9.2 (10.0+: 'Cannot create LPC bridge due to existing device at 1f.0')"),
    (r"does not support requested IGD OpRegion feature",
     "QEMU asked the kernel for the IGD OpRegion region and got none: the firmware published no OpRegion (ASLS 0), the kernel lacks CONFIG_VFIO_PCI_IGD or is older than 4.6, or the device is not the IGD itself (an SR-IOV VF, a GVT-g device without OpRegion)",
     "check the host's IGD (igdscope check on a host capture: kernel.asls, kernel.opregion), or remove x-igd-opregion=on",
     "QEMU hw/vfio/igd.c vfio_pci_igd_opregion_init"),
    (r"unsupported in legacy mode, try SandyBridge or newer",
     "QEMU's device-ID table does not know this IGD's generation (-1): no legacy mode; QEMU 10.0 also skips the OpRegion then",
     "use UPT (x-igd-opregion=on, QEMU 10.1 or later for the OpRegion of newer IGDs), with the IGD at guest 00:02.0 for Windows guests",
     "QEMU hw/vfio/igd.c 9.2+"),
    (r"Machine is not i440fx|assigned BDF is not 00:02\.0",
     "x-igd-legacy-mode=on with a condition of legacy mode unmet (machine i440fx, guest 00:02.0, and from 10.2 a VGA-class IGD of generation 6-9 that decodes VGA)",
     "use -machine pc with the IGD at addr=0x2 on the root bus, or drop x-igd-legacy-mode=on for UPT",
     "QEMU hw/vfio/igd.c 10.0+"),
    (r"slot 2 function 0 not available for vfio-pci, in use by",
     "another device already occupies guest 00:02.0 (on q35 often a pcie-root-port libvirt placed there)",
     "move that device off slot 2 (libvirt: change its <address slot=...>), then put the IGD at 00:02.0",
     "QEMU hw/pci/pci.c do_pci_register_device"),
    (r"IGD LPC bridge access is not supported by kernel|does not support LPC bridge access",
     "the kernel made no LPC bridge region: there is no Intel ISA bridge at host 00:1f.0 (-ENODEV), or the kernel is older than 4.6",
     "legacy mode and x-igd-lpc need an Intel LPC bridge at host 00:1f.0; use UPT (x-igd-opregion=on) on this host",
     "QEMU hw/vfio/igd.c; Linux drivers/vfio/pci/vfio_pci_igd.c"),
    (r"Cannot create LPC bridge due to existing device at 1f\.0",
     "x-igd-lpc (forced by legacy mode) needs guest 00:1f.0 free; q35 has its ICH9 LPC bridge there",
     "use an i440fx (pc) machine, or remove x-igd-lpc=on",
     "QEMU hw/vfio/igd.c 10.0+"),
    (r"x-igd-gms is not supported on this device",
     "QEMU does not know this IGD's generation, so it cannot place stolen memory with x-igd-gms",
     "remove x-igd-gms", "QEMU hw/vfio/igd.c 10.1+"),
    (r"IGD OpRegion not supported",
     "the device has no OpRegion region: an SR-IOV VF or a device the kernel does not treat as the IGD",
     "remove x-igd-opregion=on (and legacy-igd) from a VF; give the OpRegion only to the physical IGD 00:02.0",
     "QEMU hw/vfio/igd.c 10.1+"),
    (r"Failed to setup Intel IGD regions",
     "vfio-pci's IGD setup failed with an error other than -ENODEV (a bad OpRegion header, or a host bridge/LPC bridge that is not Intel or of the wrong class): the device cannot be opened",
     "check the host (igdscope check on a host capture: kernel.opregion, kernel.host_bridge, kernel.lpc)",
     "Linux drivers/vfio/pci/vfio_pci.c"),
    (r"hotplugged device",
     "QEMU's IGD features need the IGD at VM start",
     "cold-plug the IGD (define it in the VM config, not with device_add)", "QEMU hw/vfio/igd.c"),
)


def explain(message: str) -> tuple[str, str]:
    """(what the message means, what to change) for a quoted QEMU or kernel message; ("", "")
    when it is not one of :data:`MESSAGES`."""
    for pattern, meaning, fix, _ in MESSAGES:
        if re.search(pattern, message, re.I):
            return meaning, fix
    return "", ""
