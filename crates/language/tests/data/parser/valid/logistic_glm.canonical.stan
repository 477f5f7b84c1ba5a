data {
    int<lower=1> K;
    int<lower=1> N;
    array[N] int<lower=0, upper=1> y;
    matrix[N, K] X;
}

transformed data {
    matrix[N, K] td1;
    vector[K] td2;
    for (l2 in 1:K) {
        td2[l2] = mean(X[:, l2]);
        td1[:, l2] = X[:, l2] - td2[l2];
    }
}

parameters {
    real p1;
    vector[K] p2;
}

model {
    p1 ~ student_t(3, 0, 2.5);
    p2 ~ normal(0, 1);
    y ~ bernoulli_logit(p1 + td1 * p2);
}

generated quantities {
    vector[N] log_lik;
    for (l1 in 1:N) {
        log_lik[l1] = bernoulli_logit_lpmf(y[l1] | p1 + td1[l1] * p2);
    }
}
