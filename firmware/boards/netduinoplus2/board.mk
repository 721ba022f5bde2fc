# netduinoplus2: STM32F405 (Cortex-M4F), hard-float ABI.
ARCH := cortex-m
CROSS := arm-none-eabi-
ARCH_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
QEMU := qemu-system-arm -M netduinoplus2 -display none -monitor none \
	-semihosting-config enable=on,target=native
# Which node of the watch partition (one subject each) this board holds.
SHARD_NODE := 1
