/* device_key.c - the board's frame key record (see device_key.h). */
#include "device_key.h"

/* In flash with the other constants; provisioning edits the image after the
 * build (firmware/tools/provision_key.py). */
const device_key_record device_key_flash = {
    DEVICE_KEY_MARKER, 0u, {0}
};

size_t device_key_load(uint8_t out[DEVICE_KEY_MAX_BYTES])
{
    const device_key_record *record = &device_key_flash;
    uint32_t len, i;

    /* The build saw a length of 0: hide the record from the optimizer so it
     * reads what provisioning wrote instead of folding the build's value. */
    __asm__ volatile("" : "+r"(record));
    len = record->len;
    if (len > DEVICE_KEY_MAX_BYTES) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        out[i] = record->key[i];
    }
    return (size_t)len;
}
