/* sgc_select_laplace.c - top-k threshold by Laplace estimation (docs/design.md,
 * method 1; docs/methods.md).
 *
 * Pass 1 reads g once for sum(g) and sum|g| (a NaN/Inf makes them non-finite;
 * the counting pass then rejects it). Under g ~ Laplace(mu, b): mu is the mean and
 * E|g| = |mu| + b exp(-|mu|/b), which gives b without a second pass (b = mean|g|
 * exactly when mu = 0). P(|g| > t) = exp(-t/b) cosh(mu/b), so the threshold for
 * a count c of n is t = b ln(n cosh(mu/b) / c). Pass 2 counts at the t for
 * c = sqrt(k (2k+32)) (about 1.41k: the middle, on a log scale, of k and
 * half the candidate buffer of 4k+64) and collects the candidates into
 * scratch, raising its own threshold if the buffer fills; the bisection
 * towards [k, k(1 + tol)] then continues among the candidates only, with no
 * further pass over g. Inside a residual step the moments come from the
 * step's check pass (job->moments) and pass 1 is skipped.
 * Common case: 2 passes, heavy tails included. A count below k costs one
 * more pass per Laplace-slope step (t += b ln(count/target)). */
#include "sgc_math.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"


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
        b = c * sgci_exp(a / b);
        if (b > 4.0f * c) {
            return 4.0f * c;
        }
    }
    return b;
}

size_t sgci_laplace_scratch_bytes(uint32_t n, uint32_t k)
{
    return sgci_cands_bytes(sgci_cands_cap(n, k));
}

sgc_status sgci_run_laplace(const sgc_job *job)
{
    sgc_cands c;
    sgc_band band;
    float sum, sum_abs, mu, b, t = 0.0f;
    if (job->moments != NULL) {
        sum = job->moments[0];
        sum_abs = job->moments[1];
    } else {
        sgci_sums(job->g, 0u, job->n, &sum, &sum_abs);
        job->info->passes = 1u;
    }
    mu = sum / (float)job->n;
    /* NaN/Inf make b non-finite: t stays 0 and the counting pass reports it */
    b = laplace_scale(mu, sum_abs / (float)job->n);
    sgci_cands_bind(&c, job->scratch, sgci_cands_cap(job->n, job->k));
    band = sgci_band_make(job->k, job->opt.tol, job->cap);
    if (b > 0.0f && sgc_isfinite(b)) {
        float r = mu / b;
        float cosh_r = 0.5f * (sgci_exp(r) + sgci_exp(-r));
        t = b * sgci_ln((float)job->n * cosh_r / sgci_count_target(&band, c.cap));
    }
    return sgci_search(job->g, job->n, &band, t, b, job->opt.max_iter, 0, &c, job->idx,
                       job->vals, job->count, job->info);
}
