data {
    int<lower=0> N;
    array[N] real y;
}

parameters {
    real p1;
    real<lower=0> p2;
}

model {
    p1 ~ normal(0, 10);
    p2 ~ cauchy(0, 2.5) T[0, ];
    y ~ normal(p1, p2) T[, 100];
    y ~ normal(p1, p2);
    target += -0.5 * square((p1 - 1) / 2) + 1e-3 - .5E2;
}
