/* test_hmac.c - HMAC-SHA256 against RFC 4231 (cases 1, 2 and 6). */
#include <string.h>

#include "check.h"
#include "sgc.h"

#if SGC_WITH_HMAC

static int hex_equal(const uint8_t *bytes, const char *hex)
{
    size_t i;
    for (i = 0; i < 32u; ++i) {
        unsigned v = 0;
        int j;
        for (j = 0; j < 2; ++j) {
            char c = hex[2u * i + (size_t)j];
            v = v * 16u + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        if (bytes[i] != v) {
            return 0;
        }
    }
    return 1;
}

static void hmac_matches_rfc4231_case_1(void)
{
    uint8_t key[20], tag[32];
    memset(key, 0x0b, sizeof key);
    CHECK_EQ_INT(sgc_hmac_sha256(key, sizeof key, (const uint8_t *)"Hi There", 8, tag), SGC_OK);
    CHECK(hex_equal(tag, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
}

static void hmac_matches_rfc4231_case_2(void)
{
    uint8_t tag[32];
    const char *msg = "what do ya want for nothing?";
    CHECK_EQ_INT(sgc_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)msg, strlen(msg), tag),
                 SGC_OK);
    CHECK(hex_equal(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
}

static void hmac_hashes_a_key_longer_than_a_block_rfc4231_case_6(void)
{
    uint8_t key[131], tag[32];
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof key);
    CHECK_EQ_INT(sgc_hmac_sha256(key, sizeof key, (const uint8_t *)msg, strlen(msg), tag), SGC_OK);
    CHECK(hex_equal(tag, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

static void hmac_of_a_multi_block_message_matches_python(void)
{
    uint8_t msg[1000], tag[32];
    memset(msg, 'a', sizeof msg);
    CHECK_EQ_INT(sgc_hmac_sha256((const uint8_t *)"k", 1, msg, sizeof msg, tag), SGC_OK);
    CHECK(hex_equal(tag, "0e574ea3aace45a0075daca8c1b3c270a2fbad3efbe65e20eace5b31e6c29caf"));
}

#else

static void hmac_is_reported_unsupported_in_a_build_without_it(void)
{
    uint8_t tag[32];
    CHECK_EQ_INT(sgc_hmac_sha256((const uint8_t *)"k", 1, (const uint8_t *)"m", 1, tag),
                 SGC_E_AUTH_UNSUPPORTED);
}

#endif

int main(void)
{
#if SGC_WITH_HMAC
    RUN(hmac_matches_rfc4231_case_1);
    RUN(hmac_matches_rfc4231_case_2);
    RUN(hmac_hashes_a_key_longer_than_a_block_rfc4231_case_6);
    RUN(hmac_of_a_multi_block_message_matches_python);
#else
    RUN(hmac_is_reported_unsupported_in_a_build_without_it);
#endif
    return check_report();
}
