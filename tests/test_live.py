"""Live paths against fake machines: a sysfs/procfs/debugfs tree made from the demo captures must
read back as the capture it was made from; missing and unreadable sources become errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from igdscope.sources import demo, live
from tests.support.fakesys import FakeRoot as Root
from tests.support.fakesys import build_tree

FIELDS = ("role", "bdf", "vendor", "device", "class_code", "revision", "subsystem_vendor", "subsystem_device", "driver", "iommu_group", "iommu_group_members", "resources", "config_size", "boot_vga")


def _same_devices(got, want):
    assert [d.bdf for d in got.devices] == [d.bdf for d in want.devices]
    for g, w in zip(got.devices, want.devices):
        for f in FIELDS:
            if f == "iommu_group_members" and w.iommu_group is None:
                continue
            assert getattr(g, f) == getattr(w, f), (w.bdf, f)
        assert got.blobs[g.config_blob].data == want.blobs[w.config_blob].data


def test_host_tree_reads_back_as_the_demo_host(tmp_path):
    want = demo.host_capture()
    root = build_tree(want, tmp_path)
    got = live.collect(Root(root), gtt=True, use_udev=False)
    assert got.machine == "host"
    _same_devices(got, want)
    assert got.blobs["rom"].data == want.blobs["rom"].data
    assert got.blobs["gtt"].data == want.blobs["gtt"].data  # read through a read-only mmap of resource0
    assert got.host["kernel_release"] == "6.8.12-4-pve"
    assert got.host["modules"]["vfio_pci"]["parameters"]["ids"] == "8086:3e92"
    assert got.host["vfio_pci_disable_vga"] == "N"
    assert got.host["hypervisor"]["cpu_flag"] is False
    assert got.host["dmar"][0]["cap"] == "1c0000c40660462"
    assert any("Graphics Stolen Memory" in line for line in got.host["iomem"])
    assert any("0000:00:02.0" in line for line in got.host["iomem"])
    # the rom file is left disabled
    assert Root(root).rom_state("sys/devices/pci0000:00/0000:00:02.0/rom") == "0"
    # vfio-pci owns the IGD: without --vfio the OpRegion is not read, and the capture says why
    tried = {t["source"]: t["result"] for t in got.sources["opregion"]["tried"]}
    assert "pass --vfio" in tried["vfio"] and "needs --allow-devmem" in tried["devmem"]
    assert got.sources["opregion"]["used"] is None
    assert any(e["source"] == "opregion" for e in got.errors)


def test_guest_tree_reads_opregion_and_vbt_from_debugfs(tmp_path):
    want = demo.guest_capture()
    root = build_tree(want, tmp_path)
    got = live.collect(Root(root), use_udev=False)
    assert got.machine == "guest"
    _same_devices(got, want)
    assert got.sources["opregion"]["used"] == "debugfs"
    assert got.blobs["opregion"].data == want.blobs["opregion"].data
    assert got.blobs["vbt/debugfs"].data == want.blobs["vbt/debugfs"].data
    assert "gtt" not in got.blobs  # only with --gtt
    assert any("virtual IOMMU" in e["reason"] for e in got.errors)


def test_devmem_reads_opregion_at_asls(tmp_path):
    want = demo.host_capture()
    root = build_tree(want, tmp_path, devmem=True)
    got = live.collect(Root(root), allow_devmem=True, use_udev=False)
    assert got.sources["opregion"]["used"] == "devmem"
    assert got.blobs["opregion"].data == want.blobs["opregion"].data
    assert got.blobs["opregion"].path == "/dev/mem@0x8a0dc018"


def test_devmem_without_signature_is_an_error_not_a_crash(tmp_path):
    root = build_tree(demo.host_capture(), tmp_path)
    (root / "dev/mem").write_bytes(b"\0" * 16)
    got = live.collect(Root(root), allow_devmem=True, use_udev=False)
    tried = {t["source"]: t["result"] for t in got.sources["opregion"]["tried"]}
    assert "0x8a0dc018" in tried["devmem"]
    assert "opregion" not in got.blobs


def test_unprivileged_config_reads_are_recorded(tmp_path):
    root = build_tree(demo.host_capture(), tmp_path, config_bytes=64)
    got = live.collect(Root(root), use_udev=False)
    igd = got.device("igd")
    assert len(got.blobs[igd.config_blob].data) == 64
    assert "only 64 of 64" not in got.blobs[igd.config_blob].note  # the file size itself is 64 here
    # a real unprivileged read: the file says 4096 but only 64 bytes come back
    class Short(Root):
        def read_bytes(self, p, limit, offset=0):
            data = super().read_bytes(p, limit, offset)
            return data[:64] if p.endswith("/config") else data

        def size(self, p):
            return 4096 if p.endswith("/config") else super().size(p)

    got = live.collect(Short(build_tree(demo.host_capture(), tmp_path / "b")), use_udev=False)
    igd = got.device("igd")
    assert got.blobs[igd.config_blob].note.startswith("only 64 of 4096 bytes readable")
    assert any(e["source"] == f"config {igd.bdf}" for e in got.errors)


def test_missing_pieces_become_errors(tmp_path):
    cap = demo.host_capture()
    cap = dataclasses.replace(cap, devices=[d for d in cap.devices if d.role != "lpc"])
    root = build_tree(cap, tmp_path)
    os.unlink(root / "sys/devices/pci0000:00/0000:00:02.0/rom")
    os.unlink(root / "sys/devices/pci0000:00/0000:00:02.0/iommu_group")
    os.unlink(root / "proc/modules")
    got = live.collect(Root(root), use_udev=False)
    errs = {e["source"]: e["reason"] for e in got.errors}
    assert errs["lpc"] == "no PCI function at 0000:00:1f.0"
    assert "no rom file" in errs["rom"]
    assert "intel_iommu=on" in errs["iommu_group 0000:00:02.0"]
    assert "/proc/modules" in errs["modules"]
    assert got.device("igd").config_blob in got.blobs  # everything else is still there


def test_no_intel_display_is_its_own_exit(tmp_path):
    d = tmp_path / "sys/bus/pci/devices/0000:00:01.0"
    d.mkdir(parents=True)
    (d / "vendor").write_text("0x1af4\n")
    (d / "device").write_text("0x1050\n")
    (d / "class").write_text("0x030000\n")
    (tmp_path / "proc").mkdir()
    with pytest.raises(live.NoIntelDisplay) as e:
        live.collect(Root(tmp_path), use_udev=False)
    assert "no Intel display device" in str(e.value) and "1 PCI functions" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "igdscope", "dump", "--root", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 4
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and "no Intel display device" in r.stderr


def test_rom_is_disabled_again_on_read_error(tmp_path):
    root = Root(build_tree(demo.host_capture(), tmp_path))

    def failing(attr):
        if attr.enabled:
            raise OSError(5, "Input/output error")

    root.on_rom_read = failing
    got = live.collect(root, use_udev=False)
    assert "I/O error" in {e["source"]: e["reason"] for e in got.errors}["rom"]
    assert root.rom_state("sys/devices/pci0000:00/0000:00:02.0/rom") == "0"


def test_cli_dump_on_fake_root_writes_a_valid_capture(tmp_path, capture_validator):
    import json

    root = build_tree(demo.guest_capture(), tmp_path / "root")
    out = tmp_path / "cap.json"
    r = subprocess.run([sys.executable, "-m", "igdscope", "dump", "--root", str(root), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"wrote {out}: guest capture, 3 devices")
    doc = json.loads(out.read_text())
    capture_validator(doc)
    assert doc["sources"]["opregion"]["used"] == "debugfs"
    assert doc["decoded"]["devices"]["igd"]["summary"]["asls"] == demo.GUEST_ASLS


def test_sriov_pf_and_vfs(tmp_path):
    """An SR-IOV IGD (PF at 00:02.0 with VFs at 00:02.1/.2): the PF's VF counts and each VF's
    physfn are recorded, and the VFs are kept as further display functions."""
    from igdscope.capture import Blob, Device

    cap = demo.host_capture().builder()
    igd = cap.replace_device("igd", sriov={"role": "pf", "totalvfs": 7, "numvfs": 2})
    for fn in (1, 2):
        bdf = f"0000:00:02.{fn}"
        cap.blobs[f"config/{bdf}"] = Blob(demo.igd_config()[:256], "demo", "")
        cap.devices.append(Device(role="display", bdf=bdf, vendor=0x8086, device=0x3E92, class_code=0x030000, revision=0,
                                  subsystem_vendor=0x1458, subsystem_device=0xD000, driver="vfio-pci", iommu_group=10 + fn,
                                  iommu_group_members=[bdf], sriov={"role": "vf", "physfn": igd.bdf}, config_blob=f"config/{bdf}", config_size=256))
    cap = cap.build()
    root = build_tree(cap, tmp_path)
    got = live.collect(Root(root), use_udev=False)
    assert got.device("igd").sriov == {"role": "pf", "totalvfs": 7, "numvfs": 2}
    vfs = [d for d in got.devices if d.role == "display"]
    assert [d.bdf for d in vfs] == ["0000:00:02.1", "0000:00:02.2"]
    assert all(d.sriov == {"role": "vf", "physfn": "0000:00:02.0"} for d in vfs)
    assert [d.iommu_group for d in vfs] == [11, 12]
    from igdscope.decode.model import decode_capture

    dec = decode_capture(got)
    assert set(dec["devices"]) == {"igd", "host_bridge", "lpc", "0000:00:02.1", "0000:00:02.2"}


def test_vfio_opregion_through_an_emulated_kernel(tmp_path, monkeypatch):
    """With --vfio and vfio-pci owning the IGD, the OpRegion and the bridges' config come from the
    vfio IGD regions (here an emulated kernel behind the reader's narrow ops interface)."""
    from igdscope.sources import vfio
    from tests.support import fake_vfio as tv

    root = build_tree(demo.host_capture(), tmp_path)
    kernels = []
    real = vfio.read_igd_regions

    def with_fake_kernel(r, bdf, group, ops=None):
        k = tv.FakeKernel(root=r, group=group)
        kernels.append(k)
        return real(r, bdf, group, ops=k)

    monkeypatch.setattr(vfio, "read_igd_regions", with_fake_kernel)
    got = live.collect(Root(root), vfio=True, use_udev=False)
    assert got.sources["opregion"]["used"] == "vfio"
    assert got.blobs["opregion"].data == tv.OPREGION and got.blobs["opregion"].source == "vfio"
    assert got.blobs["vfio/host_cfg"].data == tv.HOST_CFG and got.blobs["vfio/lpc_cfg"].data == tv.LPC_CFG
    assert kernels and kernels[0].all_closed()


def test_vfio_busy_group_is_reported(tmp_path, monkeypatch):
    import errno

    from igdscope.sources import vfio
    from tests.support import fake_vfio as tv

    root = build_tree(demo.host_capture(), tmp_path)
    real = vfio.read_igd_regions

    def busy(r, bdf, group, ops=None):
        k = tv.FakeKernel(root=r, group=group)
        k.open_errors[k.path(f"dev/vfio/{group}")] = errno.EBUSY
        return real(r, bdf, group, ops=k)

    monkeypatch.setattr(vfio, "read_igd_regions", busy)
    got = live.collect(Root(root), vfio=True, use_udev=False)
    tried = {t["source"]: t["result"] for t in got.sources["opregion"]["tried"]}
    assert "vfio group 2 is in use" in tried["vfio"] and "running VM" in tried["vfio"]
    assert "opregion" not in got.blobs


def test_vfio_without_device_nodes(tmp_path):
    root = build_tree(demo.host_capture(), tmp_path)
    got = live.collect(Root(root), vfio=True, use_udev=False)
    tried = {t["source"]: t["result"] for t in got.sources["opregion"]["tried"]}
    assert "no vfio on this system" in tried["vfio"]
    assert got.sources["opregion"]["used"] is None


# -- the cheap per-tick read -------------------------------------------------------------------------

EVERYTHING = frozenset({live.WATCH_DEVICES, live.WATCH_CONFIG, live.WATCH_OPREGION, live.WATCH_GTT})
IGD_DIR = "sys/devices/pci0000:00/0000:00:02.0"


def _poke(path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_light_read_gives_what_a_full_read_gives(tmp_path):
    root = build_tree(demo.guest_capture(), tmp_path)
    base = live.collect(Root(root), gtt=True, use_udev=False)
    # the machine changes under the reader: a config byte, an OpRegion mailbox field, a GGTT entry
    _poke(root / IGD_DIR / "config", 0x3C, b"\x5a")  # interrupt line
    _poke(root / "sys/kernel/debug/dri/0/i915_opregion", 0x310, (0x800000FF).to_bytes(4, "little"))  # ASLE BCLP
    _poke(root / IGD_DIR / "resource0", (8 << 20) + 8 * 5, (0x12345003).to_bytes(8, "little"))  # PTE 5 of the GGTT half
    light = live.read_light(Root(root), base, EVERYTHING)
    full = live.collect(Root(root), gtt=True, use_udev=False)
    assert light.full is None and light.gone == frozenset() and light.notes == ()
    _same_devices(light.capture, full)
    assert dict(light.capture.blobs) == dict(full.blobs)  # data, source, path and note of every blob
    assert light.capture.errors == full.errors and light.capture.host == full.host and light.capture.machine == "guest"
    for key in ("config/0000:00:02.0", "opregion", "gtt"):  # re-read, and the next tick reads against them
        assert light.capture.blobs[key].data != base.blobs[key].data
        assert light.base.blobs[key] is light.capture.blobs[key]
    assert light.capture.blobs["config/0000:00:02.0"].data[0x3C] == 0x5A
    assert int.from_bytes(light.capture.blobs["gtt"].data[40:48], "little") == 0x12345003
    assert light.base.created == base.created  # the base stays the full read's


def test_light_read_reads_only_what_is_watched(tmp_path):
    root = build_tree(demo.guest_capture(), tmp_path)
    base = live.collect(Root(root), gtt=True, use_udev=False)
    _poke(root / IGD_DIR / "config", 0x3C, b"\x5a")
    _poke(root / "sys/kernel/debug/dri/0/i915_opregion", 0x310, (0x800000FF).to_bytes(4, "little"))
    light = live.read_light(Root(root), base, frozenset({live.WATCH_DEVICES}))
    assert all(light.capture.blobs[k] is base.blobs[k] for k in base.blobs) and light.base is base
    light = live.read_light(Root(root), base, frozenset({live.WATCH_DEVICES, live.WATCH_OPREGION}))
    assert light.capture.blobs["opregion"].data[0x310:0x314] == (0x800000FF).to_bytes(4, "little")
    assert light.capture.blobs["config/0000:00:02.0"] is base.blobs["config/0000:00:02.0"]
    (root / IGD_DIR / "power").mkdir()
    (root / IGD_DIR / "power/runtime_status").write_text("suspended\n")  # a config read would wake it
    light = live.read_light(Root(root), base, EVERYTHING)
    assert light.notes == ("0000:00:02.0 is runtime-suspended: config space not re-read (a read would wake it)",)
    assert light.capture.blobs["config/0000:00:02.0"] is base.blobs["config/0000:00:02.0"]
    assert light.capture.blobs["config/0000:00:00.0"].data == base.blobs["config/0000:00:00.0"].data


def test_light_read_says_when_a_full_read_is_due_and_what_is_gone(tmp_path):
    root = build_tree(demo.host_capture(), tmp_path)
    base = live.collect(Root(root), use_udev=False)
    light = live.read_light(Root(root), base, EVERYTHING)
    assert "opregion" not in base.blobs and light.notes == () and light.gone == frozenset()  # vfio-pci owns the IGD: no OpRegion without --vfio
    from igdscope.capture import Blob

    with_vfio = dataclasses.replace(base, blobs={**base.blobs, "opregion": Blob(demo.opregion(), "vfio", "/dev/vfio/2 0000:00:02.0 region")})
    light = live.read_light(Root(root), with_vfio, EVERYTHING)  # opening the vfio device would reset the IGD: never re-read
    assert light.notes == ("OpRegion from vfio is not re-read live (only debugfs is: the vfio region resets the IGD when opened)",)
    assert light.capture.blobs["opregion"] is with_vfio.blobs["opregion"]
    (root / "sys/bus/pci/devices/0000:00:1f.0").unlink()  # the LPC bridge leaves the bus
    light = live.read_light(Root(root), base, EVERYTHING)
    assert light.gone == {"0000:00:1f.0"} and light.full is None
    assert [e["reason"] for e in light.capture.errors if e["source"] == "live"] == [
        f"0000:00:1f.0 is gone from {Root(root).path('sys/bus/pci/devices')} (removed or unbound from the bus); the data shown is the last read"]
    (root / IGD_DIR / "driver").unlink()  # vfio-pci lets the IGD go
    light = live.read_light(Root(root), base, EVERYTHING)
    assert light.capture is None and light.full == "0000:00:02.0: driver changed"


def test_live_reader_reads_in_full_then_light_then_in_full_again(tmp_path, monkeypatch):
    root = build_tree(demo.guest_capture(), tmp_path)
    calls = []
    real_collect, real_light = live.collect, live.read_light
    monkeypatch.setattr(live, "collect", lambda *a, **k: calls.append("full") or real_collect(*a, **k))
    monkeypatch.setattr(live, "read_light", lambda *a, **k: calls.append("light") or real_light(*a, **k))
    reader = live.LiveReader(Root(root), gtt=True, use_udev=False)
    first = reader.read(EVERYTHING)
    second = reader.read(EVERYTHING)
    reader.request_full()
    third = reader.read(EVERYTHING)
    assert calls == ["full", "light", "full"]
    assert first.capture is not None and second.capture is not None and third.error is None
    link = root / "sys/bus/pci/devices/0000:00:02.0"
    target = os.readlink(link)
    link.unlink()
    gone = reader.read(EVERYTHING)
    assert gone.gone == {"0000:00:02.0"} and gone.capture.device("igd") is not None
    os.symlink(target, link)
    back = reader.read(EVERYTHING)  # everything gone is back: a full read
    assert calls[-2:] == ["light", "full"] and back.gone == frozenset() and back.capture.errors == first.capture.errors
