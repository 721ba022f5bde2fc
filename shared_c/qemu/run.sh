#!/bin/sh
# run.sh ELF [TIMEOUT_S] - run one test program on QEMU's mps2-an386
# (Cortex-M4F). Its output arrives over semihosting; the exit status of main,
# passed back through the semihosting exit call, is the verdict. A hang is
# killed after TIMEOUT_S seconds (default 60) and counts as failure.
elf="$1"
limit="${2:-60}"
exec timeout --foreground "$limit" qemu-system-arm -M mps2-an386 -nographic \
    -monitor none -serial none -semihosting-config enable=on,target=native \
    -kernel "$elf"
