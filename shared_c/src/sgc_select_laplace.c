/* sgc_select_laplace.c - top-k threshold by Laplace estimation (DESIGN.md,
 * method 1; docs/methods.md).
 *
 * Pass 1 reads g once for sum(g), sum|g| and the largest magnitude (which also
 * rejects NaN/Inf). Under g ~ Laplace(mu, b): mu is the mean and
 * E|g| = |mu| + b exp(-|mu|/b), which gives b without a second pass (b = mean|g|
 * exactly when mu = 0). P(|g| > t) = exp(-t/b) cosh(mu/b), so the threshold for
 * a count c of n is t = b ln(n cosh(mu/b) / c). Pass 2 counts at the t for
 * c = sqrt(k(1-tol) (2k+64)) (about 1.4k: the middle, on a log scale, of the
 * counts the candidate buffer accepts, so that noise or a model error of
 * +-30% still lands there) and collects the candidates into scratch; the
 * bisection towards k(1 +- tol) then continues among the candidates only,
 * with no further pass over g.
 * Common case: 2 passes. A count above the buffer costs one more pass (its
 * overflow histogram names the threshold that fits); a count below it one
 * more per Laplace-slope step (t += b ln(count/target)). */
#include "sgc_math.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"


typedef struct {
    float mean;
    float mean_abs;
    uint32_t nonfinite; /* non-zero: g holds NaN/Inf */
} sgc_moments;

static sgc_moments moments(const float *g, uint32_t n)
{
    sgc_moments m;
    float sum, sum_abs;
    m.nonfinite = sgc_sums(g, 0u, n, &sum, &sum_abs);
    m.mean = sum / (float)n;
    m.mean_abs = sum_abs / (float)n;
    return m;
}

/* Scale b from E|g| = |mu| + b exp(-|mu|/b), by fixed-point iteration
 * b <- (E|g| - |mu|) exp(|mu|/b); a contraction while |mu| < b, the case of
 * gradients. */
static float laplace_scale(float mu, float mean_abs)
{
    float a = mu < 0.0f ? -mu : mu, c = mean_abs - a, b;
    uint32_t it;
    if (!(c > 0.0f)) {
        return mean_abs;
    }
    b = c;
    for (it = 0u; it < 6u; ++it) {
        b = c * sgc_exp(a / b);
        if (b > 4.0f * c) {
            return 4.0f * c;
        }
    }
    return b;
}

size_t sgc_laplace_scratch_bytes(uint32_t n, uint32_t k)
{
    return sgc_cands_bytes(sgc_cands_cap(n, k));
}

sgc_status sgc_run_laplace(const sgc_job *job)
{
    sgc_cands c;
    sgc_band band;
    sgc_moments m = moments(job->g, job->n);
    float b, t = 0.0f;
    job->info->passes = 1u;
    if (m.nonfinite != 0u) {
        return SGC_E_NONFINITE;
    }
    b = laplace_scale(m.mean, m.mean_abs);
    sgc_cands_bind(&c, job->scratch, sgc_cands_cap(job->n, job->k));
    band = sgc_band_make(job->k, job->opt.tol, job->cap);
    if (b > 0.0f) {
        float r = m.mean / b;
        float cosh_r = 0.5f * (sgc_exp(r) + sgc_exp(-r));
        t = b * sgc_ln((float)job->n * cosh_r / sgc_count_target(&band, c.cap));
    }
    return sgc_search(job->g, job->n, &band, t, b, job->opt.max_iter, 0, &c, job->idx,
                      job->vals, job->count, job->info);
}
