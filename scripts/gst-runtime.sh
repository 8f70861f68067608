#!/usr/bin/env bash
# Copies a relocatable GStreamer runtime into DEST, for a host without GStreamer: the named
# plugins, the plugin scanner, and every library they and the given binaries load (ldd's
# closure on this Debian 12 machine), glibc and the C++ runtime excepted: the host's own are
# used for those (so the host needs glibc >= 2.34, 2.36 with MP4/H.264 decoding).
#   scripts/gst-runtime.sh DEST "coreelements videotestsrc ..." [BINARY ...]
# Point GST_PLUGIN_SYSTEM_PATH_1_0 at DEST/plugins, GST_PLUGIN_SCANNER at
# DEST/gst-plugin-scanner and LD_LIBRARY_PATH at DEST/lib to use it.
set -euo pipefail
dest=$1
plugins=$2
shift 2
sys=/usr/lib/x86_64-linux-gnu
mkdir -p "$dest/plugins" "$dest/lib"
for p in $plugins; do install -m 644 "$sys/gstreamer-1.0/libgst$p.so" "$dest/plugins/"; done
install -m 755 "$sys/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner" "$dest/"
ldd "$dest"/plugins/*.so "$dest/gst-plugin-scanner" "$@" 2>/dev/null \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u \
    | grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libgcc_s|libstdc\+\+)\.so' \
    | while read -r lib; do cp -L "$lib" "$dest/lib/"; done
