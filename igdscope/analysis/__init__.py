"""What the decoded data means for IGD assignment: the QEMU model, check, diff, the VM
configuration readers, DMAR faults, and the one device write (:mod:`.invalidate`), which no
read path imports."""
