"""Bytes to plain data: per kind of file (:mod:`.files`), a device's config space
(:mod:`.devices`), the firmware blobs of a capture (:mod:`.firmware`), a whole capture
(:mod:`.model`); firmware sections, EFI decompression, lspci text and the GGTT table.
Pure functions of bytes and explicit context: nothing here reads the machine."""
