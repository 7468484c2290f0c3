"""PCI option ROMs: the image chain (legacy x86 and EFI images), PCIR data structures, checksums.

Facts: PCI Firmware 3.0 / edk2 ``Pci22.h``, ``Pci30.h`` and ``PeImage.h`` as summarised in the
project's PCI fact sheet (§6). All little-endian.
"""

from __future__ import annotations

from typing import Any

import construct as cs

from igdscope.decode import to_plain

ROM_SIGNATURE = 0xAA55
EFI_SIGNATURE = 0x0EF1
MAX_IMAGES = 16

CodeType = cs.Enum(cs.Int8ul, pc_at=0x00, open_firmware=0x01, hp_pa_risc=0x02, efi=0x03)

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

LegacyRomHeader = cs.Struct(
    "signature" / cs.Const(ROM_SIGNATURE, cs.Int16ul),
    "size_512" / cs.Int8ul,
    "init_entry" / cs.Bytes(3),
    "reserved" / cs.Bytes(0x12),
    "pcir_offset" / cs.Int16ul,
)

EfiMachine = cs.Enum(cs.Int16ul, ia32=0x014C, x64=0x8664, ia64=0x0200, ebc=0x0EBC, aarch64=0xAA64, arm=0x01C2, riscv64=0x5064, loongarch64=0x6264)
EfiSubsystem = cs.Enum(cs.Int16ul, application=10, boot_service_driver=11, runtime_driver=12)

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


def walk_images(rom: bytes) -> dict[str, Any]:
    """The image chain with each image's header, PCIR and checksum; findings instead of errors."""
    images: list[dict[str, Any]] = []
    findings: list[str] = []
    off = 0
    while off + 0x1A <= len(rom) and len(images) < MAX_IMAGES:
        if int.from_bytes(rom[off : off + 2], "little") != ROM_SIGNATURE:
            if not images:
                findings.append("no 0x55AA signature at offset 0: not a PCI option ROM")
            else:
                findings.append(f"no 0x55AA signature at {off:#x} where image {len(images)} should start")
            break
        pcir_off = int.from_bytes(rom[off + 0x18 : off + 0x1A], "little")
        img: dict[str, Any] = {"offset": off, "pcir_offset": pcir_off}
        p = off + pcir_off
        if p + PCIR_SIZE > len(rom) or rom[p : p + 4] != b"PCIR":
            findings.append(f"image at {off:#x}: no PCIR structure at +{pcir_off:#x}")
            images.append(img)
            break
        pcir = Pcir.parse(rom[p : p + PCIR_SIZE])
        img["pcir"] = to_plain(pcir)
        code = int(pcir.code_type)
        length = pcir.image_length * 512
        img["length"] = length
        img["last"] = bool(pcir.indicator & 0x80)
        if code == 3 and int.from_bytes(rom[off + 4 : off + 8], "little") == EFI_SIGNATURE:
            img["kind"] = "efi"
            img["efi"] = to_plain(EfiRomHeader.parse(rom[off : off + 0x1A]))
        elif code == 0:
            img["kind"] = "legacy"
            hdr = LegacyRomHeader.parse(rom[off : off + 0x1A])
            img["legacy"] = {"size_512": hdr.size_512, "init_entry": hdr.init_entry.hex()}
            span = rom[off : off + hdr.size_512 * 512]
            img["checksum_ok"] = len(span) == hdr.size_512 * 512 and sum(span) & 0xFF == 0
        else:
            img["kind"] = str(pcir.code_type)
        if length == 0:
            findings.append(f"image at {off:#x}: PCIR image length is 0")
            images.append(img)
            break
        if off + length > len(rom):
            findings.append(f"image at {off:#x}: claims {length} bytes, only {len(rom) - off} present (truncated ROM)")
        images.append(img)
        if img["last"]:
            break
        off += length
    return {"size": len(rom), "images": images, "findings": findings}


def build_legacy_image(vendor_id: int, device_id: int, body: bytes, *, last: bool = True, class_code: int = 0x030000) -> bytes:
    """A legacy (code type 0) image with a valid checksum around ``body`` (demo and tests)."""
    pcir_off = 0x40
    size = -(-(pcir_off + PCIR_SIZE + len(body) + 1) // 512) * 512
    head = LegacyRomHeader.build({"size_512": size // 512, "init_entry": b"\xe9\x00\x00", "reserved": bytes(0x12), "pcir_offset": pcir_off})
    pcir = Pcir.build({
        "vendor_id": vendor_id, "device_id": device_id, "device_list_offset": 0, "length": PCIR_SIZE,
        "revision": 3, "class_code": class_code, "image_length": size // 512, "code_revision": 0,
        "code_type": "pc_at", "indicator": 0x80 if last else 0, "max_runtime_image_length": size // 512,
    })
    img = bytearray(size)
    img[: len(head)] = head
    img[pcir_off : pcir_off + PCIR_SIZE] = pcir
    start = pcir_off + PCIR_SIZE
    img[start : start + len(body)] = body
    img[-1] = (-sum(img[:-1])) & 0xFF
    return bytes(img)
