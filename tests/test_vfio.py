"""vfio uAPI schemas and the IGD region reader, against a fake kernel that behaves like vfio-pci."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from igdscope.binary import DecodeError
from igdscope.errors import EXIT_PERMISSION
from igdscope.schemas import vfio as V
from igdscope.sources.vfio import (
    CFG_LIMIT,
    NO_OPREGION,
    VfioError,
    normalize_bdf,
    read_igd_regions,
)
from tests.support.fake_vfio import (
    HOST_CFG,
    IGD,
    LPC_CFG,
    OPREGION,
    SHIFT,
    FakeKernel,
    std_regions,
)


def run(k: FakeKernel, bdf="00:02.0", group=None):
    return read_igd_regions(k.root, bdf, k.group if group is None else group, ops=k)


# --- uAPI layout -----------------------------------------------------------------------------------


def test_struct_layout_matches_uapi():
    assert V.RegionInfo.sizeof() == 32
    b = V.RegionInfo.build({"argsz": 1, "flags": 2, "index": 3, "cap_offset": 4, "size": 5, "offset": 6})
    assert struct.unpack("<IIIIQQ", b) == (1, 2, 3, 4, 5, 6)
    assert b[16:24] == (5).to_bytes(8, "little") and b[24:32] == (6).to_bytes(8, "little")
    assert V.InfoCapHeader.sizeof() == 8
    assert V.RegionInfoCapType.sizeof() == 16
    t = V.RegionInfoCapType.build({"header": {"id": 2, "version": 1, "next": 0x40}, "type": IGD, "subtype": 3})
    assert struct.unpack("<HHIII", t) == (2, 1, 0x40, 0x80008086, 3)
    assert V.GroupStatus.sizeof() == 8
    assert V.SparseMmapArea.sizeof() == 16 and V.RegionInfoCapSparseMmapHead.sizeof() == 16
    assert len(V.build_device_info(cap_offset=None)) == 16
    assert len(V.build_device_info(pad=None)) == 20
    assert len(V.build_device_info()) == 24
    for form in (16, 20, 24):
        raw = V.build_device_info(num_regions=12, cap_offset=None if form == 16 else 0, pad=None if form < 24 else 0)
        assert V.parse_device_info(raw)["num_regions"] == 12


def test_ioctl_numbers_and_constants():
    assert V.VFIO_GET_API_VERSION == 0x3B64
    assert V.VFIO_SET_IOMMU == 0x3B66
    assert V.VFIO_GROUP_GET_STATUS == 0x3B67
    assert V.VFIO_GROUP_SET_CONTAINER == 0x3B68
    assert V.VFIO_GROUP_GET_DEVICE_FD == 0x3B6A
    assert V.VFIO_DEVICE_GET_INFO == 0x3B6B
    assert V.VFIO_DEVICE_GET_REGION_INFO == 0x3B6C
    assert V.VFIO_DEVICE_RESET == 0x3B6F
    assert V.VFIO_DEVICE_RESET not in V.READ_ONLY_IOCTLS and V.VFIO_DEVICE_SET_IRQS not in V.READ_ONLY_IOCTLS
    assert V.VFIO_REGION_TYPE_INTEL_IGD == 0x80008086
    assert (V.VFIO_TYPE1_IOMMU, V.VFIO_TYPE1v2_IOMMU) == (1, 3)
    assert V.VFIO_PCI_VGA_REGION_INDEX == 8 and V.VFIO_PCI_NUM_REGIONS == 9
    flags = V.RegionFlags.parse((0b1001).to_bytes(4, "little"))
    assert flags.read and flags.caps and not flags.write and not flags.mmap


# --- parse_region_info -----------------------------------------------------------------------------


def test_parse_region_info_walks_chain():
    raw = FakeKernel().answer(9)
    info = V.parse_region_info(raw)
    assert info["index"] == 9 and info["size"] == 8192 and info["offset"] == 9 << 40
    assert info["flags"] == {"read": True, "write": False, "mmap": False, "caps": True}
    assert [c["name"] for c in info["caps"]] == ["SPARSE_MMAP", "TYPE"]
    assert info["caps"][0]["areas"] == [{"offset": 0, "size": 0x1000}, {"offset": 0x1000, "size": 0x1000}]
    assert info["caps"][1]["offset"] == 32 + 16 + 2 * 16
    assert (info["type"], info["subtype"]) == (0x80008086, 1)
    assert info["name"] == "IGD OpRegion" and info["findings"] == []


def test_parse_region_info_round_trip_fixed_regions():
    k = FakeKernel()
    for index in range(12):
        info = V.parse_region_info(k.answer(index))
        assert info["index"] == index and info["offset"] == index << SHIFT
        assert info["findings"] == []
    assert V.parse_region_info(k.answer(8))["name"] == "VGA"
    assert V.parse_region_info(k.answer(2))["caps"][0]["areas"] == [{"offset": 0, "size": 256 << 20}]


def test_parse_region_info_truncated_fixed_part():
    with pytest.raises(DecodeError):
        V.parse_region_info(b"\0" * 31)


def _with_next(raw: bytes, cap_at: int, nxt: int) -> bytes:
    b = bytearray(raw)
    struct.pack_into("<I", b, cap_at + 4, nxt)
    return bytes(b)


def test_hostile_chain_loop():
    raw = V.build_region_info(9, 1, 8192, 9 << SHIFT, [{"id": 1, "areas": [(0, 8)]}, {"id": 2, "type": IGD, "subtype": 1}])
    looped = _with_next(raw, 64, 32)  # TYPE points back at SPARSE
    info = V.parse_region_info(looped)
    assert any("loops back to 0x20" in f for f in info["findings"])
    assert len(info["caps"]) == 2 and info["type"] == IGD
    self_loop = V.parse_region_info(_with_next(raw, 32, 32))
    assert len(self_loop["caps"]) == 1 and self_loop["type"] is None
    assert any("loops" in f for f in self_loop["findings"])


def test_hostile_chain_outside_and_inside_header():
    raw = V.build_region_info(9, 1, 8192, 9 << SHIFT, [{"id": 1, "areas": [(0, 8)]}, {"id": 2, "type": IGD, "subtype": 1}])
    out = V.parse_region_info(_with_next(raw, 32, 0x10000))
    assert any("outside the 80-byte" in f for f in out["findings"]) and out["type"] is None
    into = V.parse_region_info(_with_next(raw, 32, 8))
    assert any("fixed 32-byte" in f for f in into["findings"])
    b = bytearray(raw)
    struct.pack_into("<I", b, 12, 77)  # misaligned, and its header runs past the end
    odd = V.parse_region_info(bytes(b))
    assert odd["findings"]
    huge = bytearray(raw)
    struct.pack_into("<I", huge, 32 + 8, 0xFFFFFFFF)  # nr_areas
    h = V.parse_region_info(bytes(huge))
    assert h["caps"][0]["nr_areas"] == 0xFFFFFFFF and len(h["caps"][0]["areas"]) == 1
    assert any("claims 4294967295 areas" in f for f in h["findings"])


def test_hostile_chain_too_long():
    caps = [{"id": 3} for _ in range(40)]
    info = V.parse_region_info(V.build_region_info(0, 7, 4096, 0, caps))
    assert len(info["caps"]) == V.MAX_CAPS
    assert any("longer than 32" in f for f in info["findings"])


def test_too_small_answer_is_a_finding():
    k = FakeKernel()
    full = k.answer(10)
    small = bytearray(full[:32])
    struct.pack_into("<I", small, 12, 0)
    info = V.parse_region_info(bytes(small))
    assert info["caps"] == [] and info["type"] is None
    assert any(f"needs {len(full)} bytes" in f for f in info["findings"])


# --- read_igd_regions: the good path -----------------------------------------------------------------


def test_reads_all_three_regions():
    k = FakeKernel()
    res = run(k)
    assert res["opregion"] == OPREGION
    assert res["host_cfg"] == HOST_CFG
    assert res["lpc_cfg"] == LPC_CFG
    assert res["errors"] == []
    assert [r["index"] for r in res["regions"]] == [9, 10, 11]
    assert [(r["type"], r["subtype"]) for r in res["regions"]] == [(IGD, 1), (IGD, 2), (IGD, 3)]
    assert res["regions"][0]["caps"][0]["name"] == "SPARSE_MMAP"
    assert res["device"]["num_regions"] == 12 and res["device"]["flags"]["pci"]
    # the first answer (argsz 32) was too small; the reader asked again with the kernel's size
    assert k.region_asks[9] == [32, len(k.answer(9))]
    assert k.region_asks[10] == [32, len(k.answer(10))]
    assert set(k.region_asks) == {9, 10, 11}
    assert k.iommu_set == V.VFIO_TYPE1v2_IOMMU
    assert k.all_closed()
    assert {req for _, req in k.calls} <= V.READ_ONLY_IOCTLS


def test_old_device_info_and_type1_fallback_and_short_bdf():
    k = FakeKernel()
    k.old_device_info = True
    k.iommu_types = {V.VFIO_TYPE1_IOMMU}
    res = run(k, bdf="0000:00:02.0")
    assert res["opregion"] == OPREGION and res["errors"] == []
    assert res["device"]["cap_offset"] in (0, None)
    assert k.iommu_set == V.VFIO_TYPE1_IOMMU
    assert k.all_closed()


def test_normalize_bdf():
    assert normalize_bdf("00:02.0") == "0000:00:02.0"
    assert normalize_bdf("0000:00:1F.3") == "0000:00:1f.3"
    with pytest.raises(VfioError):
        normalize_bdf("../../etc")


# --- error paths -------------------------------------------------------------------------------------


def test_group_busy():
    k = FakeKernel()
    k.open_errors[k.path("dev/vfio/1")] = errno.EBUSY
    with pytest.raises(VfioError) as ei:
        run(k)
    msg = str(ei.value)
    assert "vfio group 1 is in use" in msg and "running VM" in msg and "\n" not in msg
    assert ei.value.errno == errno.EBUSY
    assert k.opened and k.all_closed()  # the container fd was opened and closed again


def test_group_missing():
    k = FakeKernel()
    k.missing.add(k.path("dev/vfio/1"))
    with pytest.raises(VfioError, match="vfio-pci does not own the device"):
        run(k)
    assert k.all_closed()


def test_no_vfio_at_all():
    k = FakeKernel()
    k.missing.add(k.path("dev/vfio/vfio"))
    with pytest.raises(VfioError, match="no vfio"):
        run(k)
    assert k.opened == [] and k.all_closed()


def test_needs_root():
    k = FakeKernel()
    k.open_errors[k.path("dev/vfio/vfio")] = errno.EACCES
    with pytest.raises(VfioError, match="needs root") as ei:
        run(k)
    assert ei.value.exit_code == EXIT_PERMISSION
    k2 = FakeKernel()
    k2.open_errors[k2.path("dev/vfio/1")] = errno.EPERM
    with pytest.raises(VfioError, match="needs root"):
        run(k2)
    assert k.all_closed() and k2.all_closed()


def _sysfs_group(root, group, members):
    base = root / "sys/kernel/iommu_groups" / str(group) / "devices"
    base.mkdir(parents=True)
    drivers = root / "sys/bus/pci/drivers"
    for bdf, driver in members.items():
        dev = root / "sys/devices/pci0000:00" / bdf
        dev.mkdir(parents=True)
        if driver:
            (drivers / driver).mkdir(parents=True, exist_ok=True)
            os.symlink(drivers / driver, dev / "driver")
        os.symlink(dev, base / bdf)


def test_group_not_viable_lists_devices(tmp_path):
    _sysfs_group(tmp_path, 7, {"0000:00:02.0": "vfio-pci", "0000:00:1f.3": "snd_hda_intel", "0000:00:1f.0": None})
    k = FakeKernel(root=str(tmp_path), group=7)
    k.viable = False
    with pytest.raises(VfioError) as ei:
        run(k)
    msg = str(ei.value)
    assert msg.startswith("other devices of IOMMU group 7 are not bound to vfio-pci")
    assert "0000:00:1f.3 (snd_hda_intel)" in msg and "0000:00:02.0" not in msg and "1f.0" not in msg
    assert k.container_of_group is None  # stopped before attaching the group
    assert k.all_closed()


def test_device_not_in_group_and_igd_init_failure():
    k = FakeKernel(bdf="0000:00:02.0")
    with pytest.raises(VfioError, match="not in IOMMU group 1"):
        run(k, bdf="0000:00:03.0")
    assert k.all_closed()
    k2 = FakeKernel()
    k2.device_fd_errno = errno.EINVAL
    with pytest.raises(VfioError, match="Failed to setup Intel IGD regions"):
        run(k2)
    assert k2.all_closed()


def test_no_igd_regions():
    regions = {i: r for i, r in std_regions().items() if i < 9}
    k = FakeKernel(regions=regions)
    res = run(k)
    assert res["opregion"] is None and res["host_cfg"] is None and res["lpc_cfg"] is None
    assert res["regions"] == []
    assert res["errors"] == [NO_OPREGION]
    assert "CONFIG_VFIO_PCI_IGD off, ASLS is 0, or kernel < 4.6" in NO_OPREGION
    assert k.region_asks == {}
    assert k.all_closed()


def test_opregion_without_bridges():
    regions = {i: r for i, r in std_regions().items() if i < 10}
    k = FakeKernel(regions=regions)
    res = run(k)
    assert res["opregion"] == OPREGION
    assert len(res["errors"]) == 2
    assert "host bridge" in res["errors"][0] and "LPC" in res["errors"][1]
    assert k.all_closed()


def test_hostile_chain_end_to_end():
    regions = std_regions()
    good9 = FakeKernel(regions=regions).answer(9)
    regions[9] = {"raw": _with_next(good9, 32, 32), "data": OPREGION}  # loops before the TYPE cap
    ten = FakeKernel(regions=regions).answer(10)
    regions[10] = {"raw": _with_next(ten, 32, 0xFFFF0), "data": HOST_CFG}  # TYPE's next far outside
    k = FakeKernel(regions=regions)
    res = run(k)
    assert res["opregion"] is None
    assert res["host_cfg"] == HOST_CFG  # its TYPE cap came first; the bad link is only a finding
    assert res["lpc_cfg"] == LPC_CFG
    assert any("region 9: capability chain loops" in e for e in res["errors"])
    assert any("region 10: capability offset 0xffff0 lies outside" in e for e in res["errors"])
    assert NO_OPREGION in res["errors"]
    assert k.all_closed()


def test_region_claiming_2_pow_40_bytes():
    regions = std_regions()
    regions[9] = dict(regions[9], size=1 << 40)
    regions[11] = dict(regions[11], size=CFG_LIMIT + 1)
    k = FakeKernel(regions=regions)
    res = run(k)
    assert res["opregion"] is None and res["lpc_cfg"] is None
    assert res["host_cfg"] == HOST_CFG
    assert any("claims 1099511627776 bytes" in e and "not read" in e for e in res["errors"])
    assert any("claims 4097 bytes" in e for e in res["errors"])
    assert res["regions"][0]["size"] == 1 << 40
    assert k.all_closed()


def test_huge_capability_chain_is_not_fetched():
    regions = std_regions()
    raw = bytearray(FakeKernel(regions=regions).answer(10)[:32])
    struct.pack_into("<I", raw, 0, 1 << 20)  # kernel "needs" 1 MiB
    struct.pack_into("<I", raw, 12, 0)
    regions[10] = {"raw": bytes(raw), "data": HOST_CFG}
    k = FakeKernel(regions=regions)
    res = run(k)
    assert k.region_asks[10] == [32]
    assert any("more than the 64 KiB limit" in e for e in res["errors"])
    assert res["host_cfg"] is None and res["opregion"] == OPREGION
    assert k.all_closed()


def test_unreadable_and_failing_reads():
    regions = std_regions()
    regions[10] = dict(regions[10], flags=0)  # no READ flag
    k = FakeKernel(regions=regions)

    real_pread = k.pread

    def failing_pread(fd, n, offset):
        if offset >> SHIFT == 11:
            raise OSError(errno.EIO, "Input/output error")
        return real_pread(fd, n, offset)

    k.pread = failing_pread
    res = run(k)
    assert res["opregion"] == OPREGION and res["host_cfg"] is None and res["lpc_cfg"] is None
    assert any("region 10" in e and "not readable" in e for e in res["errors"])
    assert any("region 11" in e and "EIO" in e for e in res["errors"])
    assert k.all_closed()


def test_fds_closed_when_ops_raise_unexpectedly():
    k = FakeKernel()

    def boom(fd, n, offset):
        raise RuntimeError("bug")

    k.pread = boom
    with pytest.raises(RuntimeError):
        run(k)
    assert k.all_closed()
