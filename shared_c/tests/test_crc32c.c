/* test_crc32c.c - CRC-32C against its published check value. */
#include <string.h>

#include "check.h"
#include "sgc.h"

static void crc32c_of_check_string_is_the_published_value(void)
{
    const char *s = "123456789";
    CHECK(sgc_crc32c_update(0, (const uint8_t *)s, strlen(s)) == 0xE3069283u);
}

static void crc32c_continues_across_split_input(void)
{
    const uint8_t *s = (const uint8_t *)"123456789";
    uint32_t crc = sgc_crc32c_update(0, s, 4);
    CHECK(sgc_crc32c_update(crc, s + 4, 5) == 0xE3069283u);
}

static void crc32c_of_nothing_is_zero(void)
{
    CHECK(sgc_crc32c_update(0, (const uint8_t *)"", 0) == 0u);
}

static void crc32c_of_32_zero_bytes_is_the_rfc3720_value(void)
{
    uint8_t zeros[32];
    memset(zeros, 0, sizeof zeros);
    CHECK(sgc_crc32c_update(0, zeros, sizeof zeros) == 0x8A9136AAu);
}

int main(void)
{
    RUN(crc32c_of_check_string_is_the_published_value);
    RUN(crc32c_continues_across_split_input);
    RUN(crc32c_of_nothing_is_zero);
    RUN(crc32c_of_32_zero_bytes_is_the_rfc3720_value);
    return check_report();
}
