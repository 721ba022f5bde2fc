/* cffi declarations: selection, residual memory, quantisation (sgc.h,
 * section "Selection"). Values of constants are read from sgc.h at build time. */
typedef enum {
    SGC_VAL_FP32 = ...,
    SGC_VAL_FP16 = ...,
    SGC_VAL_INT8 = ...,
    SGC_VAL_SIGN = ...
} sgc_value_coding;
#define SGC_VAL_COUNT ...
size_t sgc_value_bytes(sgc_value_coding coding, uint32_t k);
sgc_status sgc_quantize(sgc_value_coding coding, const float *vals, uint32_t k,
                        uint8_t *out, size_t cap, size_t *len, float *scale);
sgc_status sgc_dequantize(sgc_value_coding coding, const uint8_t *in, size_t len,
                          uint32_t k, float scale, float *vals);

typedef enum {
    SGC_SELECT_EXACT = ...,
    SGC_SELECT_LAPLACE = ...,
    SGC_SELECT_PARTITION = ...,
    SGC_SELECT_DGC = ...,
    SGC_SELECT_RANDOM = ...
} sgc_method;
#define SGC_METHOD_COUNT ...

typedef struct {
    float tol;
    uint32_t max_iter;
    uint64_t seed;
} sgc_select_options;

typedef struct {
    uint32_t passes;
    uint32_t iterations;
    bool exact;
    float threshold;
} sgc_select_info;

void sgc_select_options_init(sgc_select_options *opt);
size_t sgc_select_scratch_bytes(sgc_method method, uint32_t n, uint32_t k);
sgc_status sgc_select(sgc_method method, const float *g, uint32_t n, uint32_t k,
                      const sgc_select_options *opt, void *scratch, size_t scratch_bytes,
                      uint32_t *idx, float *vals, uint32_t cap, uint32_t *count,
                      sgc_select_info *info);
sgc_status sgc_random_indices(uint64_t seed, uint32_t n, uint32_t k, uint32_t *idx,
                              uint32_t cap);

#define SGC_PARTITION_BLOCKS ...
typedef struct {
    uint32_t n;
    uint32_t key_mask;
    float threshold[2];
    float scale[2];
    uint32_t steps;
    uint32_t reestimates;
    ...;
} sgc_partition_state;
void sgc_partition_init(sgc_partition_state *st);
sgc_status sgc_select_partition(sgc_partition_state *st, const float *g, uint32_t n,
                                uint32_t k, const sgc_select_options *opt, void *scratch,
                                size_t scratch_bytes, uint32_t *idx, float *vals,
                                uint32_t cap, uint32_t *count, sgc_select_info *info);

typedef struct {
    sgc_method method;
    sgc_value_coding coding;
    float density;
    uint32_t warmup_steps;
    float momentum;
    bool momentum_masking;
    sgc_select_options select;
} sgc_residual_config;
void sgc_residual_config_init(sgc_residual_config *cfg);

typedef struct {
    uint32_t n;
    uint32_t step;
    ...;
} sgc_residual;
sgc_status sgc_residual_init(sgc_residual *r, uint32_t n, const sgc_residual_config *cfg,
                             float *residual, float *velocity);
sgc_status sgc_residual_reset(sgc_residual *r);
uint32_t sgc_residual_k(const sgc_residual *r);
size_t sgc_residual_scratch_bytes(const sgc_residual_config *cfg, uint32_t n);
sgc_status sgc_residual_step(sgc_residual *r, const float *g, void *scratch,
                             size_t scratch_bytes, uint32_t *idx, float *vals, uint32_t cap,
                             uint32_t *count, uint8_t *payload, size_t payload_cap,
                             size_t *payload_len, float *scale);
