#!/bin/bash
# Prints the time and the first line of /proc/stat (the CPUs' busy and idle
# ticks) every 10 ms until killed: run it beside a proof to see how many
# cores each pass keeps busy (device-steps.sh's `cpuload` step).
while :; do echo "$(date +%s.%N) $(head -1 /proc/stat)"; sleep 0.01; done
