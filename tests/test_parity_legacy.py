"""Block 11 (the legacy child device table): the module igdscope/schemas/vbtblocks/legacy.py.
Its parity with intel_vbt_decode on the corpus runs in tests/test_parity_features.py's corpus
comparison; here: its layout, meanings, bounds and building back."""

from __future__ import annotations

import pytest

from igdscope.binary import DecodeError
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import legacy as L

PARITY_BLOCKS = (11,)

def test_block11_legacy_child_devices():
    kids = [{"handle": 0x0004, "device_type": 0x68D2, "device_id": "SI-1362-A", "dvo_port": 1, "target_addr": 0x70,
             "ddc_pin": 0x05, "dvo2_port": 2, "dvo2_wiring": 3},
            {"handle": 0x0008, "device_type": 0x1022, "dvo_port": 4}]
    raw = L.build_legacy_child_devices({"devices": kids + [{}]}, 142)
    assert raw[0] == 33 and len(raw) == 1 + 3 * 33
    c = raw[1:34]
    assert c[0:2] == b"\x04\x00" and c[2:4] == b"\xd2\x68" and c[4:13] == b"SI-1362-A" and c[0x10] == 1 and c[0x12] == 0x70
    assert c[0x13] == 5 and c[0x17] == 2 and c[0x1D] == 3
    d = V.decode_block(11, raw + b"\x01\x02", 142)
    assert len(d["devices"]) == 3 and d["unparsed"] == "0102"
    m = d["devices"][0]["meaning"]
    assert m["dvo_port"]["name"] == "DVO-B (SDVO-B)" and m["dvo2_port"]["name"] == "DVO-C (SDVO-C)"
    assert m["device_type"]["supports"]["dvi"] and not m["device_type"]["supports"]["hdmi"]
    assert "meaning" not in d["devices"][2] and "aux_channel" not in d["devices"][0]
    assert any("i915 does not read block 11" in f for f in d["findings"])
    assert any("2 byte(s) after" in f for f in d["findings"])
    assert L.build_legacy_child_devices(d, 142) == raw + b"\x01\x02"
    assert V.decode_block(11, b"\x00\x05\x05", 142)["devices"] == []
    with pytest.raises(DecodeError):
        V.decode_block(11, b"", 142)
