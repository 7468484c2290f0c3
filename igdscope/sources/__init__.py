"""Where bytes come from: the live machine (sysfs, udev, vfio, /dev/mem) and the demo machine."""
