"""The built-in demo machine: a Coffee Lake desktop host and the guest QEMU gives it in legacy mode.

Nothing here is stored as opaque bytes: config spaces, the OpRegion, the VBT, the option ROM and
the GGTT are built at run time by the project's own schemas (construct's build side) from the
values below, so the demo changes when a schema changes and always decodes.

The host: IGD 8086:3E92 (UHD Graphics 630) at 00:02.0 bound to vfio-pci, i915 loaded but unbound
after it ran (so the GGTT still holds the host driver's entries), host bridge 8086:3EC2, B360 LPC
8086:A308, 16 GiB, GGC 0x02C1 (64 MiB DSM, 8 MiB GSM), OpRegion 2.0 with the VBT in mailbox 4.
The guest: QEMU 9.0 i440fx legacy mode, as QEMU's IGD code and SeaBIOS set it up (host bridge
and LPC identity copied, GMS cleared, BDSM and ASLS written by SeaBIOS, the OpRegion copied).
"""

from __future__ import annotations

import random
import sys
from array import array
from functools import cache

from igdscope import __version__
from igdscope.capture import Blob, Capture, Device
from igdscope.schemas import pci, rom

CREATED = "2026-11-23T12:00:00Z"
MiB = 1 << 20

IGD_BDF, HB_BDF, LPC_BDF = "0000:00:02.0", "0000:00:00.0", "0000:00:1f.0"
IGD_DID, HB_DID, LPC_DID = 0x3E92, 0x3EC2, 0xA308
SUBSYS_VENDOR = 0x1458  # the board vendor's subsystem IDs
GGC = 0x02C1  # GMS 0x02 (64 MiB), GGMS 3 (8 MiB), IVD 0, lock
TOLUD = 0x8F800000
DSM = 64 * MiB
GSM = 8 * MiB
BDSM = TOLUD - DSM  # 0x8B800000
BGSM = BDSM - GSM  # 0x8B000000
TSEG = BGSM - 8 * MiB
ASLS = 0x8A0DC018
HOST_BAR0, HOST_BAR2, HOST_BAR4 = 0xF6000000, 0xC0000000, 0xF000
GUEST_BAR0, GUEST_BAR2, GUEST_BAR4 = 0xFC000000, 0xE0000000, 0xC000
GUEST_BDSM = 0x7F600000  # SeaBIOS: etc/igd-bdsm-size bytes, 1 MiB aligned, below 4 GiB
GUEST_ASLS = 0x7FFDC000  # SeaBIOS: its copy of etc/igd-opregion, 4 KiB aligned
GUEST_GGC = GGC & ~0xFF00  # QEMU <= 9.1 legacy mode clears GMS in the guest
HOST_SCRATCH = 0x11F3D7000
GUEST_SCRATCH = 0x02A6E000
GTT_ENTRIES = GSM // 8


def _header(vendor: int, device: int, cls: int, rev: int, subsys: int, *, cmd: dict, cap_ptr: int, bars=(0, 0, 0, 0, 0, 0), pin: int = 0) -> bytes:
    return pci.build_type0_header({
        "vendor_id": vendor, "device_id": device, "command": cmd, "status": {"capabilities_list": bool(cap_ptr)},
        "revision_id": rev, "prog_if": cls & 0xFF, "subclass": (cls >> 8) & 0xFF, "base_class": cls >> 16,
        "cache_line_size": 0, "latency_timer": 0, "header_type": 0x80 if cls == 0x060100 else 0, "bist": 0,
        "bar": list(bars), "cardbus_cis": 0, "subsystem_vendor_id": SUBSYS_VENDOR, "subsystem_id": subsys,
        "expansion_rom": 0, "capabilities_pointer": cap_ptr, "reserved": bytes(7),
        "interrupt_line": 0x0B if pin else 0, "interrupt_pin": pin, "min_grant": 0, "max_latency": 0,
    })


def _put(cfg: bytearray, reg: pci.Register, **fields: int) -> None:
    cfg[reg.offset : reg.offset + reg.size] = reg.build(fields)


def _cap(cfg: bytearray, off: int, cap_id: int, nxt: int, body: bytes = b"") -> None:
    cfg[off : off + 2] = pci.CapabilityHeader.build({"id": cap_id, "next": nxt})
    cfg[off + 2 : off + 2 + len(body)] = body


def _ext_cap(cfg: bytearray, off: int, cap_id: int, nxt: int) -> None:
    cfg[off : off + 4] = pci.ExtCapabilityHeaderLE.build({"next": nxt, "version": 1, "id": cap_id})


def _mem64(addr: int, prefetch: bool) -> tuple[int, int]:
    return (addr & 0xFFFFFFF0) | 0x4 | (0x8 if prefetch else 0), addr >> 32


def host_bridge_config(guest: bool = False) -> bytes:
    if guest:  # QEMU's i440FX with the host's RID/Prog-IF and subsystem IDs copied in (legacy mode)
        cfg = bytearray(256)
        cfg[:64] = _header(0x8086, 0x1237, 0x060000, 0x07, 0x5000, cmd={"memory_space": True}, cap_ptr=0)
        return bytes(cfg)
    cfg = bytearray(4096)
    cfg[:64] = _header(0x8086, HB_DID, 0x060000, 0x07, 0x5000, cmd={"memory_space": True, "bus_master": True}, cap_ptr=0xE0)
    regs = {r.name: r for r in pci.host_bridge_registers("bdw", True)}
    _put(cfg, regs["GGC"], GMS=GGC >> 8, GGMS=3, lock=1)
    _put(cfg, regs["PXPEPBAR"], base=0xFED19000, enable=1)
    _put(cfg, regs["MCHBAR"], base=0xFED10000, enable=1)
    _put(cfg, regs["DEVEN"], D2EN=1)
    _put(cfg, regs["PCIEXBAR"], base=0xE0000000, length=0, enable=1)
    _put(cfg, regs["DMIBAR"], base=0xFED18000, enable=1)
    _put(cfg, regs["TOM"], base=16 << 30, lock=1)
    _put(cfg, regs["TOUUD"], base=(16 << 30) + (4 << 30) - TOLUD, lock=1)
    _put(cfg, regs["BDSM"], base=BDSM, lock=1)
    _put(cfg, regs["BGSM"], base=BGSM, lock=1)
    _put(cfg, regs["TSEGMB"], base=TSEG, lock=1)
    _put(cfg, regs["TOLUD"], base=TOLUD, lock=1)
    _cap(cfg, 0xE0, 0x09, 0x00, bytes([0x10, 0x01, 0x60, 0x62, 0x00, 0xE2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]))
    return bytes(cfg)


def igd_config(guest: bool = False) -> bytes:
    size = 256 if guest else 4096
    cfg = bytearray(size)
    b0, b2, b4 = (GUEST_BAR0, GUEST_BAR2, GUEST_BAR4) if guest else (HOST_BAR0, HOST_BAR2, HOST_BAR4)
    bars = (*_mem64(b0, False), *_mem64(b2, True), b4 | 1, 0)
    cfg[:64] = _header(0x8086, IGD_DID, 0x030000, 0x00, 0xD000, cmd={"io_space": True, "memory_space": True, "bus_master": True}, cap_ptr=0x40, bars=bars, pin=1)
    regs = {r.name: r for r in pci.igd_registers("bdw", "0x5c", "CFL")}
    _put(cfg, regs["GGC"], GMS=(GUEST_GGC if guest else GGC) >> 8, GGMS=3, lock=1)
    _put(cfg, regs["BDSM"], **({"base": GUEST_BDSM} if guest else {"base": BDSM, "lock": 1}))
    cfg[0x62] = 0x01  # MSAC as firmware leaves it (256 MiB aperture)
    _put(cfg, regs["SWSCI"], SCISEL=1)
    _put(cfg, regs["ASLS"], base=GUEST_ASLS if guest else ASLS)
    # capability chain: vendor specific -> PCI Express (host only: QEMU hides it on i440fx) -> MSI -> PM
    _cap(cfg, 0x40, 0x09, 0xAC if guest else 0x70, bytes([0x0C, 0x01, 0x0C, 0x00, 0x00, 0x00]))
    if not guest:
        _cap(cfg, 0x70, 0x10, 0xAC, bytes([0x92, 0x00, 0x00, 0x80, 0x00, 0x10]))
    _cap(cfg, 0xAC, 0x05, 0xD0, bytes([0x00, 0x00, 0x18, 0x00, 0xE0, 0xFE]))
    _cap(cfg, 0xD0, 0x01, 0x00, bytes([0x22, 0x00, 0x00, 0x00]))
    if not guest:
        _ext_cap(cfg, 0x100, 0x001B, 0x200)  # PASID
        _ext_cap(cfg, 0x200, 0x000F, 0x300)  # ATS
        _ext_cap(cfg, 0x300, 0x0013, 0x000)  # Page Request
    return bytes(cfg)


def lpc_config() -> bytes:
    """The host's B360 LPC bridge. The guest's vfio-pci-igd-lpc-bridge copies exactly its
    VID, DID, RID+Prog-IF and subsystem IDs; every other byte is zero."""
    cfg = bytearray(256)
    cfg[:64] = _header(0x8086, LPC_DID, 0x060100, 0x10, 0x5001, cmd={"io_space": True, "memory_space": True, "bus_master": True}, cap_ptr=0)
    return bytes(cfg)


def guest_lpc_config() -> bytes:
    host = lpc_config()
    cfg = bytearray(256)
    for off, n in ((0x00, 4), (0x08, 2), (0x2C, 4)):
        cfg[off : off + n] = host[off : off + n]
    cfg[0x0A:0x0C] = (0x0601).to_bytes(2, "little")
    return bytes(cfg)


# -- firmware blobs ----------------------------------------------------------------------------


@cache
def vbt() -> bytes:
    from igdscope.schemas import vbt as vbtschema

    return vbtschema.demo_vbt()


@cache
def opregion(guest: bool = False) -> bytes:
    from igdscope.schemas import opregion as op

    return op.demo_opregion(vbt(), guest=guest)


@cache
def option_rom() -> bytes:
    """A legacy VBIOS image as the shadow copy at 0xC0000 looks: PCIR with the generic 0x0406 ID of
    Skylake-and-later ROMs, a valid checksum, and the VBT inside."""
    filler = b"Intel(R) UHD Graphics 630 demo VBIOS\x00" + bytes(512)
    return rom.build_legacy_image(0x8086, 0x0406, filler + vbt())


@cache
def gtt(guest: bool = False) -> bytes:
    """A gen9 GGTT (64-bit PTEs): the scratch page everywhere, a framebuffer, a contiguous buffer
    and scattered pages. On the host these are host-physical addresses the host driver left."""
    rng = random.Random(0x3E92 + guest)
    scratch = (GUEST_SCRATCH if guest else HOST_SCRATCH) | 1
    ptes = array("Q", [scratch]) * GTT_ENTRIES
    fb_pages = 1920 * 1080 * 4 // 4096 + 1
    fb_base = 0x104000000 if guest else BDSM  # the host framebuffer lives in stolen memory
    ptes[:fb_pages] = array("Q", range(fb_base | 1, (fb_base | 1) + fb_pages * 4096, 4096))
    buf = 0x3A100000 if guest else 0x24A100000
    ptes[4096 : 4096 + 512] = array("Q", range(buf | 1, (buf | 1) + 512 * 4096, 4096))
    top = 0x7F000 if guest else 0x400000
    ptes[16384 : 16384 + 3000] = array("Q", [rng.randrange(0x10000, top) << 12 | 1 for _ in range(3000)])
    if sys.byteorder != "little":  # pragma: no cover - PTEs are little-endian
        ptes.byteswap()
    return ptes.tobytes()


# -- captures ----------------------------------------------------------------------------------


def _dev(role: str, bdf: str, did: int, cls: int, rev: int, subsys: int, cfg_key: str, cfg_size: int, **kw) -> Device:
    return Device(role=role, bdf=bdf, vendor=0x8086, device=did, class_code=cls, revision=rev, subsystem_vendor=SUBSYS_VENDOR, subsystem_device=subsys, config_blob=cfg_key, config_size=cfg_size, **kw)


def _res(bar: int, start: int, size: int, flags: int) -> dict[str, int]:
    return {"bar": bar, "start": start, "end": start + size - 1, "flags": flags, "size": size}


def host_capture() -> Capture:
    sysfs = "/sys/bus/pci/devices"
    blobs = {
        f"config/{IGD_BDF}": Blob(igd_config(), "demo", f"{sysfs}/{IGD_BDF}/config"),
        f"config/{HB_BDF}": Blob(host_bridge_config(), "demo", f"{sysfs}/{HB_BDF}/config"),
        f"config/{LPC_BDF}": Blob(lpc_config(), "demo", f"{sysfs}/{LPC_BDF}/config"),
        "opregion": Blob(opregion(), "demo", f"/dev/vfio/2 {IGD_BDF} region type 0x80008086 subtype 1", "the vfio view"),
        "rom": Blob(option_rom(), "demo", f"{sysfs}/{IGD_BDF}/rom"),
        "gtt": Blob(gtt(), "demo", f"{sysfs}/{IGD_BDF}/resource0", "GGTT: 8388608 bytes at BAR0+0x800000"),
    }
    devices = [
        _dev("igd", IGD_BDF, IGD_DID, 0x030000, 0x00, 0xD000, f"config/{IGD_BDF}", 4096, driver="vfio-pci", iommu_group=2, iommu_group_members=[IGD_BDF], boot_vga=True,
             resources=[_res(0, HOST_BAR0, 16 * MiB, 0x140204), _res(2, HOST_BAR2, 256 * MiB, 0x14220C), _res(4, HOST_BAR4, 64, 0x40101), _res(6, 0xC0000, 128 << 10, 0x200)]),
        _dev("host_bridge", HB_BDF, HB_DID, 0x060000, 0x07, 0x5000, f"config/{HB_BDF}", 4096, driver="skl_uncore", iommu_group=0, iommu_group_members=[HB_BDF]),
        _dev("lpc", LPC_BDF, LPC_DID, 0x060100, 0x10, 0x5001, f"config/{LPC_BDF}", 256, iommu_group=9, iommu_group_members=[LPC_BDF, "0000:00:1f.3", "0000:00:1f.4", "0000:00:1f.6"]),
    ]
    host = {
        "kernel_release": "6.8.12-4-pve",
        "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on iommu=pt",
        "modules": {
            "i915": {"loaded": True, "parameters": {"modeset": "-1", "enable_guc": "-1"}},
            "xe": {"loaded": False},
            "vfio_pci": {"loaded": True, "parameters": {"disable_vga": "N", "ids": "8086:3e92", "disable_idle_d3": "N", "nointxmask": "N"}},
            "vfio_pci_core": {"loaded": True},
            "vfio_iommu_type1": {"loaded": True},
            "vfio": {"loaded": True},
            "kvm_intel": {"loaded": True, "parameters": {"nested": "Y"}},
            "kvmgt": {"loaded": False},
        },
        "vfio_pci_disable_vga": "N",
        "hypervisor": {"cpu_flag": False, "dmi_sys_vendor": "Gigabyte Technology Co., Ltd.", "dmi_product_name": "B360M D3H", "dmi_board_name": "B360M D3H-CF", "dmi_bios_version": "F14"},
        "iomem": [
            f"{TSEG:08x}-{TOLUD - 1:08x} : Reserved",
            f"  {BDSM:08x}-{TOLUD - 1:08x} : Graphics Stolen Memory",
            f"{HOST_BAR2:08x}-{HOST_BAR2 + 256 * MiB - 1:08x} : 0000:00:02.0",
            f"  {HOST_BAR2:08x}-{HOST_BAR2 + 256 * MiB - 1:08x} : vfio-pci",
            f"{HOST_BAR0:08x}-{HOST_BAR0 + 16 * MiB - 1:08x} : 0000:00:02.0",
            f"  {HOST_BAR0:08x}-{HOST_BAR0 + 16 * MiB - 1:08x} : vfio-pci",
        ],
        "dmar": [
            {"name": "dmar0", "version": "1:0", "address": "0xfed90000", "cap": "1c0000c40660462", "ecap": "19e2ff0505e"},
            {"name": "dmar1", "version": "1:0", "address": "0xfed91000", "cap": "d2008c40660462", "ecap": "f050da"},
        ],
        "qemu_version": "9.0.2",
    }
    sources = {
        "discovery": "demo",
        "opregion": {"used": "vfio", "tried": [
            {"source": "debugfs", "result": f"not tried: i915 does not own {IGD_BDF} (driver: vfio-pci)"},
            {"source": "vfio", "result": f"read {len(opregion())} bytes"},
        ]},
    }
    return Capture(machine="host", created=CREATED, tool_version=__version__, host=host, devices=devices, blobs=blobs, sources=sources)


# The VM the demo guest runs in: QEMU 9.0, i440fx, SeaBIOS, the IGD at guest 00:02.0 (legacy mode);
# igdscope.vmconfig.parse_qemu_cmdline(VM_ARGS) reads it as `igdscope check --vm-args` would.
VM_ARGS = ("qemu-system-x86_64 -machine pc-i440fx-9.0,accel=kvm -cpu host -m 8G -vga none -nodefaults "
           "-device vfio-pci,host=0000:00:02.0,addr=02.0,x-igd-opregion=on "
           "-drive file=guest.qcow2,if=virtio")


def guest_capture() -> Capture:
    sysfs = "/sys/bus/pci/devices"
    dri = "/sys/kernel/debug/dri/0"
    blobs = {
        f"config/{IGD_BDF}": Blob(igd_config(guest=True), "demo", f"{sysfs}/{IGD_BDF}/config"),
        f"config/{HB_BDF}": Blob(host_bridge_config(guest=True), "demo", f"{sysfs}/{HB_BDF}/config"),
        f"config/{LPC_BDF}": Blob(guest_lpc_config(), "demo", f"{sysfs}/{LPC_BDF}/config"),
        "opregion": Blob(opregion(guest=True), "demo", f"{dri}/i915_opregion", "first 8 KiB as i915 maps it (never the extended VBT)"),
        "vbt/debugfs": Blob(vbt(), "demo", f"{dri}/i915_vbt", "the VBT i915 selected"),
        "rom": Blob(option_rom(), "demo", f"{sysfs}/{IGD_BDF}/rom"),
        "gtt": Blob(gtt(guest=True), "demo", f"{sysfs}/{IGD_BDF}/resource0", "GGTT: 8388608 bytes at BAR0+0x800000"),
    }
    devices = [
        _dev("igd", IGD_BDF, IGD_DID, 0x030000, 0x00, 0xD000, f"config/{IGD_BDF}", 256, driver="i915", boot_vga=True,
             resources=[_res(0, GUEST_BAR0, 16 * MiB, 0x140204), _res(2, GUEST_BAR2, 256 * MiB, 0x14220C), _res(4, GUEST_BAR4, 64, 0x40101), _res(6, 0xFEB80000, 128 << 10, 0x46200)]),
        Device(role="host_bridge", bdf=HB_BDF, vendor=0x8086, device=0x1237, class_code=0x060000, revision=0x07, subsystem_vendor=SUBSYS_VENDOR, subsystem_device=0x5000, config_blob=f"config/{HB_BDF}", config_size=256),
        _dev("lpc", LPC_BDF, LPC_DID, 0x060100, 0x10, 0x5001, f"config/{LPC_BDF}", 256),
    ]
    host = {
        "kernel_release": "6.1.0-28-amd64",
        "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/sda1 ro quiet",
        "modules": {m: {"loaded": m == "i915"} for m in ("i915", "xe", "vfio_pci", "vfio_pci_core", "vfio_iommu_type1", "vfio", "kvm_intel", "kvmgt")},
        "vfio_pci_disable_vga": None,
        "hypervisor": {"cpu_flag": True, "dmi_sys_vendor": "QEMU", "dmi_product_name": "Standard PC (i440FX + PIIX, 1996)", "dmi_board_name": None, "dmi_bios_version": "rel-1.16.3-0-ga6ed6b701f0a-prebuilt.qemu.org"},
        "iomem": [
            f"{GUEST_BDSM:08x}-{GUEST_BDSM + GSM - 1:08x} : Reserved",
            f"{GUEST_BAR2:08x}-{GUEST_BAR2 + 256 * MiB - 1:08x} : 0000:00:02.0",
            f"{GUEST_BAR0:08x}-{GUEST_BAR0 + 16 * MiB - 1:08x} : 0000:00:02.0",
        ],
        "dmar": [],
        "qemu_version": None,
    }
    sources = {
        "discovery": "demo",
        "opregion": {"used": "debugfs", "tried": [{"source": "debugfs", "result": "read 8192 bytes"}]},
    }
    errors = [{"source": f"iommu_group {IGD_BDF}", "reason": "no IOMMU group (a VM without a virtual IOMMU)"}]
    return Capture(machine="guest", created=CREATED, tool_version=__version__, host=host, devices=devices, blobs=blobs, sources=sources, errors=errors)
