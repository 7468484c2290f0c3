"""A capture from a stranger can hold any string: ESC and CSI sequences, CR, C1 controls, U+202E
(right-to-left override), U+2028 (line separator) and lone surrogates (valid JSON). Every screen
must show such text escaped (igdscope.textsafe.printable: \\xNN, \\uNNNN), never raw."""

from __future__ import annotations

import copy
import html
import unicodedata

from igdscope import capture
from igdscope.capture import Blob
from igdscope.sources import demo
from igdscope.textsafe import printable
from igdscope.tui import make_app
from igdscope.tui.sources import DiffSource, export_path, file_source
from tests.support.tui import SIZE, settle

EVIL = "evil\x1b[2J\rX\u202eY\ud800Z\u2028"
SHOWN = printable(EVIL)  # evil\x1b[2J\x0dX\u202eY\ud800Z\u2028
FIRMWARE = b"SV\x1b[2J\rX\x9bY\x85Z"  # a latin-1 text field of the OpRegion and the VBT (C0 and C1)
FIRMWARE_SHOWN = printable(FIRMWARE.decode("latin-1"))
RAW = ("\x1b", "\r", "\x9b", "\x85", "\u202e", "\u2028", "\ud800")
UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format, surrogate, line and paragraph separators

# what each screen must show escaped (the key selects the screen)
EXPECTED = {
    "1": [SHOWN],  # kernel, DMI vendor, driver, blob path and note, errors
    "2": [SHOWN],  # the LPC bridge's address in its tab, its config error in the notice
    "3": [SHOWN, FIRMWARE_SHOWN],  # the blob's source in the tree's root, bios_ver
    "4": [FIRMWARE_SHOWN],  # the VBT signature
    "5": [SHOWN],  # the ROM's path in the hex view's border title
    "6": [SHOWN],  # why the GGTT is missing
    "7": [SHOWN],  # the kernel in the context line
    "8": [FIRMWARE_SHOWN],  # bios_ver and the VBT signature differ from the guest's
}


def hostile_capture() -> capture.Capture:
    cap = demo.host_capture().builder()
    cap.host = copy.deepcopy(cap.host)  # the nested facts edited below are the builder's own
    cap.created = "2026-11-23T12:00:00Z" + EVIL
    cap.host["kernel_release"] = "6.8.12-4-pve " + EVIL
    cap.host["cmdline"] = "BOOT_IMAGE=/vmlinuz " + EVIL
    cap.host["qemu_version"] = "9.0.2 " + EVIL
    cap.host["hypervisor"]["dmi_sys_vendor"] = "Vendor " + EVIL
    cap.host["hypervisor"]["dmi_product_name"] = EVIL
    cap.host["modules"]["vfio_pci"]["parameters"]["ids"] = "8086:3e92" + EVIL
    cap.replace_device("igd", driver="vfio-pci " + EVIL)
    rom = cap.blobs["rom"]
    cap.blobs["rom"] = Blob(rom.data, rom.source, "/" + EVIL, "note " + EVIL)
    op = cap.blobs["opregion"]
    data = bytearray(op.data)
    data[0x18 : 0x18 + 32] = FIRMWARE.ljust(32, b"\0")  # header bios_ver
    data[0x404 : 0x404 + 16] = FIRMWARE.ljust(16, b" ")  # the VBT's signature after '$VBT'
    cap.blobs["opregion"] = Blob(bytes(data), "vfio " + EVIL, "/dev/vfio/2 " + EVIL, "note " + EVIL)
    del cap.blobs["gtt"]
    cap.error("gtt", "no GGTT: " + EVIL)
    del cap.blobs[cap.device("lpc").config_blob]
    lpc = cap.replace_device("lpc", config_blob=None, bdf="0000:00:1f.0" + EVIL)
    cap.error(f"config {lpc.bdf}", "cannot read: " + EVIL)
    cap.error("live " + EVIL, "reason " + EVIL)
    return cap.build()


def test_hostile_strings_survive_the_json_round_trip():
    cap = hostile_capture()
    back = capture.loads(cap.to_json())
    assert back.host["kernel_release"] == cap.host["kernel_release"]
    assert back.host["hypervisor"]["dmi_sys_vendor"] == "Vendor " + EVIL
    assert back.device("igd").driver == "vfio-pci " + EVIL
    assert (back.blobs["rom"].path, back.blobs["rom"].note) == ("/" + EVIL, "note " + EVIL)
    assert back.errors == cap.errors
    assert back.blobs["opregion"].data == cap.blobs["opregion"].data
    name = export_path(back).name  # the TUI's export prompt offers it
    assert name.isascii() and name.isprintable() and "/" not in name


def screenshot(app) -> str:
    """The screen as export_screenshot() draws it (every layer, notifications too), the SVG's
    entities unescaped and its no-break spaces made spaces again."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


def leaks(text: str) -> list[str]:
    """Every character of ``text`` a terminal would act on or reorder (newlines excepted)."""
    return sorted({repr(c) for c in text if c != "\n" and unicodedata.category(c) in UNSAFE})


async def test_every_screen_shows_capture_text_escaped(tmp_path, clock):
    host, guest = tmp_path / "host.json", tmp_path / "guest.json"
    host.write_text(hostile_capture().to_json())
    guest.write_text(demo.guest_capture().to_json())
    assert capture.load(host).host["kernel_release"] == "6.8.12-4-pve " + EVIL
    app = make_app(DiffSource(file_source(str(host)), file_source(str(guest)), "hostile host ⇄ demo guest"), clock=clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        for key, expected in EXPECTED.items():
            await pilot.press(key)
            await settle(pilot)
            if key == "2":
                await pilot.press("right_square_bracket")  # IGD -> LPC bridge: its config error
                await settle(pilot)
            if key == "4":
                app.screen.query_one("#vbt-tree").root.expand_all()  # the VBT header's signature
                await settle(pilot)
            name = type(app.screen).__name__
            assert app.snapshot is not None and app.snapshot.error is None
            shot = screenshot(app)
            assert not leaks(shot), f"{name} shows raw {leaks(shot)}"
            for c in RAW:
                assert c not in shot, f"{name} shows {c!r} raw"
            for text in expected:
                assert text in shot, f"{name} does not show {text!r}"
        app.notify("quoting a capture: " + EVIL, title="title " + EVIL, markup=False)
        await settle(pilot)
        shot = screenshot(app)
        assert not leaks(shot), f"a notification shows raw {leaks(shot)}"
        assert "quoting a capture: " + SHOWN in shot and "title " + SHOWN in shot
