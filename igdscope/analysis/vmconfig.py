"""VM definitions used for IGD assignment, read as the hypervisor stack would read them.

Three inputs, one result (:class:`VmConfig` with one :class:`Assigned` per passed-through device):

* QEMU command lines (``parse_qemu_cmdline``): shell scripts with backslash-newlines, quotes,
  simple variables and bash arrays, bare option fragments, ``-device`` in key=value or JSON form,
  ``-set device.ID.prop=value``, ``-global vfio-pci.prop=value``, ``-machine``/``-M``, and QEMU's
  own error echoes (``qemu-system-x86_64: -device ...: message``).
* libvirt domain XML or snippets (``parse_libvirt``): ``<hostdev mode='subsystem' type='pci'>``,
  ``<rom bar= file= enabled=>``, guest ``<address type='pci'>``, ``<qemu:commandline>`` and
  ``<qemu:override>``.
* Proxmox VE configs (``parse_proxmox``): ``/etc/pve/qemu-server/VMID.conf`` or ``qm config``
  output, plus ``qm set``/``qm create`` lines; ``hostpciN`` is turned into the ``-device`` that
  qemu-server's PCI.pm would generate, then ``args:`` is applied on top.

What a parser needs to know about the stacks (checked against their sources):

* QEMU ``addr=`` strings are ``slot[.fn]`` in hex (``sscanf("%x.%x")``; ``0x`` prefixes allowed),
  slot <= 31, fn <= 7; a JSON integer is a devfn.  ``-set`` works only on key=value ``-device``
  options that were given before it; QEMU refuses ``-set`` on a device passed as JSON.
* libvirt names an alias-less hostdev ``hostdevN``; PCI controller index N is QEMU bus ``pci.N``
  (index 0 is ``pci.0`` on i440fx, ``pcie.0`` on q35); ``<rom enabled='no'>`` becomes
  ``romfile=`` (empty), ``bar='on'/'off'`` becomes ``rombar=1/0``; a ``<qemu:override>`` frontend
  property replaces the key in the device's JSON properties (type ``remove`` deletes it) and only
  applies to JSON ``-device`` (libvirt uses JSON from QEMU 6.2), which is also what breaks
  ``<qemu:commandline>`` ``-set device.*``.
* Proxmox: ``legacy-igd=1`` places the device at ``bus=pci.0,addr=0x2`` and moves the ``pci.2``
  bridge off 00:1f.0 (otherwise every i440fx VM has ``pci.2`` at 00:1f.0); ``hostpci0..3`` default to
  ``pci.0`` slots 0x10, 0x11, 0x1b, 0x1c, ``hostpci4..15`` to ``pci.2``; ``pcie=1`` uses root port
  ``ich9-pcie-port-(N+1)``; on q35 ``pci.0``..``pci.3`` are bridges behind a DMI bridge at
  00:1e.0, not the root bus; ``romfile=`` is prefixed with ``/usr/share/kvm/``; ``x-vga`` is dropped
  with OVMF; a host address without a function selects every function (multifunction); ``args:``
  is appended after all devices.

Every function takes text (``str`` or UTF-8 ``bytes``) and does no I/O.  Input that is not a VM
definition, truncated XML, XML with a DTD/entities, or input over :data:`MAX_TEXT_CHARS` raises
:class:`igdscope.errors.BadInput` with a one-line message.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from igdscope.decode.vmtext import PVE_KEY as _PVE_KEY
from igdscope.decode.vmtext import PVE_KNOWN as _PVE_KNOWN
from igdscope.decode.vmtext import QEMU_BIN as _QEMU_BIN
from igdscope.decode.vmtext import QEMU_ECHO as _ECHO
from igdscope.decode.vmtext import QEMU_ECHO_OPT as _ECHO_OPT
from igdscope.decode.vmtext import vm_kind
from igdscope.errors import BadInput

MAX_TEXT_CHARS = 2 * 1024 * 1024  # real definitions are a few KiB; snapshots make PVE files longer
MAX_WORD_CHARS = 256 * 1024  # one shell word after variable expansion
MAX_JSON_CHARS = 64 * 1024  # one JSON -device argument
MAX_NOTES = 500  # notes / unparsed entries kept

ICH9_LPC = "ICH9 LPC (q35 built-in)"
LIBVIRT_QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
VFIO_DRIVERS = frozenset({"vfio-pci", "vfio-pci-nohotplug"})
IGD_LPC_BRIDGE = "vfio-pci-igd-lpc-bridge"
# Drivers whose presence on the command line stops QEMU from adding its default VGA (vl.c default_list).
VGA_DRIVERS = frozenset(
    {"VGA", "isa-vga", "cirrus-vga", "isa-cirrus-vga", "vmware-svga", "qxl-vga", "virtio-vga",
     "virtio-vga-gl", "ati-vga", "vhost-user-vga", "bochs-display", "secondary-vga"}
)


# --------------------------------------------------------------------------------------------
# Result types


@dataclass
class GuestDevice:
    """Any device the definition places in the guest (for address conflicts and 00:1f.0)."""

    driver: str | None
    id: str | None
    bus: str | None  # None = the machine's default (root) bus
    slot: int | None  # None = auto-assigned
    function: int | None
    origin: str  # "-device", "hostpci0", "<hostdev>", "Proxmox layout", ...


@dataclass
class Assigned:
    """One passed-through device as QEMU will get it (after -set, -global and overrides)."""

    host: str | None  # "0000:00:02.0"; None for mdev or when the input only adjusts an id
    all_functions: bool = False  # Proxmox "0000:00:02": every function of the slot
    driver: str | None = "vfio-pci"
    id: str | None = None  # QEMU id = libvirt alias = Proxmox "hostpciN"
    guest_bus: str | None = None  # "pci.0", "pcie.0", a bridge / root-port id; None = unknown
    guest_slot: int | None = None  # None = auto-assigned
    guest_function: int | None = None
    on_root_bus: bool | None = None
    rombar: int | None = None  # None = not given (QEMU default 1)
    romfile: str | None = None  # "" = ROM disabled
    x_vga: bool | None = None
    x_igd_opregion: bool | None = None  # None = not given (default off before QEMU 10.1, on since)
    x_igd_gms: int | None = None
    x_igd_lpc: bool | None = None
    x_igd_legacy_mode: str | None = None  # "on" / "off" / "auto"
    x_pci_class_code: int | None = None
    legacy_igd: bool = False  # Proxmox hostpci flag
    pcie: bool | None = None  # Proxmox hostpci flag
    mdev: str | None = None  # Proxmox mdev type, or the mdev UUID from sysfsdev= / libvirt <source uuid>
    # an mdev (GVT-g) whose parent device the input does not name: host is the IGD 0000:00:02.0,
    # the only parent GVT-g creates mdevs on
    mdev_parent_assumed: bool = False
    multifunction: bool | None = None
    hotplugged: bool | None = None  # False for cold-plugged definitions; None when unknowable
    origin: str = ""  # "-device", "hostpci0", "<hostdev>", "-set only", "<qemu:override> only"
    options: dict[str, Any] = field(default_factory=dict)  # final QEMU -device properties
    source_options: dict[str, Any] = field(default_factory=dict)  # as written (PVE/libvirt keys)

    @property
    def alias(self) -> str | None:
        return self.id

    @property
    def guest_address(self) -> str | None:
        """``"00:02.0"``-style address on the root bus, else None."""
        if self.on_root_bus and self.guest_slot is not None:
            return f"00:{self.guest_slot:02x}.{self.guest_function or 0}"
        return None


@dataclass
class VmConfig:
    source: str  # "qemu", "libvirt", "proxmox"
    machine: str | None = None  # as written (None = not given)
    machine_family: str | None = None  # "i440fx", "q35", None = unknown
    machine_version: str | None = None  # "9.2"; None = unversioned alias or unknown
    firmware: str | None = None  # "seabios", "ovmf", None = unknown
    vga: str | None = None  # -vga / Proxmox vga / libvirt primary video model, as written
    nodefaults: bool | None = None
    # the QEMU that runs the VM, only when the input names it (a versioned binary or libvirt
    # <emulator> path); never a machine type's version (that is machine_version, a lower bound)
    qemu_version_hint: str | None = None
    created_with_qemu: str | None = None  # Proxmox meta: creation-qemu=, the QEMU the VM was created with
    assigned: list[Assigned] = field(default_factory=list)
    devices_at_1f0: list[str] | None = None  # None = unknown (machine unknown)
    devices: list[GuestDevice] = field(default_factory=list)
    errors_quoted: list[str] = field(default_factory=list)  # QEMU errors in the data (not headers)
    notes: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    @property
    def igd(self) -> Assigned | None:
        """The assigned device taken from host slot 00:02 (function 0 first), or the only
        id-only entry when the input names no host address at all."""
        for want in ("0000:00:02.0", "0000:00:02."):
            for a in self.assigned:
                if a.host and a.host.startswith(want):
                    return a
        hostless = [a for a in self.assigned if a.host is None and a.mdev is None]
        if len(hostless) == 1 and not any(a.host for a in self.assigned):
            return hostless[0]
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Small value parsers (QEMU / PVE / libvirt semantics)


def _text(text: str | bytes, what: str) -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > 4 * MAX_TEXT_CHARS:
            raise BadInput(f"{what}: {len(raw)} bytes is larger than any VM definition; refusing")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{what}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(text, str):
        raise BadInput(f"{what}: expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput(f"{what}: {len(text)} characters is larger than any VM definition (limit {MAX_TEXT_CHARS})")
    if "\x00" in text:
        raise BadInput(f"{what}: contains NUL bytes; binary data, not a VM definition")
    if not text.strip():
        raise BadInput(f"{what}: empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strtoint(value: Any) -> int | None:
    """qemu_strtou64/libvirt base-0 parse: 0x.. hex, 0.. octal, else decimal."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    s = value.strip()
    try:
        if re.fullmatch(r"0[0-7]+", s):
            return int(s, 8)
        return int(s, 0)
    except ValueError:
        return None


_QEMU_TRUE = {"on", "yes", "true", "y"}
_QEMU_FALSE = {"off", "no", "false", "n"}


def _qemu_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _QEMU_TRUE:
            return True
        if v in _QEMU_FALSE:
            return False
    return None


def _pve_bool(value: Any) -> bool | None:
    v = str(value).strip().lower()
    if v in ("1", "on", "yes", "true"):
        return True
    if v in ("0", "off", "no", "false"):
        return False
    return None


_HOSTADDR = re.compile(
    r"^(?:(?P<dom>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<slot>[0-9a-fA-F]{1,2})(?:\.(?P<fn>[0-7]))?$"
)


def normalise_host(addr: str) -> tuple[str, bool] | None:
    """``"00:02.0"`` -> ``("0000:00:02.0", False)``; ``"0000:00:02"`` -> ``("0000:00:02.0", True)``."""
    m = _HOSTADDR.match(addr.strip())
    if not m:
        return None
    dom = int(m["dom"] or "0", 16)
    bus, slot = int(m["bus"], 16), int(m["slot"], 16)
    if slot > 31:
        return None
    fn = m["fn"]
    return f"{dom:04x}:{bus:02x}:{slot:02x}.{fn or 0}", fn is None


_DEVFN = re.compile(r"^\s*(?:0[xX])?([0-9a-fA-F]+)(?:\.(?:0[xX])?([0-9a-fA-F]+))?$")


def parse_devfn(value: Any) -> tuple[int, int] | None:
    """QEMU ``addr=``: string ``slot[.fn]`` in hex, or a JSON integer devfn (-1 = auto)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if 0 <= value <= 255:
            return value >> 3, value & 7
        return None
    if not isinstance(value, str):
        return None
    m = _DEVFN.match(value)
    if not m:
        return None
    slot = int(m[1], 16)
    fn = int(m[2], 16) if m[2] is not None else 0
    if slot > 31 or fn > 7:
        return None
    return slot, fn


def parse_keyval(text: str, implied: str | None) -> tuple[dict[str, str], list[str]]:
    """QEMU option string ``a,b=c,,d,flag``: ``,,`` is a literal comma; the first bare element is
    the implied key's value; other bare elements are ``key=on``.  Returns (props, oddities)."""
    parts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == ",":
            if i + 1 < n and text[i + 1] == ",":
                cur.append(",")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    props: dict[str, str] = {}
    odd: list[str] = []
    for idx, part in enumerate(parts):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            props[k] = v
        elif idx == 0 and implied:
            props[implied] = part
        else:
            props[part] = "on"
            odd.append(part)
    return props, odd


def _machine_family(mtype: str) -> tuple[str | None, str | None, str | None]:
    """(family, version, note) for a QEMU machine type name."""
    t = mtype.strip().lower()
    pve = re.search(r"\+pve(\d+)", t)
    t_core = re.sub(r"\+pve\d+", "", t).removesuffix(".pxe")
    note = f"Proxmox machine revision +pve{pve[1]}" if pve else None
    fam: str | None = None
    if "q35" in t_core:
        fam = "q35"
    elif t_core == "pc" or t_core.startswith(("pc-i440fx", "pc-")) or t_core.startswith("ubuntu"):
        fam = "i440fx"
    elif t_core in ("isapc", "microvm", "xenfv", "xenpv", "none") or t_core.startswith("xenfv"):
        return None, None, f"machine {mtype!r} is neither i440fx nor q35"
    m = re.match(r"^pc-(?:i440fx-|q35-)?(\d+\.\d+)", t_core)
    version = m[1] if m else None
    if fam and version is None and t_core not in ("pc", "q35"):
        note = (note + "; " if note else "") + f"machine {mtype!r}: no upstream version in the name"
    return fam, version, note


def _root_bus(family: str | None) -> str | None:
    return {"i440fx": "pci.0", "q35": "pcie.0"}.get(family or "")


_VERSION_IN_PATH = re.compile(r"(?<![\d.])(\d{1,2}\.\d{1,2}(?:\.\d{1,3})?)(?![\d.])")


def _version_from_binary(path: str) -> str | None:
    """The QEMU version a binary's path names (``/opt/qemu-10.0.2/bin/qemu-system-x86_64``,
    ``qemu-system-x86_64-9.2``): a version in the binary's name or in a directory named after QEMU
    (``qemu-9.2``, ``qemu/9.2.0``); None for other numbers (``/opt/python3.11/...``)."""
    parts = [p for p in path.strip().split("/") if p]
    if not parts:
        return None
    for k in range(len(parts) - 1, -1, -1):
        comp = parts[k]
        named = "qemu" in comp.lower() or (k > 0 and "qemu" in parts[k - 1].lower() and re.fullmatch(r"v?[\d.]+", comp))
        if k == len(parts) - 1:
            comp = re.sub(r"^(?:qemu-system-x86_64|qemu-system-i386)", "", comp)  # x86_64 is no version
        if named:
            m = _VERSION_IN_PATH.search(comp)
            if m:
                return m[1]
    return None


# --------------------------------------------------------------------------------------------
# Shared builder: devices, machine options, -set/-global, then the VmConfig


@dataclass
class _Dev:
    driver: str | None
    props: dict[str, Any]
    origin: str
    json: bool | None = False  # True = JSON -device (no -set); None = unknown (libvirt)
    assigned: bool = False  # a passthrough device (vfio-pci, hostpci, hostdev) or placeholder
    placeholder: bool = False  # only known from -set / override: the definition is not in the input
    auto_hint: str | None = None  # "libvirt" = auto-address by libvirt
    src: dict[str, Any] = field(default_factory=dict)
    legacy_igd: bool = False
    pcie: bool | None = None
    all_functions: bool = False
    mdev: str | None = None
    mdev_parent: str | None = None  # the parent device of an mdev, when the input names it
    hotplugged: bool | None = False


class _Builder:
    def __init__(self, source: str) -> None:
        self.cfg = VmConfig(source=source)
        self.devs: list[_Dev] = []
        self.machine_opts: dict[str, str] = {}
        self.machine_given = False
        self.invocation = False  # a QEMU binary was seen as a command
        self.vga_opt: str | None = None
        self.nodefaults = False
        self.net_opts: list[tuple[str, str]] = []  # -net / -nic / -netdev, as given
        self.bios: str | None = None
        self.pflash: list[str] = []
        self.fw_files: list[str] = []  # -blockdev / -drive file names (OVMF detection)
        self.globals: dict[str, dict[str, str]] = {}
        self.bridges: dict[str, str] = {}  # bus id -> what it is (never the root bus)
        self.fw_cfg: list[str] = []
        self.pending_sets: dict[str, list[tuple[str, str]]] = {}
        self._by_id: dict[str, _Dev] = {}
        self._indexed = 0
        self._seen_notes: set[str] = set()

    # -- notes (bounded: hostile input must not make them grow without limit)
    def note(self, msg: str) -> None:
        if msg not in self._seen_notes and len(self.cfg.notes) < MAX_NOTES:
            self._seen_notes.add(msg)
            self.cfg.notes.append(msg)

    def unparsed(self, msg: str) -> None:
        msg = msg[:300]
        if len(self.cfg.unparsed) < MAX_NOTES and msg not in self._seen_notes:
            self._seen_notes.add(msg)
            self.cfg.unparsed.append(msg)

    def find(self, dev_id: str) -> _Dev | None:
        """The first device with that id (devices get their id before they are appended)."""
        for d in self.devs[self._indexed:]:
            key = d.props.get("id")
            if isinstance(key, str):
                self._by_id.setdefault(key, d)
        self._indexed = len(self.devs)
        return self._by_id.get(dev_id)

    # -- QEMU arguments (command lines, Proxmox args:, libvirt qemu:commandline)
    def scan(self, words: list[str], origin: str) -> int:
        """Read QEMU options out of ``words``; returns how many options were recognised."""
        seen = 0
        i, n = 0, len(words)
        while i < n:
            w = words[i]
            if not w.startswith("-") or w in ("-", "--"):
                i += 1
                continue
            opt = w[2:] if w.startswith("--") else w[1:]
            if opt in _QEMU_FLAGS:
                self.flag(opt)
                seen += 1
                i += 1
                continue
            if opt in _QEMU_ARG_OPTS:
                if i + 1 >= n:
                    self.unparsed(f"{w} without an argument")
                    break
                self.option(opt, words[i + 1], origin)
                seen += 1
                i += 2
                continue
            # unknown option: QEMU would refuse it; skip one argument only if it does not look
            # like the next option
            self.unparsed(f"unknown QEMU option {w[:80]}")
            if i + 1 < n and not words[i + 1].startswith("-") and "=" not in w:
                i += 2
            else:
                i += 1
        return seen

    def flag(self, opt: str) -> None:
        if opt == "nodefaults":
            self.nodefaults = True

    def option(self, opt: str, arg: str, origin: str) -> None:
        if opt == "device":
            self.add_device(arg, origin)
        elif opt in ("machine", "M"):
            self.machine_given = True
            props, _ = parse_keyval(arg, "type")
            self.machine_opts.update(props)
        elif opt == "vga":
            self.vga_opt = arg
        elif opt in ("net", "nic", "netdev"):
            self.net_opts.append((opt, arg))
        elif opt == "bios":
            self.bios = arg
        elif opt == "pflash":
            self.pflash.append(arg)
        elif opt == "drive":
            props, _ = parse_keyval(arg, None)
            if props.get("if") == "pflash":
                self.pflash.append(props.get("file", ""))
            if "file" in props:
                self.fw_files.append(props["file"])
        elif opt == "blockdev":
            if arg.lstrip().startswith("{"):
                for m in re.finditer(r'"filename"\s*:\s*"([^"]*)"', arg[:MAX_JSON_CHARS]):
                    self.fw_files.append(m[1])
            else:
                props, _ = parse_keyval(arg, None)
                for k, v in props.items():
                    if k.endswith("filename"):
                        self.fw_files.append(v)
        elif opt == "set":
            self.apply_set(arg, origin)
        elif opt == "global":
            self.add_global(arg)
        elif opt == "readconfig":
            self.note(f"-readconfig {arg} not read (its devices are unknown)")
            if re.search(r"pve-q35[^/]*\.cfg$", arg):
                self.add_pve_q35_layout()
                self.note("pve-q35 readconfig: pci.0..pci.3 are bridges behind a DMI bridge at 00:1e.0, not the root bus")
        elif opt == "fw_cfg":
            props, _ = parse_keyval(arg, None)
            name = props.get("name")
            if name:
                self.fw_cfg.append(name)
                if name in ("etc/igd-opregion", "etc/igd-bdsm-size"):
                    self.note(f"-fw_cfg {name} supplied by hand (QEMU creates this file itself in legacy mode / with x-igd-opregion)")
                elif name.startswith("opt/igd-"):
                    self.note(f"-fw_cfg {name}: an opt/ file, which the guest firmware only reads if it looks for that name (QEMU's own file is etc/{name[4:]})")

    def add_device(self, arg: str, origin: str, *, hotplugged: bool | None = False) -> _Dev | None:
        if arg.lstrip().startswith("{"):
            if len(arg) > MAX_JSON_CHARS:
                self.unparsed(f"-device JSON of {len(arg)} characters (too large)")
                return None
            try:
                obj = json.loads(arg)
            except (ValueError, RecursionError) as exc:
                self.unparsed(f"-device JSON not parsed ({type(exc).__name__}): {arg[:120]}")
                return None
            if not isinstance(obj, dict):
                self.unparsed(f"-device JSON is not an object: {arg[:120]}")
                return None
            props = {str(k): v for k, v in obj.items()}
            is_json: bool | None = True
        else:
            props_s, odd = parse_keyval(arg, "driver")
            props = dict(props_s)
            for o in odd:
                self.note(f"-device {props.get('driver')}: bare option {o!r} read as {o}=on")
            is_json = False
        driver = props.pop("driver", None)
        if driver is not None and not isinstance(driver, str):
            driver = str(driver)
        dev = _Dev(driver=driver, props=props, origin=origin, json=is_json, hotplugged=hotplugged)
        if driver in VFIO_DRIVERS:
            dev.assigned = True
        elif driver == "pci-assign" or driver == "kvm-pci-assign":
            dev.assigned = True
            self.note(f"{driver}: the old KVM device assignment, not vfio-pci (no IGD legacy mode)")
        self.devs.append(dev)
        # -set given earlier for this id cannot apply (QEMU: there is no device defined)
        dev_id = props.get("id")
        if isinstance(dev_id, str) and dev_id in self.pending_sets:
            self.note(f"-set device.{dev_id}.* appears before -device id={dev_id}: QEMU fails (there is no device \"{dev_id}\" defined)")
        return dev

    def apply_set(self, arg: str, origin: str) -> None:
        m = re.match(r"^([^.]{1,63})\.([^.]{1,63})\.([^=]{1,63})=(.*)$", arg, re.S)
        if not m:
            self.unparsed(f"-set {arg[:120]} (QEMU: can't parse)")
            return
        group, dev_id, prop, value = m.groups()
        if group != "device":
            return
        dev = self.find(dev_id)
        if dev is None:
            self.pending_sets.setdefault(dev_id, []).append((prop, value))
            return
        if dev.json is True:
            self.note(f"-set device.{dev_id}.{prop}: QEMU refuses -set on a device passed as JSON")
            return
        if dev.json is None:
            self.note(
                f"-set device.{dev_id}.{prop} via <qemu:commandline> only works while libvirt passes -device as "
                "key=value (before QEMU 6.2); with JSON -device QEMU rejects it (use <qemu:override>)"
            )
        dev.props[prop] = value

    def add_global(self, arg: str) -> None:
        if "=" in arg and arg.split("=", 1)[0] in ("driver", "property", "value"):
            props, _ = parse_keyval(arg, None)
            drv, prop, val = props.get("driver"), props.get("property"), props.get("value")
        else:
            m = re.match(r"^([^.=]+)\.([^=]+)=(.*)$", arg)
            if not m:
                self.unparsed(f"-global {arg[:120]}")
                return
            drv, prop, val = m.groups()
        if drv and prop and val is not None:
            self.globals.setdefault(drv, {})[prop] = val
            if drv.startswith("ICH9-LPC") and not self.machine_given:
                self.note("-global ICH9-LPC.* implies a q35 machine")

    def add_pve_q35_layout(self) -> None:
        for b in ("pci.0", "pci.1", "pci.2", "pci.3"):
            self.bridges[b] = "pci-bridge behind the DMI bridge pcidmi at 00:1e.0 (Proxmox q35)"
        for k in range(1, 17):
            self.bridges[f"ich9-pcie-port-{k}"] = "pcie-root-port (Proxmox q35)"
        self.devs.append(_Dev("i82801b11-bridge", {"id": "pcidmi", "bus": "pcie.0", "addr": "1e.0"}, "Proxmox q35 layout"))

    # -- placeholders for -set / override targets that are not defined in the input
    def resolve_pending(self) -> None:
        for dev_id, sets in self.pending_sets.items():
            if self.find(dev_id) is not None:
                continue  # defined later: already noted as a QEMU error
            props = dict(sets)
            vfioish = any(p.startswith(("x-igd", "x-vga", "rom")) for p, _ in sets)
            if re.fullmatch(r"hostpci\d+(\.\d)?|hostdev\d+|ua-.*", dev_id) or vfioish:
                dev = _Dev(None, {"id": dev_id, **props}, "-set only", assigned=True, placeholder=True, hotplugged=None)
                self.devs.append(dev)
                self.note(f"-set targets device {dev_id!r}, which is not defined in this input (partial?)")
            else:
                self.note(f"-set device.{dev_id}.*: QEMU fails (there is no device \"{dev_id}\" defined)")

    # -- final assembly
    def finish(self) -> VmConfig:
        cfg = self.cfg
        self.resolve_pending()
        if self.machine_given and "type" in self.machine_opts:
            cfg.machine = self.machine_opts["type"]
        if cfg.machine:
            fam, ver, note = _machine_family(cfg.machine)
            cfg.machine_family, cfg.machine_version = fam, ver
            if note:
                self.note(note)
        elif cfg.source == "qemu" and self.invocation:
            cfg.machine_family = "i440fx"
            self.note("no -machine: QEMU's default machine 'pc' (i440fx, newest version of the binary)")
        if cfg.machine_family is None and cfg.machine is None:
            if any(d.props.get("bus") == "pcie.0" for d in self.devs):
                cfg.machine_family = "q35"
                self.note("machine not stated; inferred q35 from a device on bus pcie.0 (only q35 has that root bus)")
            elif any(drv.startswith("ICH9-LPC") for drv in self.globals):
                cfg.machine_family = "q35"
        if cfg.source == "qemu":
            cfg.nodefaults = self.nodefaults
            cfg.vga = self.vga_opt
            self.qemu_firmware()
            self.default_vga()
            self.init_nic()
        root = _root_bus(cfg.machine_family)
        vfio_globals: dict[str, str] = {}
        for drv in ("vfio-pci", "vfio-pci-nohotplug"):
            vfio_globals.update(self.globals.get(drv, {}))
        for d in self.devs:
            gd = self.guest_device(d, root)
            cfg.devices.append(gd)
            if d.assigned:
                if d.driver in VFIO_DRIVERS or d.placeholder:
                    for k, v in vfio_globals.items():
                        if k not in d.props:
                            d.props[k] = v
                            self.note(f"-global vfio-pci.{k}={v} applies to {d.props.get('id') or d.driver}")
                cfg.assigned.append(self.derive(d, gd, root))
        self.slot_conflicts(cfg.devices)
        # 00:1f.0
        if cfg.machine_family is None:
            cfg.devices_at_1f0 = None
        else:
            at = [ICH9_LPC] if cfg.machine_family == "q35" else []
            for gd in cfg.devices:
                if gd.slot == 0x1F and (gd.function or 0) == 0 and self.is_root(gd.bus, root) is True:
                    label = gd.driver or "device"
                    if gd.id:
                        label += f" {gd.id}"
                    at.append(f"{label} ({gd.origin})")
            cfg.devices_at_1f0 = at
        return cfg

    def qemu_firmware(self) -> None:
        cfg = self.cfg
        names = [self.bios or ""] + self.pflash + self.fw_files
        ovmfish = any(re.search(r"ovmf|edk2|uefi|\.fd$", n, re.I) for n in names if n)
        if self.bios:
            if re.search(r"ovmf|edk2|uefi", self.bios, re.I):
                cfg.firmware = "ovmf"
            elif re.search(r"seabios|bios(-256k)?\.bin", self.bios, re.I):
                cfg.firmware = "seabios"
            else:
                self.note(f"-bios {self.bios}: firmware kind not recognised")
        elif self.pflash or any(k.startswith("pflash") for k in self.machine_opts):
            cfg.firmware = "ovmf"
            if not ovmfish:
                self.note("pflash firmware whose file name does not say OVMF; assumed OVMF")
        elif self.invocation or self.machine_given:
            cfg.firmware = "seabios"
            self.note("no -bios/pflash: QEMU's default firmware SeaBIOS")

    def default_vga(self) -> None:
        """QEMU adds its default VGA unless -vga none, -nodefaults or a VGA device is given; on
        i440fx it is created before -device devices and takes the first free slot, 00:02.0."""
        if not (self.invocation or self.machine_given):
            return
        vga = (self.vga_opt or "").strip()
        if vga == "none" or self.nodefaults or any(d.driver in VGA_DRIVERS for d in self.devs):
            return
        if vga == "":
            self.note("no -vga none / -nodefaults: QEMU adds its default VGA device")
        slot = 2 if self.cfg.machine_family == "i440fx" else 1 if self.cfg.machine_family == "q35" else None
        if slot is not None:
            self.devs.insert(0, _Dev("VGA", {"addr": f"{slot:x}.0"}, "QEMU default VGA"))
            self._by_id.clear()
            self._indexed = 0

    def init_nic(self) -> None:
        """The NIC of -nic / -net nic, or the default one (no -net/-nic/-netdev and no -nodefaults),
        is created with the machine, before -device devices, at the first free slot after the
        default VGA: on i440fx 00:02.0 when there is no VGA there (else 00:03.0), on q35 00:02.0
        after the VGA at 00:01.0 (else 00:01.0). Checked with QEMU 7.2: 'slot 2 function 0 not
        available for vfio-pci, in use by e1000' (e1000e on q35)."""
        fam = self.cfg.machine_family
        if fam not in ("i440fx", "q35") or not (self.invocation or self.machine_given):
            return
        nics = [a for o, a in self.net_opts if (o == "nic" and not a.startswith("none")) or (o == "net" and a.split(",")[0] == "nic")]
        default = not self.nodefaults and not self.net_opts
        if not (nics or default):
            return
        vga = {d.props.get("addr") for d in self.devs if d.origin == "QEMU default VGA"}
        first = 2 if fam == "i440fx" else 1
        slot = first + 1 if f"{first:x}.0" in vga else first
        model = "e1000" if fam == "i440fx" else "e1000e"
        for a in nics:
            props, _ = parse_keyval(a, None)
            model = props.get("model", model)
            break
        self.devs.insert(1 if vga else 0, _Dev(model, {"addr": f"{slot:x}.0"}, "QEMU default NIC" if default else "-nic / -net nic"))
        self._by_id.clear()
        self._indexed = 0

    def is_root(self, bus: str | None, root: str | None) -> bool | None:
        if bus is None:
            return True
        if bus in self.bridges:
            return False
        if root is not None:
            if bus == root:
                return True
            if bus in ("pci.0", "pcie.0"):
                self.note(f"bus {bus} does not exist on {self.cfg.machine_family} (QEMU: Bus '{bus}' not found)")
                return None
            return False
        if bus == "pcie.0":
            return True
        if bus == "pci.0":
            return None  # root on i440fx, a bridge on Proxmox q35: machine unknown
        return False

    def guest_device(self, d: _Dev, root: str | None) -> GuestDevice:
        bus = d.props.get("bus")
        bus = str(bus) if bus is not None else None
        slot = fn = None
        if "addr" in d.props:
            devfn = parse_devfn(d.props["addr"])
            if devfn is None:
                self.unparsed(f"{d.props.get('id') or d.driver}: addr={d.props['addr']!r} is not slot[.fn]")
            else:
                slot, fn = devfn
        return GuestDevice(d.driver, _s(d.props.get("id")), bus, slot, fn, d.origin)

    def slot_conflicts(self, devices: list[GuestDevice]) -> None:
        root = _root_bus(self.cfg.machine_family)
        used: dict[tuple[str | None, int, int], GuestDevice] = {}
        for gd in devices:
            if gd.slot is None:
                continue
            busname = root if gd.bus is None else gd.bus
            key = (busname, gd.slot, gd.function or 0)
            if key in used:
                other = used[key]
                self.note(
                    f"guest {busname or 'root bus'} {gd.slot:02x}.{gd.function or 0} given to both "
                    f"{other.driver or other.id} ({other.origin}) and {gd.driver or gd.id} ({gd.origin}): "
                    "QEMU fails (slot not available)"
                )
            else:
                used[key] = gd

    def derive(self, d: _Dev, gd: GuestDevice, root: str | None) -> Assigned:
        p = d.props
        a = Assigned(host=None, driver=d.driver, origin=d.origin, options=dict(p), source_options=dict(d.src))
        a.legacy_igd, a.pcie, a.all_functions, a.mdev = d.legacy_igd, d.pcie, d.all_functions, d.mdev
        a.hotplugged = d.hotplugged
        a.id = _s(p.get("id"))
        host = p.get("host")
        if isinstance(host, str):
            norm = normalise_host(host)
            if norm is None:
                self.unparsed(f"{a.id or d.driver}: host={host!r} is not a PCI address")
            else:
                a.host = norm[0]
                if norm[1] and not d.all_functions:
                    self.note(f"{a.id or d.driver}: host={host} has no function; QEMU needs bus:slot.fn")
        sysfs = p.get("sysfsdev")
        if isinstance(sysfs, str):
            tail = sysfs.rstrip("/").rsplit("/", 1)[-1]
            if "/mdev/" in sysfs or _UUID.fullmatch(tail) or d.mdev:
                a.mdev = a.mdev or tail
                parent = d.mdev_parent
                if parent is None:
                    # /sys/bus/pci/devices/0000:00:02.0/UUID names the parent; /sys/bus/mdev/devices/UUID does not
                    pm = re.search(r"/([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])/[^/]+/?$", sysfs)
                    norm = normalise_host(pm[1]) if pm else None
                    parent = norm[0] if norm else None
                if parent is not None:
                    a.host = parent
                elif a.host is None:
                    a.host, a.mdev_parent_assumed = "0000:00:02.0", True
                    self.note(f"{a.id or 'mdev ' + a.mdev}: mediated device (GVT-g) whose parent is not named here; "
                              "taken as the IGD 0000:00:02.0, the only device GVT-g creates mdevs on")
            else:
                norm = normalise_host(tail)
                if norm:
                    a.host = norm[0]
        # guest placement
        a.guest_slot, a.guest_function = gd.slot, gd.function
        if gd.bus is not None:
            a.guest_bus = gd.bus
        elif d.auto_hint == "libvirt":
            a.guest_bus = None
        else:
            a.guest_bus = root
        if d.auto_hint == "libvirt" and gd.bus is None:
            fam = self.cfg.machine_family
            a.on_root_bus = True if fam == "i440fx" else False if fam == "q35" else None
        else:
            a.on_root_bus = self.is_root(gd.bus, root)
        if a.guest_bus in self.bridges:
            self.note(f"{a.id or a.host}: guest bus {a.guest_bus} is a {self.bridges[a.guest_bus]}")
        # ROM
        if "rombar" in p:
            a.rombar = _strtoint(p["rombar"])
            if a.rombar is None:
                self.unparsed(f"{a.id}: rombar={p['rombar']!r}")
        if "romfile" in p:
            a.romfile = str(p["romfile"])
        # booleans
        for key, attr in (("x-vga", "x_vga"), ("x-igd-opregion", "x_igd_opregion"), ("x-igd-lpc", "x_igd_lpc"),
                          ("multifunction", "multifunction")):
            if key in p:
                b = _qemu_bool(p[key])
                if b is None:
                    self.unparsed(f"{a.id or a.host}: {key}={p[key]!r} (QEMU expects on/off)")
                setattr(a, attr, b)
        if "x-igd-gms" in p:
            a.x_igd_gms = _strtoint(p["x-igd-gms"])
            if a.x_igd_gms is None:
                self.unparsed(f"{a.id or a.host}: x-igd-gms={p['x-igd-gms']!r}")
        if "x-igd-legacy-mode" in p:
            v = str(p["x-igd-legacy-mode"]).strip().lower()
            if v in ("on", "off", "auto"):
                a.x_igd_legacy_mode = v
            else:
                self.unparsed(f"{a.id or a.host}: x-igd-legacy-mode={p['x-igd-legacy-mode']!r} (on/off/auto)")
        if "x-pci-class-code" in p:
            a.x_pci_class_code = _strtoint(p["x-pci-class-code"])
        if a.host and a.host.startswith("0000:00:02.") and not a.host.endswith(".0"):
            self.note(f"{a.id or a.host}: host {a.host} is not function 0 of slot 00:02 (the IGD is 00:02.0)")
        return a


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


# QEMU options without an argument (qemu-options.hx, HAS_ARG absent); everything in _QEMU_ARG_OPTS
# takes exactly one.
_QEMU_FLAGS = frozenset(
    """enable-kvm nodefaults nographic no-hpet no-acpi no-reboot no-shutdown daemonize S s snapshot usb
    nodefconfig no-user-config full-screen no-frame alt-grab ctrl-grab no-quit curses sdl win2k-hack
    rtc-td-hack no-kvm no-kvm-irqchip no-kvm-pit no-kvm-pit-reinjection enable-fips mem-prealloc
    only-migratable preconfig semihosting singlestep localtime no-fd-bootchk version help h
    xen-attach xen-domid-restrict enable-sync-profile async-teardown old-param""".split()
)
_QEMU_ARG_OPTS = frozenset(
    """name machine M cpu accel smp m mem-path k device drive blockdev netdev net nic chardev serial
    parallel monitor mon qmp qmp-pretty vga display spice vnc object global set readconfig writeconfig
    fw_cfg bios L pflash boot rtc smbios numa audiodev audio soundhw usbdevice hda hdb hdc hdd cdrom fda
    fdb kernel initrd append dtb pidfile runas chroot sandbox msg overcommit trace D d incoming
    loadstate id uuid debugcon watchdog watchdog-action tpmdev add-fd compat action virtfs fsdev iscsi
    icount g option-rom acpitable prom-env echr gdb plugin mtdblock sd xen-domid semihosting-config
    realtime run-with qtest qtest-log seed balloon""".split()
)


# --------------------------------------------------------------------------------------------
# Shell text -> commands


_TOKEN = re.compile(
    r"""(?P<ws>[ \t\f\v]+)
      | (?P<cont>\\\n)
      | (?P<nl>\n)
      | (?P<comment>\#[^\n]*)
      | (?P<sep>&&|\|\||[;&|])
      | (?P<redir>\d*(?:>>|>&|<&|<<<|<<|>|<))
      | (?P<arr>[A-Za-z_][A-Za-z0-9_]*=\()
      | (?P<lpar>\()
      | (?P<rpar>\))
      | (?P<word>(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|\$\([^()]*\)|\$\{[^{}]*\}|[^\s'"\\;&|()<>])+)
      | (?P<bad>.)""",
    re.X | re.S,
)
_PIECE = re.compile(
    r"""'(?P<sq>[^']*)'
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | \\\n
      | \\(?P<esc>.)
      | \$\{(?P<brace>[^{}]*)\}
      | \$(?P<var>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<lit>\$\([^()]*\)|[^'"\\$]+|\$)""",
    re.X | re.S,
)
_DQ_PIECE = re.compile(
    r"""\\(?P<esc>[$`"\\\n])
      | \$\{(?P<brace>[^{}]*)\}
      | \$(?P<var>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<lit>\$\([^()]*\)|[^\\$]+|\\|\$)""",
    re.X | re.S,
)
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_PROMPT = re.compile(r"^[\w.-]+@[\w.-]+:\S*[#$]$")


@dataclass
class _Cmd:
    words: list[str]  # raw (still quoted) words
    kind: str  # "cmd", "array", "echo"
    line: int
    echo: tuple[str, str] | None = None


def _shell_commands(text: str, echoes: dict[int, tuple[str, str]]) -> tuple[list[_Cmd], list[str]]:
    """Split shell text into commands of raw words. ``echoes`` maps line numbers whose text was
    replaced by a placeholder to (option, argument)."""
    cmds: list[_Cmd] = []
    odd: list[str] = []
    cur: list[str] = []
    line = 1
    start_line = 1
    in_array = False
    skip_next = False

    def flush(kind: str = "cmd") -> None:
        nonlocal cur
        if cur:
            cmds.append(_Cmd(cur, kind, start_line))
        cur = []

    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        assert m is not None  # the 'bad' alternative matches any character
        kind = m.lastgroup
        tok = m.group()
        pos = m.end()
        if kind == "ws" or kind == "comment":
            continue
        if kind == "cont":
            line += 1
            continue
        if kind == "nl":
            line += 1
            if not in_array:
                flush()
            skip_next = False
            continue
        if kind == "sep" or (kind in ("lpar", "rpar") and not in_array):
            flush()
            skip_next = False
            continue
        if kind == "redir":
            skip_next = True
            continue
        if kind == "arr":
            flush()
            in_array = True
            start_line = line
            cur = [tok[:-1]]  # "NAME=" marks the array
            continue
        if kind == "rpar" and in_array:
            in_array = False
            flush("array")
            continue
        if kind == "lpar":
            continue
        if kind == "bad":
            odd.append(f"line {line}: unbalanced quote or stray {tok!r} read literally")
        line += tok.count("\n")
        if skip_next:
            skip_next = False
            continue
        if not cur:
            start_line = line
        cur.append(tok)
    flush("array" if in_array else "cmd")
    # attach echo placeholders
    for c in cmds:
        if len(c.words) == 1 and c.words[0].startswith("__igdscope_echo_"):
            num = int(c.words[0][len("__igdscope_echo_"):].rstrip("_"))
            c.kind, c.echo = "echo", echoes.get(num)
    return cmds, odd


class _Env:
    def __init__(self) -> None:
        self.vars: dict[str, str] = {}
        self.unknown: set[str] = set()

    def lookup(self, name: str, raw: str) -> str:
        if name in self.vars:
            return self.vars[name]
        self.unknown.add(name)
        return raw

    def expand(self, word: str) -> str:
        out: list[str] = []
        size = 0
        for m in _PIECE.finditer(word):
            g = m.lastgroup
            if g == "sq":
                s = m["sq"]
            elif g == "dq":
                s = self.expand_dq(m["dq"])
            elif g == "esc":
                s = m["esc"]
            elif g == "brace":
                s = self.brace(m["brace"], m.group())
            elif g == "var":
                s = self.lookup(m["var"], m.group())
            elif g == "lit":
                s = m["lit"]
            else:  # backslash-newline inside a word
                s = ""
            out.append(s)
            size += len(s)
            if size > MAX_WORD_CHARS:
                raise BadInput(f"shell word grows past {MAX_WORD_CHARS} characters when variables are expanded")
        return "".join(out)

    def expand_dq(self, body: str) -> str:
        out: list[str] = []
        for m in _DQ_PIECE.finditer(body):
            g = m.lastgroup
            if g == "esc":
                out.append("" if m["esc"] == "\n" else m["esc"])
            elif g == "brace":
                out.append(self.brace(m["brace"], m.group()))
            elif g == "var":
                out.append(self.lookup(m["var"], m.group()))
            else:
                out.append(m["lit"])
        return "".join(out)

    def brace(self, inner: str, raw: str) -> str:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?::?-(.*))?", inner, re.S)
        if not m:
            return raw  # ${args[@]}, ${#x}, ... left as written
        if m[1] in self.vars:
            return self.vars[m[1]]
        if m[2] is not None:
            return m[2]
        self.unknown.add(m[1])
        return raw


# Words that start a shell command or a config line: a line starting with one never continues a
# wrapped error message.
_NOT_CONTINUATION_WORDS = frozenset(
    """sudo exec echo printf cd export declare local set unset if then else elif fi for while do done case
    esac function return exit sleep modprobe rmmod insmod virsh qm pvesh systemctl cat ls cp mv rm mkdir
    chmod chown ln kill wait source . eval trap test [ [[ { } ! time nice nohup taskset numactl env chrt
    ionice read shift""".split()
)
_ECHO_MAX_WRAP = 6  # continuation lines joined onto one quoted error


def _continues(line: str, *, loose: bool) -> bool:
    """Is ``line`` (comment marker already removed) the wrapped rest of an error message?  ``loose``
    when the message so far is cut inside the option it quotes (no ``: message`` yet)."""
    s = line.strip()
    if not s or s.startswith(("-", "#", "<", "$", "/", "./")) or s.endswith("\\"):
        return False
    if _ECHO.match(s) or re.match(r"^TASK ERROR:", s) or _PROMPT.match(s.split(None, 1)[0]):
        return False
    first = s.split(None, 1)[0]
    if _QEMU_BIN.match(first) or first in _NOT_CONTINUATION_WORDS:
        return False
    if loose:
        return True
    if s.startswith("[") or _ASSIGN.match(first):
        return False
    km = _PVE_KEY.match(s)
    return not (km and _PVE_KNOWN.match(km[1]))


def _quoted_error(lines: list[str], i: int, comment: bool) -> tuple[str, tuple[str, str] | None, int] | None:
    """The QEMU / Proxmox error quoted at ``lines[i]``, joined across the lines it is wrapped onto:
    (message, (option, argument) or None, index of the next line), or None when the line is not an
    error.  ``comment``: the lines are ``#`` comments (a description), read without the marker."""

    def body(k: int) -> str | None:
        ln = lines[k]
        if comment:
            st = ln.lstrip()
            if not st.startswith("#"):
                return None
            return _pve_unescape(st.lstrip("#"))
        return None if ln.lstrip().startswith("#") else ln

    first = body(i)
    if first is None or not first.strip():
        return None
    task = re.match(r"^\s*(TASK ERROR:\s*\S.*)$", first)
    m = _ECHO.match(first)
    if task:
        text = task[1].strip()
    elif m:
        text = m["rest"].strip()
        if not (text.startswith("-") or m["prog"] != "kvm" or re.search(r"error|fail|cannot|not ", text, re.I)):
            return None  # a Proxmox "kvm: 1" line
    else:
        return None
    k = i + 1
    while k < len(lines) and k - i <= _ECHO_MAX_WRAP:
        nxt = body(k)
        cut_in_option = bool(m) and text.startswith("-") and _ECHO_OPT.match(text) is None
        if nxt is None or not _continues(nxt, loose=cut_in_option):
            break
        sep = "" if cut_in_option and text.endswith((",", "=", ":")) else " "
        text = text + sep + nxt.strip()
        k += 1
    if task:
        return text, None, k
    mo = _ECHO_OPT.match(text)
    if mo:
        return mo["msg"].strip(), (mo["opt"], mo["arg"]), k
    if text.startswith("-"):
        return None  # an option echoed without a message: not an error line
    return text, None, k


def _pve_unescape(text: str) -> str:
    """qemu-server writes a description's special characters as %XX."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda mm: chr(int(mm[1], 16)), text) if "%" in text else text


def _echo_lines(text: str, b: _Builder) -> tuple[str, dict[int, tuple[str, str]]]:
    """Take QEMU error echoes out of the text: the message (joined across wrapped lines) goes to
    errors_quoted, the option and argument are kept as a command fragment.  An error quoted in a
    ``#`` comment is collected too, but its option is not part of the command line."""
    echoes: dict[int, tuple[str, str]] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        comment = lines[i].lstrip().startswith("#")
        q = _quoted_error(lines, i, comment)
        if q is None:
            i += 1
            continue
        msg, opt, nxt = q
        b.cfg.errors_quoted.append(msg)
        for k in range(i, nxt):
            lines[k] = "" if not comment else "#"
        if opt is not None and not comment:
            echoes[i] = opt
            lines[i] = f"__igdscope_echo_{i}__"
        i = nxt
    return "\n".join(lines), echoes


# --------------------------------------------------------------------------------------------
# QEMU command lines


_SHELL_LEADERS = frozenset({"then", "do", "else", "{", "!", "time", "command", "builtin"})


def parse_qemu_cmdline(text: str | bytes, *, bare_args: bool = False) -> VmConfig:
    """A QEMU command line, shell script or fragment (see module docstring).  ``bare_args``: the
    text is what one QEMU process was given (``igdscope check --vm-args``), so options without a
    binary in front are that invocation's and QEMU's defaults (machine, firmware, VGA) apply to them;
    otherwise a bare fragment says nothing about what it leaves out.  Comments, shebangs, blank
    lines and commands that are not QEMU are never an invocation."""
    text = _text(text, "QEMU command line")
    b = _Builder("qemu")
    body, echoes = _echo_lines(text, b)
    cmds, odd = _shell_commands(body, echoes)
    for o in odd:
        b.note(o)
    env = _Env()
    recognised = 0
    qm_cmds = 0
    array_scanned = False
    for c in cmds:
        if c.kind == "echo":
            if c.echo:
                opt, arg = c.echo
                recognised += b.scan([opt, arg], "QEMU error echo")
            continue
        words = c.words
        if c.kind == "array":
            name = words[0][:-1]
            vals = [env.expand(w) for w in words[1:]]
            if any(v.startswith("-") for v in vals):
                recognised += b.scan(vals, f"bash array {name}")
                array_scanned = True
            continue
        i = 0
        if words and _PROMPT.match(words[0]):
            i = 1
        while i < len(words) and words[i] in _SHELL_LEADERS:
            i += 1  # "then qemu-system-x86_64 ...", "! cmd", "{ cmd; }"
        if i < len(words) and words[i] in ("export", "declare", "local", "readonly", "typeset"):
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
        while i < len(words):
            m = _ASSIGN.match(words[i])
            if not m:
                break
            env.vars[m[1]] = env.expand(m[2])
            i += 1
        if i >= len(words):
            continue
        first = env.expand(words[i])
        if _QEMU_BIN.match(first):
            b.invocation = True
            b.cfg.qemu_version_hint = b.cfg.qemu_version_hint or _version_from_binary(first)
            rest = [env.expand(w) for w in words[i + 1:]]
            recognised += b.scan(rest, "-device")
            continue
        if first in ("sudo", "exec", "nice", "nohup", "taskset", "numactl", "env", "time", "chrt", "ionice"):
            exp = [env.expand(w) for w in words[i + 1:]]
            for j, w in enumerate(exp):
                if _QEMU_BIN.match(w):
                    b.invocation = True
                    b.cfg.qemu_version_hint = b.cfg.qemu_version_hint or _version_from_binary(w)
                    recognised += b.scan(exp[j + 1:], "-device")
                    break
            continue
        if first.startswith("-"):
            n_opts = b.scan([env.expand(w) for w in words[i:]], "-device")
            recognised += n_opts
            if bare_args and n_opts:
                b.invocation = True
            continue
        if first == "qm" and i + 1 < len(words) and words[i + 1] in ("set", "create"):
            qm_cmds += 1
            continue
        if first == "device_add" and i + 1 < len(words):
            dev = b.add_device(env.expand(words[i + 1]), "device_add", hotplugged=True)
            if dev is not None:
                recognised += 1
            continue
    if qm_cmds and not b.invocation and not recognised:
        cfg = parse_proxmox(text)
        cfg.notes.insert(0, "qm set/create commands: read as a Proxmox config")
        return cfg
    if array_scanned and any("[@]" in w for c in cmds for w in c.words):
        b.note("bash array options read where the array is defined (\"${array[@]}\" not expanded again)")
    if env.unknown:
        b.note("unresolved shell variables left as written: " + ", ".join(sorted(env.unknown)[:10]))
    if not recognised and not b.cfg.errors_quoted:
        raise BadInput("QEMU command line: no QEMU options found")
    return b.finish()


# --------------------------------------------------------------------------------------------
# libvirt


_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.I)


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _qn(tag: str) -> str:
    return f"{{{LIBVIRT_QEMU_NS}}}{tag}"


def _lv_int(value: str | None) -> int | None:
    return None if value is None else _strtoint(value)


def parse_libvirt(text: str | bytes) -> VmConfig:
    """libvirt domain XML, or a snippet (``<hostdev>``, ``<devices>``, ``<qemu:override>``, ...)."""
    text = _text(text, "libvirt XML")
    if _DTD.search(text):
        raise BadInput("libvirt XML: has a DTD or entity declaration (<!DOCTYPE/<!ENTITY); refused")
    # the XML declaration is blanked (same length, same lines) so positions stay the file's own; the
    # wrapper element (snippets can have several roots) opens on line 1 and closes after the text
    body = re.sub(r"<\?xml[^>]*\?>", lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    opening = f'<igdscope-wrap xmlns:qemu="{LIBVIRT_QEMU_NS}">'
    try:
        wrap = ET.fromstring(f"{opening}{body}</igdscope-wrap>")
    except ET.ParseError as exc:
        raise BadInput(_libvirt_parse_error(exc, body, len(opening))) from None
    except RecursionError:
        raise BadInput("libvirt XML: nested too deeply") from None
    b = _Builder("libvirt")
    cfg = b.cfg
    domains = [e for e in wrap if _local(e.tag) == "domain"]
    full = bool(domains)
    scope = domains[0] if domains else wrap
    if len(domains) > 1:
        b.note(f"{len(domains)} <domain> elements; the first is read")
    if full and _local(scope.tag) == "domain" and scope.get("type") not in (None, "kvm", "qemu"):
        b.note(f"domain type {scope.get('type')!r} is not QEMU/KVM")

    hostdevs = [e for e in scope.iter() if _local(e.tag) == "hostdev"]
    overrides = [e for e in scope.iter() if e.tag == _qn("override")]
    cmdlines = [e for e in scope.iter() if e.tag == _qn("commandline")]
    os_type = next((e for e in scope.iter() if _local(e.tag) == "type" and e.get("machine") is not None), None)
    if not (full or hostdevs or overrides or cmdlines or os_type is not None):
        raise BadInput("libvirt XML: no <domain>, <hostdev>, <qemu:commandline> or <qemu:override> found")

    # machine / firmware / video
    if os_type is not None:
        cfg.machine = os_type.get("machine")
        fam, ver, note = _machine_family(cfg.machine or "")
        cfg.machine_family, cfg.machine_version = fam, ver
        if note:
            b.note(note)
    elif full:
        b.note("no <os><type machine=...>: libvirt fills in its default machine at define time (unknown here)")
    os_el = next((e for e in scope.iter() if _local(e.tag) == "os"), None)
    if os_el is not None or full:
        cfg.firmware = _libvirt_firmware(os_el, b) if os_el is not None else None
        if cfg.firmware is None and full:
            cfg.firmware = "seabios"
            b.note("no <loader>/firmware='efi': libvirt's default firmware SeaBIOS")
    videos = [e for e in scope.iter() if _local(e.tag) == "video"]
    if videos:
        prim = next((v for v in videos for mo in v if _local(mo.tag) == "model" and mo.get("primary") == "yes"), videos[0])
        model = next((mo for mo in prim if _local(mo.tag) == "model"), None)
        cfg.vga = model.get("type") if model is not None else None
    emulator = next((e for e in scope.iter() if _local(e.tag) == "emulator"), None)
    if emulator is not None and emulator.text:
        cfg.qemu_version_hint = _version_from_binary(emulator.text.strip())
    if full:
        cfg.nodefaults = True
        b.note("libvirt always starts QEMU with -nodefaults")

    root = _root_bus(cfg.machine_family)
    # controllers (bus N = controller index N = QEMU bus pci.N)
    for ctl in scope.iter():
        if _local(ctl.tag) == "controller" and ctl.get("type") == "pci":
            idx = _lv_int(ctl.get("index"))
            model = ctl.get("model") or "pci"
            if idx and idx > 0:
                b.bridges[f"pci.{idx}"] = f"{model} (libvirt controller index {idx})"

    # every <address type='pci'> on the guest side (for 00:1f.0 and conflicts)
    for el in scope.iter():
        tag = _local(el.tag)
        if tag in ("hostdev", "source"):
            continue  # a hostdev's guest address is placed with the hostdev itself
        addr = next((c for c in el if _local(c.tag) == "address" and c.get("type") == "pci"), None)
        if addr is None:
            continue
        label = tag
        if tag == "controller":
            label = f"controller {el.get('type')} {el.get('model') or ''}".strip()
        elif tag in ("video", "interface", "sound", "memballoon"):
            model = next((c for c in el if _local(c.tag) == "model"), None)
            if model is not None and (model.get("type") or model.get("name")):
                label = f"{tag} {model.get('type') or model.get('name')}"
        elif el.get("model"):
            label = f"{tag} {el.get('model')}"
        bus_n = _lv_int(addr.get("bus")) or 0
        bus = root if bus_n == 0 else f"pci.{bus_n}"
        b.devs.append(_Dev(label, {"bus": bus, "addr": _lv_addr(addr)} if bus else {"addr": _lv_addr(addr)}, "libvirt <address>"))

    # hostdevs
    existing = [_lv_hostdev_index(h) for h in hostdevs]
    next_idx = max([i for i in existing if i is not None], default=-1) + 1
    for h in hostdevs:
        dev = _libvirt_hostdev(h, b, root, full)
        if dev is None:
            continue
        if "id" not in dev.props:
            dev.props["id"] = f"hostdev{next_idx}"
            next_idx += 1
            b.note(f"hostdev without <alias>: libvirt names it {dev.props['id']}")
        b.devs.append(dev)

    # <qemu:commandline>
    for cl in cmdlines:
        args = [a.get("value", "") for a in cl if a.tag == _qn("arg")]
        if args:
            b.scan(args, "<qemu:commandline>")
    # <qemu:override>
    for ov in overrides:
        for qd in ov:
            if qd.tag != _qn("device"):
                continue
            alias = qd.get("alias")
            if not alias:
                b.unparsed("<qemu:device> without alias")
                continue
            dev = b.find(alias)
            if dev is None:
                dev = _Dev(None, {"id": alias}, "<qemu:override> only", json=True, assigned=True, placeholder=True,
                           hotplugged=None)
                b.devs.append(dev)
                b.note(f"<qemu:override> for alias {alias!r}, which is not defined in this input (partial?)")
            else:
                b.note(f"<qemu:override> on {alias}: applies when libvirt passes -device as JSON (QEMU 6.2+)")
            for fe in qd:
                if fe.tag != _qn("frontend"):
                    continue
                for prop in fe:
                    if prop.tag != _qn("property"):
                        continue
                    name, typ, val = prop.get("name"), prop.get("type"), prop.get("value")
                    if not name:
                        continue
                    if typ == "remove":
                        dev.props.pop(name, None)
                    elif typ in ("signed", "unsigned"):
                        iv = _strtoint(val)
                        if iv is None:
                            b.unparsed(f"<qemu:property name={name!r} type={typ!r} value={val!r}>")
                        dev.props[name] = iv if iv is not None else val
                    elif typ == "bool":
                        bv = _qemu_bool(val)
                        dev.props[name] = bv if bv is not None else val
                    else:
                        dev.props[name] = val
    return b.finish()


def _libvirt_parse_error(exc: ET.ParseError, body: str, opening: int) -> str:
    """expat's complaint with the line and column of the user's text (1-based, as editors count);
    an error in the closing wrapper means the text ended with an element still open."""
    line, col = getattr(exc, "position", (0, 0))
    reason = re.sub(r":\s*line \d+, column \d+\s*$", "", str(exc))
    lines = body.split("\n")
    if line == 1:
        col -= opening
    past_end = line > len(lines) or (line == len(lines) and col >= len(lines[-1]))
    if past_end or reason.startswith(("no element found", "unclosed token")):
        last = len(lines) - 1 if len(lines) > 1 and not lines[-1].strip() else len(lines)
        while last > 1 and not lines[last - 1].strip():
            last -= 1
        return f"libvirt XML: truncated: the text ends (line {last}) before every element is closed"
    return f"libvirt XML: not well-formed at line {line}, column {max(col, 0) + 1}: {reason}"


def _lv_addr(addr: ET.Element) -> str:
    slot = _lv_int(addr.get("slot")) or 0
    fn = _lv_int(addr.get("function")) or 0
    return f"0x{slot:x}.0x{fn:x}"


def _lv_hostdev_index(h: ET.Element) -> int | None:
    al = next((c for c in h if _local(c.tag) == "alias"), None)
    if al is not None:
        m = re.fullmatch(r"hostdev(\d+)", al.get("name") or "")
        if m:
            return int(m[1])
    return None


def _libvirt_firmware(os_el: ET.Element, b: _Builder) -> str | None:
    fw = os_el.get("firmware")
    if fw == "efi":
        return "ovmf"
    if fw == "bios":
        return "seabios"
    loader = next((c for c in os_el if _local(c.tag) == "loader"), None)
    if loader is not None:
        path = (loader.text or "").strip()
        if loader.get("type") == "pflash" or re.search(r"ovmf|edk2|uefi", path, re.I):
            return "ovmf"
        if re.search(r"seabios|bios(-256k)?\.bin", path, re.I):
            return "seabios"
        b.note(f"<loader> {path!r}: firmware kind not recognised")
    return None


def _libvirt_hostdev(h: ET.Element, b: _Builder, root: str | None, full: bool) -> _Dev | None:
    mode, typ = h.get("mode", "subsystem"), h.get("type")
    if mode != "subsystem" or typ not in ("pci", "mdev"):
        return None
    if typ == "mdev" and h.get("model") not in (None, "vfio-pci"):
        b.note(f"<hostdev type='mdev' model={h.get('model')!r}>: not a PCI device (vfio-ccw / vfio-ap); not read")
        return None
    src_el = next((c for c in h if _local(c.tag) == "source"), None)
    props: dict[str, Any] = {}
    srcattrs: dict[str, Any] = {k: v for k, v in h.attrib.items()}
    d = _Dev("vfio-pci", props, "<hostdev>", json=None, assigned=True, hotplugged=False if full else None)
    if src_el is not None:
        sa = next((c for c in src_el if _local(c.tag) == "address"), None)
        if sa is not None:
            srcattrs.update({f"source.{k}": v for k, v in sa.attrib.items()})
            if typ == "mdev":
                uuid = sa.get("uuid")
                if uuid:
                    props["sysfsdev"] = f"/sys/bus/mdev/devices/{uuid}"
                    d.mdev = uuid
                    for attr in ("display", "ramfb"):
                        if h.get(attr) in ("on", "off"):
                            props[attr] = h.get(attr)
            else:
                dom, bus, slot, fn = (_lv_int(sa.get(k)) for k in ("domain", "bus", "slot", "function"))
                if None in (bus, slot) or (slot or 0) > 31 or (fn or 0) > 7:
                    b.unparsed(f"<hostdev> source address {sa.attrib}")
                else:
                    props["host"] = f"{dom or 0:04x}:{bus:02x}:{slot:02x}.{fn or 0}"
    drv = next((c for c in h if _local(c.tag) == "driver"), None)
    if drv is not None and drv.get("name") and drv.get("name") != "vfio":
        b.note(f"<hostdev> driver name={drv.get('name')!r}: not vfio")
    al = next((c for c in h if _local(c.tag) == "alias"), None)
    if al is not None and al.get("name"):
        props["id"] = al.get("name")
    ga = next((c for c in h if _local(c.tag) == "address" and c.get("type") == "pci"), None)
    if ga is not None:
        bus_n = _lv_int(ga.get("bus")) or 0
        if bus_n == 0:
            if root:
                props["bus"] = root
        else:
            props["bus"] = f"pci.{bus_n}"
        props["addr"] = _lv_addr(ga)
        if ga.get("multifunction") in ("on", "off"):
            props["multifunction"] = ga.get("multifunction")
        srcattrs.update({f"address.{k}": v for k, v in ga.attrib.items()})
    else:
        d.auto_hint = "libvirt"
        b.note("<hostdev> without a guest <address>: libvirt picks one (q35: a pcie-root-port, i440fx: pci.0)")
    rom = next((c for c in h if _local(c.tag) == "rom"), None)
    if rom is not None:
        srcattrs.update({f"rom.{k}": v for k, v in rom.attrib.items()})
        if rom.get("enabled") == "no":
            props["romfile"] = ""
        else:
            if rom.get("bar") == "off":
                props["rombar"] = 0
            elif rom.get("bar") == "on":
                props["rombar"] = 1
            if rom.get("file"):
                props["romfile"] = rom.get("file")
    d.src = srcattrs
    return d


# --------------------------------------------------------------------------------------------
# Proxmox VE


# qemu-server PCI.pm: default guest slots on bus pci.N for hostpciN (i440fx and q35's pci.0 bridge)
_PVE_PCI_ADDR = {0: ("pci.0", 0x10), 1: ("pci.0", 0x11), 2: ("pci.0", 0x1B), 3: ("pci.0", 0x1C)}
_PVE_PCI_ADDR.update({i: ("pci.2", 0x0D + i - 4) for i in range(4, 16)})
# win7 + pcie=1: directly on pcie.0
_PVE_WIN7_PCIE = {0: 0x10, 1: 0x11, 2: 0x12, 3: 0x13, 4: 9, 5: 10, 6: 11, 7: 12, 8: 13, 9: 14, 10: 15,
                  11: 0x15, 12: 0x16, 13: 0x17, 14: 0x18, 15: 0x19}


def _pve_propstring(value: str, default_key: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, part in enumerate(value.split(",")):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
        elif i == 0 and default_key:
            out[default_key] = part
        else:
            out[part] = ""
    return out


def _qm_apply(words: list[str], conf: dict[str, str], b: _Builder) -> None:
    """``qm set|create VMID --key value ...`` onto ``conf`` (in place)."""
    i = 3
    while i < len(words):
        w = words[i]
        if not w.startswith("-"):
            b.unparsed(f"qm: unexpected word {w!r}")
            i += 1
            continue
        key = w.lstrip("-")
        if key in ("skiplock", "force", "start", "unique", "live-restore"):
            i += 1
            continue
        if i + 1 >= len(words):
            b.unparsed(f"qm: --{key} without a value")
            break
        val = words[i + 1]
        if key == "delete":
            for k in re.split(r"[,;\s]+", val):
                conf.pop(k, None)
        elif key == "revert" or key == "digest":
            pass
        else:
            if key in conf and conf[key] != val:
                b.note(f"qm set --{key} replaces the earlier {key}: value")
            conf[key] = val
        i += 2


def parse_proxmox(text: str | bytes) -> VmConfig:
    """A Proxmox VE VM config (``VMID.conf`` or ``qm config``), with ``qm set`` lines applied in order."""
    text = _text(text, "Proxmox config")
    b = _Builder("proxmox")
    cfg = b.cfg
    conf: dict[str, str] = {}
    order: list[str] = []
    section: str | None = None
    sections: list[str] = []
    qm_used = False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        ln = raw.strip()
        if ln.startswith("#") or (section is None and ln and not ln.startswith("[")):
            q = _quoted_error(lines, i, ln.startswith("#"))
            if q is not None:
                cfg.errors_quoted.append(q[0])
                i = q[2]
                continue
        i += 1
        if not ln or ln.startswith("#"):
            continue
        sm = re.fullmatch(r"\[([^\]]+)\]", ln)
        if sm:
            section = sm[1]
            sections.append(section)
            continue
        if section is not None:
            continue
        pm = re.match(r"^[\w.-]+@[\w.-]+:\S*[#$]\s+(.*)$", ln)
        if pm:
            ln = pm[1].strip()
        if ln.startswith("qm "):
            while ln.endswith("\\") and i < len(lines):
                ln = ln[:-1] + " " + lines[i].strip()
                i += 1
            cmds, _ = _shell_commands(ln, {})
            env = _Env()
            for c in cmds:
                words = [env.expand(w) for w in c.words]
                if len(words) >= 3 and words[0] == "qm" and words[1] in ("set", "create"):
                    _qm_apply(words, conf, b)
                    qm_used = True
            continue
        km = _PVE_KEY.match(ln)
        if km:
            conf[km[1]] = km[2] or ""
            order.append(km[1])
            continue
        if conf:
            b.unparsed(ln[:200])
        # lines before the first key are comments / prompts / description
    if not conf:
        raise BadInput("Proxmox config: no 'key: value' lines or qm set commands found")
    if not any(_PVE_KNOWN.match(k) for k in conf):
        raise BadInput("Proxmox config: none of the keys is a qemu-server option")
    for s in sections:
        if s == "PENDING":
            b.note("[PENDING] changes present; they apply at the next start and are not read here")
        elif not s.startswith("special:"):
            b.note(f"snapshot section [{s}] ignored (current config only)")
    if "parent" in conf:
        b.note(f"current config derives from snapshot {conf['parent']!r}")
    truncated = (
        not qm_used
        and order == sorted(order)
        and not ({"smbios1", "vmgenid"} & set(order))
        and order[-1] < "machine"
    )
    if truncated:
        b.note("keys stop before 'machine' in sorted order and smbios1/vmgenid are absent: the config looks truncated")
    _pve_build(conf, b, truncated)
    return b.finish()


def _pve_build(conf: dict[str, str], b: _Builder, truncated: bool) -> None:
    cfg = b.cfg
    cfg.nodefaults = True
    # machine
    if "machine" in conf:
        mconf = _pve_propstring(conf["machine"], "type")
        mtype = mconf.get("type")
        cfg.machine = conf["machine"]
        if mtype:
            fam, ver, note = _machine_family(mtype)
            cfg.machine_family, cfg.machine_version = fam, ver
            if note:
                b.note(note)
            if mtype in ("pc", "q35"):
                b.note(f"machine {mtype!r} is not version-pinned: Proxmox uses the running QEMU's version"
                       + (" (Windows VMs are pinned at start)" if re.match(r"^(win|w2k)", conf.get("ostype", "")) else ""))
        else:
            cfg.machine_family = "i440fx"
        if mconf.get("viommu"):
            b.note(f"machine viommu={mconf['viommu']}")
    elif not truncated:
        cfg.machine_family = "i440fx"
        b.note("no machine: key: Proxmox's default machine 'pc' (i440fx, version of the running QEMU)")
    q35 = cfg.machine_family == "q35"
    if q35:
        b.add_pve_q35_layout()
    # firmware, vga, version hint
    bios = conf.get("bios")
    if bios is not None:
        cfg.firmware = "ovmf" if bios.strip() == "ovmf" else "seabios" if bios.strip() == "seabios" else None
    elif not truncated:
        cfg.firmware = "seabios"
    ovmf = cfg.firmware == "ovmf"
    if "vga" in conf:
        cfg.vga = _pve_propstring(conf["vga"], "type").get("type") or conf["vga"]
    meta = _pve_propstring(conf.get("meta", ""), None)
    if meta.get("creation-qemu"):
        cfg.created_with_qemu = meta["creation-qemu"]
        b.note(f"meta creation-qemu={meta['creation-qemu']}: the QEMU the VM was created with, not the one that runs it")
    winversion7 = conf.get("ostype") == "win7"
    # hostpciN -> -device as PCI.pm generates it
    legacy_count = 0
    for idx in range(16):
        key = f"hostpci{idx}"
        if key not in conf:
            continue
        d = _pve_hostpci(idx, conf[key], b, q35, ovmf, winversion7)
        if d is None:
            continue
        if d.legacy_igd:
            legacy_count += 1
            _pve_legacy_checks(conf, d, b, q35)
        b.devs.append(d)
    if legacy_count > 1:
        b.note("Proxmox refuses to start: only one device can be assigned in legacy-igd mode")
    # Proxmox-generated layout on i440fx: pci.1 at 0x1e, pci.2 at 0x1f (moved under pci.1 with legacy-igd)
    if cfg.machine_family == "i440fx":
        ver = cfg.machine_version
        if ver is None or tuple(int(x) for x in ver.split(".")) >= (2, 3):
            b.devs.append(_Dev("pci-bridge", {"id": "pci.1", "bus": "pci.0", "addr": "0x1e"}, "Proxmox layout"))
            b.bridges["pci.1"] = "pci-bridge at 00:1e.0 (Proxmox i440fx)"
            if legacy_count:
                b.devs.append(_Dev("pci-bridge", {"id": "pci.2", "bus": "pci.1", "addr": "0x1e"}, "Proxmox layout"))
                b.bridges["pci.2"] = "pci-bridge behind pci.1 (Proxmox i440fx with legacy-igd)"
            else:
                b.devs.append(_Dev("pci-bridge", {"id": "pci.2", "bus": "pci.0", "addr": "0x1f"}, "Proxmox layout"))
                b.bridges["pci.2"] = "pci-bridge at 00:1f.0 (Proxmox i440fx)"
    # Proxmox's emulated display: pci.0 slot 2 on i440fx (the slot legacy-igd also uses), pcie.0 slot 1 on q35
    vtype = cfg.vga.strip() if "vga" in conf and cfg.vga else ("" if not truncated else None)
    if vtype is not None and vtype != "none" and not vtype.startswith("serial") and cfg.machine_family:
        where = {"bus": "pci.0", "addr": "0x2"} if cfg.machine_family == "i440fx" else {"bus": "pcie.0", "addr": "0x1"}
        b.devs.append(_Dev(f"vga {vtype or 'std (default)'}", {"id": "vga", **where}, "Proxmox vga"))
    # args:
    if conf.get("args"):
        try:
            words = _split_args(conf["args"])
        except ValueError as exc:
            b.unparsed(f"args: {exc}")
            words = []
        b.scan(words, "args:")


def _split_args(s: str) -> list[str]:
    """PVE::Tools::split_args (shell words, no variables)."""
    cmds, odd = _shell_commands(s.replace("\n", " "), {})
    if odd:
        raise ValueError("; ".join(odd))
    env = _Env()
    out: list[str] = []
    for c in cmds:
        out.extend(env.expand(w) for w in c.words)
    return out


def _pve_hostpci(idx: int, value: str, b: _Builder, q35: bool, ovmf: bool, win7: bool) -> _Dev | None:
    key = f"hostpci{idx}"
    po = _pve_propstring(value, "host")
    d = _Dev("vfio-pci", {}, key, json=False, assigned=True, src=dict(po))
    hosts = po.get("host")
    if po.get("mapping"):
        b.note(f"{key}: cluster mapping {po['mapping']!r}; the host address is resolved at start")
    if hosts:
        alts = [h for h in hosts.split(";") if h]
        if len(alts) > 1:
            b.note(f"{key}: {len(alts)} host addresses given; Proxmox passes them all as one multifunction device")
        norm = normalise_host(alts[0])
        if norm is None:
            b.unparsed(f"{key}: host {alts[0]!r}")
        else:
            d.props["host"] = norm[0]
            d.all_functions = norm[1]
            if norm[1]:
                b.note(f"{key}: {alts[0]} without a function means every function of that slot "
                       f"(more than one makes it multifunction: ids {key}.0, {key}.1, ... and -set device.{key}.* "
                       "no longer finds it)")
    elif not po.get("mapping"):
        b.unparsed(f"{key}: no host or mapping")
    d.props["id"] = key
    d.legacy_igd = bool(_pve_bool(po.get("legacy-igd", "0")))
    d.pcie = _pve_bool(po["pcie"]) if "pcie" in po else None
    if d.pcie and not q35:
        b.note(f"Proxmox refuses to start: {key} pcie=1 needs a q35 machine")
    if d.pcie:
        if win7:
            d.props["bus"], d.props["addr"] = "pcie.0", f"0x{_PVE_WIN7_PCIE[idx]:x}"
        else:
            d.props["bus"], d.props["addr"] = f"ich9-pcie-port-{idx + 1}", "0x0"
    elif d.legacy_igd:
        d.props["bus"], d.props["addr"] = "pci.0", "0x2"
    else:
        bus, slot = _PVE_PCI_ADDR[idx]
        d.props["bus"], d.props["addr"] = bus, f"0x{slot:x}"
    if "rombar" in po and _pve_bool(po["rombar"]) is False:
        d.props["rombar"] = "0"
    if _pve_bool(po.get("x-vga", "0")):
        if ovmf:
            b.note(f"{key}: x-vga=1 is not passed to QEMU with OVMF (Proxmox drops it)")
        else:
            d.props["x-vga"] = "on"
    if po.get("romfile"):
        rf = po["romfile"]
        d.props["romfile"] = f"/usr/share/kvm/{rf}"
        if rf.startswith("/"):
            b.note(f"{key}: romfile={rf} is absolute but Proxmox prefixes /usr/share/kvm/ anyway")
    if po.get("mdev"):
        d.mdev = po["mdev"]
        host = d.props.pop("host", None)
        d.mdev_parent = host if isinstance(host, str) else None
        d.props["sysfsdev"] = f"/sys/bus/mdev/devices/<uuid for {key}>"
    for opt in ("vendor-id", "device-id", "sub-vendor-id", "sub-device-id"):
        if po.get(opt):
            d.props[f"x-pci-{opt}"] = po[opt]
    return d


def _pve_legacy_checks(conf: dict[str, str], d: _Dev, b: _Builder, q35: bool) -> None:
    """The checks qemu-server's parse_hostpci_devices makes for legacy-igd (it dies on each)."""
    key = d.origin
    vga = _pve_propstring(conf.get("vga", ""), "type").get("type")
    if vga != "none":
        b.note(f"Proxmox refuses to start: {key} legacy-igd needs vga: none")
    if "rombar" in d.src and _pve_bool(d.src["rombar"]) is False:
        b.note(f"Proxmox refuses to start: {key} legacy-igd needs rombar enabled")
    if _pve_bool(d.src.get("x-vga", "0")):
        b.note(f"Proxmox refuses to start: {key} legacy-igd is not compatible with x-vga")
    if d.mdev:
        b.note(f"Proxmox refuses to start: {key} legacy-igd is not compatible with mdev")
    if q35:
        b.note(f"Proxmox refuses to start: {key} legacy-igd is not compatible with q35")
    host = d.props.get("host")
    if isinstance(host, str) and not host.endswith("02.0"):
        b.note(f"Proxmox refuses to start: {key} legacy-igd only works for host 00:02.0")
    if d.all_functions:
        b.note(f"{key}: legacy-igd with a slot-wide host address; Proxmox refuses it if the slot has more than one function")


# --------------------------------------------------------------------------------------------
# Sniffing


def sniff(text: str) -> str | None:
    """"libvirt", "proxmox", "qemu" or None."""
    return vm_kind(text)


_HINTS = {
    "qemu": "qemu", "cmdline": "qemu", "vm-cmdline": "qemu", "sh": "qemu",
    "libvirt": "libvirt", "xml": "libvirt", "vm-xml": "libvirt",
    "proxmox": "proxmox", "pve": "proxmox", "conf": "proxmox", "vm-conf": "proxmox",
}


def parse_any(text: str | bytes, hint: str | None = None) -> VmConfig:
    """Pick the parser from ``hint`` (qemu/cmdline, libvirt/xml, proxmox/pve/conf) or by sniffing."""
    text = _text(text, "VM definition")
    kind: str | None
    if hint:
        kind = _HINTS.get(hint.lower().lstrip("."))
        if kind is None:
            raise BadInput(f"unknown VM definition kind {hint!r} (qemu, libvirt or proxmox)")
    else:
        kind = sniff(text)
    if kind == "libvirt":
        return parse_libvirt(text)
    if kind == "proxmox":
        return parse_proxmox(text)
    if kind == "qemu":
        return parse_qemu_cmdline(text)
    raise BadInput("not a VM definition: no QEMU options, libvirt XML or Proxmox keys found")
