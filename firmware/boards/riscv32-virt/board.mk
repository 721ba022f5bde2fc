# riscv32-virt: rv32imc, soft float, ilp32 (the ESP32-C3's ISA). The compiler
# needs zicsr named for the CSR instructions; the link names the plain ISA so
# gcc picks the rv32im/ilp32 multilib of picolibc.
ARCH := riscv32
CROSS := riscv64-unknown-elf-
ARCH_FLAGS := -march=rv32imc_zicsr -mabi=ilp32 -mcmodel=medany
LINK_ARCH_FLAGS := -march=rv32imc -mabi=ilp32 -mcmodel=medany
QEMU := qemu-system-riscv32 -M virt -bios none -display none -monitor none
# Which node of the watch partition (one subject each) this board holds.
SHARD_NODE := 2
