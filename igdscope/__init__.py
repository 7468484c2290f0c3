"""igdscope: see what Intel IGD passthrough (VFIO / QEMU) depends on, decode it, check it, compare it."""

__version__ = "0.1.0"
