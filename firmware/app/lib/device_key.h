/* device_key.h - the board's frame key, a record in its flash image.
 *
 * Every image holds one device_key_record: a 16-byte marker, the key's
 * length and room for a 32-byte key. The build leaves it empty (length 0:
 * frames go out without a tag); provisioning writes the board's key into a
 * copy of the image (firmware/tools/provision_key.py finds the marker), so
 * one build serves every board and no key ever sits in the source tree or
 * the build folder. With a key, the node tags every frame it sends with
 * HMAC-SHA256 (docs/PROTOCOL.md section 7, docs/security-frames.md).
 */
#ifndef SPARROW_DEVICE_KEY_H
#define SPARROW_DEVICE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define DEVICE_KEY_MARKER "SPARROW-KEY-REC"
#define DEVICE_KEY_MARKER_BYTES 16u
#define DEVICE_KEY_MAX_BYTES 32u

typedef struct {
    uint8_t marker[DEVICE_KEY_MARKER_BYTES];
    uint32_t len;                       /* 0: not provisioned */
    uint8_t key[DEVICE_KEY_MAX_BYTES];
} device_key_record;

/* Copy the provisioned key into out; its length, 0 when the image has none
 * (or the record is damaged: a length above DEVICE_KEY_MAX_BYTES). */
size_t device_key_load(uint8_t out[DEVICE_KEY_MAX_BYTES]);

#endif /* SPARROW_DEVICE_KEY_H */
