"""PCI option ROMs: the image chain (legacy x86 and EFI images), PCIR data structures (PCI 2.2 and
PCI Firmware 3.0 layouts, the 3.0 device list), legacy checksums, EFI image headers, the GOP
driver, the VBT inside, and whether a ROM belongs to a given IGD.

Facts (project fact sheet ``pci-registers.md`` §6, checked at the sources):

- EDK2 ``Pci22.h`` / ``Pci30.h``: ``EFI_LEGACY_EXPANSION_ROM_HEADER``,
  ``EFI_PCI_EXPANSION_ROM_HEADER``, ``PCI_DATA_STRUCTURE`` (0x18 bytes) and
  ``PCI_3_0_DATA_STRUCTURE`` (0x1C bytes: + ConfigUtilityCodeHeaderOffset, DMTFCLPEntryPointOffset);
  EDK2's ``EfiRom`` writes revision 0 / length 0x18 for the 2.x layout and revision 3 / length 0x1C
  for 3.0, with the device list (u16 IDs, then a 0) right behind the 3.0 structure.
- EDK2 ``PeImage.h``: PE machine and subsystem values, DOS ``MZ`` header with ``e_lfanew`` at 0x3C,
  ``PE\\0\\0``, COFF header, optional-header ``Subsystem`` at +68 in both PE32 and PE32+.
- EDK2 PCI bus driver: an EFI image is used only when ``InitializationSize * 512`` fits the image
  and ``EfiImageHeaderOffset`` is below it; compression types above 1 are skipped; type 1 is
  decompressed (``EFI_DECOMPRESS_PROTOCOL``, the UEFI algorithm: :mod:`igdscope.binary.eficompress`)
  from ``EfiImageHeaderOffset`` to ``InitializationSize * 512``, and an image that does not
  decompress is skipped.
- Linux ``drivers/pci/rom.c`` (``pci_get_rom_size``): walk while 55 AA and 'PCIR' are found,
  advance by ImageLength * 512, stop after the image whose Indicator has bit 7.
- SeaBIOS ``src/optionroms.c``: a legacy image runs only when its bytes (size byte * 512) sum to 0
  (unless fw_cfg ``etc/optionroms-checksum`` is 0) and, for a device's ROM BAR, only the image
  whose PCIR vendor:device equals the device's and whose code type is 0 (no device list).
- QEMU ``hw/vfio/pci.c`` (``vfio_pci_load_rom``): for a ROM read from the device through vfio,
  a first-image PCIR with the right vendor but another device ID gets the device's ID written in
  (checksum byte 6 recomputed); a ``romfile=`` is loaded as given.

Public functions take bytes (or what :func:`walk_images` returned) and give plain data:
:func:`walk_images`, :func:`match_device`, and the builders used by the demo and the tests
(:func:`build_legacy_image`, :func:`build_efi_image`, :func:`build_pe_image`, :func:`build_rom`).
Nothing here raises for bad content: a hostile chain becomes ``findings``.
"""

from __future__ import annotations

from typing import Any

import construct as cs

from igdscope.binary import build, eficompress, to_plain
from igdscope.schemas.common import byte_sum

ROM_SIGNATURE = 0xAA55
EFI_SIGNATURE = 0x0EF1
IMAGE_UNIT = 512
MAX_IMAGES = 64  # real ROMs have 1-4 images; more is a hostile or corrupt chain
MAX_DEVICE_LIST = 256  # device-list entries read before calling the list unterminated
GENERIC_IGD_DEVICE_ID = 0x0406  # PCIR device ID of the Skylake-and-later Intel VBIOS images (corpus)
INTEL_VENDOR_ID = 0x8086
INDICATOR_LAST = 0x80
GOP_PROTOCOL_GUID = bytes.fromhex("dea94290dc23384a96fb7aded080516a")  # 9042a9de-23dc-4a38-96fb-7aded080516a

CodeType = cs.Enum(cs.Int8ul, pc_at=0x00, open_firmware=0x01, hp_pa_risc=0x02, efi=0x03)

# PCI 2.2 layout (PCI_DATA_STRUCTURE); bytes 0x08 and 0x16 are the 3.0 names of reserved words.
Pcir = cs.Struct(
    "signature" / cs.Const(b"PCIR"),
    "vendor_id" / cs.Int16ul,
    "device_id" / cs.Int16ul,
    "device_list_offset" / cs.Int16ul,  # reserved before PCI FW 3.0
    "length" / cs.Int16ul,
    "revision" / cs.Int8ul,
    "class_code" / cs.Int24ul,
    "image_length" / cs.Int16ul,  # in 512-byte units
    "code_revision" / cs.Int16ul,
    "code_type" / CodeType,
    "indicator" / cs.Int8ul,  # bit 7: last image
    "max_runtime_image_length" / cs.Int16ul,  # reserved before 3.0
)
PCIR_SIZE = 0x18

# PCI Firmware 3.0 layout (PCI_3_0_DATA_STRUCTURE): the 2.2 fields and two more offsets.
Pcir30 = cs.Struct(
    *Pcir.subcons,
    "config_utility_code_header_offset" / cs.Int16ul,
    "dmtf_clp_entry_point_offset" / cs.Int16ul,
)
PCIR30_SIZE = 0x1C

LegacyRomHeader = cs.Struct(
    "signature" / cs.Const(ROM_SIGNATURE, cs.Int16ul),
    "size_512" / cs.Int8ul,
    "init_entry" / cs.Bytes(3),
    "reserved" / cs.Bytes(0x12),
    "pcir_offset" / cs.Int16ul,
)

EfiMachine = cs.Enum(
    cs.Int16ul,
    ia32=0x014C, x64=0x8664, ia64=0x0200, ebc=0x0EBC, aarch64=0xAA64, arm=0x01C2,
    riscv32=0x5032, riscv64=0x5064, riscv128=0x5128, loongarch32=0x6232, loongarch64=0x6264,
)
EfiSubsystem = cs.Enum(cs.Int16ul, application=10, boot_service_driver=11, runtime_driver=12, sal_runtime_driver=13)

EfiRomHeader = cs.Struct(
    "signature" / cs.Const(ROM_SIGNATURE, cs.Int16ul),
    "initialization_size" / cs.Int16ul,
    "efi_signature" / cs.Const(EFI_SIGNATURE, cs.Int32ul),
    "efi_subsystem" / EfiSubsystem,
    "efi_machine_type" / EfiMachine,
    "compression_type" / cs.Enum(cs.Int16ul, none=0, efi_compressed=1),
    "reserved" / cs.Bytes(8),
    "efi_image_header_offset" / cs.Int16ul,
    "pcir_offset" / cs.Int16ul,
)

# The parts of a PE/COFF image an EFI ROM image is checked against (PeImage.h).
DosHeader = cs.Struct(
    "e_magic" / cs.Const(b"MZ"),
    "reserved" / cs.Bytes(0x3A),
    "e_lfanew" / cs.Int32ul,
)
PeHeaders = cs.Struct(
    "signature" / cs.Const(b"PE\0\0"),
    "machine" / EfiMachine,
    "number_of_sections" / cs.Int16ul,
    "time_date_stamp" / cs.Int32ul,
    "pointer_to_symbol_table" / cs.Int32ul,
    "number_of_symbols" / cs.Int32ul,
    "size_of_optional_header" / cs.Int16ul,
    "characteristics" / cs.Int16ul,
    "magic" / cs.Enum(cs.Int16ul, pe32=0x10B, pe32_plus=0x20B),
    "optional_fields" / cs.Bytes(66),  # linker versions ... CheckSum (same size in PE32 and PE32+)
    "subsystem" / EfiSubsystem,
)
PE_HEADERS_SIZE = 24 + 68 + 2


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _enum_name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) else None


# -- walking ----------------------------------------------------------------------------------


def _device_list(rom: bytes, pcir_at: int, offset: int, image_end: int, findings: list[str], where: str) -> list[int]:
    """The PCI 3.0 device list at ``pcir_at + offset``: u16 IDs up to a 0, bounded by the image,
    the data and :data:`MAX_DEVICE_LIST` entries."""
    start = pcir_at + offset
    end = min(image_end, len(rom))
    if start + 2 > end:
        findings.append(f"{where}: device list at PCIR+{offset:#x} lies outside the image")
        return []
    ids: list[int] = []
    pos = start
    while pos + 2 <= end and len(ids) < MAX_DEVICE_LIST:
        value = _u16(rom, pos)
        if value == 0:
            return ids
        ids.append(value)
        pos += 2
    if len(ids) >= MAX_DEVICE_LIST:
        findings.append(f"{where}: device list has no terminating 0 within {MAX_DEVICE_LIST} entries; read no further")
    else:
        findings.append(f"{where}: device list runs to the end of the image without a terminating 0")
    return ids


def _legacy_checksum(rom: bytes, off: int, size_512: int) -> dict[str, Any]:
    span = size_512 * IMAGE_UNIT
    if span == 0:
        return {"span": 0, "sum": None, "state": "empty"}
    if off + span > len(rom):
        return {"span": span, "sum": byte_sum(rom[off:]) & 0xFF, "state": "truncated"}
    total = byte_sum(rom[off : off + span]) & 0xFF
    return {"span": span, "sum": total, "state": "ok" if total == 0 else "bad"}


def _pe_info(rom: bytes, start: int, end: int) -> dict[str, Any] | None:
    """Machine, subsystem and format of the PE/COFF image at ``start`` (None if there is none)."""
    if start + 0x40 > end or rom[start : start + 2] != b"MZ":
        return None
    lfanew = DosHeader.parse(rom[start : start + 0x40]).e_lfanew
    at = start + lfanew
    if lfanew < 0x40 or at + PE_HEADERS_SIZE > end or rom[at : at + 4] != b"PE\0\0":
        return {"dos_header": True, "pe": False, "e_lfanew": lfanew}
    pe = PeHeaders.parse(rom[at : at + PE_HEADERS_SIZE])
    return {
        "dos_header": True,
        "pe": True,
        "e_lfanew": lfanew,
        "machine": to_plain(pe.machine),
        "format": str(pe.magic) if isinstance(pe.magic, cs.EnumIntegerString) else f"unknown({int(pe.magic):#x})",
        "subsystem": to_plain(pe.subsystem),
    }


def _efi_image(rom: bytes, img: dict[str, Any], off: int, length: int, findings: list[str], where: str) -> None:
    hdr = EfiRomHeader.parse(rom[off : off + 0x1A])
    img["efi"] = efi = to_plain(hdr)
    init = hdr.initialization_size * IMAGE_UNIT
    start = off + hdr.efi_image_header_offset
    image_end = min(off + length, len(rom))
    usable = True
    if init > length:
        findings.append(f"{where}: EFI InitializationSize {init} bytes exceeds the image length {length} (EDK2 skips the image)")
        usable = False
    if hdr.efi_image_header_offset >= max(init, 1):
        findings.append(f"{where}: EFI image header offset {hdr.efi_image_header_offset:#x} is not inside the {init}-byte initialization area (EDK2 skips the image)")
        usable = False
    if _enum_name(efi["efi_machine_type"]) is None:
        findings.append(f"{where}: unknown EFI machine type {int(hdr.efi_machine_type):#06x}")
    if _enum_name(efi["efi_subsystem"]) is None:
        findings.append(f"{where}: EFI subsystem {int(hdr.efi_subsystem)} is not an EFI driver or application subsystem")
    compressed = int(hdr.compression_type)
    if compressed > 1:
        findings.append(f"{where}: unknown compression type {compressed} (EDK2 skips the image)")
        usable = False
    gop: bool | None = None
    body_end = min(off + max(init, 0), image_end) if init else image_end
    if compressed == 0:
        body, body_start, where_pe = rom, start, f"the EFI image header offset {hdr.efi_image_header_offset:#x}"
        gop = GOP_PROTOCOL_GUID in rom[off:image_end]
    elif compressed == 1:
        # EDK2's PCI bus driver decompresses InitializationSize * 512 - EfiImageHeaderOffset bytes
        # from the image header offset (EFI_DECOMPRESS_PROTOCOL, the UEFI algorithm)
        dec = eficompress.decompress(rom[start:body_end] if start < body_end else b"")
        body, body_start, where_pe = dec["data"], 0, "the start of the decompressed image"
        img["decompressed"] = {k: dec[k] for k in ("comp_size", "orig_size", "complete", "blocks", "error", "stopped")}
        img["decompressed"]["size"] = len(body)
        if dec["error"]:
            findings.append(f"{where}: the compressed EFI image does not decompress: {dec['error']} (EDK2 skips the image)")
            usable = False
        elif dec["stopped"]:
            findings.append(f"{where}: only the first {len(body)} of the {dec['orig_size']} decompressed bytes were examined ({dec['stopped']})")
        found = GOP_PROTOCOL_GUID in body
        gop = True if found else (False if dec["complete"] else None)
    img["usable_by_uefi"] = usable
    if compressed in (0, 1):
        pe = _pe_info(body, body_start, body_end if compressed == 0 else len(body))
        img["pe"] = pe
        if pe is None:
            if compressed == 0 or not img["decompressed"]["error"]:
                findings.append(f"{where}: no PE/COFF 'MZ' header at {where_pe}")
        elif not pe["pe"]:
            findings.append(f"{where}: 'MZ' header at {where_pe} but no 'PE\\0\\0' at e_lfanew {pe['e_lfanew']:#x}")
        else:
            if pe["machine"]["value"] != int(hdr.efi_machine_type):
                findings.append(f"{where}: ROM header says machine {int(hdr.efi_machine_type):#06x}, the PE header {pe['machine']['value']:#06x}")
            if pe["subsystem"]["value"] != int(hdr.efi_subsystem):
                findings.append(f"{where}: ROM header says subsystem {int(hdr.efi_subsystem)}, the PE header {pe['subsystem']['value']}")
    else:
        img["pe"] = None  # an unknown compression: the PE image is not visible
    img["gop"] = gop


def walk_images(rom: bytes) -> dict[str, Any]:
    """Walk the image chain of an option ROM into plain data; never raises for bad content.

    Returns ``{"size", "images", "rom_size", "has_legacy", "has_efi", "gop", "vbt", "findings"}``.
    Each image: ``index``, ``offset``, ``pcir_offset``, ``pcir`` (the 3.0 layout when revision >= 3
    and length >= 0x1C, else 2.2), ``pcir_layout``, ``device_list`` (3.0 with a non-zero offset),
    ``length`` (ImageLength * 512), ``last``, ``kind`` (``legacy``, ``efi`` or the code type),
    for legacy images ``legacy`` (``size_512``, ``init_entry``), ``checksum`` (``span``, ``sum``,
    ``state`` ok / bad / truncated / empty) and ``checksum_ok``; for EFI images ``efi`` (the header),
    ``pe`` (machine, format, subsystem of the PE image, after decompressing a compressed one), for
    compressed images ``decompressed`` (``comp_size``, ``orig_size``, ``size`` decompressed,
    ``complete``, ``blocks``, ``error``, ``stopped``: see :mod:`igdscope.binary.eficompress`), ``gop``
    (the GOP protocol GUID is in the image: True / False, None when it could not be searched) and
    ``usable_by_uefi``.
    ``rom_size`` is where the kernel's walk ends (``pci_get_rom_size``); ``gop`` at the top is
    ``{"present": True | False | None, "how": text}``; ``vbt`` is where ``$VBT`` is (the first one,
    byte-granular like igt) and which image holds it.
    """
    rom = bytes(rom)
    images: list[dict[str, Any]] = []
    findings: list[str] = []
    off = 0
    ended = "end of data"
    while True:
        if off + 2 > len(rom):
            if images and not images[-1]["last"]:
                findings.append(f"the data ends at {off:#x} after image {len(images) - 1}, which is not marked last")
            break
        if len(images) >= MAX_IMAGES:
            findings.append(f"more than {MAX_IMAGES} images in the chain: stopped walking at {off:#x}")
            ended = "image limit"
            break
        where = f"image {len(images)} at {off:#x}"
        if _u16(rom, off) != ROM_SIGNATURE:
            if not images:
                findings.append("no 0x55AA signature at offset 0: not a PCI option ROM")
            else:
                findings.append(f"no 0x55AA signature at {off:#x} where image {len(images)} should start (image {len(images) - 1} is not marked last)")
            ended = "bad signature"
            break
        if off + 0x1A > len(rom):
            findings.append(f"{where}: the data ends inside the 26-byte ROM header")
            images.append({"index": len(images), "offset": off, "kind": "truncated", "last": True, "length": 0})
            break
        pcir_off = _u16(rom, off + 0x18)
        img: dict[str, Any] = {"index": len(images), "offset": off, "pcir_offset": pcir_off}
        p = off + pcir_off
        if p + PCIR_SIZE > len(rom):
            findings.append(f"{where}: PCIR offset {pcir_off:#x} points outside the {len(rom)} bytes of data")
            img.update(kind="no_pcir", last=True, length=0)
            images.append(img)
            ended = "no PCIR"
            break
        if rom[p : p + 4] != b"PCIR":
            findings.append(f"{where}: no 'PCIR' signature at +{pcir_off:#x}")
            img.update(kind="no_pcir", last=True, length=0)
            images.append(img)
            ended = "no PCIR"
            break
        if pcir_off & 3:
            findings.append(f"{where}: PCIR offset {pcir_off:#x} is not 4-byte aligned (SeaBIOS warns)")
        pcir_len = _u16(rom, p + 0x0A)
        revision = rom[p + 0x0C]
        layout30 = revision >= 3 and pcir_len >= PCIR30_SIZE and p + PCIR30_SIZE <= len(rom)
        pcir = (Pcir30 if layout30 else Pcir).parse(rom[p : p + (PCIR30_SIZE if layout30 else PCIR_SIZE)])
        img["pcir"] = to_plain(pcir)
        img["pcir_layout"] = "3.0" if layout30 else "2.2"
        if pcir_len < PCIR_SIZE:
            findings.append(f"{where}: PCIR length field is {pcir_len}, shorter than the {PCIR_SIZE}-byte structure")
        length = pcir.image_length * IMAGE_UNIT
        img["length"] = length
        img["last"] = bool(pcir.indicator & INDICATOR_LAST)
        if pcir.vendor_id != INTEL_VENDOR_ID:
            findings.append(f"{where}: PCIR vendor {pcir.vendor_id:#06x} is not Intel")
        if pcir_off + PCIR_SIZE > max(length, 0x1A) and length:
            findings.append(f"{where}: PCIR at +{pcir_off:#x} lies beyond the image's own {length} bytes")
        if layout30 and pcir.device_list_offset:
            img["device_list"] = _device_list(rom, p, pcir.device_list_offset, off + (length or len(rom)), findings, where)

        code = int(pcir.code_type)
        is_efi_header = int.from_bytes(rom[off + 4 : off + 8], "little") == EFI_SIGNATURE
        if code == 3 and is_efi_header:
            img["kind"] = "efi"
            _efi_image(rom, img, off, length, findings, where)
        elif code == 3:
            img["kind"] = "efi_without_header"
            findings.append(f"{where}: code type 3 (EFI) but no EFI signature 0x0EF1 at +4")
        elif code == 0:
            img["kind"] = "legacy"
            hdr = LegacyRomHeader.parse(rom[off : off + 0x1A])
            img["legacy"] = {"size_512": hdr.size_512, "init_entry": hdr.init_entry.hex()}
            ck = _legacy_checksum(rom, off, hdr.size_512)
            img["checksum"] = ck
            img["checksum_ok"] = ck["state"] == "ok"
            if hdr.size_512 == 0:
                findings.append(f"{where}: legacy size byte is 0 (SeaBIOS rejects the image)")
            elif ck["state"] == "bad":
                findings.append(f"{where}: legacy image bytes sum to {ck['sum']:#04x}, not 0 (SeaBIOS refuses it unless fw_cfg etc/optionroms-checksum is 0; a shadow copy taken after POST often looks like this)")
            elif ck["state"] == "truncated":
                findings.append(f"{where}: legacy size byte says {ck['span']} bytes, only {len(rom) - off} present: checksum not verifiable")
            if length and hdr.size_512 * IMAGE_UNIT > length:
                findings.append(f"{where}: legacy size byte ({hdr.size_512 * IMAGE_UNIT} bytes) exceeds the PCIR image length ({length} bytes)")
        else:
            img["kind"] = str(pcir.code_type) if isinstance(pcir.code_type, cs.EnumIntegerString) else f"code_type_{code:#04x}"
        images.append(img)

        if length == 0:
            findings.append(f"{where}: PCIR image length is 0: the chain cannot continue")
            ended = "zero length"
            break
        if off + length > len(rom):
            findings.append(f"{where}: claims {length} bytes, only {len(rom) - off} present (truncated ROM)")
            ended = "truncated"
            break
        if img["last"]:
            ended = "last image"
            break
        off += length

    res: dict[str, Any] = {"size": len(rom), "images": images, "findings": findings}
    last = images[-1] if images else None
    res["rom_size"] = min(last["offset"] + last.get("length", 0), len(rom)) if last else 0
    res["walk_ended"] = ended
    if ended == "last image" and res["rom_size"] < len(rom) and any(b not in (0x00, 0xFF) for b in set(rom[res["rom_size"] :])):
        findings.append(f"{len(rom) - res['rom_size']} bytes after the last image (at {res['rom_size']:#x}) are not padding")
    res["has_legacy"] = any(i.get("kind") == "legacy" for i in images)
    res["has_efi"] = any(i.get("kind") == "efi" for i in images)
    res["gop"] = _gop_summary(images)
    res["vbt"] = _vbt_summary(rom, images)
    return res


def _gop_summary(images: list[dict[str, Any]]) -> dict[str, Any]:
    efi = [i for i in images if i.get("kind") == "efi" and i.get("efi")]
    if not efi:
        return {"present": False, "how": "no EFI image in the ROM: UEFI guests get no GOP from it (needs CSM, or another ROM)"}
    found = [i for i in efi if i.get("gop")]
    if found:
        return {"present": True, "image": found[0]["index"], "how": f"image {found[0]['index']} (EFI) contains the GOP protocol GUID"}
    drivers = [i for i in efi if _enum_name(i["efi"].get("efi_subsystem")) == "boot_service_driver"]
    broken = [i for i in drivers if (i.get("decompressed") or {}).get("error")]
    if broken:
        i = broken[0]
        return {"present": False, "image": i["index"], "how": f"image {i['index']} is a compressed EFI boot-service driver that does not decompress: EDK2 skips it, so UEFI guests get no GOP from it"}
    unknown = [i for i in drivers if i.get("gop") is None]
    if unknown:
        i = unknown[0]
        dec = i.get("decompressed") or {}
        why = dec.get("stopped") or f"compression type {i['efi'].get('compression_type', {}).get('value')} is unknown"
        return {"present": None, "image": i["index"], "how": f"image {i['index']} is a compressed EFI boot-service driver igdscope could not search in full: {why}"}
    return {"present": False, "how": "the EFI image(s) do not contain the GOP protocol GUID"}


def _vbt_summary(rom: bytes, images: list[dict[str, Any]]) -> dict[str, Any] | None:
    from igdscope.schemas import vbt as vbtmod

    off = vbtmod.find_vbt(rom)
    if off is None:
        return None
    holder = next((i for i in images if i["offset"] <= off < i["offset"] + max(i.get("length", 0), 1)), None)
    out: dict[str, Any] = {"offset": off, "image": holder["index"] if holder else None,
                           "image_kind": holder.get("kind") if holder else None}
    head = rom[off : off + vbtmod.VBT_HEADER_SIZE]
    out["vbt_size"] = _u16(head, 0x18)
    out["bdb_offset"] = int.from_bytes(head[0x1C:0x20], "little")
    bdb = off + out["bdb_offset"]
    out["bdb_version"] = _u16(rom, bdb + 16) if bdb + vbtmod.BDB_HEADER_SIZE <= len(rom) and rom[bdb : bdb + 16] == b"BIOS_DATA_BLOCK " else None
    out["complete"] = off + out["vbt_size"] <= len(rom)
    if holder is not None and off + out["vbt_size"] > holder["offset"] + holder.get("length", 0):
        out["crosses_image_end"] = True
    return out


# -- which IGD a ROM is for -----------------------------------------------------------------------


def _before_gen9(device_id: int) -> bool:
    """A known Intel IGD older than Skylake (gen 9), which the generic 0x0406 ROMs do not serve."""
    from igdscope import platforms

    plat = platforms.lookup(device_id)
    return plat is not None and plat.gen < 9


def match_device(rom_info: dict[str, Any] | bytes, device_id: int, vendor_id: int = INTEL_VENDOR_ID) -> dict[str, Any]:
    """Does this ROM belong to the IGD ``vendor_id:device_id``?

    ``rom_info`` is what :func:`walk_images` (or ``formats.rom_summary``) returned, or the ROM bytes.
    Returns ``{"vendor_id", "device_id", "match", "image", "kind", "legacy_exact", "images",
    "detail"}`` where ``match`` is the best over all images: ``pcir`` (the PCIR device ID is this
    device), ``device_list`` (a PCI 3.0 device list names it), ``generic`` (the PCIR device ID is the
    generic 0x0406 of Skylake-and-later Intel VBIOS images, no list names the device, and the
    device is not a known pre-Skylake IGD), ``other``
    (an Intel ROM for another device), ``other_vendor`` or ``no_images``. ``legacy_exact`` says
    whether a legacy image's PCIR vendor:device is exactly this device -- what SeaBIOS needs to run
    a ROM BAR image; a ``romfile=`` that fails this runs only after its PCIR device ID is patched.
    """
    info = walk_images(rom_info) if isinstance(rom_info, (bytes, bytearray, memoryview)) else rom_info
    rank = {"pcir": 4, "device_list": 3, "generic": 2, "other": 1, "other_vendor": 0}
    per_image = []
    for img in info.get("images", []):
        p = img.get("pcir")
        if not p:
            continue
        if p["vendor_id"] != vendor_id:
            m = "other_vendor"
        elif p["device_id"] == device_id:
            m = "pcir"
        elif device_id in (img.get("device_list") or []):
            m = "device_list"
        elif p["device_id"] == GENERIC_IGD_DEVICE_ID and vendor_id == INTEL_VENDOR_ID and not _before_gen9(device_id):
            m = "generic"
        else:
            m = "other"
        per_image.append({"index": img["index"], "kind": img.get("kind"), "pcir_device_id": p["device_id"], "match": m})
    legacy_exact = any(i["match"] == "pcir" and i["kind"] == "legacy" for i in per_image)
    out: dict[str, Any] = {"vendor_id": vendor_id, "device_id": device_id, "images": per_image, "legacy_exact": legacy_exact}
    if not per_image:
        out.update(match="no_images", image=None, kind=None, detail="no image with a PCIR structure")
        return out
    best = max(per_image, key=lambda i: (rank[i["match"]], i["kind"] == "legacy"))
    out.update(match=best["match"], image=best["index"], kind=best["kind"])
    dev = f"{vendor_id:04x}:{device_id:04x}"
    ids = f"{vendor_id:04x}:{best['pcir_device_id']:04x}"
    out["detail"] = {
        "pcir": f"image {best['index']} ({best['kind']}) has PCIR {ids}: made for {dev}",
        "device_list": f"image {best['index']} ({best['kind']}) has PCIR {ids} and its device list names {device_id:04x}",
        "generic": f"image {best['index']} ({best['kind']}) has the generic PCIR device ID 0406 of Skylake-and-later Intel VBIOS images, and no device list names {device_id:04x}",
        "other": f"image {best['index']} ({best['kind']}) has PCIR {ids}: made for another Intel device, not {dev}",
        "other_vendor": f"no image is for vendor {vendor_id:04x} (image {best['index']} has PCIR {best['pcir_device_id']:04x} of vendor {info['images'][best['index']]['pcir']['vendor_id']:04x})",
    }[best["match"]]
    if not legacy_exact and best["match"] in ("device_list", "generic") and any(i["kind"] == "legacy" for i in per_image):
        out["detail"] += f"; no legacy image has PCIR {dev}, so SeaBIOS runs it only after the ID is patched (QEMU does that for a ROM it reads from the device through vfio, not for romfile=)"
    return out


# -- building (demo machine, tests) ---------------------------------------------------------------


def _pcir_bytes(vendor_id: int, device_id: int, image_512: int, code_type: str, last: bool, *, revision: int,
                class_code: int, device_list: bool, max_runtime: int, length: int | None = None) -> bytes:
    layout30 = revision >= 3 and length != PCIR_SIZE
    size = PCIR30_SIZE if layout30 else PCIR_SIZE
    values = {
        "vendor_id": vendor_id, "device_id": device_id, "device_list_offset": size if device_list else 0,
        "length": size if length is None else length, "revision": revision, "class_code": class_code,
        "image_length": image_512, "code_revision": 0, "code_type": code_type,
        "indicator": INDICATOR_LAST if last else 0, "max_runtime_image_length": max_runtime,
        "config_utility_code_header_offset": 0, "dmtf_clp_entry_point_offset": 0,
    }
    return build(Pcir30 if layout30 else Pcir, values, "PCIR")


def _device_list_bytes(device_ids: tuple[int, ...] | list[int]) -> bytes:
    return b"".join(int(d).to_bytes(2, "little") for d in device_ids) + b"\0\0" if device_ids else b""


def build_legacy_image(vendor_id: int, device_id: int, body: bytes, *, last: bool = True, class_code: int = 0x030000,
                       device_ids: tuple[int, ...] | list[int] = (), pcir_revision: int = 3) -> bytes:
    """A legacy (code type 0) image with a valid checksum around ``body`` (demo and tests).

    Without ``device_ids`` the PCIR is the 24-byte structure (revision 3, as the demo ROM has always
    been built); with them it is the 28-byte PCI 3.0 structure followed by the device list."""
    pcir_off = 0x40
    pcir_len = PCIR30_SIZE if device_ids else PCIR_SIZE
    dlist = _device_list_bytes(device_ids)
    size = -(-(pcir_off + pcir_len + len(dlist) + len(body) + 1) // IMAGE_UNIT) * IMAGE_UNIT
    head = build(LegacyRomHeader, {"size_512": size // IMAGE_UNIT, "init_entry": b"\xe9\x00\x00", "reserved": bytes(0x12), "pcir_offset": pcir_off}, "legacy ROM header")
    pcir = _pcir_bytes(vendor_id, device_id, size // IMAGE_UNIT, "pc_at", last, revision=pcir_revision, class_code=class_code,
                       device_list=bool(device_ids), max_runtime=size // IMAGE_UNIT, length=None if device_ids else PCIR_SIZE)
    img = bytearray(size)
    img[: len(head)] = head
    img[pcir_off : pcir_off + len(pcir)] = pcir
    start = pcir_off + len(pcir)
    img[start : start + len(dlist)] = dlist
    start += len(dlist)
    img[start : start + len(body)] = body
    img[-1] = (-sum(img[:-1])) & 0xFF
    return bytes(img)


def build_pe_image(machine: str | int = "x64", subsystem: str | int = "boot_service_driver", payload: bytes = b"", *, pe32_plus: bool = True) -> bytes:
    """A minimal PE/COFF image (DOS header, PE signature, COFF and optional header start, then
    ``payload``) carrying ``machine`` and ``subsystem``: enough for the ROM walker's checks."""
    lfanew = 0x40
    dos = build(DosHeader, {"reserved": bytes(0x3A), "e_lfanew": lfanew}, "DOS header")
    pe = build(PeHeaders, {
        "machine": machine, "number_of_sections": 0, "time_date_stamp": 0, "pointer_to_symbol_table": 0,
        "number_of_symbols": 0, "size_of_optional_header": 0xF0 if pe32_plus else 0xE0, "characteristics": 0x2022,
        "magic": "pe32_plus" if pe32_plus else "pe32", "optional_fields": bytes(66), "subsystem": subsystem,
    }, "PE headers")
    return dos + pe + bytes(payload)


def build_efi_image(vendor_id: int, device_id: int, efi_image: bytes, *, last: bool = True, subsystem: str | int = "boot_service_driver",
                    machine: str | int = "x64", compressed: bool = False, device_ids: tuple[int, ...] | list[int] = (),
                    class_code: int = 0x030000, pcir_revision: int = 3) -> bytes:
    """An EFI (code type 3) image the way EDK2's EfiRom lays it out: the 26-byte EFI ROM header,
    the PCIR (3.0 with the device list behind it, or 2.x), padding, the PE image at a 512-byte
    aligned ``EfiImageHeaderOffset`` (``efi_image`` is stored as given, also when ``compressed``)."""
    pcir_off = 0x1C
    pcir_len = PCIR30_SIZE if pcir_revision >= 3 else PCIR_SIZE
    dlist = _device_list_bytes(device_ids)
    header_size = pcir_off + pcir_len + len(dlist)
    image_off = -(-header_size // IMAGE_UNIT) * IMAGE_UNIT
    size = -(-(image_off + len(efi_image)) // IMAGE_UNIT) * IMAGE_UNIT
    head = build(EfiRomHeader, {
        "initialization_size": size // IMAGE_UNIT, "efi_subsystem": subsystem, "efi_machine_type": machine,
        "compression_type": "efi_compressed" if compressed else "none", "reserved": bytes(8),
        "efi_image_header_offset": image_off, "pcir_offset": pcir_off,
    }, "EFI ROM header")
    pcir = _pcir_bytes(vendor_id, device_id, size // IMAGE_UNIT, "efi", last, revision=pcir_revision, class_code=class_code,
                       device_list=bool(device_ids) and pcir_revision >= 3, max_runtime=0, length=pcir_len)
    img = bytearray(size)
    img[: len(head)] = head
    img[pcir_off : pcir_off + len(pcir)] = pcir
    img[pcir_off + len(pcir) : pcir_off + len(pcir) + len(dlist)] = dlist
    img[image_off : image_off + len(efi_image)] = efi_image
    return bytes(img)


def build_rom(*images: bytes) -> bytes:
    """Images one after another (each already a multiple of 512 bytes, the last one marked last)."""
    return b"".join(images)
