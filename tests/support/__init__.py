"""What the tests share and are not tests themselves: where the shared inputs are (``shared``), fake
sysfs roots and the command line over them (``fakesys``, ``fake_cli``), builders of firmware
pieces and VBTs (``fw_build``, ``efi_encode``, ``vbt_build``), an emulated vfio kernel
(``fake_vfio``), readers of igt's decoder output (``igt_text``), a QEMU qtest client
(``qemu_qtest``) and the TUI test helpers (``tui``)."""
