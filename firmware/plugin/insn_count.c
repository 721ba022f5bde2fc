/* insn_count.c - a QEMU TCG plugin that counts guest instructions between two
 * marker functions of the firmware.
 *
 *   qemu-system-arm ... -d plugin -D insns.log \
 *     -plugin build/plugin/libinsn_count.so,begin=0x1a4,end=0x1a8
 *
 * Every translation block adds its instruction count to one counter (an
 * inline add, so counting costs little); the first instruction of the
 * function at `begin` snapshots the counter, the one at `end` logs
 * "insns <n> <count>" with the instructions executed in between (the few of
 * the marker calls themselves included). Debian's QEMU 7.2 runs plugins of
 * API version 1 but ships no qemu-plugin.h, so the handful of declarations
 * used are written out below, as that version defines them.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the QEMU plugin API, version 1 (QEMU 7.2 include/qemu/qemu-plugin.h) ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define QEMU_PLUGIN_VERSION 1

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv);
/* ---- end of the API declarations ---- */

static uint64_t executed;      /* instructions of every executed block */
static uint64_t begin_addr, end_addr;
static uint64_t at_begin;
static unsigned intervals;

static void on_begin(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    at_begin = executed;
}

static void on_end(unsigned int vcpu, void *userdata)
{
    char line[64];

    (void)vcpu;
    (void)userdata;
    snprintf(line, sizeof line, "insns %u %" PRIu64 "\n", intervals++, executed - at_begin);
    qemu_plugin_outs(line);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);

    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

/* "name=0x..." -> the address, with the Thumb bit cleared. */
static int parse_addr(const char *arg, const char *name, uint64_t *out)
{
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0 || arg[len] != '=') {
        return 0;
    }
    *out = strtoull(arg + len + 1, NULL, 0) & ~(uint64_t)1;
    return 1;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i, have_begin = 0, have_end = 0;

    (void)info;
    for (i = 0; i < argc; ++i) {
        have_begin |= parse_addr(argv[i], "begin", &begin_addr);
        have_end |= parse_addr(argv[i], "end", &end_addr);
    }
    if (!have_begin || !have_end) {
        fprintf(stderr, "insn_count: need begin=ADDR and end=ADDR arguments\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
