"""Blocks 1 (general features) and 2 (general definitions, the child devices): the module
igdscope/schemas/vbtblocks/general.py. Their field-by-field parity with intel_vbt_decode on the
whole corpus runs in tests/test_parity_features.py's corpus comparison (one pass over the corpus
for the blocks i915 reads); here: their meanings and building back."""

from __future__ import annotations

from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import general

PARITY_BLOCKS = (1, 2)

def test_child_device_meanings():
    assert general.dvo_port_meaning(13, 247)["port"]["display 13+ (ADL-P and later)"] == "TC1"
    assert general.dvo_port_meaning(13, 247)["port"]["default"] == "F"
    assert general.dvo_port_meaning(7, 247)["port"]["ADL-S"] == "TC1" and general.dvo_port_meaning(8, 230)["port"]["RKL/DG1"] == "TC1"
    assert general.dvo_port_meaning(6, 200)["port"]["default"] == "E"  # CRT counts as port E
    assert general.dvo_port_meaning(23, 230)["port"] == {"DSI": "B on display 11+, C before"}
    assert general.dvo_port_meaning(15, 216)["note"] == "DP-G is defined from BDB 217"
    assert general.dvo_port_meaning(1, 150)["name"] == "DVO-B (SDVO-B)" and general.dvo_port_meaning(4, 150)["name"] == "LVDS"
    assert general.aux_channel_meaning(0x40)["name"] == "AUX-A" and general.aux_channel_meaning(0x41)["name"] is None
    assert general.aux_channel_meaning(0x60)["remapped"] == {"display 13+ (ADL-P and later)": "USBC1"}
    assert general.aux_channel_meaning(0x20)["remapped"] == {"RKL/DG1": "USBC1", "ADL-S": "USBC2"}
    ddc = general.ddc_pin_meaning(3)
    assert ddc["name"] is None and ddc["by_platform"]["CNP PCH"] == "DDI D" and ddc["by_platform"]["ADL-P, MTL PCH and later"] == "TC1"
    assert ddc["by_platform"]["GMBUS pin (before CNP, Atom, DG1+)"].startswith("panel") and "caveat" in ddc
    assert general.ddc_pin_meaning(0)["name"] == "none"
    assert general.dp_max_link_rate_meaning(0, 229)["name"] == "HBR3 (8.1 Gbps)"
    assert general.dp_max_link_rate_meaning(0, 230)["name"] == "platform default"
    assert general.dp_max_link_rate_meaning(5, 230)["name"] == "UHBR10 (10 Gbps)"
    assert general.handle_meaning(1, 216)["name"] == "CRT" and general.handle_meaning(1, 217)["name"] == "EFP6"
    assert general.handle_meaning(0x0030, 150)["name"] == "EFP4+EFP3" and general.handle_meaning(0x8000, 240)["name"] == "unknown(0x8000)"
    t = general.device_type_meaning(0x78C6)
    assert t["name"] == "eDP" and t["supports"]["edp"] and not t["supports"]["hdmi"] and "not_hdmi_output" in t["bits"]
    assert general.device_type_meaning(0x60D6)["supports"]["hdmi"] and general.device_type_meaning(0x1234)["name"] is None
    child = {"handle": 8, "device_type": 0x78C6, "hdmi_max_data_rate": 3, "dp_max_lane_count": 1, "mipi_bridge_type": 2,
             "iboost": True, "dp_iboost_level": 2, "hdmi_iboost_level": 5, "edp_data_rate_override": 0b100000001001,
             "i2c_speed": 2, "dvo_port": 10, "aux_channel": 0x40}
    m248 = general.child_device_meaning(child, 248)
    assert m248["hdmi_max_data_rate"] == {"value": 3, "name": None, "note": "defined from BDB 249"}
    assert m248["dp_iboost_level"] == {"value": 2, "name": "boost level 7", "used": True}
    assert m248["hdmi_iboost_level"]["note"] == "i915 rejects this value" and "edp_data_rate_override" not in m248
    m263 = general.child_device_meaning(child, 263)
    assert m263["hdmi_max_data_rate"]["name"] == "594 MHz" and m263["dp_max_lane_count"]["name"] == "x2"
    assert m263["edp_data_rate_override"]["rejected_gbps"] == ["1.62", "2.7", "20"]
    assert m263["mipi_bridge_type"]["name"] == "Toshiba" and m263["i2c_speed"]["name"] == "400 kHz"
    assert "i2c_speed" not in general.child_device_meaning(child, 151) and "aux_channel" not in general.child_device_meaning(child, 154)


def test_block1_and_block2_meanings_and_build():
    f = V.decode_block(1, V.build_block(1, {"panel_fitting": 1, "ssc_freq": True, "display_clock_mode": True,
                                            "afc_startup_config": 2}, 250), 250)
    assert f["meaning"]["panel_fitting"]["name"] == "text only"
    assert f["meaning"]["ssc_freq"]["khz_by_gen"] == {"gen2": 66667, "gen3-4": 100000, "gen5+": 100000}
    assert f["meaning"]["display_clock_mode"]["name"] == "dynamic CD clock"
    assert f["meaning"]["afc_startup_config"]["name"] == "i915 programs AFC startup 7"
    old = V.decode_block(1, V.build_block(1, {"display_clock_mode": True}, 170), 170)
    assert old["meaning"]["display_clock_mode"]["name"].startswith("reference clock: BTM") and "afc_startup_config" not in old["meaning"]
    assert V.build_block(1, f, 250) == V.build_block(1, {"panel_fitting": 1, "ssc_freq": True, "display_clock_mode": True, "afc_startup_config": 2}, 250)
    raw = V.build_block(2, {"devices": [{"handle": 8, "device_type": 0x78C6, "dvo_port": "dpa", "aux_channel": "aux_a"}, {}]}, 240)
    d = V.decode_block(2, raw, 240)
    assert d["devices"][0]["meaning"]["dvo_port"]["name"] == "DP-A" and "meaning" not in d["devices"][1]
    assert V.build_block(2, d, 240) == raw
