data {
    int<lower=1> N;
    int<lower=1> K;
    matrix[N, K] X;
    array[N] int<lower=0, upper=1> y;
}

transformed data {
    matrix[N, K] Xc;
    vector[K] means_X;
    for (k in 1:K) {
        means_X[k] = mean(X[:, k]);
        Xc[:, k] = X[:, k] - means_X[k];
    }
}

parameters {
    real alpha;
    vector[K] beta;
}

model {
    alpha ~ student_t(3, 0, 2.5);
    beta ~ normal(0, 1);
    y ~ bernoulli_logit(alpha + Xc * beta);
}

generated quantities {
    vector[N] log_lik;
    for (n in 1:N) {
        log_lik[n] = bernoulli_logit_lpmf(y[n] | alpha + Xc[n] * beta);
    }
}
