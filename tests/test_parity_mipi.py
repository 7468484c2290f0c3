"""Blocks 52/53 (schemas/vbtblocks/mipi.py): parity with intel_vbt_decode, round trips, hostile
input. The other blocks a newer igt decodes (schemas/vbtblocks/misc.py): tests/test_parity_misc.py.

Parity sources:

- block 52: the reference decodes beside the corpus (``*.igt.txt``, igt 1.27.1), and VBTs built
  here with every field set, run through ``/usr/bin/intel_vbt_decode`` when it is installed;
- block 53 (absent from the corpus): blocks built here for sequence versions 1, 2 and 3 with
  construct's build side, wrapped in a VBT and run through ``/usr/bin/intel_vbt_decode``;
- both: a newer ``intel_vbt_decode`` named by the environment variable ``IGDSCOPE_IGT_VBT_DECODE``
  (skipped without it).

Known differences, each asserted where it shows:

- igt 1.27.1 names sequences 1 and 5 the VBT spec's way (1 "ASSERT_RESET", 5 "DEASSERT_RESET");
  the kernel and newer igt swapped them to what the pins do (1 deassert_reset, 5 assert_reset);
  igdscope follows the kernel.
- igt 1.27.1 with ``--all-panels`` prints block 52's ``config``, ``pps`` and ``pwm_delays`` of the
  selected panel under every panel heading (only the PMIC bus number follows the heading); newer
  igt indexes by the heading. Compared here one ``--panel-type`` at a time.
- igt prints no SPI or PMIC elements (it skips them by their size); igdscope decodes them.
"""

from __future__ import annotations

import random
import re
import shutil

import pytest

from igdscope.binary import DecodeError
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import mipi as M
from tests.support import igt_text
from tests.support.igt_compare import corpus_names, igt_run, new_igt, walk
from tests.support.igt_text import igt_blocks
from tests.support.shared import CORPUS, need

IGT = shutil.which("intel_vbt_decode")
PARITY_BLOCKS = (52, 53)  # the blocks of vbtblocks/mipi.py
CORPUS_COMPARED = (52,)  # compared with the reference decodes of the corpus (test_block52_matches_the_corpus_reference); no corpus VBT has 53


def need_corpus() -> None:
    need(CORPUS)


def panels_of(section: igt_text.Section) -> dict[int, list[str]]:
    """Lines under each "Panel N" heading of a block section."""
    out: dict[int, list[str]] = {}
    cur = None
    for _, text in section.lines:
        m = re.match(r"^Panel (\d+)", text)
        if m:
            cur = out.setdefault(int(m.group(1)), [])
            continue
        if cur is not None:
            cur.append(text)
    return out


def yesno(v) -> str:
    return "yes" if v else "no"


def val(x) -> int:
    return x["value"] if isinstance(x, dict) else int(x)


def field(d: dict, name: str):
    """A decoded field whether or not the BDB version defines it."""
    if name in d:
        return d[name]
    return (d.get("not_valid_for_bdb") or {}).get(name, 0)


# -- block 52: igt's text for one panel ------------------------------------------------------------

COLOR_FORMAT = {0: "Not supported", 1: "RGB565", 2: "RGB666", 3: "RGB666 Loosely Packed", 4: "RGB888"}
TRANSFER_MODE = {1: "non-burst with sync pulse", 2: "non-burst with sync events", 3: "burst"}


def igt_mipi_config_lines(d: dict, i: int, version: int) -> list[str]:
    """What intel_vbt_decode prints for MIPI configuration ``i`` (stripped lines, blank lines dropped)."""
    c = d["config"][i]
    pps = field(d, "pps")[i] if field(d, "pps") else {}
    dual = val(c["dual_link"])
    lines = [
        "General Param",
        f"BTA disable: {'Disabled' if c['bta_disable'] else 'Enabled'}",
        f"Panel Rotation: {val(c['rotation']) * 90} degrees",
    ]
    pins = f"PPS GPIO Pins: {'Using SOC' if val(c['pwm_blc']) else 'Using PMIC'}"
    fmt = val(c["videomode_color_format"])
    if fmt in COLOR_FORMAT:
        lines += [f"Video Mode Color Format: {COLOR_FORMAT[fmt]}", pins]
    else:  # igt prints no name and no newline: the next line joins this one
        lines.append(f"Video Mode Color Format: \t\t\t {pins}")
    lines += [
        f"CABC Support: {'supported' if c['cabc_supported'] else 'not supported'}",
        f"Mode: {'COMMAND' if c['is_cmd_mode'] else 'VIDEO'}",
        f"Video transfer mode: {TRANSFER_MODE.get(val(c['video_transfer_mode']), '<unknown>')} ({val(c['video_transfer_mode']):#x})",
        f"Dithering: {'done in Display Controller' if c['enable_dithering'] else 'done in Panel Controller'}",
        "Port Desc",
        f"Pixel overlap: {c['pixel_overlap']}",
        f"Lane Count: {c['lane_count']}",
        "Dual Link Support: " + ("not supported" if dual == 0 else "Front Back mode" if dual == 1 else "Pixel Alternative Mode"),
        "Dphy Flags",
        f"Clock Stop: {'ENABLED' if c['enable_clk_stop'] else 'DISABLED'}",
        f"EOT disabled: {'EOT not to be sent' if c['eot_pkt_disabled'] else 'EOT to be sent'}",
    ]
    for label, name in (("HSTxTimeOut", "hs_tx_timeout"), ("LPRXTimeOut", "lp_rx_timeout"), ("TurnAroundTimeOut", "turn_around_timeout"),
                        ("DeviceResetTimer", "device_reset_timer"), ("MasterinitTimer", "master_init_timer"),
                        ("DBIBandwidthTimer", "dbi_bw_timer"), ("LpByteClkValue", "lp_byte_clk_val")):
        lines.append(f"{label}: {c[name]:#x}")
    lines += [
        "Dphy Params",
        f"Exit to zero Count: {c['exit_zero_cnt']:#x}",
        f"Trail Count: 0x{c['trail_cnt']:X}",
        f"Clk zero count: {c['clk_zero_cnt']:#x}",
        f"Prepare count:{c['prepare_cnt']:#x}",
        f"ClockLaneSwitchingCount: {c['clk_lane_switch_cnt']:#x}",
        f"HighToLowSwitchingCount: {c['hl_switch_cnt']:#x}",
        "Timings based on Dphy spec",
    ]
    for label, name in (("TClkMiss", "tclk_miss"), ("TClkPost", "tclk_post"), ("TClkPre", "tclk_pre"), ("TClkPrepare", "tclk_prepare"),
                        ("TClkSettle", "tclk_settle"), ("TClkTermEnable", "tclk_term_enable"), ("TClkTrail", "tclk_trail"),
                        ("TClkPrepareTClkZero", "tclk_prepare_clkzero"), ("THSExit", "ths_exit"), ("THsPrepare", "ths_prepare"),
                        ("THsPrepareTHsZero", "ths_prepare_hszero"), ("THSSettle", "ths_settle"), ("THSSkip", "ths_skip"),
                        ("THsTrail", "ths_trail"), ("TInit", "tinit"), ("TLPX", "tlpx")):
        lines.append(f"{label}: {c[name]:#x}")
    lines += [
        "MIPI PPS",
        f"Panel power ON delay: {pps.get('panel_on_delay', 0)}",
        f"Panel power on to Backlight enable delay: {pps.get('bl_enable_delay', 0)}",
        f"Backlight disable to Panel power OFF delay: {pps.get('bl_disable_delay', 0)}",
        f"Panel power OFF delay: {pps.get('panel_off_delay', 0)}",
        f"Panel power cycle delay: {pps.get('panel_power_cycle_delay', 0)}",
    ]
    if version >= 186:
        pwm = field(d, "pwm_delays")[i]
        lines += ["MIPI PWM delays:", f"PWM on to backlight enable: {pwm['pwm_on_to_backlight_enable']}",
                  f"Backlight disable to PWM off: {pwm['backlight_disable_to_pwm_off']}"]
    if version >= 190:
        lines.append(f"MIPI PMIC I2C Bus Number: {field(d, 'pmic_i2c_bus_number')[i]}")
    return lines


def corpus_with_block(block_id: int) -> list[str]:
    names = []
    for name in corpus_names():
        ref = CORPUS / f"{name}.igt.txt"
        if ref.exists() and block_id in igt_blocks(ref.read_text(errors="replace")):
            names.append(name)
    return names


@pytest.mark.parametrize("name", corpus_with_block(52) or ["(corpus absent)"])
def test_block52_matches_the_corpus_reference(name):
    need_corpus()
    w = walk((CORPUS / name).read_bytes())
    block = next(b for b in w["blocks"] if b["id"] == 52)
    ctx = {b["id"]: b["raw"] for b in w["blocks"]}
    d = V.decode_block(52, block["raw"], w["bdb_version"], ctx)
    section = igt_blocks((CORPUS / f"{name}.igt.txt").read_text(errors="replace"))[52]
    panels = panels_of(section)
    assert panels, "the reference decode shows no panel"
    for i, lines in panels.items():
        assert lines == igt_mipi_config_lines(d, i, w["bdb_version"]), (name, i)
    assert d["findings"] == mipi_config_findings(ctx)


def mipi_config_findings(ctx: dict) -> list[str]:
    """The findings a well-formed block 52 has: one when block 40's panel_type (6-15) indexes past
    the six configurations (igt then shows no panel); 0xFF and the invalid values over 15 select
    panel 0 (the panel rule's fallback)."""
    panel_type = (ctx.get(40) or b"\xff")[0]
    if panel_type > 15 or panel_type < M.MAX_MIPI_CONFIGURATIONS:
        return []
    return [f"panel_type {panel_type} (block 40) has no MIPI configuration: block 52 holds {M.MAX_MIPI_CONFIGURATIONS} "
            "(i915 indexes it without a check)"]


def test_block52_panel_type_past_the_configurations():
    """panel_type 6-15 (Braswell, Alder Lake and Meteor Lake VBTs have 7, 9 and 15): no configuration, one
    finding; igt shows no panel then (its loop runs over the six)."""
    raw = _full_mipi_config(230)
    for panel_type, n in ((0, 0), (5, 0), (6, 1), (9, 1), (15, 1), (0xFF, 0)):
        ctx = {40: bytes([panel_type, 0]) + bytes(32)}
        d = V.decode_block(52, raw, 230, ctx)
        assert d["findings"] == mipi_config_findings(ctx) and len(d["findings"]) == n, panel_type


def test_block52_corpus_count():
    need_corpus()
    assert len(corpus_with_block(52)) == 12


MIPI_BITS = {"bta_disable": 1, "rotation": 2, "videomode_color_format": 4, "pwm_blc": 1, "cabc_supported": 1, "video_transfer_mode": 2,
             "is_cmd_mode": 1, "panel_arch_type": 2, "is_bridge": 1, "enable_dithering": 1, "port_sync": 1, "dl_dcs_backlight_ports": 2,
             "dl_dcs_cabc_ports": 2, "rgb_flip": 1, "pixel_overlap": 3, "lane_cnt": 2, "dual_link": 2, "dsi_usage": 1, "byte_clk_sel": 2,
             "lp_clock_during_lpm": 1, "blanking_packets_during_bllp": 1, "enable_clk_stop": 1, "eot_pkt_disabled": 1,
             "dphy_param_valid": 1, "exit_zero_cnt": 6, "trail_cnt": 5, "clk_zero_cnt": 8, "prepare_cnt": 6, "panel_id": 16,
             "target_burst_mode_freq": 32, "dsi_ddr_clk": 32, "bridge_ref_clk": 32, "hs_tx_timeout": 32, "lp_rx_timeout": 32,
             "turn_around_timeout": 32, "device_reset_timer": 32, "master_init_timer": 32, "dbi_bw_timer": 32, "lp_byte_clk_val": 32,
             "clk_lane_switch_cnt": 32, "hl_switch_cnt": 32, "tclk_prepare_clkzero": 16, "ths_prepare_hszero": 16}


def _full_mipi_config(version: int) -> bytes:
    """A block 52 with random values in every named field of every configuration."""
    rng = random.Random(52)
    obj = M.MipiConfigBlock.parse(bytes(822), bdb_version=version, block_size=822)
    for i, c in enumerate(obj.config):
        for key in [k for k in c if not k.startswith(("_", "rsvd")) and not isinstance(c[k], list)]:
            width = MIPI_BITS.get(key, 8)
            v = rng.randrange(1 << width)
            if key == "videomode_color_format":
                v = i % 6  # 5 has no name
            elif key == "video_transfer_mode":
                v = i % 4
            elif key == "dual_link":
                v = i % 3
            c[key] = bool(v) if width == 1 else v
    for i in range(6):
        for table in (obj.pps[i], obj.pwm_delays[i]):
            for k in [k for k in table if not k.startswith("_")]:
                table[k] = rng.randrange(1 << 16)
        obj.pmic_i2c_bus_number[i] = rng.randrange(256)
    return M.MipiConfigBlock.build(obj, bdb_version=version, block_size=822)


def test_block52_layout():
    assert M.MipiConfig.sizeof() == M.MIPI_CONFIG_SIZE == 122
    assert M.BdbMipiConfig.sizeof() == M.BDB_MIPI_CONFIG_SIZE == 822
    raw = bytearray(822)
    # config 1: general params u32 at +2, port desc u16 at +6, DPhy params u32 at +54, tlpx at +112
    base = 122
    raw[base + 2 : base + 6] = ((3 << 14) | (4 << 10) | (1 << 9) | (2 << 6) | (1 << 5) | 1 | (1 << 16)).to_bytes(4, "little")
    raw[base + 6 : base + 8] = ((2 << 0) | (3 << 2) | (5 << 4) | (1 << 12)).to_bytes(2, "little")
    raw[base + 54 : base + 58] = (0x2A | (0x7F << 8) | (0x1F << 16) | (0x3F << 24)).to_bytes(4, "little")
    raw[base + 112] = 0x32
    raw[base + 116 : base + 122] = bytes([1, 2, 3, 4, 5, 6])
    raw[732 + 10 : 732 + 12] = (500).to_bytes(2, "little")  # pps[1].panel_on_delay
    raw[792 + 4 : 792 + 6] = (7).to_bytes(2, "little")  # pwm_delays[1].pwm_on_to_backlight_enable
    raw[816 + 1] = 6  # pmic_i2c_bus_number[1]
    d = V.decode_block(52, bytes(raw), 230)
    c = d["config"][1]
    assert c["rotation"] == {"value": 3, "name": "rotation_270"} and c["bta_disable"] is True
    assert c["videomode_color_format"] == {"value": 4, "name": "rgb888"} and c["pwm_blc"]["name"] == "soc"
    assert c["video_transfer_mode"]["name"] == "non_burst_sync_events" and c["is_cmd_mode"] and c["enable_dithering"]
    assert c["dual_link"]["name"] == "pixel_alt" and c["lane_cnt"] == 3 and c["lane_count"] == 4 and c["pixel_overlap"] == 5
    assert c["port_sync"] is True  # 219-230
    assert (c["prepare_cnt"], c["clk_zero_cnt"], c["trail_cnt"], c["exit_zero_cnt"]) == (0x2A, 0x7F, 0x1F, 0x3F)
    assert c["tlpx"] == 0x32 and [c[k] for k in ("panel_enable", "bl_enable", "pwm_enable", "reset_r_n", "pwr_down_r", "stdby_r_n")] == [1, 2, 3, 4, 5, 6]
    assert d["pps"][1]["panel_on_delay"] == 500 and d["pwm_delays"][1]["pwm_on_to_backlight_enable"] == 7 and d["pmic_i2c_bus_number"][1] == 6
    # version gates: port_sync is 219-230, pwm delays 186+, PMIC bus 190+
    late = V.decode_block(52, bytes(raw), 231)["config"][1]
    assert "port_sync" not in late and late["not_valid_for_bdb"] == {"port_sync": True}
    old = V.decode_block(52, bytes(raw), 185)
    assert "pwm_delays" not in old and "pmic_i2c_bus_number" not in old and old["not_valid_for_bdb"]["pmic_i2c_bus_number"][1] == 6


@pytest.mark.parametrize("version", [200, 230])
def test_block52_every_field_matches_igt(version, tmp_path):
    if IGT is None:
        pytest.skip("intel_vbt_decode (Debian intel-gpu-tools) is not installed")
    raw = _full_mipi_config(version)
    d = V.decode_block(52, raw, version)
    assert M.MipiConfigBlock.build(M.MipiConfigBlock.parse(raw, bdb_version=version, block_size=822), bdb_version=version, block_size=822) == raw
    vbt = V.build_vbt(version, [(52, raw)])
    for i in range(6):  # one run per panel: 1.27.1 with --all-panels prints config[panel_type] under every heading
        panels = panels_of(igt_blocks(igt_run(IGT, vbt, tmp_path, f"--panel-type={i}"))[52])
        assert list(panels) == [i]
        assert panels[i] == igt_mipi_config_lines(d, i, version), i


def test_block52_short_and_long():
    d = V.decode_block(52, bytes(100), 200)
    assert any("shorter than the 822-byte" in f for f in d["findings"]) and len(d["config"]) == 6
    d = V.decode_block(52, bytes(830), 200)
    assert d["unparsed"] == "00" * 8 and any("after the 822-byte" in f for f in d["findings"])
    d = V.decode_block(52, bytes(822), 200, {40: bytes([9]) + bytes(33)})
    assert any("panel_type 9" in f for f in d["findings"])


# -- block 53: building sequence blocks ------------------------------------------------------------------


def elements(version: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = [
        {"operation": "send_packet", "transfer_mode": rng.randrange(2), "virtual_channel": rng.randrange(4), "port": rng.randrange(2),
         "data_type": rng.choice([0x05, 0x15, 0x39, 0x29, 0x03, 0x13, 0x23]), "data": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))},
        {"operation": "delay", "delay_us": rng.randrange(1 << 32)},
    ]
    if version >= 3:
        out.append({"operation": "gpio", "gpio_index": rng.randrange(256), "gpio_number": rng.randrange(256), "value": bool(rng.randrange(2))})
    elif version == 2:
        out.append({"operation": "gpio", "gpio_number": rng.randrange(256), "gpio_source": rng.randrange(4), "value": bool(rng.randrange(2))})
    else:
        out.append({"operation": "gpio", "gpio_number": rng.randrange(256), "value": bool(rng.randrange(2))})
    if version >= 2:
        out.append({"operation": "i2c", "flags": rng.randrange(256), "index": rng.randrange(256), "bus_number": rng.randrange(256),
                    "target_addr": rng.randrange(1 << 16), "reg_offset": rng.randrange(256), "payload": bytes(rng.randrange(256) for _ in range(rng.randrange(4)))})
    if version >= 3:
        out.append({"operation": "spi", "spi_header": bytes(range(1, 6)), "payload": bytes([rng.randrange(256)])})
        out.append({"operation": "pmic", "pmic_flag": 0, "i2c_address": 0x5E, "reg_address": rng.randrange(1 << 32), "value": rng.randrange(1 << 32), "mask": 0xFF})
    rng.shuffle(out)
    return out


SEQUENCES = {1: range(1, 6), 2: range(1, 9), 3: range(1, 12)}


def sample_panels(version: int) -> list[dict]:
    return [{"panel_id": p, "sequences": [{"seq_id": s, "elements": elements(version, 100 * p + s)} for s in SEQUENCES[version]]} for p in range(6)]


def test_sequence_block_layout_v2():
    data = M.build_sequence_block(2, [{"panel_id": 0, "sequences": [{"seq_id": "init_otp", "elements": [
        {"operation": "send_packet", "transfer_mode": 1, "virtual_channel": 0, "port": 0, "data_type": 0x05, "data": b"\x29"},
        {"operation": "delay", "delay_us": 0x12345678},
        {"operation": "gpio", "gpio_number": 0x0B, "gpio_source": 2, "value": True},
        {"operation": "i2c", "flags": 0, "index": 1, "bus_number": 2, "target_addr": 0x2C, "reg_offset": 0x10, "payload": b"\x01"},
    ]}]}])
    assert data == bytes([
        2,  # version
        0, 26, 0,  # panel 0, u16 size
        2,  # MIPI_SEQ_INIT_OTP
        1, 0x01, 0x05, 1, 0, 0x29,  # send packet: HS, DCS short write, 1 byte
        2, 0x78, 0x56, 0x34, 0x12,  # delay
        3, 0x0B, 0x05,  # gpio 11, source 2, set
        4, 0, 1, 2, 0x2C, 0, 0x10, 1, 0x01,  # i2c
        0,  # end of sequence
        0,  # end of sequences
    ])
    seq = V.decode_block(53, data, 200)["panels"][0]["sequences"][0]
    assert seq["seq_id"] == {"value": 2, "name": "init_otp"}
    send, delay, gpio, i2c = seq["elements"]
    assert send["transfer_mode"]["name"] == "hs" and send["data_type"]["name"] == "dcs_short_write" and send["data"] == "29"
    assert delay["delay_us"] == 0x12345678
    assert (gpio["gpio_number"], gpio["gpio_source"], gpio["value"], gpio["flags"]) == (11, 2, True, 5)
    assert (i2c["bus_number"], i2c["target_addr"], i2c["reg_offset"], i2c["payload"]) == (2, 0x2C, 0x10, "01")


def test_sequence_block_layout_v3():
    data = M.build_sequence_block(3, [{"panel_id": 1, "sequences": [{"seq_id": "power_on", "elements": [
        {"operation": "delay", "delay_us": 5},
        {"operation": "gpio", "gpio_index": 3, "gpio_number": 4, "value": True},
        {"operation": "pmic", "i2c_address": 0x5E, "reg_address": 0x4B, "value": 0x01, "mask": 0xFF},
    ]}]}])
    body = bytes([2, 4, 5, 0, 0, 0, 3, 3, 3, 4, 1, 6, 15, 0, 0x5E, 0, 0x4B, 0, 0, 0, 1, 0, 0, 0, 0xFF, 0, 0, 0, 0])
    seq = bytes([10]) + len(body).to_bytes(4, "little") + body
    panel = bytes([1]) + (len(seq) + 1).to_bytes(4, "little") + seq + b"\0"
    assert data == bytes([3]) + (5 + len(panel)).to_bytes(4, "little") + panel
    d = V.decode_block(53, data, 230)
    assert d["findings"] == [] and d["size"] == len(data)
    delay, gpio, pmic = d["panels"][0]["sequences"][0]["elements"]
    assert delay["size"] == 4 and (gpio["gpio_index"], gpio["gpio_number"], gpio["value"]) == (3, 4, True) and "native" not in gpio
    assert (pmic["i2c_address"], pmic["reg_address"], pmic["value"], pmic["mask"], pmic["size"]) == (0x5E, 0x4B, 1, 0xFF, 15)
    # the sequence parser's reading of the u32 (5 less) is recognised
    other = M.build_sequence_block(3, [{"panel_id": 1, "sequences": []}], size_from_version_byte=False)
    assert any("parser's reading" in f for f in V.decode_block(53, other, 230)["findings"])


def test_mipi_blocks_follow_the_panel_rule():
    """Blocks 52 and 53 are indexed by the panel every per-panel block selects: 0-15 as given, 0xFF
    left to the EDID, and an invalid panel_type (over 15) is i915's fallback, panel 0 -- not an index
    past the six configurations."""
    raw = _full_mipi_config(230)
    assert V.decode_block(52, raw, 230, {40: bytes([0x20, 0])})["findings"] == []
    seq = M.build_sequence_block(3, [{"panel_id": 1, "sequences": []}])
    findings = {pt: V.decode_block(53, seq, 230, {40: bytes([pt, 0])})["findings"] for pt in (1, 3, 0xFF, 0x20)}
    assert findings[1] == [] and findings[0xFF] == []
    assert findings[3] == ["no sequences for panel_type 3 (block 40): i915 finds no valid configuration"]
    assert findings[0x20] == ["no sequences for panel 0 (i915's fallback for panel_type 0x20): i915 finds no valid configuration"]
    assert V.decode_block(53, M.build_sequence_block(3, [{"panel_id": 0, "sequences": []}]), 230, {40: bytes([0x20, 0])})["findings"] == []


@pytest.mark.parametrize("version", [1, 2, 3])
def test_sequence_blocks_build_and_decode_back(version):
    panels = sample_panels(version)
    data = M.build_sequence_block(version, panels)
    d = V.decode_block(53, data, 200)
    assert d["findings"] == [] and d["version"] == version
    assert [p["panel_id"] for p in d["panels"]] == list(range(6))
    for want, got in zip(panels, d["panels"]):
        assert [s["seq_id"]["value"] for s in got["sequences"]] == list(SEQUENCES[version])
        for ws, gs in zip(want["sequences"], got["sequences"]):
            assert [e["operation"]["name"] for e in gs["elements"]] == [e["operation"] for e in ws["elements"]]
            for we, ge in zip(ws["elements"], gs["elements"]):
                for key, value in we.items():
                    if key == "operation":
                        continue
                    got_value = ge[key]
                    got_value = got_value["value"] if isinstance(got_value, dict) else got_value
                    assert got_value == (value.hex() if isinstance(value, bytes) else value), (key, we, ge)
    # the strict construct schema reads the well-formed block back to the same bytes
    strict = M.MipiSequenceBlockV3 if version >= 3 else M.MipiSequenceBlockV12
    assert strict.build(strict.parse(data)) == data


# -- block 53: parity with igt 1.27.1 --------------------------------------------------------------------

# igt 1.27.1 names sequences 1 and 5 the VBT spec's way; the kernel (and igdscope) the other way round
IGT_1_27_SEQ_NAMES = {1: "ASSERT_RESET", 5: "DEASSERT_RESET"}


def igt_sequence_lines(d: dict, panel: dict, old_names: bool) -> list[str]:
    lines = []
    version = d["version"]
    # igt 1.27.1 (like i915) files each sequence under its id and prints them by id, a repeated id
    # keeping the last one; newer igt prints each as it walks them, in block order
    seqs = panel["sequences"]
    if old_names:
        seqs = [seq for _, seq in sorted({seq["seq_id"]["value"]: seq for seq in seqs}.items())]
    for seq in seqs:
        sid = seq["seq_id"]["value"]
        name = IGT_1_27_SEQ_NAMES.get(sid, seq["seq_id"]["name"].upper()) if old_names else seq["seq_id"]["name"].upper()
        lines.append(f"Sequence {sid} - MIPI_SEQ_{name}")
        for e in seq["elements"]:
            op = e["operation"]["name"]
            if op == "send_packet":
                data = "".join(f" {b:02x}" for b in bytes.fromhex(e["data"]))
                lines.append(f"Send DCS: Port {'C' if e['port'] & 1 else 'A'}, VC {e['virtual_channel']}, {'HS' if val(e['transfer_mode']) else 'LP'}, "
                             f"Type {val(e['data_type']):02x}, Length {e['length']}, Data{data}")
            elif op == "delay":
                lines.append(f"Delay: {e['delay_us']} us")
            elif op == "gpio" and version >= 3:
                lines.append(f"GPIO index {e['gpio_index']}, number {e['gpio_number']}, set {e['flags'] & 1} (0x{e['flags']:02x})")
            elif op == "gpio":
                lines.append(f"GPIO index {e['gpio_number']}, source {(e['flags'] >> 1) & 3}, set {e['flags'] & 1} (0x{e['flags']:02x})")
            elif op == "i2c":
                data = "".join(f" {b:02x}" for b in bytes.fromhex(e["payload"]))
                lines.append(f"Send I2C: Flags {e['flags']:02x}, Index {e['index']:02x}, Bus {e['bus_number']:02x}, Address {e['target_addr']:04x}, "
                             f"Offset {e['reg_offset']:02x}, Length {e['payload_size']}, Data{data}")
            # spi and pmic: igt skips them by their size and prints nothing
    return lines


@pytest.mark.parametrize("version", [1, 2, 3])
def test_sequence_blocks_match_igt(version, tmp_path):
    if IGT is None:
        pytest.skip("intel_vbt_decode (Debian intel-gpu-tools) is not installed")
    data = M.build_sequence_block(version, sample_panels(version))
    d = V.decode_block(53, data, 200)
    text = igt_run(IGT, V.build_vbt(200, [(53, data)]), tmp_path, "--all-panels")
    section = igt_blocks(text)[53]
    assert section.lines[0][1] == f"Sequence block version v{version}"
    panels = panels_of(section)
    assert sorted(panels) == list(range(6))
    for p in d["panels"]:
        assert panels[p["panel_id"]] == igt_sequence_lines(d, p, old_names=True), p["panel_id"]


def test_sequence_v3_size_readings_with_igt(tmp_path):
    """The u32 of a v3 block counted from the version byte keeps the next block findable for igt;
    counted from after itself (Bspec's reading), igt walks 5 bytes short and loses the next block.
    Either way igt (like i915's init_bdb_block) copies u32 + 5 bytes and parses the panels from
    the u32 bytes after the u32."""
    if IGT is None:
        pytest.skip("intel_vbt_decode (Debian intel-gpu-tools) is not installed")
    panels = [{"panel_id": 0, "sequences": [{"seq_id": 1, "elements": elements(3, 1)}]}]
    fs = V.build_block(1, {}, 200, size=7)
    walker = M.build_sequence_block(3, panels)
    parser = M.build_sequence_block(3, panels, size_from_version_byte=False)
    ok = igt_blocks(igt_run(IGT, V.build_vbt(200, [(53, walker), (1, fs)]), tmp_path, "--all-panels"))
    assert 1 in ok and panels_of(ok[53])[0] == igt_sequence_lines(V.decode_block(53, walker, 200), V.decode_block(53, walker, 200)["panels"][0], True)
    lost = igt_blocks(igt_run(IGT, V.build_vbt(200, [(53, parser), (1, fs)]), tmp_path, "--all-panels"))
    assert 1 not in lost
    # both readings: the walked block is the bytes i915 and igt copy (u32 + 5 from the version
    # byte), and its panels decode whole, as igt prints them
    for vbt, text in ((V.build_vbt(200, [(53, walker), (1, fs)]), ok), (V.build_vbt(200, [(53, parser), (1, fs)]), lost)):
        block = next(b for b in walk(vbt)["blocks"] if b["id"] == 53)
        assert len(block["raw"]) == block["size"] + 5
        d = V.decode_block(53, block["raw"], 200)
        assert panels_of(text[53])[0] == igt_sequence_lines(d, d["panels"][0], True)
        assert not any("runs past" in f for f in d["findings"]) and "unparsed" not in d
        assert any("parser's reading" in f for f in d["findings"]) == (text is lost)


def test_sequence_v3_walked_block_is_what_i915_copies():
    """A v3 u32 counting the bytes after itself (Bspec's reading; the Jasper Lake firmware of the
    sweep writes it so): the walk advances by the u32 but hands the decoder u32 + 5 bytes from the
    version byte, as i915's init_bdb_block() copies them, so the last sequence is not cut off."""
    seqs = [{"seq_id": "init_otp", "elements": [{"operation": "delay", "delay_us": 2000}]},
            {"seq_id": "backlight_off", "elements": [{"operation": "gpio", "gpio_index": 0, "gpio_number": 3, "value": False},
                                                     {"operation": "delay", "delay_us": 100}]}]
    parser = M.build_sequence_block(3, [{"panel_id": 0, "sequences": seqs}], size_from_version_byte=False)
    assert int.from_bytes(parser[1:5], "little") == len(parser) - 5
    vbt = V.build_vbt(236, [(40, bytes([0, 0]) + bytes(32)), (53, parser)])
    w = walk(vbt)
    block = next(b for b in w["blocks"] if b["id"] == 53)
    assert block["size"] == len(parser) - 5 and block["raw"] == parser
    d = V.decode_block(53, block["raw"], 236)
    seq = d["panels"][0]["sequences"]
    assert [s["seq_id"]["name"] for s in seq] == ["init_otp", "backlight_off"]
    assert seq[1]["elements"][0] == {"operation": {"value": 3, "name": "gpio"}, "gpio_index": 0, "gpio_number": 3, "flags": 0,
                                     "flags_reserved": 0, "value": False, "size": 3}
    assert seq[1]["elements"][1]["delay_us"] == 100
    assert [f for f in d["findings"] if "parser's reading" not in f] == [] and "unparsed" not in d
    # the walker's reading with a block behind it: the 5 bytes past the u32 belong to that block
    walker = M.build_sequence_block(3, [{"panel_id": 0, "sequences": seqs}])
    w = walk(V.build_vbt(236, [(53, walker), (1, V.build_block(1, {}, 236, size=7))]))
    block = next(b for b in w["blocks"] if b["id"] == 53)
    assert block["raw"] == walker + bytes([1, 7, 0, 0, 0]) and [b["id"] for b in w["blocks"]] == [53, 1]
    d = V.decode_block(53, block["raw"], 236)
    assert len(d["panels"]) == 1 and d["findings"] == [] and "unparsed" not in d


# -- block 53: malformed input ----------------------------------------------------------------------------


def _v12(panel_data: bytes, version: int = 2) -> bytes:
    return bytes([version, 0]) + len(panel_data).to_bytes(2, "little") + panel_data


def test_sequence_unknown_element_v2_stops_the_panel():
    data = _v12(bytes([1, 2, 1, 0, 0, 0, 9, 7, 7, 0, 0]))
    d = V.decode_block(53, data, 200)
    seq = d["panels"][0]["sequences"][0]
    assert [e["operation"]["value"] for e in seq["elements"]] == [2, 9]
    assert any("unknown operation 9" in f for f in d["findings"])


def test_sequence_unknown_element_v3_is_skipped():
    elems = bytes([2, 4, 1, 0, 0, 0, 9, 2, 0xAA, 0xBB, 2, 4, 2, 0, 0, 0, 0])
    seq = bytes([3]) + len(elems).to_bytes(4, "little") + elems
    panel = bytes([0]) + (len(seq) + 1).to_bytes(4, "little") + seq + b"\0"
    data = bytes([3]) + (5 + len(panel)).to_bytes(4, "little") + panel
    d = V.decode_block(53, data, 200)
    els = d["panels"][0]["sequences"][0]["elements"]
    assert [e["operation"]["value"] for e in els] == [2, 9, 2] and els[1]["body"] == "aabb" and els[2]["delay_us"] == 2
    assert any("unknown operation 9: skipped" in f for f in d["findings"])


def test_sequence_inconsistent_element_size_v3():
    elems = bytes([2, 6, 1, 0, 0, 0, 0xEE, 0xFF, 0])  # a delay with a size byte of 6
    seq = bytes([3]) + len(elems).to_bytes(4, "little") + elems
    panel = bytes([0]) + (len(seq) + 1).to_bytes(4, "little") + seq + b"\0"
    data = bytes([3]) + (5 + len(panel)).to_bytes(4, "little") + panel
    d = V.decode_block(53, data, 200)
    e = d["panels"][0]["sequences"][0]["elements"][0]
    assert e["delay_us"] == 1 and e["unparsed"] == "eeff" and any("inconsistent operation size" in f for f in d["findings"])


def test_sequence_ids_and_versions():
    # sequence 9 in a v2 block, sequence 12 (unknown), i2c in v1
    d = V.decode_block(53, _v12(bytes([9, 0, 12, 0, 0])), 200)
    assert [s["seq_id"]["value"] for s in d["panels"][0]["sequences"]] == [9, 12]
    assert any("defined from sequence block v3" in f for f in d["findings"]) and any("unknown sequence 12" in f for f in d["findings"])
    d = V.decode_block(53, _v12(bytes([1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]), version=1), 200)
    assert any("i2c elements are defined from sequence block v2" in f for f in d["findings"])
    assert any("v4+" in f for f in V.decode_block(53, bytes([4, 5, 0, 0, 0]), 200)["findings"])
    gpio4 = bytes([3, 3, 1, 2, 2, 0])  # v4 GPIO with bit 1 set: not native
    seq = bytes([1]) + len(gpio4).to_bytes(4, "little") + gpio4
    panel = bytes([0]) + (len(seq) + 1).to_bytes(4, "little") + seq + b"\0"
    e = V.decode_block(53, bytes([4]) + (5 + len(panel)).to_bytes(4, "little") + panel, 200)["panels"][0]["sequences"][0]["elements"][0]
    assert e["native"] is False and e["value"] is False


def test_sequence_truncations_never_raise_beyond_decode_error():
    for version in (1, 2, 3):
        data = M.build_sequence_block(version, sample_panels(version)[:2])
        full = V.decode_block(53, data, 200)["panels"]
        start = 5 if version >= 3 else 1
        ends = {start, start + (5 if version >= 3 else 3) + full[0]["size"], len(data)}
        for cut in range(len(data) + 1):
            try:
                d = V.decode_block(53, data[:cut], 200)
            except DecodeError:
                assert version >= 3 and 0 < cut < 5
                continue
            assert isinstance(d["findings"], list)
            if cut not in ends:  # a panel entry cut short must say so
                assert d["findings"], cut


def test_sequence_hostile_sizes_are_bounded():
    # claimed sizes of 4 GiB and 64 KiB with a handful of bytes behind them
    data = bytes([3]) + (0xFFFFFFFF).to_bytes(4, "little") + bytes([0]) + (0xFFFFFFFF).to_bytes(4, "little") + bytes([1]) + (0xFFFFFFF0).to_bytes(4, "little") + bytes([1, 0xFF, 0])
    d = V.decode_block(53, data, 200)
    assert len(d["panels"]) == 1 and d["findings"]
    data = _v12(bytes([1, 1, 0, 0x05, 0xFF, 0xFF, 0x29]))  # a send packet claiming 65535 data bytes
    d = V.decode_block(53, data, 200)
    assert d["panels"][0]["sequences"][0]["elements"][0]["truncated"] and d["findings"]
    # seven panel entries: i915 reads six
    many = b"".join(bytes([i, 1, 0, 0]) for i in range(7))
    d = V.decode_block(53, bytes([2]) + many, 200)
    assert len(d["panels"]) == 6 and d["unparsed"] == "06010000"
    assert V.decode_block(53, b"", 200)["findings"]


# -- both blocks on the whole corpus --------------------------------------------------------------------------


@pytest.mark.parametrize("name", corpus_names() or ["(corpus absent)"])
def test_mipi_blocks_decode_and_round_trip_on_the_corpus(name):
    need_corpus()
    w = walk((CORPUS / name).read_bytes())
    ctx = {b["id"]: b["raw"] for b in w["blocks"]}
    version = w["bdb_version"]
    for b in w["blocks"]:
        spec = M.SPECS.get(b["id"])
        if spec is None:
            continue
        raw = b["raw"]
        d = V.decode_block(b["id"], raw, version, ctx)
        assert isinstance(d["findings"], list)
        obj = spec.schema.parse(raw, bdb_version=version, block_size=len(raw))
        assert spec.schema.build(obj, bdb_version=version, block_size=len(raw)) == raw, b["id"]


def test_mipi_blocks_found_in_the_corpus():
    need_corpus()
    seen = set()
    for name in corpus_names():
        seen |= {b["id"] for b in walk((CORPUS / name).read_bytes())["blocks"]}
    assert seen & set(M.SPECS) == {52}  # no corpus VBT has block 53: it is built here


def test_mipi_random_bytes_never_raise_beyond_decode_error():
    rng = random.Random(0xB10C)
    for block_id in sorted(M.SPECS):
        for _ in range(150):
            raw = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 2, 3, 5, 9, 40, 200, 900])))
            version = rng.choice([120, 160, 200, 230, 260])
            try:
                d = V.decode_block(block_id, raw, version, {40: raw[:2]})
            except DecodeError:
                continue
            assert isinstance(d["findings"], list)


# -- both blocks: parity with a newer intel_vbt_decode (optional) ---------------------------------------------


def test_mipi_blocks_match_a_newer_igt(tmp_path):
    """Blocks 52 (every panel with --all-panels, which newer igt indexes by the heading) and 53
    (the kernel's sequence names) against a newer intel_vbt_decode."""
    binary = new_igt()
    for version in (200, 230):
        raw = _full_mipi_config(version)
        d = V.decode_block(52, raw, version)
        panels = panels_of(igt_blocks(igt_run(binary, V.build_vbt(version, [(52, raw)]), tmp_path, "--all-panels"))[52])
        assert sorted(panels) == list(range(6))
        for i, lines in panels.items():
            assert lines == igt_mipi_config_lines(d, i, version), (version, i)
    for version in (1, 2, 3):
        data = M.build_sequence_block(version, sample_panels(version))
        d = V.decode_block(53, data, 200)
        panels = panels_of(igt_blocks(igt_run(binary, V.build_vbt(200, [(53, data)]), tmp_path, "--all-panels"))[53])
        for p in d["panels"]:
            assert panels[p["panel_id"]] == igt_sequence_lines(d, p, old_names=False), (version, p["panel_id"])
