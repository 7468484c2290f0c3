"""Builds small VBTs for tests from the VBT schemas' builders."""

from __future__ import annotations

from igdscope.schemas import vbt as vbtmod


def vbt_with_port(port: str) -> bytes:
    """A small VBT (the demo's BDB version and signature) with one child device, an HDMI port on
    ``port`` (``"hdmib"``, ``"hdmic"``, ...): two VBTs that differ in that port."""
    v = vbtmod.DEMO_BDB_VERSION
    features = vbtmod.build_block(1, {"panel_fitting": 3, "flexaim": True, "msg_enable": True, "display_clock_mode": True,
                                      "vbios_hotplug_support": True, "legacy_monitor_detect": 1}, v, size=5)
    devices = [{"handle": 0x0004, "device_type": 0x60D2, "dvo_port": port, "ddc_pin": 1, "aux_channel": 0,
                "integrated_encoder": True, "hdmi_support": True, "tmds_support": True}] + [{} for _ in range(7)]
    return vbtmod.build_vbt(v, [(1, features), (2, vbtmod.build_block(2, {"crt_ddc_gmbus_pin": 2, "devices": devices}, v))], signature="$VBT COFFEELAKE-S")


# an 18-byte DTD's values (dtd.build_dtd keywords): a 1366x768 panel at 76.1 MHz
PANEL_1366 = dict(clock=7610, hactive=1366, hblank=160, hsync_off=48, hsync_pulse_width=32, vactive=768, vblank=22,
                  vsync_off=3, vsync_pulse_width=5, himage=277, vimage=156, hsync_positive=True, digital=3)
