data {
    int<lower=0> N;
    int<lower=1> K;
    cov_matrix[K] Omega;
    matrix[N, K] X;
    vector[N] y;
}

transformed data {
    matrix[K, K] td1 = cholesky_decompose(Omega);
    row_vector[K] td2;
    for (l3 in 1:K) td2[l3] = mean(col(X, l3));
}

parameters {
    positive_ordered[2] p5;
    real p2;
    real<lower=0> p3;
    simplex[3] p4;
    vector[K] p1;
}

transformed parameters {
    vector[N] tp1 = p2 + X * p1;
}

model {
    p1 ~ multi_normal_cholesky(rep_vector(0, K), td1);
    p2 ~ normal(0, 10);
    p3 ~ gamma(2, 0.1);
    p4 ~ dirichlet([1, 1, 1]');
    p5 ~ exponential(1);
    y ~ normal(tp1, p3);
}

generated quantities {
    array[2, 3] real gq1;
    matrix[K, K] gq3 = p1 * p1';
    real gq4 = 1 - variance(y - tp1) / variance(y);
    for (l1 in 1:2) for (l2 in 1:3) gq1[l1, l2] = l1 * l2;
    int gq2 = 0;
    while (gq2 < 3) gq2 += 1;
}
