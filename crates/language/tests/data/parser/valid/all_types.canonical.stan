data {
    int N;
    int<lower=1> K;
    array[2] vector<lower=-1, upper=1>[K] vs;
    array[N, K] int<lower=0> counts;
    cov_matrix[K] Sigma;
    matrix[N, K] m;
    real<upper=10> r;
    row_vector[K] rv;
    vector[N] v;
}

parameters {
    array[N] real<lower=0, upper=r> p4;
    cholesky_factor_corr[K] p1;
    ordered[K] p5;
    positive_ordered[K] p6;
    real<multiplier=3> p7;
    real<offset=1> p8;
    simplex[K] p2;
    vector<offset=0, multiplier=2>[K] p3;
}

model {
    p1 ~ lkj_corr_cholesky(2);
    p2 ~ dirichlet(rep_vector(1, K));
    p3 ~ multi_normal(rep_vector(0, K), Sigma);
}
