"""The capture JSON: its schema, its round trip, and strict, bounded loading of hostile input."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igdscope import capture as C
from igdscope.capture import Blob, Capture, CaptureBuilder, Device
from igdscope.errors import EXIT_BAD_INPUT, BadInput

SPECS = Path(__file__).resolve().parents[1] / "specs"
IGD, HB, LPC = "0000:00:02.0", "0000:00:00.0", "0000:00:1f.0"
MiB = 1 << 20


# -- a capture built here (not the demo: this module tests the format, not the sources) -------


def _config(vendor: int, device: int, class_code: int, revision: int, size: int) -> bytes:
    b = bytearray(size)
    struct.pack_into("<HHHH", b, 0, vendor, device, 0x0007, 0x0010)
    struct.pack_into("<I", b, 8, (class_code << 8) | revision)
    for i in range(0x40, size):
        b[i] = (i * 37 + 11) & 0xFF
    return bytes(b)


def _pattern(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes that zlib can compress only partly."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0x0F if i % 3 else 0
    return bytes(out)


def make_capture() -> Capture:
    cap = CaptureBuilder(machine="host", created="2024-05-01T12:00:00Z", tool_version="0.1.0")
    cap.blobs = {
        f"config/{IGD}": Blob(_config(0x8086, 0x3E92, 0x030000, 0, 4096), "sysfs", f"/sys/bus/pci/devices/{IGD}/config"),
        f"config/{HB}": Blob(_config(0x8086, 0x3E30, 0x060000, 7, 256), "sysfs", f"/sys/bus/pci/devices/{HB}/config"),
        f"config/{LPC}": Blob(_config(0x8086, 0xA305, 0x060100, 0x10, 64), "sysfs", f"/sys/bus/pci/devices/{LPC}/config", "only 64 of 256 bytes readable"),
        "opregion": Blob(b"IntelGraphicsMem" + _pattern(8192 - 16, 2), "debugfs", "/sys/kernel/debug/dri/0/i915_opregion", "first 8 KiB as i915 maps it"),
        "rom": Blob(b"\x55\xaa" + bytes(range(256)) * 3, "sysfs", f"/sys/bus/pci/devices/{IGD}/rom"),
    }
    cap.devices = [
        Device(
            role="igd", bdf=IGD, vendor=0x8086, device=0x3E92, class_code=0x030000, revision=0,
            subsystem_vendor=0x1458, subsystem_device=0xD000, driver="i915", iommu_group=1, iommu_group_members=[IGD],
            sriov={"role": "pf", "totalvfs": 7, "numvfs": 0},
            resources=[
                {"bar": 0, "start": 0xF6000000, "end": 0xF6FFFFFF, "flags": 0x140204, "size": 16 * MiB},
                {"bar": 2, "start": 0xE0000000, "end": 0xEFFFFFFF, "flags": 0x14220C, "size": 256 * MiB},
            ],
            config_blob=f"config/{IGD}", config_size=4096, boot_vga=True,
        ),
        Device(role="host_bridge", bdf=HB, vendor=0x8086, device=0x3E30, class_code=0x060000, revision=7,
               driver="skl_uncore", iommu_group=0, iommu_group_members=[HB], config_blob=f"config/{HB}", config_size=4096),
        Device(role="lpc", bdf=LPC, vendor=0x8086, device=0xA305, class_code=0x060100, revision=0x10,
               iommu_group=9, iommu_group_members=[LPC, "0000:00:1f.3"], config_blob=f"config/{LPC}", config_size=256),
    ]
    cap.host = {
        "kernel_release": "6.8.0-31-generic",
        "cmdline": "ro intel_iommu=on",
        "modules": {"i915": {"loaded": True, "parameters": {"modeset": "-1"}}, "vfio_pci": {"loaded": False}},
        "vfio_pci_disable_vga": None,
        "hypervisor": {"cpu_flag": False, "dmi_sys_vendor": "Example Corp", "dmi_product_name": None, "dmi_board_name": None, "dmi_bios_version": "1.0"},
        "iomem": ["7c800000-7fffffff : Reserved", "  7c800000-7fffffff : Graphics Stolen Memory"],
        "dmar": [{"name": "dmar0", "version": "1:0", "address": "0xfed90000", "cap": "1c0000c40660462", "ecap": None}],
        "qemu_version": None,
    }
    cap.sources = {"discovery": "sysfs walk", "opregion": {"used": "debugfs", "tried": [{"source": "debugfs", "result": "read 8192 bytes"}]}}
    cap.error(f"config {LPC}", "only 64 of 256 bytes readable")
    cap.error("gtt", "GGTT location unknown")
    return cap.build()


def make_doc() -> dict:
    return json.loads(make_capture().to_json())


def _blob_doc(data: bytes, encoding: str = "base64", size: int | None = None, sha: str | None = None) -> dict:
    packed = zlib.compress(data) if encoding == "zlib+base64" else data
    return {
        "source": "file", "path": "", "note": "",
        "size": len(data) if size is None else size,
        "sha256": hashlib.sha256(data).hexdigest() if sha is None else sha,
        "encoding": encoding,
        "data": base64.b64encode(packed).decode(),
    }


def refused(raw: bytes | str) -> str:
    """Load ``raw``, expect BadInput, and return its (one-line) message."""
    with pytest.raises(BadInput) as ei:
        C.loads(raw, name="cap.json")
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("cap.json: "), msg
    assert ei.value.exit_code == EXIT_BAD_INPUT
    return msg


class _Forbidden:
    """Stands in for a module the loader must not touch yet (proves 'refused before decoding')."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, attr: str):
        raise AssertionError(f"{self.what}.{attr} was used before the sizes were checked")


def _no_decoding(monkeypatch) -> None:
    monkeypatch.setattr(C, "base64", _Forbidden("base64"))
    monkeypatch.setattr(C, "zlib", _Forbidden("zlib"))


# -- schema --------------------------------------------------------------------------------------


def test_constructed_capture_validates_and_uses_both_encodings(capture_validator):
    doc = make_doc()
    capture_validator(doc)
    enc = {k: b["encoding"] for k, b in doc["blobs"].items()}
    assert enc[f"config/{IGD}"] == "base64"  # exactly 4096 bytes: not compressed
    assert enc[f"config/{LPC}"] == "base64"
    assert enc["opregion"] == "zlib+base64"  # 8192 bytes
    assert len(doc["devices"]) == 3 and doc["errors"][1] == {"source": "gtt", "reason": "GGTT location unknown"}
    assert list(doc["blobs"]) == sorted(doc["blobs"])
    op = doc["blobs"]["opregion"]
    raw = zlib.decompress(base64.b64decode(op["data"]))
    assert raw[:16] == b"IntelGraphicsMem" and len(raw) == op["size"] == 8192
    assert hashlib.sha256(raw).hexdigest() == op["sha256"]


def test_compression_threshold_is_4096_bytes():
    assert C._blob_to_dict(Blob(bytes(4096), "x"))["encoding"] == "base64"
    assert C._blob_to_dict(Blob(bytes(4097), "x"))["encoding"] == "zlib+base64"
    assert C._blob_to_dict(Blob(b"", "x")) == {
        "source": "x", "path": "", "note": "", "size": 0,
        "sha256": hashlib.sha256(b"").hexdigest(), "encoding": "base64", "data": "",
    }


def _set(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "why"),
    [
        (("format",), "other", "const"),
        (("version",), 2, "const"),
        (("machine",), "vm", "enum"),
        (("devices", 0, "role"), "gpu", "enum"),
        (("devices", 0, "bdf"), "00:02.0", "pattern"),
        (("devices", 0, "bdf"), "0000:00:02.8", "pattern"),
        (("devices", 0, "vendor"), 0x10000, "maximum"),
        (("devices", 0, "class"), 0x1000000, "maximum"),
        (("devices", 0, "revision"), -1, "minimum"),
        (("devices", 0, "iommu_group_members"), ["0000:00:02.0", "garbage"], "pattern"),
        (("devices", 0, "sriov"), {"role": "pf"}, "required"),
        (("devices", 0, "sriov"), {"role": "vf", "physfn": "00:02.0"}, "pattern"),
        (("devices", 0, "sriov"), {"role": "both"}, "enum"),
        (("devices", 0, "sriov"), [], "type"),
        (("devices", 0, "resources", 0, "bar"), 7, "maximum"),
        (("devices", 0, "boot_vga"), "yes", "type"),
        (("blobs", "rom", "size"), 16 * MiB + 1, "maximum"),
        (("blobs", "rom", "sha256"), "ABC", "pattern"),
        (("blobs", "rom", "encoding"), "gzip", "enum"),
        (("blobs", "rom", "data"), "not base64!", "pattern"),
        (("host", "hypervisor", "cpu_flag"), "no", "type"),
        (("host", "hypervisor", "dmi_chassis_vendor"), 3, "type"),
        (("host", "modules", "i915", "parameters", "modeset"), -1, "type"),
        (("errors", 0), {"source": "x"}, "required"),
    ],
)
def test_schema_rejects_what_the_format_forbids(capture_validator, path, value, why):
    with pytest.raises(jsonschema.ValidationError) as ei:
        capture_validator(_set(make_doc(), path, value))
    assert ei.value.validator == why


def test_schema_requires_every_key_igdscope_writes(capture_validator):
    doc = make_doc()
    for key in ("format", "version", "devices", "blobs", "errors"):
        bad = copy.deepcopy(doc)
        del bad[key]
        with pytest.raises(jsonschema.ValidationError, match=f"'{key}' is a required property"):
            capture_validator(bad)
    bad = copy.deepcopy(doc)
    del bad["devices"][1]["config_size"]
    with pytest.raises(jsonschema.ValidationError, match="'config_size' is a required property"):
        capture_validator(bad)
    # but it allows what a later version may add
    capture_validator(_set(_set(doc, ("new_top_level",), [1]), ("devices", 0, "new_field"), {"x": 1}))
    capture_validator(_set(doc, ("decoded",), {"anything": [1, "two", None]}))


def _schema() -> dict:
    return json.loads((SPECS / "capture.schema.json").read_text())


def test_schema_names_exactly_the_keys_to_dict_writes():
    schema = _schema()
    defs = schema["$defs"]
    cap = make_capture()
    assert set(schema["properties"]) == set(cap.to_dict(decoded={}))
    assert set(schema["required"]) == set(cap.to_dict())
    assert set(defs["device"]["properties"]) == set(defs["device"]["required"]) == set(C._device_to_dict(cap.devices[0]))
    assert set(defs["blob"]["properties"]) == set(defs["blob"]["required"]) == set(C._blob_to_dict(cap.blobs["rom"]))
    assert set(defs["resource"]["properties"]) == set(cap.devices[0].resources[0])
    assert defs["device"]["properties"]["role"]["enum"] == list(C.ROLES)
    assert defs["blob"]["properties"]["size"]["maximum"] == C.MAX_BLOB_BYTES
    assert schema["properties"]["blobs"]["maxProperties"] == C.MAX_ITEMS


def test_every_schema_property_has_a_description():
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for group in ("properties", "patternProperties"):
                for name, sub in node.get(group, {}).items():
                    if not (isinstance(sub, dict) and sub.get("description")):
                        missing.append(f"{where}/{name}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(_schema(), "#")
    assert missing == []


def test_the_example_in_capture_md_validates_and_loads(capture_validator):
    text = (SPECS / "capture.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    doc = json.loads(blocks[0])
    capture_validator(doc)
    cap = C.loads(blocks[0])
    assert [d.role for d in cap.devices] == ["igd", "host_bridge", "lpc"]
    assert cap.config("igd")[:4] == bytes.fromhex("8680923e")


def test_capture_md_states_the_loaders_limits():
    text = (SPECS / "capture.md").read_text()
    for needle in (f"{C.MAX_FILE_BYTES >> 20} MiB", f"{C.MAX_BLOB_BYTES >> 20} MiB", f"{C.MAX_TOTAL_BYTES >> 20} MiB",
                   f"| {C.MAX_ITEMS} |", f"more than {C.COMPRESS_OVER}", "upgrade igdscope"):
        assert needle in text, needle
    for name in ("config/<bdf>", "opregion", "opregion/rvda", "vbt/debugfs", "rom", "gtt", "vfio/host_cfg", "vfio/lpc_cfg"):
        assert f"| `{name}` |" in text, name


# -- round trip --------------------------------------------------------------------------------


def test_round_trip_gives_identical_text_and_bytes():
    cap = make_capture()
    text = cap.to_json()
    assert C.looks_like_capture(text.encode()[:4096])
    back = C.loads(text)
    assert back.to_json() == text
    assert back.blobs.keys() == cap.blobs.keys()
    for key, blob in cap.blobs.items():
        assert back.blobs[key].data == blob.data
        assert back.blobs[key].sha256 == blob.sha256 == json.loads(text)["blobs"][key]["sha256"]
        assert (back.blobs[key].source, back.blobs[key].path, back.blobs[key].note) == (blob.source, blob.path, blob.note)
    assert back.devices == cap.devices and back.host == cap.host and back.sources == cap.sources and back.errors == cap.errors
    assert back.config("igd") == cap.blobs[f"config/{IGD}"].data
    assert (back.machine, back.created, back.tool_version) == ("host", "2024-05-01T12:00:00Z", "0.1.0")


def test_load_reads_a_file(tmp_path):
    p = tmp_path / "cap.json"
    text = make_capture().to_json()
    p.write_text(text)
    assert C.load(p).to_json() == text
    with pytest.raises(BadInput, match=r"cannot read"):
        C.load(tmp_path / "missing.json")


def test_decoded_view_is_written_but_never_loaded():
    cap = make_capture()
    text = cap.to_json(decoded={"summary": {"igd": "UHD 630"}})
    assert json.loads(text)["decoded"] == {"summary": {"igd": "UHD 630"}}
    back = C.loads(text)
    assert back.decoded is None
    assert back.to_json() == cap.to_json()


def test_unknown_keys_are_ignored_at_every_level():
    text = make_capture().to_json()
    doc = json.loads(text)
    doc["from_the_future"] = {"nested": [1, 2, {"deep": True}]}
    doc["tool"]["build"] = "abc"
    doc["devices"][0]["numa_node"] = 0
    doc["devices"][0]["resources"][0]["name"] = "GTTMMADR"
    doc["blobs"]["rom"]["compressed_by"] = "zlib 1.3"
    doc["errors"][0]["errno"] = 13
    assert C.loads(json.dumps(doc)).to_json() == text


def test_loader_defaults_for_absent_optional_keys():
    cap = C.loads('{"format": "igdscope-capture", "version": 1}')
    assert (cap.machine, cap.created, cap.devices, cap.blobs, cap.errors, cap.host, cap.sources) == ("unknown", "", (), {}, (), {}, {})


# -- bad input ---------------------------------------------------------------------------------


def _with(mutate) -> str:
    doc = make_doc()
    mutate(doc)
    return json.dumps(doc)


def _flip_base64(doc: dict, key: str) -> None:
    data = doc["blobs"][key]["data"]
    doc["blobs"][key]["data"] = ("B" if data[0] != "B" else "C") + data[1:]


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        pytest.param(b"{not json", r"not valid JSON", id="not-json"),
        pytest.param(b"", r"not valid JSON", id="empty"),
        pytest.param(b"\xff\xfe\x00{", r"not valid JSON", id="bad-utf"),
        pytest.param("[1, 2, 3]", r"top level is not an object", id="array"),
        pytest.param('"igdscope-capture"', r"top level is not an object", id="string"),
        pytest.param(_with(lambda d: d.update(format="something-else")), r"not an igdscope capture \(format is 'something-else'\)", id="wrong-format"),
        pytest.param(_with(lambda d: d.pop("format")), r"not an igdscope capture \(format is None\)", id="no-format"),
        pytest.param(_with(lambda d: d.update(version=0)), r"version 0 is not valid", id="version-0"),
        pytest.param(_with(lambda d: d.update(version=-3)), r"version -3 is not valid", id="version-negative"),
        pytest.param(_with(lambda d: d.update(version="1")), r"version is missing", id="version-string"),
        pytest.param(_with(lambda d: d.update(version=True)), r"version is missing", id="version-bool"),
        pytest.param(_with(lambda d: d.pop("version")), r"version is missing", id="no-version"),
        pytest.param(_with(lambda d: _flip_base64(d, "rom")), r"blob 'rom' sha256 does not match its bytes", id="sha256-mismatch"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(sha256="0" * 64)), r"blob 'rom' sha256 does not match", id="sha256-wrong"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].pop("sha256")), r"blob 'rom' sha256 is not a string", id="sha256-missing"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(data="!!not*base64!!")), r"blob 'rom' is not valid base64", id="base64-garbage"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(data="AAA")), r"blob 'rom' is not valid base64", id="base64-unpadded"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(data="AAAA\nAAAA")), r"blob 'rom' is not valid base64", id="base64-newline"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(data="ÄÖÜ=")), r"blob 'rom' is not valid base64", id="base64-non-ascii"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(data=12)), r"blob 'rom' data is not a string", id="data-not-string"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(encoding="gzip")), r"blob 'rom' has unknown encoding 'gzip'", id="encoding"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(size=d["blobs"]["rom"]["size"] + 1)), r"blob 'rom' holds 770 bytes, declared 771", id="size-short"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(size=1.5)), r"blob 'rom' size is not an integer", id="size-float"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].update(size=-1)), r"blob 'rom' size is not an integer in range", id="size-negative"),
        pytest.param(_with(lambda d: d["blobs"]["rom"].pop("size")), r"blob 'rom' has no size", id="size-missing"),
        pytest.param(_with(lambda d: d["blobs"].update(rom="AAAA")), r"blob 'rom' is not an object", id="blob-not-object"),
        pytest.param(_with(lambda d: d["blobs"]["opregion"].update(data=base64.b64encode(b"not zlib at all").decode())), r"blob 'opregion' does not decompress", id="not-zlib"),
        pytest.param(_with(lambda d: d.update(blobs=[1])), r"blobs is not an object", id="blobs-list"),
        pytest.param(_with(lambda d: d["devices"][1].update(role="gpu")), r"device role 'gpu' is not one of igd, display, host_bridge, lpc", id="bad-role"),
        pytest.param(_with(lambda d: d["devices"][1].update(role=None)), r"device role None is not one of", id="no-role"),
        pytest.param(_with(lambda d: d["devices"][1].update(bdf=2)), r"device bdf is not a string", id="bdf-int"),
        pytest.param(_with(lambda d: d["devices"][1].update(bdf=["0000:00:00.0"])), r"device bdf is not a string", id="bdf-list"),
        pytest.param(_with(lambda d: d["devices"][1].update(vendor=0x10000)), r"vendor is not an integer in range", id="vendor-range"),
        pytest.param(_with(lambda d: d["devices"][1].update(vendor=True)), r"vendor is not an integer in range", id="vendor-bool"),
        pytest.param(_with(lambda d: d["devices"][1].update(boot_vga="1")), r"boot_vga is not a boolean", id="boot-vga"),
        pytest.param(_with(lambda d: d["devices"][0].update(resources=[{"bar": "0"}])), r"resource bar is not an integer", id="resource"),
        pytest.param(_with(lambda d: d["devices"][0].update(resources=[{}] * 17)), r"device resources has 17 entries; a capture holds at most 16", id="resources-many"),
        pytest.param(_with(lambda d: d["devices"].append("igd")), r"a device entry is not an object", id="device-string"),
        pytest.param(_with(lambda d: d.update(devices=d["devices"] * 22)), r"devices has 66 entries; a capture holds at most 64", id="devices-too-many"),
        pytest.param(_with(lambda d: d["devices"][2].update(config_blob="config/0000:00:1f.7")), r"device 0000:00:1f.0 names a config blob that is not there", id="missing-config-blob"),
        pytest.param(_with(lambda d: d["blobs"].pop(f"config/{HB}")), r"device 0000:00:00.0 names a config blob that is not there", id="config-blob-removed"),
        pytest.param(_with(lambda d: d.update(machine="vm")), r"machine 'vm' is not host, guest or unknown", id="machine"),
        pytest.param(_with(lambda d: d.update(errors={"a": "b"})), r"errors is not a list", id="errors-object"),
        pytest.param(_with(lambda d: d.update(errors=[{}] * (C.MAX_ITEMS + 1))), r"errors has 4097 entries; a capture holds at most 4096", id="errors-too-many"),
        pytest.param(_with(lambda d: d["errors"].append(["rom", "x"])), r"an error entry is not an object", id="error-list"),
        pytest.param(_with(lambda d: d.update(host=[1])), r"host is not an object", id="host-list"),
        pytest.param(_with(lambda d: d.update(created=None)), r"created is not a string", id="created"),
        pytest.param(_with(lambda d: d["host"].update(deep=json.loads("[" * 20 + "]" * 20))), r"host nested too deeply", id="host-deep"),
        pytest.param(_with(lambda d: d["sources"].update(big=list(range(C.MAX_ITEMS + 1)))), r"sources has too many entries", id="sources-wide"),
        pytest.param("[" * 100_000 + "]" * 100_000, r"JSON nested too deeply", id="nested-arrays"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, r"JSON nested too deeply", id="nested-objects"),
        pytest.param("[" * 100_000, r"JSON nested too deeply", id="nested-unclosed"),
    ],
)
def test_bad_input_is_refused_with_a_one_line_message(raw, expect):
    assert re.search(expect, refused(raw)), refused(raw)


@pytest.mark.parametrize(
    ("mutate", "gone", "reason"),
    [
        pytest.param(lambda d: d["host"].update(modules=7), lambda c: "modules" not in c.host, "host.modules is not an object of modules (int in the file); ignored", id="modules-int"),
        pytest.param(lambda d: d["host"]["modules"].update(i915=None), lambda c: c.host["modules"] == {"vfio_pci": {"loaded": False}}, "host.modules['i915'] is not an object; ignored", id="module-null"),
        pytest.param(lambda d: d["host"]["modules"]["i915"].update(parameters=["modeset"]), lambda c: "i915" not in c.host["modules"], "host.modules['i915'] is not an object whose parameters are strings; ignored", id="module-parameters"),
        pytest.param(lambda d: d["host"].update(hypervisor="QEMU"), lambda c: "hypervisor" not in c.host, "host.hypervisor is not an object (str in the file); ignored", id="hypervisor-str"),
        pytest.param(lambda d: d["host"].update(iomem=[1, 2]), lambda c: "iomem" not in c.host, "host.iomem is not a list of strings (list in the file); ignored", id="iomem-ints"),
        pytest.param(lambda d: d["host"].update(dmar=[{"cap": "1c0000c40660462"}]), lambda c: c.host["dmar"] == [], "host.dmar[0] is not an object with a name and string values; ignored", id="dmar-no-name"),
        pytest.param(lambda d: d["host"].update(kernel_release=6.8), lambda c: "kernel_release" not in c.host, "host.kernel_release is not a string or null (float in the file); ignored", id="kernel-float"),
        pytest.param(lambda d: d["sources"]["opregion"].update(tried=["debugfs"]), lambda c: c.sources == {"discovery": "sysfs walk"}, "sources.opregion is not an object of used and tried sources; ignored", id="tried-strings"),
        pytest.param(lambda d: d["sources"]["opregion"]["tried"][0].pop("result"), lambda c: "opregion" not in c.sources, "sources.opregion is not an object of used and tried sources; ignored", id="tried-no-result"),
        pytest.param(lambda d: d["devices"][0].update(sriov={"role": "pf", "numvfs": "2"}), lambda c: c.devices[0].sriov is None, "device '0000:00:02.0' sriov is not a pf with totalvfs and numvfs or a vf with its physfn; ignored", id="sriov-numvfs-str"),
    ],
)
def test_known_facts_of_the_wrong_shape_load_as_unread(mutate, gone, reason):
    # host, sources and sriov are free-form, but the facts igdscope reads must have their shape:
    # one that does not is dropped (as if it could not be read) and named in errors, the rest loads
    cap = C.loads(_with(mutate), name="cap.json")
    assert gone(cap)
    assert cap.errors[-1] == {"source": "capture", "reason": reason}
    assert cap.errors[:-1] == make_capture().errors
    assert cap.config("igd") == make_capture().config("igd")
    text = cap.to_json()
    assert C.loads(text).to_json() == text


def test_many_facts_of_the_wrong_shape_are_summed_up():
    cap = C.loads(_with(lambda d: d["host"].update(modules={f"m{i}": i for i in range(500)})))
    assert cap.host["modules"] == {}
    assert [e["reason"] for e in cap.errors[2:]][-2:] == ["host.modules['m7'] is not an object; ignored", "492 more facts of the wrong shape; ignored"]


def test_newer_version_asks_to_upgrade():
    msg = refused(_with(lambda d: d.update(version=2)))
    assert "version 2" in msg and "newer" in msg and "upgrade" in msg


def test_blob_claiming_2_gib_is_refused_before_decoding(monkeypatch):
    text = _with(lambda d: d["blobs"].update(huge={**_blob_doc(b"tiny"), "size": 2 << 30}))
    _no_decoding(monkeypatch)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        msg = refused(text)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 1 * MiB, peak
    assert f"declare {2147483648 + sum(len(b.data) for b in make_capture().blobs.values())} bytes in total" in msg
    assert f"limit {C.MAX_TOTAL_BYTES >> 20} MiB" in msg


def test_per_blob_limit_is_checked_before_decoding(monkeypatch):
    monkeypatch.setattr(C, "MAX_TOTAL_BYTES", 1 << 40)  # so that the per-blob check is what refuses
    # first in the document, so that no other blob is decoded before it
    text = _with(lambda d: d.update(blobs={"0-first": {**_blob_doc(b"tiny"), "size": 2 << 30}, **d["blobs"]}))
    _no_decoding(monkeypatch)
    assert "blob '0-first' claims 2147483648 bytes (limit 16 MiB)" in refused(text)
    monkeypatch.undo()
    ok = _blob_doc(bytes(C.MAX_BLOB_BYTES), "zlib+base64")  # exactly at the limit: loads
    assert len(C.loads(_with(lambda d: d["blobs"].update(big=ok))).blobs["big"].data) == C.MAX_BLOB_BYTES
    over = _blob_doc(bytes(C.MAX_BLOB_BYTES + 1), "zlib+base64")
    assert f"claims {C.MAX_BLOB_BYTES + 1} bytes" in refused(_with(lambda d: d["blobs"].update(big=over)))


def test_total_declared_size_over_the_limit(monkeypatch):
    n = C.MAX_TOTAL_BYTES // C.MAX_BLOB_BYTES + 1  # each blob is within its own limit
    blobs = {f"b{i}": {**_blob_doc(b"x"), "size": C.MAX_BLOB_BYTES} for i in range(n)}
    text = _with(lambda d: d["blobs"].update(blobs))
    _no_decoding(monkeypatch)
    msg = refused(text)
    assert re.search(r"blobs declare \d+ bytes in total \(limit 64 MiB\)", msg), msg


def test_negative_declared_size_does_not_buy_room_for_other_blobs(monkeypatch):
    # The total is checked before any decoding; a blob declaring a negative size (refused when it
    # is reached) must not offset the sizes the others declare, or those would be inflated first.
    monkeypatch.setattr(C, "MAX_TOTAL_BYTES", 20_000)
    big = _blob_doc(bytes(8000), "zlib+base64")
    text = json.dumps({
        "format": "igdscope-capture", "version": 1,
        "blobs": {"a": big, "b": big, "c": big, "z": {**_blob_doc(b""), "size": -(10**12)}},
    })
    _no_decoding(monkeypatch)
    msg = refused(text)
    assert "blobs declare 24000 bytes in total" in msg, msg


def test_zlib_bomb_is_refused_without_inflating_it():
    bomb = zlib.compress(b"\0" * 50_000_000, 9)
    assert len(bomb) < 100_000
    text = _with(lambda d: d["blobs"].update(bomb={
        "source": "file", "path": "", "note": "", "size": 100,
        "sha256": hashlib.sha256(bytes(100)).hexdigest(),  # right for the first 100 bytes
        "encoding": "zlib+base64", "data": base64.b64encode(bomb).decode(),
    }))
    del bomb
    tracemalloc.start()
    try:
        msg = refused(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "blob 'bomb' decompresses to more than its declared 100 bytes" in msg
    assert peak < 5 * MiB, peak


def test_zlib_stream_one_byte_longer_than_declared_is_refused():
    data = _pattern(5000)
    text = _with(lambda d: d["blobs"].update(x={**_blob_doc(data, "zlib+base64"), "size": 4999, "sha256": hashlib.sha256(data[:4999]).hexdigest()}))
    assert "blob 'x' decompresses to more than its declared 4999 bytes" in refused(text)


def test_file_over_the_size_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(C, "MAX_FILE_BYTES", 1 * MiB)
    text = make_capture().to_json()
    exact = text[:-2] + " " * (MiB - len(text)) + "}\n"  # whitespace is JSON: still a capture
    assert len(exact.encode()) == MiB
    p = tmp_path / "exact.json"
    p.write_text(exact)
    assert C.load(p).to_json() == text
    p.write_text(exact + " ")
    with pytest.raises(BadInput, match=r"exact\.json: larger than 1 MiB, not a capture igdscope will load"):
        C.load(p)
    assert "larger than 1 MiB" in refused(exact + " ")
    assert "larger than 1 MiB" in refused((exact + " ").encode())


# -- properties --------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _loads_or_bad_input(raw) -> Capture | None:
    try:
        return C.loads(raw)
    except BadInput as exc:
        assert "\n" not in str(exc)
        return None


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_load_or_raise_bad_input(raw):
    _loads_or_bad_input(raw)


@FUZZ
@given(st.text(max_size=4096))
def test_arbitrary_text_loads_or_raises_bad_input(raw):
    _loads_or_bad_input(raw)


@FUZZ
@given(st.lists(st.sampled_from(list("{}[]\":,0123456789.eE+-tfnrul \\abcdefgiopsv")), max_size=400).map("".join))
def test_json_like_text_loads_or_raises_bad_input(raw):
    _loads_or_bad_input('{"format": "igdscope-capture", "version": 1, ' + raw)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 1, 2, 6, 7, 255, 256, 4096, 4097, 0xFFFF, 0x10000, 2**31, 2**63, 2**64, C.MAX_BLOB_BYTES, C.MAX_BLOB_BYTES + 1])
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "igd", "lpc", "host", "pf", "base64", "zlib+base64", IGD, f"config/{IGD}", "rom", "igdscope-capture", "AAAA", "0" * 64])
)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _small_doc() -> dict:
    cap = make_capture().builder()
    cap.blobs["opregion"] = Blob(b"IntelGraphicsMem" + bytes(5000), "debugfs")  # keep the fuzz cheap, still compressed
    return json.loads(cap.build().to_json())


_BASE = _small_doc()


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


_PATHS = [p for p in _paths(_BASE) if p]


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PATHS), st.sampled_from(["set", "delete", "add"]), _JSON), min_size=1, max_size=3))
def test_mutated_captures_load_or_raise_bad_input(edits):
    doc = copy.deepcopy(_BASE)
    for path, op, value in edits:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            if op == "set":
                node[path[-1]] = value
            elif op == "delete":
                del node[path[-1]]
            elif isinstance(node, dict):
                node["x-" + str(path[-1])] = value
            else:
                node.append(value)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier edit removed or replaced this path
    cap = _loads_or_bad_input(json.dumps(doc))
    if cap is not None:  # whatever loads writes back to text that loads to the same text
        text = cap.to_json()
        assert C.loads(text).to_json() == text


_BLOB_BYTES = st.one_of(
    st.binary(max_size=10_000),
    st.builds(lambda unit, n: (unit * (n // len(unit) + 1))[:n], st.binary(min_size=1, max_size=16), st.integers(0, 10_000)),
)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=24),
        st.tuples(_BLOB_BYTES, st.sampled_from(["sysfs", "debugfs", "vfio", "devmem", "file"]), st.text(max_size=40), st.text(max_size=40)),
        max_size=4,
    ),
    _BLOB_BYTES,
)
def test_blob_round_trip_keeps_bytes_and_digest(capture_validator, extra, config):
    blobs = {name: Blob(data, source, path, note) for name, (data, source, path, note) in extra.items()}
    blobs[f"config/{IGD}"] = Blob(config, "sysfs")
    cap = Capture(machine="guest", tool_version="x", blobs=blobs,
                  devices=[Device(role="igd", bdf=IGD, vendor=0x8086, device=0x46A6, class_code=0x030000, revision=0x0C, config_blob=f"config/{IGD}", config_size=4096)])
    text = cap.to_json()
    doc = json.loads(text)
    capture_validator(doc)
    back = C.loads(text)
    assert back.to_json() == text
    for name, blob in cap.blobs.items():
        assert back.blobs[name].data == blob.data
        assert back.blobs[name].sha256 == hashlib.sha256(blob.data).hexdigest() == doc["blobs"][name]["sha256"]
        assert doc["blobs"][name]["encoding"] == ("zlib+base64" if len(blob.data) > C.COMPRESS_OVER else "base64")
    assert back.config("igd") == config


def test_every_blob_name_of_the_spec_has_the_kind_show_blob_decodes_it_as():
    from igdscope.decode.files import blob_kind

    names = re.findall(r"^\| `([^`]+)` \|", (SPECS / "capture.md").read_text().split("## Blob names", 1)[1].split("\n## ", 1)[0], re.M)
    expected = {"config/<bdf>": "config", "opregion": "opregion", "opregion/rvda": "vbt", "vbt/debugfs": "vbt", "rom": "rom",
                "gtt": "gtt", "vfio/host_cfg": "config", "vfio/lpc_cfg": "config"}
    assert sorted(names) == sorted(expected)
    for name in names:
        assert blob_kind(name, b"") == expected[name], name
    assert blob_kind("something/new", b"$VBT") == "vbt" and blob_kind("x", b"\x01\x02") is None


def test_stolen_memory_is_worked_out_once_from_the_decoded_devices():
    from igdscope.sources import demo
    from igdscope.decode.model import decode

    s = decode(demo.host_capture()).stolen
    assert (s.gms, s.dsm_bytes, s.bdsm) == (2, 64 << 20, demo.BDSM) and s.dsm == (demo.BDSM, 64 << 20)
    assert s.ggms == 3 and s.gsm_bytes == 8 << 20 and s.gsm is not None and s.gsm[1] == 8 << 20
    assert s.tolud is not None and s.tolud > demo.BDSM
    # a capture without the IGD's config space: the host bridge's fields fill in
    import dataclasses

    cap = demo.host_capture()
    bare = decode(dataclasses.replace(cap, devices=[d for d in cap.devices if d.role != "igd"]), "CFL").stolen
    assert bare.bdsm == s.bdsm and bare.tolud == s.tolud and bare.gms == 2
    empty = decode(dataclasses.replace(cap, devices=[])).stolen
    assert empty.dsm is None and empty.gsm is None


# -- frozen --------------------------------------------------------------------------------------


def _mutations(cap: Capture):
    igd = cap.device("igd")
    return {
        "blobs[k] = ": lambda: cap.blobs.__setitem__("x", Blob(b"x", "test")),
        "del blobs[k]": lambda: cap.blobs.__delitem__("rom"),
        "blobs.pop": lambda: cap.blobs.pop("rom"),
        "devices.append": lambda: cap.devices.append(igd),
        "devices[0] = ": lambda: cap.devices.__setitem__(0, igd),
        "host[k] = ": lambda: cap.host.__setitem__("kernel_release", "7.0"),
        "host.update": lambda: cap.host.update(kernel_release="7.0"),
        "sources[k] = ": lambda: cap.sources.__setitem__("discovery", "x"),
        "errors.append": lambda: cap.errors.append({"source": "x", "reason": "y"}),
        "errors[0][k] = ": lambda: cap.errors[0].__setitem__("reason", "y"),
        "machine = ": lambda: setattr(cap, "machine", "guest"),
        "blobs = ": lambda: setattr(cap, "blobs", {}),
        "decoded = ": lambda: setattr(cap, "decoded", {}),
        "device.driver = ": lambda: setattr(igd, "driver", "i915"),
    }


@pytest.mark.parametrize("how", ["built", "loaded"])
def test_a_capture_refuses_every_mutation(how):
    cap = make_capture() if how == "built" else C.loads(make_capture().to_json())
    before = cap.to_json()
    for what, mutate in _mutations(cap).items():
        with pytest.raises((TypeError, AttributeError)):  # FrozenInstanceError is an AttributeError
            mutate()
        assert cap.to_json() == before, what


def test_a_capture_owns_what_it_was_made_from():
    blobs = {"rom": Blob(b"\x55\xaa", "test")}
    devices = [Device(role="igd", bdf=IGD, vendor=0x8086, device=0x3E92, class_code=0x030000, revision=0)]
    host = {"kernel_release": "6.8"}
    errors = [{"source": "rom", "reason": "short"}]
    cap = Capture(blobs=blobs, devices=devices, host=host, errors=errors)
    blobs["gtt"] = Blob(b"", "test")
    devices.clear()
    host["kernel_release"] = "7.0"
    errors[0]["reason"] = "edited"
    assert list(cap.blobs) == ["rom"] and [d.bdf for d in cap.devices] == [IGD]
    assert cap.host["kernel_release"] == "6.8" and cap.errors[0]["reason"] == "short"


def test_a_builder_makes_a_changed_copy_and_leaves_the_capture_alone():
    cap = make_capture()
    b = cap.builder()
    b.blobs["gtt"] = Blob(bytes(16), "test")
    del b.blobs["rom"]
    b.host["kernel_release"] = "7.0"
    b.error("live", "gone")
    changed = b.replace_device("igd", driver="vfio-pci")
    new = b.build()
    b.blobs.clear()  # the built capture does not see the builder's later edits
    assert changed.driver == "vfio-pci" and new.device("igd").driver == "vfio-pci" and cap.device("igd").driver == "i915"
    assert set(new.blobs) == set(cap.blobs) - {"rom"} | {"gtt"} and "gtt" not in cap.blobs
    assert new.blobs[f"config/{IGD}"] is cap.blobs[f"config/{IGD}"]  # blobs are shared, not copied
    assert (new.host["kernel_release"], cap.host["kernel_release"]) == ("7.0", "6.8.0-31-generic")
    assert new.errors[-1] == {"source": "live", "reason": "gone"} and len(new.errors) == len(cap.errors) + 1
    assert new.config("igd") == cap.config("igd") and b.device("lpc").bdf == LPC
    with pytest.raises(KeyError):
        b.replace_device("display", driver="x")
    assert C.loads(cap.builder().build().to_json()).to_json() == cap.to_json()  # a round trip through a builder changes nothing
