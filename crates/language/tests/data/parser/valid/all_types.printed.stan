data {
    int N;
    int<lower=1> K;
    real<upper=10> r;
    vector[N] v;
    row_vector[K] rv;
    matrix[N, K] m;
    array[N, K] int<lower=0> counts;
    array[2] vector<lower=-1, upper=1>[K] vs;
    cov_matrix[K] Sigma;
}

parameters {
    simplex[K] theta;
    ordered[K] c;
    positive_ordered[K] pc;
    cholesky_factor_corr[K] L;
    vector<offset=0, multiplier=2>[K] z;
    real<offset=1> a;
    real<multiplier=3> b;
    array[N] real<lower=0, upper=r> u;
}

model {
    L ~ lkj_corr_cholesky(2);
    theta ~ dirichlet(rep_vector(1, K));
    z ~ multi_normal(rep_vector(0, K), Sigma);
}
