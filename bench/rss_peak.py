#!/usr/bin/env python3
"""rss_peak.py PID OUTFILE: samples VmRSS of PID every 50 ms until SIGTERM (or PID exits),
then writes the highest sample in KiB to OUTFILE. bench/run also reads VmHWM (the kernel's
exact high-water mark) from the fresh server process; this sampler is the cross-check."""
import signal
import sys
import time

pid, out = sys.argv[1], sys.argv[2]
peak = 0
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
while running:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError):
        break
    time.sleep(0.05)
with open(out, "w") as f:
    f.write(f"{peak}\n")
