"""The GGTT invalidation from the GTT screen, on a fake tree of the demo host (IGD bound to
vfio-pci, its resource0 a plain file whose upper half is the GGTT): cancel writes nothing; confirm
writes the backup first, then zeros every entry with progress, and the screen re-reads."""

from __future__ import annotations

from textual.widgets import Button, ProgressBar

from igdscope.analysis import invalidate
from igdscope.sources import demo
from igdscope.tui import make_app
from igdscope.tui.screens.invalidate import InvalidateScreen
from igdscope.tui.sources import LiveSource, demo_source
from tests.support.fakesys import FakeRoot, build_tree
from tests.support.tui import SIZE, settle, text_of

GTT_AT = 8 << 20  # BAR0 is 16 MiB, the GGTT its upper half


def gtt_bytes(root) -> bytes:
    with open(root / "sys/devices/pci0000:00/0000:00:02.0/resource0", "rb") as fh:
        fh.seek(GTT_AT)
        return fh.read(8 << 20)


async def open_dialog(pilot) -> InvalidateScreen:
    await pilot.press("6")
    await settle(pilot)
    await pilot.press("x")
    await settle(pilot)
    assert isinstance(pilot.app.screen, InvalidateScreen)
    return pilot.app.screen


async def test_cancel_writes_nothing(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path / "machine")
    backups = tmp_path / "backups"
    backups.mkdir()
    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=clock, interval=3600, backup_dir=backups)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await open_dialog(pilot)
        plan = text_of(dialog.query_one("#inv-plan"))
        assert "0000:00:02.0 (CFL, gen8 PTEs)" in plan
        assert "1,048,576 (8,388,608 bytes) through mmio" in plan
        assert "GFX_FLSH_CNTL" in plan and "vfio-pci" in plan
        backup = dialog.query_one("#inv-backup").value
        assert backup.startswith(str(backups / "igdscope-gtt-backup-0000_00_02.0-"))
        assert not dialog.query_one("#inv-confirm", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert type(app.screen).__name__ == "GttScreen"
    assert list(backups.iterdir()) == []
    assert gtt_bytes(root) == cap.blobs["gtt"].data


async def test_confirm_backs_up_then_zeros_every_entry_with_progress(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path / "machine")
    backup = tmp_path / "gtt-backup.json"
    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=clock, interval=3600, backup_dir=tmp_path)
    progress: list[tuple[int, int]] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot.host.gtt.summary["present"] == 1 << 20
        dialog = await open_dialog(pilot)
        orig = dialog._progress
        dialog._progress = lambda done, total: progress.append((done, total)) or orig(done, total)  # type: ignore[method-assign]
        dialog.query_one("#inv-backup").value = str(backup)
        await pilot.click("#inv-confirm")
        await settle(pilot)
        assert dialog.query_one(ProgressBar).display
        assert dialog.query_one(ProgressBar).percentage == 1.0
        result = text_of(dialog.query_one("#inv-result"))
        assert "Wrote and verified 1,048,576 entries, flushed the GGTT TLBs" in result and str(backup) in result
        assert dialog.result is not None and dialog.result["written"] == 1 << 20 and not dialog.result["mismatches"]
        assert str(dialog.query_one("#inv-cancel", Button).label) == "Close"
        await pilot.click("#inv-cancel")
        await settle(pilot)
        assert type(app.screen).__name__ == "GttScreen"
        assert app.snapshot.host.gtt.summary["present"] == 0  # re-read after the write
    assert progress[-1] == (1 << 20, 1 << 20) and len(progress) == (1 << 20) // invalidate.CHUNK
    assert gtt_bytes(root) == bytes(8 << 20)
    doc, data = invalidate.read_backup(backup)
    assert data == cap.blobs["gtt"].data and doc["device"] == "0000:00:02.0"


async def test_refused_while_i915_owns_the_device(tmp_path, clock):
    cap = demo.guest_capture()  # i915 bound
    root = build_tree(cap, tmp_path)
    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=clock, interval=3600, backup_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await open_dialog(pilot)
        assert "i915 is bound to 0000:00:02.0" in text_of(dialog.query_one("#inv-refused"))
        assert dialog.query_one("#inv-confirm", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
    assert gtt_bytes(root) == cap.blobs["gtt"].data


async def test_a_capture_cannot_be_invalidated():
    app = make_app(demo_source(), start="gtt")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.check_action("invalidate", ()) is False  # not offered for a capture
        app.screen.action_invalidate()  # even when called, it refuses
        await settle(pilot)
        assert type(app.screen).__name__ == "GttScreen"
        assert any("live IGD" in str(n.message) for n in app._notifications)


async def test_an_existing_backup_is_not_replaced_from_the_dialog(tmp_path, clock):
    cap = demo.host_capture()
    root = build_tree(cap, tmp_path / "machine")
    backup = tmp_path / "kept.json"
    backup.write_text("an earlier backup")
    app = make_app(LiveSource(FakeRoot(root), use_udev=False), clock=clock, interval=3600, backup_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await open_dialog(pilot)
        assert "boot5b0c1e9a" in dialog.query_one("#inv-backup").value  # the default name: device, boot, time
        dialog.query_one("#inv-backup").value = str(backup)
        await pilot.click("#inv-confirm")
        await settle(pilot)
        await app.workers.wait_for_complete()
        await settle(pilot)
        result = text_of(dialog.query_one("#inv-result"))
        assert "refusing to write" in result and "never replaces it" in result and "Backup:" not in result
    assert backup.read_text() == "an earlier backup" and gtt_bytes(root) == cap.blobs["gtt"].data
